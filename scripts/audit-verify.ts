import { verifyAudit } from '../db/audit';
import { describeCheckpoints } from '../db/checkpoints';
import { createPool } from '../db/pool';
import { loadConfigOrExit } from '../platform/config';

// `npm run audit:verify`: walks every hash chain of the audit trail and reports the first
// altered or missing event, then checks the newest signed checkpoint of the chain heads (its
// signature, and that each checkpointed head is still in its chain): a tail cut off or
// rewritten since that checkpoint is reported too. Exit code 0 when intact, 2 when tampering
// is found.
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const db = createPool(config, { max: 2 });
  try {
    const report = await verifyAudit(db, {
      checkpoints: { publicKeys: config.checkpoints.publicKeys, file: config.checkpoints.file },
    });
    if (report.ok) {
      process.stdout.write(`audit trail intact: ${report.events} events on ${report.chains} chains\n`);
    } else {
      const b = report.firstBroken!;
      process.stdout.write(
        `AUDIT TRAIL TAMPERED: chain ${b.chainId}, event ${b.eventId ?? '(none)'} (seq ${b.seq}): ${b.reason}\n`,
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
  process.stderr.write(`audit:verify failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
