import type pg from 'pg';

// The console's figures (GET /v1/insights/*, the forecast): read-only SQL over what ingest and
// the settlement cycles keep, every query keyed by partner and day (or hour, or cycle) — never a
// scan of a partner's history, nor of every partner's rows. The routes turn these rows into
// money (api/routes/insights.ts); nothing here formats or converts an amount.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export interface PartnerBasics {
  id: string;
  settlementCurrency: string;
  timezone: string;
}

/** One partner, or every partner (the partners table: one row each), with what conversion needs. */
export async function partnersOf(db: Queryable, partnerId: string | null): Promise<PartnerBasics[]> {
  const { rows } = await db.query<{ id: string; settlement_currency: string; timezone: string }>(
    `SELECT id, settlement_currency, timezone FROM partners WHERE ($1::text IS NULL OR id = $1) ORDER BY id`,
    [partnerId],
  );
  return rows.map((r) => ({ id: r.id, settlementCurrency: r.settlement_currency, timezone: r.timezone }));
}

/** Revenue figures of one partner, business day, currency (and game), in minor units as text. */
export interface RevenueRow {
  partnerId: string;
  businessDate: string;
  currency: string;
  /** Null unless asked per game. */
  gameId: string | null;
  txCount: string;
  /** Stakes after rollbacks. */
  betMinor: string;
  /** Wins after rollbacks. */
  winMinor: string;
  /** Bonus wins, net of their rollbacks (the statement's bonus cost). */
  bonusCostMinor: string;
  /** Jackpot contributions, net of their rollbacks. */
  jackpotContributionMinor: string;
  jackpotWinMinor: string;
}

/**
 * Positions summed over their stripes per partner, business day and currency (and game), with
 * the rollbacks of bonus wins and jackpot flows netted as the fee step nets them
 * (db/accruals.ts snapshotSources): the same figures the statement will show. Keyed: the
 * positions' primary key (partner_id, business_date, …) and the small partial index of those
 * rollbacks (game_transactions_other_rollbacks).
 */
export async function revenueRows(
  db: Queryable,
  q: { partnerIds: string[]; from: string; to: string; byGame: boolean },
): Promise<RevenueRow[]> {
  if (q.partnerIds.length === 0) return [];
  const game = q.byGame ? 'game_id' : 'NULL::text';
  const { rows } = await db.query<{
    partner_id: string;
    business_date: string;
    currency: string;
    game_id: string | null;
    tx: string;
    bets: string;
    wins: string;
    bonus: string;
    jc: string;
    jw: string;
  }>(
    `WITH pos AS (
       SELECT partner_id, business_date, currency, ${game} AS game_id, sum(tx_count) AS tx,
              sum(bet_minor - rollback_bet_minor) AS bets, sum(win_minor - rollback_win_minor) AS wins,
              sum(bonus_win_minor) AS bonus, sum(jackpot_contribution_minor) AS jc, sum(jackpot_win_minor) AS jw
         FROM positions
        WHERE partner_id = ANY($1::text[]) AND business_date BETWEEN $2::date AND $3::date
        GROUP BY 1, 2, 3, 4),
     other AS (
       SELECT partner_id, business_date, currency, ${game} AS game_id,
              coalesce(sum(amount_minor) FILTER (WHERE ref_type = 'bonus_win'), 0) AS bonus,
              coalesce(sum(amount_minor) FILTER (WHERE ref_type = 'jackpot_contribution'), 0) AS jc,
              coalesce(sum(amount_minor) FILTER (WHERE ref_type = 'jackpot_win'), 0) AS jw
         FROM game_transactions
        WHERE partner_id = ANY($1::text[]) AND business_date BETWEEN $2::date AND $3::date
          AND type = 'rollback' AND ref_type IN ('bonus_win', 'jackpot_contribution', 'jackpot_win')
        GROUP BY 1, 2, 3, 4)
     SELECT p.partner_id, p.business_date::text, p.currency, p.game_id, p.tx::text, p.bets::text, p.wins::text,
            (p.bonus - coalesce(o.bonus, 0))::text AS bonus, (p.jc - coalesce(o.jc, 0))::text AS jc,
            (p.jw - coalesce(o.jw, 0))::text AS jw
       FROM pos p
       LEFT JOIN other o ON o.partner_id = p.partner_id AND o.business_date = p.business_date
                        AND o.currency = p.currency AND o.game_id IS NOT DISTINCT FROM p.game_id
      ORDER BY p.partner_id, p.business_date, p.game_id, p.currency`,
    [q.partnerIds, q.from, q.to],
  );
  return rows.map((r) => ({
    partnerId: r.partner_id,
    businessDate: r.business_date,
    currency: r.currency,
    gameId: r.game_id,
    txCount: r.tx,
    betMinor: r.bets,
    winMinor: r.wins,
    bonusCostMinor: r.bonus,
    jackpotContributionMinor: r.jc,
    jackpotWinMinor: r.jw,
  }));
}

export interface RateOfDay {
  from: string;
  to: string;
  /** The day the rate is for (a reference rate: the latest stored on or before the day asked). */
  day: string;
  rate: string;
  source: string;
  asOf: string;
}

/**
 * The rates locked by the cycles covering these days (settlement_fx_rates of the partner's
 * cycle whose period contains the day), per partner: `partnerId|day|from` → rate. Keyed: the
 * cycles' exclusion index (partner_id, period) and the rates' primary key (cycle_id, …).
 */
export async function lockedRatesByDay(
  db: Queryable,
  q: { partnerIds: string[]; from: string; to: string },
): Promise<Map<string, RateOfDay & { cycleId: string }>> {
  if (q.partnerIds.length === 0) return new Map();
  const { rows } = await db.query<{
    partner_id: string;
    cycle_id: string;
    day: string;
    from_ccy: string;
    to_ccy: string;
    rate: string;
    source: string;
    as_of: Date;
  }>(
    `SELECT c.partner_id, c.id AS cycle_id, d.day::date::text AS day, r.from_ccy, r.to_ccy, r.rate::text, r.source, r.as_of
       FROM settlement_cycles c
       JOIN settlement_fx_rates r ON r.cycle_id = c.id
       CROSS JOIN LATERAL generate_series(greatest(c.period_start, $2::date), least(c.period_end, $3::date), interval '1 day') AS d(day)
      WHERE c.partner_id = ANY($1::text[])
        AND daterange(c.period_start, c.period_end, '[]') && daterange($2::date, $3::date, '[]')`,
    [q.partnerIds, q.from, q.to],
  );
  return new Map(
    rows.map((r) => [
      `${r.partner_id}|${r.day}|${r.from_ccy}|${r.to_ccy}`,
      {
        cycleId: r.cycle_id,
        from: r.from_ccy,
        to: r.to_ccy,
        day: r.day,
        rate: r.rate,
        source: r.source,
        asOf: r.as_of.toISOString(),
      },
    ]),
  );
}

/** The reference rates of each pair for each day: one reader, db/fx-reference.ts. */
export { referenceRatesByDay } from './fx-reference';

export interface HourRow {
  partnerId: string;
  hour: string;
  currency: string;
  txCount: string;
  betCount: string;
  betMinor: string;
  winMinor: string;
  ggrMinor: string;
}

/** The hourly rollup (activity_hours, stripes summed) of partners over [from, to): keyed by (partner_id, hour). */
export async function activityHours(
  db: Queryable,
  q: { partnerIds: string[]; from: string; to: string },
): Promise<HourRow[]> {
  if (q.partnerIds.length === 0) return [];
  const { rows } = await db.query<{
    partner_id: string;
    hour: Date;
    currency: string;
    tx: string;
    bet_count: string;
    bets: string;
    wins: string;
    ggr: string;
  }>(
    `SELECT partner_id, hour, currency, sum(tx_count)::text AS tx, sum(bet_count)::text AS bet_count,
            sum(bet_minor)::text AS bets, sum(win_minor)::text AS wins, sum(ggr_minor)::text AS ggr
       FROM activity_hours
      WHERE partner_id = ANY($1::text[]) AND hour >= date_trunc('hour', $2::timestamptz) AND hour < $3::timestamptz
      GROUP BY partner_id, hour, currency
      ORDER BY hour, partner_id, currency`,
    [q.partnerIds, q.from, q.to],
  );
  return rows.map((r) => ({
    partnerId: r.partner_id,
    hour: r.hour.toISOString(),
    currency: r.currency,
    txCount: r.tx,
    betCount: r.bet_count,
    betMinor: r.bets,
    winMinor: r.wins,
    ggrMinor: r.ggr,
  }));
}

export interface IngestMinute {
  minute: string;
  batches: number;
  received: number;
  accepted: number;
  stale: number;
}

/**
 * Batches received in the last `minutes` minutes, per minute (every minute listed, empty ones
 * as zeros): through the BRIN index on received_at (batches are appended in time order).
 */
export async function ingestMinutes(
  db: Queryable,
  q: { minutes: number; partnerId: string | null },
): Promise<{ since: string; until: string; minutes: IngestMinute[] }> {
  const { rows } = await db.query<{
    minute: Date;
    since: Date;
    until: Date;
    batches: number;
    received: string;
    accepted: string;
    stale: string;
  }>(
    // The bound is an expression of now() (stable), so the BRIN index takes it as its condition.
    `WITH b AS (SELECT date_trunc('minute', received_at) AS minute, count(*)::int AS batches,
                       coalesce(sum(received_count), 0) AS received, coalesce(sum(accepted_count), 0) AS accepted,
                       coalesce(sum(stale_count), 0) AS stale
                  FROM ingest_batches
                 WHERE received_at >= date_trunc('minute', now()) - make_interval(mins => $1::int - 1)
                   AND ($2::text IS NULL OR partner_id = $2)
                 GROUP BY 1)
     SELECT m.minute, date_trunc('minute', now()) - make_interval(mins => $1::int - 1) AS since, now() AS until,
            coalesce(b.batches, 0) AS batches, coalesce(b.received, 0)::text AS received,
            coalesce(b.accepted, 0)::text AS accepted, coalesce(b.stale, 0)::text AS stale
       FROM generate_series(date_trunc('minute', now()) - make_interval(mins => $1::int - 1), date_trunc('minute', now()),
                            interval '1 minute') AS m(minute)
       LEFT JOIN b ON b.minute = m.minute
      ORDER BY m.minute`,
    [q.minutes, q.partnerId],
  );
  return {
    since: rows[0]?.since.toISOString() ?? new Date().toISOString(),
    until: rows[0]?.until.toISOString() ?? new Date().toISOString(),
    minutes: rows.map((r) => ({
      minute: r.minute.toISOString(),
      batches: r.batches,
      received: Number(r.received),
      accepted: Number(r.accepted),
      stale: Number(r.stale),
    })),
  };
}

/** How many cycles are in each status (every status listed, zero included). */
export async function cyclesByStatus(
  db: Queryable,
  statuses: readonly string[],
): Promise<{ status: string; count: number }[]> {
  const { rows } = await db.query<{ status: string; count: number }>(
    `SELECT s.status, coalesce(c.n, 0)::int AS count
       FROM unnest($1::text[]) WITH ORDINALITY AS s(status, ord)
       LEFT JOIN (SELECT status, count(*) AS n FROM settlement_cycles GROUP BY status) c ON c.status = s.status
      ORDER BY s.ord`,
    [statuses],
  );
  return rows;
}

export interface StuckCycle {
  id: string;
  partnerId: string;
  status: string;
  periodStart: string;
  periodEnd: string;
  /** When the cycle last changed (its status, or an output). */
  since: string;
  cutoffAt: string;
  openExceptions: number;
  totalExceptions: number;
  oldestOpenFoundAt: string | null;
  netPayable: string | null;
  /** Earlier cycles of the month whose fees are not computed yet (WaitingForEarlierPeriods). */
  waitingFor: string[];
  reportProgressAt: string | null;
  reportPages: number | null;
}

/**
 * Cycles that are neither Completed nor Failed and have not moved for `olderThanMinutes`
 * (a cycle still before its cut-off is waiting as planned, not stuck), oldest first, with
 * what each waits for, from Postgres: its book's open exceptions, its fee figures, the
 * earlier periods of its month without fees, its report fetch's progress. `total` counts them all.
 */
export async function stuckCycles(
  db: Queryable,
  q: { olderThanMinutes: number; limit: number; partnerId: string | null },
): Promise<{ total: number; cycles: StuckCycle[] }> {
  const { rows } = await db.query<{
    id: string;
    partner_id: string;
    status: string;
    period_start: string;
    period_end: string;
    updated_at: Date;
    cutoff_at: Date;
    open: number | null;
    total: number | null;
    oldest_open: Date | null;
    net_payable: string | null;
    waiting_for: string[] | null;
    progress_at: Date | null;
    pages: string | null;
    n: number;
  }>(
    `WITH s AS (
       SELECT c.*, ((c.period_end + 1)::timestamp AT TIME ZONE p.timezone) AS cutoff_at
         FROM settlement_cycles c JOIN partners p ON p.id = c.partner_id
        WHERE c.status NOT IN ('Completed', 'Failed') AND ($3::text IS NULL OR c.partner_id = $3)
          AND c.updated_at < now() - make_interval(mins => $1::int)),
     w AS (SELECT * FROM s WHERE NOT (s.status = 'WaitingForCutoff' AND s.cutoff_at > now() - make_interval(mins => $1::int)))
     SELECT w.id, w.partner_id, w.status, w.period_start::text, w.period_end::text, w.updated_at, w.cutoff_at,
            b.open, b.total, w.fees->>'netPayable' AS net_payable,
            (SELECT min(e.found_at) FROM settlement_exceptions e
              WHERE e.cycle_id = w.id AND e.generation = b.generation AND e.resolved_at IS NULL) AS oldest_open,
            CASE WHEN w.status = 'WaitingForEarlierPeriods' THEN
              (SELECT array_agg(o.id ORDER BY o.period_start) FROM settlement_cycles o
                WHERE o.partner_id = w.partner_id
                  AND daterange(o.period_start, o.period_end, '[]') && daterange(date_trunc('month', w.period_start)::date, w.period_start, '[)')
                  AND NOT EXISTS (SELECT 1 FROM settlement_accruals a WHERE a.cycle_id = o.id))
            END AS waiting_for,
            r.updated_at AS progress_at, r.state->>'pages' AS pages,
            (count(*) OVER ())::int AS n
       FROM w
       LEFT JOIN exception_books b ON b.cycle_id = w.id
       LEFT JOIN provider_report_progress r ON r.cycle_id = w.id
      ORDER BY w.updated_at, w.id
      LIMIT $2`,
    [q.olderThanMinutes, q.limit, q.partnerId],
  );
  return {
    total: rows[0]?.n ?? 0,
    cycles: rows.map((r) => ({
      id: r.id,
      partnerId: r.partner_id,
      status: r.status,
      periodStart: r.period_start,
      periodEnd: r.period_end,
      since: r.updated_at.toISOString(),
      cutoffAt: r.cutoff_at.toISOString(),
      openExceptions: r.open ?? 0,
      totalExceptions: r.total ?? 0,
      oldestOpenFoundAt: r.oldest_open?.toISOString() ?? null,
      netPayable: r.net_payable,
      waitingFor: r.waiting_for ?? [],
      reportProgressAt: r.progress_at?.toISOString() ?? null,
      reportPages: r.pages !== null && /^\d+$/.test(r.pages) ? Number(r.pages) : null,
    })),
  };
}

export interface ExceptionDayCounts {
  day: string;
  found: number;
  /** Closed by a decision: resolved, or settled as expected (net of reversals). */
  resolved: number;
  /** Open exceptions of a run that was replaced, closed with it. */
  voided: number;
}

/**
 * Exceptions found and closed per UTC day since `fromDay` (exception_events), and how many are
 * open now (the books' counts): the caller walks back from now to each day's end. Only the books
 * that changed since `fromDay` are read (one row per cycle), and their events by cycle (the
 * events' primary key): never every event of every cycle.
 */
export async function exceptionEvents(
  db: Queryable,
  q: { partnerId: string | null; fromDay: string },
): Promise<{ openNow: number; days: ExceptionDayCounts[] }> {
  const { rows } = await db.query<{ open_now: string; days: ExceptionDayCounts[] }>(
    `WITH books AS (
       SELECT b.cycle_id, b.open, b.updated_at FROM exception_books b
        WHERE $1::text IS NULL OR b.cycle_id IN (SELECT c.id FROM settlement_cycles c WHERE c.partner_id = $1)),
     ev AS (
       SELECT (e.at AT TIME ZONE 'UTC')::date AS day, e.event
         FROM books b JOIN exception_events e ON e.cycle_id = b.cycle_id
        WHERE b.updated_at >= $2::timestamptz AND e.at >= $2::timestamptz
          AND e.event IN ('found', 'resolved', 'expected', 'reversed', 'voided')
          -- A replaced run voids all its exceptions: only those still open closed with it.
          AND (e.event <> 'voided' OR EXISTS (
                SELECT 1 FROM settlement_exceptions x
                 WHERE x.cycle_id = e.cycle_id AND x.generation = e.generation AND x.exception_id = e.exception_id
                   AND x.resolved_at IS NULL))),
     d AS (
       SELECT day, count(*) FILTER (WHERE event = 'found')::int AS found,
              -- A reversal is followed, in the same change, by the decision that replaces it.
              (count(*) FILTER (WHERE event IN ('resolved', 'expected')) - count(*) FILTER (WHERE event = 'reversed'))::int AS resolved,
              count(*) FILTER (WHERE event = 'voided')::int AS voided
         FROM ev GROUP BY day)
     SELECT (SELECT coalesce(sum(open), 0) FROM books)::text AS open_now,
            coalesce((SELECT json_agg(json_build_object('day', day::text, 'found', found, 'resolved', resolved, 'voided', voided)
                                      ORDER BY day) FROM d), '[]'::json) AS days`,
    [q.partnerId, `${q.fromDay}T00:00:00Z`],
  );
  return { openNow: Number(rows[0]!.open_now), days: rows[0]!.days };
}

/** Today (and the current month) in the partner's timezone. */
export async function partnerToday(db: Queryable, partnerId: string): Promise<string | null> {
  const { rows } = await db.query<{ today: string }>(
    `SELECT (now() AT TIME ZONE timezone)::date::text AS today FROM partners WHERE id = $1`,
    [partnerId],
  );
  return rows[0]?.today ?? null;
}

/**
 * The net payable of each of the partner's cycles whose fees are computed, by the last day of
 * its period (settlement_cycles.fees, as the fee step stored it), for periods ending in
 * [from, to]. Keyed by the cycles' exclusion index (partner_id, period).
 */
export async function settledNetPayables(
  db: Queryable,
  q: { partnerId: string; from: string; to: string },
): Promise<{ cycleId: string; periodStart: string; periodEnd: string; netPayable: string }[]> {
  const { rows } = await db.query<{ id: string; period_start: string; period_end: string; net: string }>(
    `SELECT id, period_start::text, period_end::text, fees->>'netPayable' AS net
       FROM settlement_cycles
      WHERE partner_id = $1 AND daterange(period_start, period_end, '[]') && daterange($2::date, $3::date, '[]')
        AND period_end BETWEEN $2::date AND $3::date AND fees ? 'netPayable' AND status <> 'Failed'
      ORDER BY period_end`,
    [q.partnerId, q.from, q.to],
  );
  return rows.map((r) => ({
    cycleId: r.id,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    netPayable: r.net,
  }));
}
