import { ensureAccounts, postEntries, verifyLedger, type EntryInput } from '../db/ledger';
import { createPool } from '../db/pool';
import { withTransaction } from '../db/retry';
import { log, percentile, startServices } from './bench/services';

// `npm run bench:ledger`: batched double-entry transfers through the ledger's posting
// function (one round trip per batch), between a few hot accounts and many cold ones, with
// balances maintained in the same statement. Last line: one JSON object.
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 20) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const HOT = 4;
const COLD = 10_000;

async function main(): Promise<void> {
  log(
    `bench:ledger — ${CONCURRENCY} writers, batches of ${BATCH} transfers, ${HOT} hot / ${COLD} cold accounts, ${DURATION_MS / 1000}s`,
  );
  const services = await startServices({ temporal: false });
  const db = createPool({ db: { url: services.databaseUrl, poolMax: CONCURRENCY + 1 } });
  try {
    const specs = [
      ...Array.from({ length: HOT }, (_, i) => ({
        code: `house:hot-${i}:EUR`,
        ownerKind: 'house' as const,
        kind: 'liability' as const,
        currency: 'EUR',
      })),
      ...Array.from({ length: COLD }, (_, i) => ({
        code: `house:cold-${i}:EUR`,
        ownerKind: 'house' as const,
        kind: 'asset' as const,
        currency: 'EUR',
      })),
    ];
    const ids = await ensureAccounts(db, specs);
    const hot = specs.slice(0, HOT).map((s) => ids.get(s.code)!);
    const cold = specs.slice(HOT).map((s) => ids.get(s.code)!);

    let seq = 0;
    const makeBatch = (): EntryInput[] =>
      Array.from({ length: BATCH }, () => {
        const n = seq++;
        const h = hot[n % HOT]!;
        const c = cold[(n * 7919) % COLD]!;
        const toHot = n % 2 === 0;
        return {
          idempotencyKey: `bench-${n}`,
          effectiveDate: '2026-11-23',
          sourceKind: 'transfer' as const,
          sourceRef: 'bench',
          postings: [
            {
              debitAccountId: toHot ? c : h,
              creditAccountId: toHot ? h : c,
              currency: 'EUR',
              amountMinor: BigInt(1 + (n % 10_000)),
            },
          ],
        };
      });

    // warm-up
    await postEntries(db, makeBatch());
    const latencies: number[] = [];
    let transfers = 0;
    const started = Date.now();
    const deadline = started + DURATION_MS;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (Date.now() < deadline) {
          const batch = makeBatch();
          const t0 = performance.now();
          await withTransaction(db, (client) => postEntries(client, batch));
          latencies.push(performance.now() - t0);
          transfers += batch.length;
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const transfersPerSec = Math.round(transfers / seconds);
    log(
      `${transfers} transfers in ${seconds.toFixed(1)}s: ${transfersPerSec}/s; batch p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
    );

    const { rows } = await db.query<{ d: string; c: string; drift: string }>(
      `SELECT sum(debits_minor)::text AS d, sum(credits_minor)::text AS c,
              (SELECT count(*) FROM ledger_accounts a WHERE a.id = ANY($1::bigint[]) AND a.debits_minor - a.credits_minor <>
                 (SELECT coalesce(sum(amount_minor),0) FROM ledger_postings WHERE debit_account_id = a.id) -
                 (SELECT coalesce(sum(amount_minor),0) FROM ledger_postings WHERE credit_account_id = a.id))::text AS drift
         FROM ledger_accounts`,
      [hot],
    );
    log(
      `check: Σdebits=${rows[0]!.d} Σcredits=${rows[0]!.c}; hot accounts whose balance ≠ Σpostings: ${rows[0]!.drift}`,
    );
    const t0 = Date.now();
    const verify = await verifyLedger(db);
    log(
      `ledger:verify ${verify.ok ? 'intact' : 'BROKEN'}: ${verify.entries} entries, ${verify.blocks} blocks in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
    );
    process.stdout.write(
      `${JSON.stringify({
        transfersPerSec,
        transfers,
        seconds,
        p50Ms: Number(percentile(latencies, 50).toFixed(1)),
        p99Ms: Number(percentile(latencies, 99).toFixed(1)),
        concurrency: CONCURRENCY,
        batchSize: BATCH,
        balanced: rows[0]!.d === rows[0]!.c,
        verifyOk: verify.ok,
      })}\n`,
    );
  } finally {
    await db.end();
    await services.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ledger failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
