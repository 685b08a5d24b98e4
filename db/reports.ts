import type pg from 'pg';
import { withTransaction } from './retry';
import type { AggregateRow, OurTx, ReportedTx } from '../domain/reconciliation';
import type { ReportRow } from '../domain/report';
import type { CycleRef } from './settlement';

// A provider's report as fetched for a cycle: its rows (or an aggregator's totals), where the
// fetch stands, and the reads reconciliation makes of it.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The period's report window [from, to) in epoch ms, from business days in the partner's timezone. */
export async function periodWindowMs(db: Queryable, c: CycleRef): Promise<{ fromMs: number; toMs: number }> {
  const { rows } = await db.query<{ from_ms: string; to_ms: string }>(
    `SELECT (extract(epoch FROM ($2::date::timestamp AT TIME ZONE p.timezone)) * 1000)::bigint::text AS from_ms,
            (extract(epoch FROM (($3::date + 1)::timestamp AT TIME ZONE p.timezone)) * 1000)::bigint::text AS to_ms
       FROM partners p WHERE p.id = $1`,
    [c.partnerId, c.periodStart, c.periodEnd],
  );
  return { fromMs: Number(rows[0]!.from_ms), toMs: Number(rows[0]!.to_ms) };
}

/** Stores a page of the report at its ordinals; idempotent, so a resumed fetch can repeat a page. */
export async function storeReportRows(
  db: Queryable,
  c: CycleRef,
  firstOrd: number,
  rows: ReportRow[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO provider_report_rows (cycle_id, ord, tx_id, type, round_id, game_id, currency, amount_minor, occurred_at, business_date, round_status)
     SELECT $1, $2 + r.i - 1, r.tx_id, r.type, r.round_id, r.game_id, r.currency, r.amount, r.at, (r.at AT TIME ZONE p.timezone)::date, r.status
       FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::timestamptz[], $11::text[]) WITH ORDINALITY
            AS r(tx_id, type, round_id, game_id, currency, amount, at, status, i)
       JOIN partners p ON p.id = $3
     ON CONFLICT (cycle_id, ord) DO NOTHING`,
    [
      c.cycleId,
      firstOrd,
      c.partnerId,
      rows.map((r) => r.txId),
      rows.map((r) => r.type),
      rows.map((r) => r.roundId),
      rows.map((r) => r.gameId),
      rows.map((r) => r.currency),
      rows.map((r) => r.amountMinor.toString()),
      rows.map((r) => r.occurredAt),
      rows.map((r) => r.roundStatus ?? null),
    ],
  );
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

/** One page of a provider report and the fetch's state after it, stored together (idempotent). */
export async function storeReportPage(
  db: pg.Pool,
  c: CycleRef & { runId: string },
  page: { firstOrd: number; rows: ReportRow[]; aggregates: Parameters<typeof storeReportAggregates>[2] },
  state: unknown,
): Promise<void> {
  await withTransaction(db, async (client) => {
    await storeReportRows(client, c, page.firstOrd, page.rows);
    await storeReportAggregates(client, c.cycleId, page.aggregates);
    await client.query(
      `INSERT INTO provider_report_progress (cycle_id, run_id, state) VALUES ($1, $2, $3)
       ON CONFLICT (cycle_id) DO UPDATE SET run_id = EXCLUDED.run_id, state = EXCLUDED.state, updated_at = now()`,
      [c.cycleId, c.runId, JSON.stringify(state)],
    );
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

/** Both sides' transactions for the (date, game, currency) keys whose totals differ. */
export async function transactionsForKeys(
  db: Queryable,
  c: CycleRef,
  keys: { businessDate: string; gameId: string; currency: string }[],
): Promise<{ ours: OurTx[]; theirs: ReportedTx[] }> {
  const params = [keys.map((k) => k.businessDate), keys.map((k) => k.gameId), keys.map((k) => k.currency)];
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
      WHERE g.partner_id = $1 AND g.type IN ('bet', 'win')`,
    [c.partnerId, ...params],
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
      WHERE r.cycle_id = $1 AND r.type IN ('bet', 'win') ORDER BY r.ord`,
    [c.cycleId, ...params],
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

/** Whether the cycle's report came as totals only (an aggregator), not transactions. */
export async function hasReportAggregates(db: Queryable, cycleId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'SELECT 1 FROM provider_report_aggregates WHERE cycle_id = $1 LIMIT 1',
    [cycleId],
  );
  return rowCount === 1;
}
