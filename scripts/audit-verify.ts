import { verifyAudit } from '../db/audit';
import { createPool } from '../db/pool';
import { loadConfigOrExit } from '../platform/config';

// `npm run audit:verify`: walks every hash chain of the audit trail and reports the first
// altered or missing event. Exit code 0 when intact, 2 when tampering is found.
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const db = createPool(config, { max: 2 });
  try {
    const report = await verifyAudit(db);
    if (report.ok) {
      process.stdout.write(`audit trail intact: ${report.events} events on ${report.chains} chains\n`);
    } else {
      const b = report.firstBroken!;
      process.stdout.write(
        `AUDIT TRAIL TAMPERED: chain ${b.chainId}, event ${b.eventId ?? '(none)'} (seq ${b.seq}): ${b.reason}\n`,
      );
    }
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exitCode = report.ok ? 0 : 2;
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`audit:verify failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
