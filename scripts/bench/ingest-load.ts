import pg from 'pg';
import { percentile } from './services';

// The load generator of `npm run bench:ingest`, run as its own process so its CPU is not the
// API's. Mode `api` POSTs batches to /v1/transactions; mode `raw` inserts the same kind of
// rows straight into game_transactions with one INSERT … SELECT FROM unnest per batch: the
// Postgres ceiling the API is compared with. Prints one JSON line with its figures.
interface Options {
  mode: 'api' | 'raw' | 'fn';
  url: string; // API base URL or DATABASE_URL
  partners: { id: string; apiKey: string; timezone: string }[];
  durationMs: number;
  concurrency: number;
  batchSize: number;
  runId: string;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const GAMES = Array.from({ length: 40 }, (_, i) => `game-${i}`);
const CURRENCIES = ['EUR', 'EUR', 'EUR', 'USD', 'GBP'];

interface Tx {
  id: string;
  type: string;
  roundId: string;
  playerId: string;
  gameId: string;
  amount: string;
  currency: string;
  occurredAt: string;
  refId?: string;
}

// Deterministic pseudo-random numbers (xorshift) so runs are comparable.
let state = 0x2545f491;
function rnd(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 4294967296;
}

let seq = 0;
const dayStart = Date.parse('2026-11-23T00:00:00Z');
/** A realistic batch: mostly bets and wins, ~5 % rollbacks, jackpots and bonus play, ~1 % exact duplicates. */
function makeBatch(worker: number, size: number, previous: Tx[]): Tx[] {
  const out: Tx[] = [];
  const bets: Tx[] = [];
  for (let i = 0; i < size; i++) {
    const r = rnd();
    if (r < 0.01 && previous.length) {
      out.push(previous[Math.floor(rnd() * previous.length)]!); // exact duplicate of an earlier item
      continue;
    }
    const n = seq++;
    const currency = CURRENCIES[n % CURRENCIES.length]!;
    const base: Tx = {
      id: `${opts.runId}-${worker}-${n}`,
      type: 'bet',
      roundId: `r-${worker}-${n >> 2}`,
      playerId: `pl-${Math.floor(rnd() * 50_000)}`,
      gameId: GAMES[Math.floor(rnd() * GAMES.length)]!,
      amount: `${1 + Math.floor(rnd() * 200)}.${String(Math.floor(rnd() * 100)).padStart(2, '0')}`,
      currency,
      occurredAt: new Date(dayStart + Math.floor(rnd() * 86_400_000)).toISOString(),
    };
    if (r < 0.5) {
      bets.push(base);
    } else if (r < 0.88) base.type = 'win';
    else if (r < 0.93 && bets.length) {
      const target = bets[Math.floor(rnd() * bets.length)]!;
      Object.assign(base, {
        type: 'rollback',
        refId: target.id,
        amount: target.amount,
        currency: target.currency,
        gameId: target.gameId,
      });
    } else if (r < 0.95) base.type = 'jackpot_contribution';
    else if (r < 0.98) base.type = 'bonus_bet';
    else base.type = 'bonus_win';
    out.push(base);
  }
  return out;
}

/** Bodies are built before the clock starts, so the generator's JSON work does not compete with the API for CPU. */
function prebuild(
  worker: number,
  count: number,
): { partner: Options['partners'][number]; body: string; n: number }[] {
  let previous: Tx[] = [];
  return Array.from({ length: count }, (_, b) => {
    const partner = opts.partners[(worker + b) % opts.partners.length]!;
    const items = makeBatch(worker, opts.batchSize, previous);
    previous = items;
    return {
      partner,
      body: JSON.stringify({ batchId: `${opts.runId}-${worker}-${b}`, transactions: items }),
      n: items.length,
    };
  });
}

async function runApi(
  worker: number,
  bodies: ReturnType<typeof prebuild>,
  deadline: () => number,
  latencies: number[],
  counters: { tx: number; errors: number },
) {
  for (const { partner, body, n } of bodies) {
    if (Date.now() >= deadline()) break;
    const t0 = performance.now();
    const res = await fetch(`${opts.url}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${partner.apiKey}` },
      body,
    });
    const text = await res.text();
    latencies.push(performance.now() - t0);
    if (res.status !== 200) {
      counters.errors++;
      if (counters.errors < 5) process.stderr.write(`HTTP ${res.status}: ${text.slice(0, 300)}\n`);
    } else counters.tx += n;
  }
}

async function runRaw(
  pool: pg.Pool,
  worker: number,
  deadline: number,
  latencies: number[],
  counters: { tx: number; errors: number },
) {
  let previous: Tx[] = [];
  let b = 0;
  while (Date.now() < deadline) {
    const partner = opts.partners[(worker + b) % opts.partners.length]!;
    const items = makeBatch(worker, opts.batchSize, previous);
    const batchId = `${opts.runId}-raw-${worker}-${b++}`;
    const t0 = performance.now();
    if (opts.mode === 'fn') {
      // The ingest database function alone (what the API calls), without HTTP and validation.
      const seen = new Set<string>();
      const unique = items.filter((t) => !seen.has(t.id) && seen.add(t.id));
      const byId = new Map(unique.map((t) => [t.id, t.type]));
      await pool.query(
        `SELECT ingest_batch($1, $2, '\\x00'::bytea, $3, $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::text[])`,
        [
          partner.id,
          batchId,
          items.length,
          unique.map((t) => t.id),
          unique.map((t) => t.type),
          unique.map((t) => t.roundId),
          unique.map((t) => t.playerId),
          unique.map((t) => t.gameId),
          unique.map((t) => t.amount.replace('.', '')),
          unique.map((t) => t.currency),
          unique.map((t) => t.occurredAt),
          unique.map((t) => t.refId ?? null),
          unique.map((t) => (t.refId ? (byId.get(t.refId) ?? null) : null)),
          unique.map(() => null),
        ],
      );
      latencies.push(performance.now() - t0);
      counters.tx += items.length;
      previous = items;
      continue;
    }
    await pool.query(
      `INSERT INTO game_transactions (partner_id, tx_id, type, round_id, player_id, game_id, amount_minor, currency, occurred_at, business_date, ref_id, batch_id)
       SELECT $1, i.id, i.type, i.round, i.player, i.game, i.amount, i.currency, i.at, (i.at AT TIME ZONE $2)::date, i.ref, $3
         FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::timestamptz[], $12::text[])
              AS i(id, type, round, player, game, amount, currency, at, ref)
       ON CONFLICT DO NOTHING`,
      [
        partner.id,
        partner.timezone,
        batchId,
        items.map((t) => t.id),
        items.map((t) => t.type),
        items.map((t) => t.roundId),
        items.map((t) => t.playerId),
        items.map((t) => t.gameId),
        items.map((t) => t.amount.replace('.', '')),
        items.map((t) => t.currency),
        items.map((t) => t.occurredAt),
        items.map((t) => t.refId ?? null),
      ],
    );
    latencies.push(performance.now() - t0);
    counters.tx += items.length;
    previous = items;
  }
}

async function main(): Promise<void> {
  const latencies: number[] = [];
  const counters = { tx: 0, errors: 0 };
  const pool =
    opts.mode !== 'api' ? new pg.Pool({ connectionString: opts.url, max: opts.concurrency }) : null;
  // Enough bodies for 120,000 tx/s over the phase; the phase ends at the deadline either way.
  const perWorker = Math.ceil((120_000 * (opts.durationMs / 1000)) / opts.batchSize / opts.concurrency);
  const bodies =
    opts.mode === 'api' ? Array.from({ length: opts.concurrency }, (_, w) => prebuild(w, perWorker)) : [];
  let deadlineAt = 0;
  const started = Date.now();
  deadlineAt = started + opts.durationMs;
  await Promise.all(
    Array.from({ length: opts.concurrency }, (_, w) =>
      pool
        ? runRaw(pool, w, deadlineAt, latencies, counters)
        : runApi(w, bodies[w]!, () => deadlineAt, latencies, counters),
    ),
  );
  const seconds = (Date.now() - started) / 1000;
  await pool?.end();
  latencies.sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({
      mode: opts.mode,
      batches: latencies.length,
      tx: counters.tx,
      errors: counters.errors,
      seconds,
      txPerSec: Math.round(counters.tx / seconds),
      p50Ms: Number(percentile(latencies, 50).toFixed(1)),
      p99Ms: Number(percentile(latencies, 99).toFixed(1)),
    })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`load generator failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
