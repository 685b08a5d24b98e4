import { applyReportRetention } from '../db/reports';
import { createPool } from '../db/pool';
import { loadConfigOrExit } from '../platform/config';

// `npm run reports:retention`: which months of provider report rows are past retention
// (REPORT_RETENTION_MONTHS, default 13; 0 keeps everything), each with its size on disk.
// A dry run by default; `-- --apply` detaches and drops them. Runs as the owner
// (DATABASE_OWNER_URL, else DATABASE_URL), as migrations do: only the owner may drop a table.
//   npm run reports:retention -- [--apply] [--months N] [--today YYYY-MM-DD]
// Last line: one JSON object (cutoff, partitions kept and past retention, dropped).
function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const months = Number(argValue('--months') ?? config.reports.retentionMonths);
  if (!Number.isInteger(months) || months < 0)
    throw new Error(`--months must be a whole number ≥ 0 (got ${months})`);
  const today = argValue('--today') ?? new Date().toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(today)) throw new Error(`--today must be YYYY-MM-DD (got ${today})`);
  const apply = process.argv.includes('--apply');
  const db = createPool({ db: { url: config.db.ownerUrl, poolMax: 1 } });
  try {
    const result = await applyReportRetention(db, { today, months, apply });
    const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MB`;
    if (result.cutoff === null) process.stdout.write('retention 0: report rows are kept forever\n');
    else process.stdout.write(`keeping ${months} months: periods from ${result.cutoff} on\n`);
    for (const p of result.kept)
      process.stdout.write(
        `keep  ${p.name} (${p.from} to ${p.to}): ~${p.rowsEstimate} rows, ${mb(p.bytes)}\n`,
      );
    for (const p of result.past)
      process.stdout.write(
        `${apply ? 'DROPPED' : 'would drop'} ${p.name} (${p.from} to ${p.to}): ~${p.rowsEstimate} rows, ${mb(p.bytes)}\n`,
      );
    for (const h of result.held)
      process.stdout.write(
        `held ${h.name}: past retention, but ${h.unfinishedCycles} cycle(s) of it not finished\n`,
      );
    if (!apply && result.past.length) process.stdout.write('dry run: nothing dropped (add --apply)\n');
    process.stdout.write(
      `${JSON.stringify({
        cutoff: result.cutoff,
        apply,
        kept: result.kept.map((p) => p.name),
        past: result.past.map((p) => ({ name: p.name, bytes: p.bytes })),
        dropped: result.dropped,
        held: result.held,
      })}\n`,
    );
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`reports:retention failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
