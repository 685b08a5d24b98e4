import { verifyLedger } from '../db/ledger';
import { createPool } from '../db/pool';
import { loadConfigOrExit } from '../platform/config';

// `npm run ledger:verify`: walks every hash chain of the ledger and reports the first broken
// entry. Exit code 0 when intact, 2 when tampering is found. The printed chain heads can be
// anchored outside the database (e.g. in a daily report) to detect a rewrite of the chains.
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const db = createPool(config, { max: 2 });
  try {
    const report = await verifyLedger(db);
    if (report.ok) {
      process.stdout.write(
        `ledger intact: ${report.entries} entries in ${report.blocks} blocks on ${report.chains} chains\n`,
      );
    } else {
      const b = report.firstBroken!;
      process.stdout.write(
        `LEDGER TAMPERED: first broken entry ${b.entryId ?? '(none)'} on chain ${b.chainId}, block ${b.blockSeq}: ${b.reason}\n`,
      );
    }
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exitCode = report.ok ? 0 : 2;
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ledger:verify failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
