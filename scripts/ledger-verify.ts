import { verifyLedger } from '../db/ledger';
import { describeCheckpoints } from '../db/checkpoints';
import { createPool } from '../db/pool';
import { loadConfigOrExit } from '../platform/config';

// `npm run ledger:verify`: walks every hash chain of the ledger and reports the first broken
// entry, then checks the newest signed checkpoint of the chain heads (`npm run chain:checkpoint`):
// a tail cut off or rewritten since that checkpoint is reported too. Exit code 0 when intact,
// 2 when tampering is found.
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const db = createPool(config, { max: 2 });
  try {
    const report = await verifyLedger(db, {
      checkpoints: { publicKeys: config.checkpoints.publicKeys, file: config.checkpoints.file },
    });
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
    for (const line of describeCheckpoints(report.checkpoints ?? [])) process.stdout.write(`${line}\n`);
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
