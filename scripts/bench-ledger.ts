import type pg from 'pg';
import { ensureAccounts, postEntries, verifyLedger, type EntryInput } from '../db/ledger';
import { createPool } from '../db/pool';
import { withTransaction } from '../db/retry';
import { log, percentile, startServices } from './bench/services';

// `npm run bench:ledger`: batched double-entry transfers through the ledger's posting
// function (one round trip per batch), between a few hot accounts and many cold ones, with
// balances maintained in the same statement. Then the raw ceiling: the same entry and posting
// rows, same batch size and concurrency, inserted into copies of the two tables (same columns,
// checks and indexes; no triggers, foreign keys, balances, hashes or chain blocks) by one plain
// INSERT … SELECT FROM unnest per batch. Last line: one JSON object.
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 20) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
// An experiment, not the reported ceiling: UNLOGGED copies show what the WAL and its fsync cost.
const CEILING_UNLOGGED = process.env.BENCH_CEILING_UNLOGGED === 'true';
const HOT = 4;
const COLD = 10_000;

interface Phase {
  transfers: number;
  seconds: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** CONCURRENCY writers, each one batch per transaction, for DURATION_MS after one warm-up batch. */
async function measure(
  db: pg.Pool,
  makeBatch: () => EntryInput[],
  write: (client: pg.PoolClient, batch: EntryInput[]) => Promise<unknown>,
): Promise<Phase> {
  await withTransaction(db, (client) => write(client, makeBatch()));
  const latencies: number[] = [];
  let transfers = 0;
  const started = Date.now();
  const deadline = started + DURATION_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < deadline) {
        const batch = makeBatch();
        const t0 = performance.now();
        await withTransaction(db, (client) => write(client, batch));
        latencies.push(performance.now() - t0);
        transfers += batch.length;
      }
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    transfers,
    seconds,
    perSec: Math.round(transfers / seconds),
    p50Ms: Number(percentile(latencies, 50).toFixed(1)),
    p99Ms: Number(percentile(latencies, 99).toFixed(1)),
  };
}

/** Both phases start right after a checkpoint, so neither pays more full-page images than the other. */
async function checkpoint(db: pg.Pool): Promise<void> {
  await db.query('CHECKPOINT').catch((err: unknown) => {
    log(`CHECKPOINT skipped (${err instanceof Error ? err.message : String(err)})`);
  });
}

async function main(): Promise<void> {
  log(
    `bench:ledger — ${CONCURRENCY} writers, batches of ${BATCH} transfers, ${HOT} hot / ${COLD} cold accounts, ${DURATION_MS / 1000}s per phase`,
  );
  const services = await startServices({ temporal: false });
  const db = createPool({ db: { url: services.databaseUrl, poolMax: CONCURRENCY + 1 } });
  let result: Record<string, unknown>;
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

    // Transfer n: one entry, one posting between a hot and a cold account. The ceiling phase
    // builds the same rows under other idempotency keys.
    let seq = 0;
    const batchOf = (prefix: string) => (): EntryInput[] =>
      Array.from({ length: BATCH }, () => {
        const n = seq++;
        const h = hot[n % HOT]!;
        const c = cold[(n * 7919) % COLD]!;
        const toHot = n % 2 === 0;
        return {
          idempotencyKey: `${prefix}-${n}`,
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

    // 1. The ledger: ledger_post (idempotency probe, content hashes, one chain block per batch,
    //    accounts checked, locked and their balances moved by the postings trigger).
    await checkpoint(db);
    log('ledger phase (ledger_post) …');
    const real = await measure(db, batchOf('bench'), (client, batch) => postEntries(client, batch));
    log(
      `${real.transfers} transfers in ${real.seconds.toFixed(1)}s: ${real.perSec}/s; batch p50 ${real.p50Ms} ms, p99 ${real.p99Ms} ms`,
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

    // 2. The raw ceiling: the same rows, written as plainly as Postgres takes them.
    await db.query(
      `DROP TABLE IF EXISTS bench_ceiling_postings, bench_ceiling_entries;
       CREATE ${CEILING_UNLOGGED ? 'UNLOGGED ' : ''}TABLE bench_ceiling_entries (LIKE ledger_entries INCLUDING ALL);
       CREATE ${CEILING_UNLOGGED ? 'UNLOGGED ' : ''}TABLE bench_ceiling_postings (LIKE ledger_postings INCLUDING ALL);`,
    );
    const { rows: seqRows } = await db.query<{ s: string }>(
      `SELECT pg_get_serial_sequence('bench_ceiling_entries', 'id') AS s`,
    );
    const entrySeq = seqRows[0]!.s;
    // The entry's content hash and block are columns of the same width as the ledger's, filled
    // with constants: stored, not computed.
    const noHash = Buffer.alloc(32);
    await checkpoint(db);
    log(`ceiling phase (INSERT … SELECT FROM unnest into ${CEILING_UNLOGGED ? 'UNLOGGED ' : ''}copies) …`);
    const ceiling = await measure(db, batchOf('ceiling'), (client, batch) =>
      client.query(
        `WITH u AS MATERIALIZED (
           SELECT nextval($9::regclass) AS id, k, d, sk, sr, debit, credit, cur, amount
             FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::bigint[])
                  AS t(k, d, sk, sr, debit, credit, cur, amount)
         ), e AS (
           INSERT INTO bench_ceiling_entries (id, idempotency_key, effective_date, source_kind, source_ref, metadata, block_id, content_hash)
           OVERRIDING SYSTEM VALUE
           SELECT id, k, d, sk, sr, '{}'::jsonb, 0, $10::bytea FROM u
         )
         INSERT INTO bench_ceiling_postings (entry_id, line, debit_account_id, credit_account_id, currency, amount_minor, effective_date, posted_at)
         SELECT id, 0, debit, credit, cur, amount, d, now() FROM u`,
        [
          batch.map((e) => e.idempotencyKey),
          batch.map((e) => e.effectiveDate),
          batch.map((e) => e.sourceKind),
          batch.map((e) => e.sourceRef),
          batch.map((e) => e.postings[0]!.debitAccountId),
          batch.map((e) => e.postings[0]!.creditAccountId),
          batch.map((e) => e.postings[0]!.currency),
          batch.map((e) => e.postings[0]!.amountMinor.toString()),
          entrySeq,
          noHash,
        ],
      ),
    );
    log(
      `ceiling: ${ceiling.transfers} transfers in ${ceiling.seconds.toFixed(1)}s: ${ceiling.perSec}/s; batch p50 ${ceiling.p50Ms} ms, p99 ${ceiling.p99Ms} ms`,
    );
    await db.query('DROP TABLE bench_ceiling_postings, bench_ceiling_entries');

    result = {
      transfersPerSec: real.perSec,
      ceilingTransfersPerSec: ceiling.perSec,
      ratio: Number((real.perSec / ceiling.perSec).toFixed(2)),
      transfers: real.transfers,
      seconds: real.seconds,
      p50Ms: real.p50Ms,
      p99Ms: real.p99Ms,
      ceilingP50Ms: ceiling.p50Ms,
      ceilingP99Ms: ceiling.p99Ms,
      ...(CEILING_UNLOGGED ? { ceilingUnlogged: true } : {}),
      concurrency: CONCURRENCY,
      batchSize: BATCH,
      balanced: rows[0]!.d === rows[0]!.c,
      verifyOk: verify.ok,
    };
  } finally {
    await db.end();
    await services.stop();
  }
  // Printed once everything is stopped, so nothing can follow it.
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ledger failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
