import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { withTransaction } from './retry';
import type { AggregateRow, OurTx, ReportedTx } from '../domain/reconciliation';
import type { ReportRow } from '../domain/report';
import type { CycleRef } from './settlement';

// A provider's report as fetched for a cycle: its rows (or an aggregator's totals), where the
// fetch stands, and the reads reconciliation makes of it.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The period's report window [from, to) in epoch ms, from business days in the partner's timezone. */
export async function periodWindowMs(
  db: Queryable,
  c: Pick<CycleRef, 'partnerId' | 'periodStart' | 'periodEnd'>,
): Promise<{ fromMs: number; toMs: number }> {
  const { rows } = await db.query<{ from_ms: string; to_ms: string }>(
    `SELECT (extract(epoch FROM ($2::date::timestamp AT TIME ZONE p.timezone)) * 1000)::bigint::text AS from_ms,
            (extract(epoch FROM (($3::date + 1)::timestamp AT TIME ZONE p.timezone)) * 1000)::bigint::text AS to_ms
       FROM partners p WHERE p.id = $1`,
    [c.partnerId, c.periodStart, c.periodEnd],
  );
  return { fromMs: Number(rows[0]!.from_ms), toMs: Number(rows[0]!.to_ms) };
}

/**
 * The partner's business days around a period as Postgres draws them (its zone data is the
 * authority, as for our side of the ledger): each day's first instant in epoch ms, from three
 * days before the period to three after, ascending.
 */
export async function businessDayStarts(
  db: Queryable,
  c: CycleRef,
): Promise<{ day: string; startMs: number }[]> {
  const { rows } = await db.query<{ day: string; start_ms: string }>(
    `SELECT d::date::text AS day,
            (extract(epoch FROM (d::date::timestamp AT TIME ZONE p.timezone)) * 1000)::bigint::text AS start_ms
       FROM partners p, generate_series($2::date - 3, $3::date + 4, interval '1 day') AS d
      WHERE p.id = $1 ORDER BY d`,
    [c.partnerId, c.periodStart, c.periodEnd],
  );
  return rows.map((r) => ({ day: r.day, startMs: Number(r.start_ms) }));
}

/**
 * The month's partition of provider_report_rows for a period (created on first use, with the
 * owner's rights: migration 1764000026000). Called before a fetch stores its first page.
 */
export async function ensureReportPartition(db: Queryable, periodStart: string): Promise<void> {
  await db.query('SELECT ensure_report_rows_partition($1::date)', [periodStart]);
}

/** The partner's timezone: a report row's business day is its time's date there (the caller computes it). */
export async function partnerTimezone(db: Queryable, partnerId: string): Promise<string> {
  const { rows } = await db.query<{ timezone: string }>('SELECT timezone FROM partners WHERE id = $1', [
    partnerId,
  ]);
  if (!rows[0]) throw new Error(`partner ${partnerId} not found`);
  return rows[0].timezone;
}

// COPY's text format: a backslash, tab, newline or carriage return inside a value is escaped.
const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const copyText = (v: string) =>
  COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (ch) => COPY_ESCAPES[ch]!) : v;

const REPORT_ROW_COLUMNS =
  'cycle_id, period_start, ord, tx_id, type, round_id, game_id, currency, amount_minor, occurred_at, business_date, round_status';

/**
 * Stores a page of the report at its ordinals with COPY (a report is millions of rows: one
 * statement and one round trip per page, no per-row parameters). Not idempotent by itself:
 * storeReportPage writes a page only when the fetch's stored progress says it is the next one.
 */
export async function storeReportRows(
  client: pg.PoolClient,
  c: CycleRef & { businessDate: (epochMs: number) => string },
  firstOrd: number,
  rows: ReportRow[],
): Promise<void> {
  if (rows.length === 0) return;
  const prefix = `${copyText(c.cycleId)}\t${c.periodStart}\t`;
  const lines: string[] = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const at = Date.parse(r.occurredAt);
    lines[i] =
      `${prefix}${firstOrd + i}\t${copyText(r.txId)}\t${copyText(r.type)}\t${copyText(r.roundId)}\t` +
      `${copyText(r.gameId)}\t${copyText(r.currency)}\t${r.amountMinor}\t${r.occurredAt}\t` +
      `${c.businessDate(at)}\t${r.roundStatus ?? '\\N'}\n`;
  }
  const copy = client.query(copyFrom(`COPY provider_report_rows (${REPORT_ROW_COLUMNS}) FROM STDIN`));
  await pipeline(Readable.from([lines.join('')]), copy);
}

/** Stores aggregator totals; a repeated page overwrites itself with the same values. */
export async function storeReportAggregates(
  db: Queryable,
  cycleId: string,
  rows: {
    businessDate: string;
    gameId: string;
    currency: string;
    betCount: bigint;
    betMinor: bigint;
    winMinor: bigint;
  }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO provider_report_aggregates (cycle_id, business_date, game_id, currency, bet_count, bet_minor, win_minor)
     SELECT $1, * FROM unnest($2::date[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
     ON CONFLICT (cycle_id, business_date, game_id, currency) DO UPDATE
       SET bet_count = EXCLUDED.bet_count, bet_minor = EXCLUDED.bet_minor, win_minor = EXCLUDED.win_minor`,
    [
      cycleId,
      rows.map((r) => r.businessDate),
      rows.map((r) => r.gameId),
      rows.map((r) => r.currency),
      rows.map((r) => r.betCount.toString()),
      rows.map((r) => r.betMinor.toString()),
      rows.map((r) => r.winMinor.toString()),
    ],
  );
}

/**
 * The report fetch's saved state for this workflow run, or null when this run has not stored a
 * page yet. Another run's leftovers (an earlier run of a reused cycle id) are cleared first, so
 * a run never mixes its report with an older one.
 */
export async function reportProgress(db: pg.Pool, cycleId: string, runId: string): Promise<unknown> {
  return withTransaction(db, async (client) => {
    const { rows } = await client.query<{ run_id: string; state: unknown }>(
      'SELECT run_id, state FROM provider_report_progress WHERE cycle_id = $1 FOR UPDATE',
      [cycleId],
    );
    if (rows[0]?.run_id === runId) return rows[0].state;
    await client.query('DELETE FROM provider_report_rows WHERE cycle_id = $1', [cycleId]);
    await client.query('DELETE FROM provider_report_aggregates WHERE cycle_id = $1', [cycleId]);
    await client.query('DELETE FROM provider_report_progress WHERE cycle_id = $1', [cycleId]);
    return null;
  });
}

/**
 * One page of a provider report and the fetch's state after it, stored together, exactly once:
 * under a lock on the cycle's fetch, the page is written only if the stored progress (this
 * run's, counted in `state.pages`) says it is page `pageNumber`. Otherwise another attempt of
 * the fetch (one that outlived its heartbeat) stored it already: nothing is written and the
 * progress as stored is returned, for the caller to go on from there.
 */
export async function storeReportPage(
  db: pg.Pool,
  c: CycleRef & { runId: string; businessDate: (epochMs: number) => string },
  page: {
    pageNumber: number;
    firstOrd: number;
    rows: ReportRow[];
    aggregates: Parameters<typeof storeReportAggregates>[2];
  },
  state: unknown,
): Promise<{ stored: true } | { stored: false; progress: unknown }> {
  return withTransaction(db, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`provider-report:${c.cycleId}`]);
    const { rows } = await client.query<{ run_id: string; state: unknown; pages: number | null }>(
      `SELECT run_id, state, (state->>'pages')::int AS pages FROM provider_report_progress WHERE cycle_id = $1`,
      [c.cycleId],
    );
    const ours = rows[0]?.run_id === c.runId ? rows[0] : undefined;
    if (rows[0] && !ours) throw new Error(`the report of ${c.cycleId} is being fetched by another run`);
    if ((ours?.pages ?? 0) !== page.pageNumber - 1) return { stored: false, progress: ours?.state ?? null };
    await storeReportRows(client, c, page.firstOrd, page.rows);
    await storeReportAggregates(client, c.cycleId, page.aggregates);
    await client.query(
      `INSERT INTO provider_report_progress (cycle_id, run_id, state) VALUES ($1, $2, $3)
       ON CONFLICT (cycle_id) DO UPDATE SET run_id = EXCLUDED.run_id, state = EXCLUDED.state, updated_at = now()`,
      [c.cycleId, c.runId, JSON.stringify(state)],
    );
    return { stored: true };
  });
}

export async function reportTotals(
  db: Queryable,
  cycleId: string,
): Promise<{ recordCount: number; sumMinor: bigint }> {
  const { rows } = await db.query<{ n: number; s: string }>(
    'SELECT count(*)::int AS n, coalesce(sum(amount_minor), 0)::text AS s FROM provider_report_rows WHERE cycle_id = $1',
    [cycleId],
  );
  return { recordCount: rows[0]!.n, sumMinor: BigInt(rows[0]!.s) };
}

/** A row of totals per (day, game, currency) as the aggregate queries select it. */
export interface AggregateSqlRow {
  business_date: string;
  game_id: string;
  currency: string;
  bet_count: string;
  bet_minor: string;
  win_minor: string;
}

export const aggregateRow = (r: AggregateSqlRow): AggregateRow => ({
  businessDate: r.business_date,
  gameId: r.game_id,
  currency: r.currency,
  betCount: BigInt(r.bet_count),
  betMinor: BigInt(r.bet_minor),
  winMinor: BigInt(r.win_minor),
});

/** Their totals: from the transaction rows they reported, or, for aggregators, as reported. */
export async function theirAggregates(db: Queryable, cycleId: string): Promise<AggregateRow[]> {
  const { rows } = await db.query<AggregateSqlRow>(
    `SELECT business_date::text, game_id, currency,
            count(*) FILTER (WHERE type = 'bet')::text AS bet_count,
            coalesce(sum(amount_minor) FILTER (WHERE type = 'bet'), 0)::text AS bet_minor,
            coalesce(sum(amount_minor) FILTER (WHERE type = 'win'), 0)::text AS win_minor
       FROM provider_report_rows WHERE cycle_id = $1 GROUP BY 1, 2, 3
     UNION ALL
     SELECT business_date::text, game_id, currency, bet_count::text, bet_minor::text, win_minor::text
       FROM provider_report_aggregates WHERE cycle_id = $1`,
    [cycleId],
  );
  return rows.map(aggregateRow);
}

/**
 * Both sides' transactions for the (date, game, currency) keys whose totals differ, but only
 * those of transaction ids that can make a discrepancy: on one side only, reported more than
 * once, in a round the provider reports open, received after the period froze, or with another
 * amount or currency. The comparison is one hash join on the transaction id in Postgres (ours
 * by the partner's primary key, theirs by the cycle's), so a report of millions of rows that
 * agrees with us row for row returns nothing; the rows returned are every row of each such id
 * on both sides, so reconcileTransactions (domain/reconciliation.ts) names them exactly as it
 * would from all the rows. Ids only; a pathological report (everything differs) returns all.
 */
export async function transactionsForKeys(
  db: pg.Pool,
  c: CycleRef & { frozenAt: string },
  keys: { businessDate: string; gameId: string; currency: string }[],
): Promise<{ ours: OurTx[]; theirs: ReportedTx[] }> {
  const params = [keys.map((k) => k.businessDate), keys.map((k) => k.gameId), keys.map((k) => k.currency)];
  const ids = await withTransaction(db, async (client) => {
    // Both sides of a 100,000-row cycle hashed in memory rather than in temporary files, and
    // hashed whatever the estimates say: a month partition filling up has no statistics for
    // the cycle being compared, and the planner then chose a nested loop and a sort by tx_id
    // (380 ms for a 100,000-row cycle, against ~120 ms hashed).
    await client.query(`SET LOCAL work_mem = '64MB'`);
    await client.query('SET LOCAL enable_nestloop = off');
    await client.query('SET LOCAL enable_sort = off');
    const { rows } = await client.query<{ tx_id: string }>(
      `WITH k AS (SELECT * FROM unnest($3::date[], $4::text[], $5::text[]) AS k(d, game, cur)),
       o AS (SELECT g.tx_id, g.amount_minor, g.currency, g.received_at
               FROM game_transactions g JOIN k ON g.business_date = k.d AND g.game_id = k.game AND g.currency = k.cur
              WHERE g.partner_id = $1 AND g.type IN ('bet', 'win')),
       t AS (SELECT r.tx_id, count(*) AS n, min(r.amount_minor) AS amount_minor, min(r.currency) AS currency,
                    bool_or(r.round_status = 'open') AS open
               FROM provider_report_rows r JOIN k ON r.business_date = k.d AND r.game_id = k.game AND r.currency = k.cur
              WHERE r.cycle_id = $2 AND r.period_start = $6 AND r.type IN ('bet', 'win')
              GROUP BY r.tx_id)
       SELECT coalesce(o.tx_id, t.tx_id) AS tx_id
         FROM o FULL JOIN t ON t.tx_id = o.tx_id
        WHERE o.tx_id IS NULL OR t.tx_id IS NULL OR t.n > 1 OR t.open
           -- a millisecond early: "late" is decided in milliseconds by reconcileTransactions
           OR o.received_at > $7::timestamptz - interval '1 millisecond'
           OR o.amount_minor <> t.amount_minor OR o.currency <> t.currency`,
      [c.partnerId, c.cycleId, ...params, c.periodStart, c.frozenAt],
    );
    return rows.map((r) => r.tx_id);
  });
  if (ids.length === 0) return { ours: [], theirs: [] };
  const ours = await db.query<{
    tx_id: string;
    type: string;
    round_id: string;
    game_id: string;
    currency: string;
    amount_minor: string;
    occurred_at: Date;
    business_date: string;
    received_at: Date;
  }>(
    `SELECT g.tx_id, g.type, g.round_id, g.game_id, g.currency, g.amount_minor::text, g.occurred_at, g.business_date::text, g.received_at
       FROM game_transactions g JOIN unnest($2::date[], $3::text[], $4::text[]) AS k(d, game, cur)
         ON g.business_date = k.d AND g.game_id = k.game AND g.currency = k.cur
      WHERE g.partner_id = $1 AND g.tx_id = ANY ($5::text[]) AND g.type IN ('bet', 'win')`,
    [c.partnerId, ...params, ids],
  );
  const theirs = await db.query<{
    tx_id: string;
    type: string;
    round_id: string;
    game_id: string;
    currency: string;
    amount_minor: string;
    occurred_at: Date;
    business_date: string;
    round_status: ReportedTx['roundStatus'] | null;
  }>(
    `SELECT r.tx_id, r.type, r.round_id, r.game_id, r.currency, r.amount_minor::text, r.occurred_at, r.business_date::text, r.round_status
       FROM provider_report_rows r JOIN unnest($2::date[], $3::text[], $4::text[]) AS k(d, game, cur)
         ON r.business_date = k.d AND r.game_id = k.game AND r.currency = k.cur
      WHERE r.cycle_id = $1 AND r.period_start = $6 AND r.tx_id = ANY ($5::text[]) AND r.type IN ('bet', 'win')
      ORDER BY r.ord`,
    [c.cycleId, ...params, ids, c.periodStart],
  );
  return {
    ours: ours.rows.map((r) => ({
      id: r.tx_id,
      type: r.type,
      roundId: r.round_id,
      gameId: r.game_id,
      currency: r.currency,
      amountMinor: BigInt(r.amount_minor),
      occurredAt: r.occurred_at.toISOString(),
      businessDate: r.business_date,
      receivedAt: r.received_at.toISOString(),
    })),
    theirs: theirs.rows.map((r) => ({
      id: r.tx_id,
      type: r.type,
      roundId: r.round_id,
      gameId: r.game_id,
      currency: r.currency,
      amountMinor: BigInt(r.amount_minor),
      occurredAt: r.occurred_at.toISOString(),
      businessDate: r.business_date,
      ...(r.round_status ? { roundStatus: r.round_status } : {}),
    })),
  };
}

/**
 * The type of each transaction named by an exception: ours where we have it, else the first
 * the provider reported (what the fee step reads of an exception, db/accruals.ts
 * exceptionRecords, read here for the few ids at hand in one pass over the cycle's rows).
 */
export async function transactionTypes(
  db: Queryable,
  c: CycleRef,
  txIds: string[],
): Promise<Map<string, string>> {
  if (txIds.length === 0) return new Map();
  const { rows } = await db.query<{ tx_id: string; type: string | null }>(
    `WITH theirs AS (
       SELECT DISTINCT ON (tx_id) tx_id, type FROM provider_report_rows
        WHERE cycle_id = $1 AND period_start = $3 AND tx_id = ANY ($4::text[])
        ORDER BY tx_id, ord)
     SELECT i.tx_id, coalesce(g.type, t.type) AS type
       FROM unnest($4::text[]) AS i(tx_id)
       LEFT JOIN game_transactions g ON g.partner_id = $2 AND g.tx_id = i.tx_id
       LEFT JOIN theirs t ON t.tx_id = i.tx_id`,
    [c.cycleId, c.partnerId, c.periodStart, txIds],
  );
  return new Map(rows.filter((r) => r.type !== null).map((r) => [r.tx_id, r.type!]));
}

/** Whether the cycle's report came as totals only (an aggregator), not transactions. */
export async function hasReportAggregates(db: Queryable, cycleId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'SELECT 1 FROM provider_report_aggregates WHERE cycle_id = $1 LIMIT 1',
    [cycleId],
  );
  return rowCount === 1;
}

// Retention: report rows are kept REPORT_RETENTION_MONTHS months, then their month's partition
// is dropped whole (no row-by-row delete, no bloat). The reconciliation results (exceptions,
// statements) are kept: only the provider's raw rows go.

/** A month's partition of provider_report_rows and what it costs on disk. */
export interface ReportPartition {
  name: string;
  /** First day of the month it holds (periods starting in it), YYYY-MM-DD. */
  from: string;
  /** First day after it. */
  to: string;
  /** pg_total_relation_size: heap, index and TOAST. */
  bytes: number;
  /** Rows it holds, as the planner's statistics estimate them (counting a month would take minutes). */
  rowsEstimate: number;
}

export async function reportPartitions(db: Queryable): Promise<ReportPartition[]> {
  const { rows } = await db.query<{ name: string; bound: string; bytes: string; estimate: number }>(
    `SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
            pg_total_relation_size(c.oid)::text AS bytes, greatest(c.reltuples, 0)::float8 AS estimate
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'public.provider_report_rows'::regclass
      ORDER BY 1`,
  );
  const out: ReportPartition[] = [];
  for (const r of rows) {
    const m = /FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)/.exec(r.bound);
    if (!m) continue; // not a month's range (a partition someone attached by hand): never dropped
    out.push({ name: r.name, from: m[1]!, to: m[2]!, bytes: Number(r.bytes), rowsEstimate: r.estimate });
  }
  return out;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * The first day of the oldest month kept: `months` whole months before the month of `today`
 * (UTC). Partitions ending on or before it are past retention. 0 months: keep everything (null).
 */
export function retentionCutoff(today: string, months: number): string | null {
  if (months === 0) return null;
  const [y, m] = today.split('-').map(Number) as [number, number];
  const first = new Date(Date.UTC(y, m - 1 - months, 1));
  return first.toISOString().slice(0, 10);
}

/** The partitions past retention, oldest first. */
export function partitionsPastRetention(
  partitions: ReportPartition[],
  today: string,
  months: number,
): ReportPartition[] {
  const cutoff = retentionCutoff(today, months);
  if (cutoff === null) return [];
  return partitions.filter((p) => p.to <= cutoff).sort((a, b) => (a.from < b.from ? -1 : 1));
}

/**
 * Applies the retention rule: lists the partitions past retention and, when `apply`, detaches
 * and drops each (one transaction each). Dropping a table needs its owner: run with the
 * owner's connection (DATABASE_OWNER_URL), as migrations are.
 */
export async function applyReportRetention(
  db: pg.Pool,
  opts: { today: string; months: number; apply: boolean },
): Promise<{
  cutoff: string | null;
  kept: ReportPartition[];
  past: ReportPartition[];
  dropped: string[];
  /** Past retention but kept: a cycle of that month has not finished (its rows may still be read). */
  held: { name: string; unfinishedCycles: number }[];
}> {
  const all = await reportPartitions(db);
  const held: { name: string; unfinishedCycles: number }[] = [];
  const past: ReportPartition[] = [];
  for (const p of partitionsPastRetention(all, opts.today, opts.months)) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM settlement_cycles
        WHERE period_start >= $1 AND period_start < $2 AND status NOT IN ('Completed', 'Failed')`,
      [p.from, p.to],
    );
    if (rows[0]!.n > 0) held.push({ name: p.name, unfinishedCycles: rows[0]!.n });
    else past.push(p);
  }
  const dropped: string[] = [];
  if (opts.apply)
    for (const p of past)
      await withTransaction(db, async (client) => {
        await client.query(`ALTER TABLE provider_report_rows DETACH PARTITION public.${quoteIdent(p.name)}`);
        await client.query(`DROP TABLE public.${quoteIdent(p.name)}`);
        dropped.push(p.name);
      });
  const gone = new Set(past.map((p) => p.name));
  return {
    cutoff: retentionCutoff(opts.today, opts.months),
    kept: all.filter((p) => !gone.has(p.name)),
    past,
    dropped,
    held,
  };
}
