import { createPool } from '../db/pool';
import { createCurrencyRegistry } from '../domain/money';
import { loadConfigOrExit } from '../platform/config';
import { recomputeStatement } from '../services/statements';

// `npm run statement:recompute -- <settlementId> [--print]`: a dry run that recomputes a
// settled period's statement from its frozen inputs (posts nothing) and compares the bytes
// with the stored statement. Exit 0 when identical, 2 when they differ, 1 on error.
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const id = args.find((a) => !a.startsWith('--'));
  if (!id) throw new Error('usage: npm run statement:recompute -- <settlementId> [--print]');
  const config = loadConfigOrExit();
  const db = createPool(config, { max: 2 });
  try {
    const r = await recomputeStatement(db, createCurrencyRegistry(config.currencies.extraAssets), id);
    if (!r) throw new Error(`${id} has no computed fees yet`);
    if (args.includes('--print')) process.stdout.write(r.recomputedText);
    process.stdout.write(
      `${JSON.stringify({ settlementId: id, identical: r.identical, storedSha256: r.storedSha256, recomputedSha256: r.recomputedSha256 })}\n`,
    );
    process.exitCode = r.identical ? 0 : 2;
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`statement:recompute failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
