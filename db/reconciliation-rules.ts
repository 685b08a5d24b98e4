import type pg from 'pg';
import type { Db } from './pool';
import { withTransaction } from './retry';
import type { RuleDecision, RuleFacts } from '../domain/rules';

// What the contract's rules read of a cycle's open exceptions (the facts, with the counterpart
// of a "missing" transaction found outside the period), the suggestions they leave, and the
// expected items: settled at our figure while the provider has not reported them yet, followed
// per partner until their counterpart arrives in a later cycle or their age limit passes.
// Set-based: one pass per step, whatever the number of exceptions.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The kinds a rule may decide (domain/rules.ts ruleKinds). */
const RULE_KINDS = ['amount_mismatch', 'missing_theirs', 'missing_ours', 'currency_mismatch'];
const DAY_MS = 86_400_000;

/** One open exception as the rules and the expected-item check read it. */
export interface OpenFacts extends RuleFacts {
  txId: string | null;
  txType: string | null;
  /** When we recorded it happening (ours), epoch ms; null when we do not hold it. */
  oursAtMs: number | null;
}

const days = (a: string, b: string) => Math.round((Date.parse(a) - Date.parse(b)) / DAY_MS);

/**
 * The current generation's open exceptions of the kinds rules decide, each with its counterpart:
 * for missing_theirs, the provider's row of the same id in another cycle of the partner within
 * `lagDays` of the period; for missing_ours, our own transaction of that id (dated outside the
 * period, or it would not be missing). `cycleIds` limits the read to some cycles (a dry run
 * reads several).
 */
export async function openRuleFacts(
  db: Db,
  cycleId: string,
  opts: { lagDays: number; includeResolved?: boolean },
): Promise<OpenFacts[]> {
  return withTransaction(db, async (client) => {
    // Hash joins over the adjacent cycles' report rows (see db/reports.ts transactionsForKeys).
    await client.query('SET LOCAL enable_nestloop = off');
    const { rows } = await client.query<{
      exception_id: string;
      kind: string;
      currency: string | null;
      ours_minor: string | null;
      theirs_minor: string | null;
      difference_minor: string;
      tx_id: string | null;
      tx_type: string | null;
      g_amount: string | null;
      g_ms: string | null;
      g_day: string | null;
      r_amount: string | null;
      r_ms: string | null;
      r_day: string | null;
      r_here: boolean | null;
    }>(
      `WITH cyc AS (SELECT id, partner_id, period_start, period_end FROM settlement_cycles WHERE id = $1),
            ex AS (
              SELECT e.* FROM settlement_exceptions e
                JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
               WHERE e.cycle_id = $1 AND e.kind = ANY($2::text[]) AND ($4 OR e.resolved_at IS NULL)),
            theirs AS (
              SELECT DISTINCT ON (r.tx_id) r.tx_id, r.cycle_id, r.amount_minor, r.occurred_at, r.business_date
                FROM provider_report_rows r
                JOIN settlement_cycles oc ON oc.id = r.cycle_id AND oc.period_start = r.period_start
                CROSS JOIN cyc
               -- The cycle's own report and earlier periods' only: what a cycle reconciling in
               -- order can see (so a dry run over settled periods sees what they saw).
               WHERE oc.partner_id = cyc.partner_id
                 AND r.period_start BETWEEN cyc.period_start - $3::int AND cyc.period_start
                 AND r.tx_id IN (SELECT tx_id FROM ex WHERE tx_id IS NOT NULL)
               ORDER BY r.tx_id, (r.cycle_id = $1) DESC, r.ord)
       SELECT ex.exception_id, ex.kind, ex.currency, ex.ours_minor::text, ex.theirs_minor::text,
              ex.difference_minor::text, ex.tx_id, coalesce(g.type, ex.report_tx_type) AS tx_type,
              g.amount_minor::text AS g_amount, (extract(epoch FROM g.occurred_at) * 1000)::bigint::text AS g_ms,
              g.business_date::text AS g_day,
              t.amount_minor::text AS r_amount, (extract(epoch FROM t.occurred_at) * 1000)::bigint::text AS r_ms,
              t.business_date::text AS r_day, t.cycle_id = $1 AS r_here
         FROM ex CROSS JOIN cyc
         LEFT JOIN game_transactions g ON g.partner_id = cyc.partner_id AND g.tx_id = ex.tx_id
         LEFT JOIN theirs t ON t.tx_id = ex.tx_id
        ORDER BY ex.exception_id`,
      [cycleId, RULE_KINDS, opts.lagDays, opts.includeResolved === true],
    );
    return rows.map((r): OpenFacts => {
      const big = (v: string | null) => (v === null ? null : BigInt(v));
      let counterpart: RuleFacts['counterpart'] = null;
      if (r.kind === 'missing_theirs' && r.r_amount !== null && r.r_here === false && r.g_ms !== null)
        counterpart = {
          side: 'theirs',
          amountMinor: BigInt(r.r_amount),
          lagMs: Number(r.r_ms) - Number(r.g_ms),
          businessDaysApart: days(r.r_day!, r.g_day!),
        };
      if (r.kind === 'missing_ours' && r.g_amount !== null && r.r_ms !== null)
        counterpart = {
          side: 'ours',
          amountMinor: BigInt(r.g_amount),
          lagMs: Number(r.g_ms) - Number(r.r_ms),
          businessDaysApart: days(r.g_day!, r.r_day!),
        };
      return {
        exceptionId: r.exception_id,
        kind: r.kind,
        currency: r.currency,
        oursMinor: big(r.ours_minor),
        theirsMinor: big(r.theirs_minor),
        differenceMinor: BigInt(r.difference_minor),
        counterpart,
        txId: r.tx_id,
        txType: r.tx_type,
        oursAtMs: r.g_ms === null ? null : Number(r.g_ms),
      };
    });
  });
}

/** What `propose` rules suggest: shown with the exception and filterable, applied by nobody. */
export async function recordSuggestions(
  db: Queryable,
  cycleId: string,
  decisions: (RuleDecision & { actor: string })[],
): Promise<void> {
  if (decisions.length === 0) return;
  await db.query(
    `UPDATE settlement_exceptions e SET suggestion = s.suggestion
       FROM unnest($2::text[], $3::jsonb[]) AS s(exception_id, suggestion)
       JOIN exception_books b ON b.cycle_id = $1
      WHERE e.cycle_id = $1 AND e.generation = b.generation AND e.exception_id = s.exception_id
        AND e.resolved_at IS NULL`,
    [
      cycleId,
      decisions.map((d) => d.exceptionId),
      decisions.map((d) =>
        JSON.stringify({ ruleId: d.ruleId, by: d.actor, action: d.action, evidence: d.evidence }),
      ),
    ],
  );
}

/** An expected item as recorded: the exception settled at our figure and what it waits for. */
export interface ExpectedItem {
  exceptionId: string;
  txId: string;
  txType: string | null;
  currency: string;
  oursMinor: bigint;
  occurredAtMs: number;
}

/**
 * Settles open missing_theirs exceptions at our figure as *expected* (the provider has not
 * reported them yet): resolved `accept_ours` by reconciliation with event `expected`, until
 * `expectedUntil`, and followed in expected_items. Idempotent (a repeat finds them resolved).
 */
export async function markExpected(
  db: Db,
  c: { cycleId: string; partnerId: string },
  items: ExpectedItem[],
  expectedUntil: string,
  reason: string,
): Promise<number> {
  if (items.length === 0) return 0;
  return withTransaction(db, async (client) => {
    const book = await client.query<{ version: string; generation: number }>(
      'SELECT version::text, generation FROM exception_books WHERE cycle_id = $1 FOR UPDATE',
      [c.cycleId],
    );
    const { version, generation } = book.rows[0]!;
    const next = Number(version) + 1;
    const { rows } = await client.query<{ exception_id: string }>(
      `UPDATE settlement_exceptions e
          SET resolution = 'accept_ours', reason = $4, operator = 'reconciliation', actor = 'reconciliation',
              update_id = $5, resolved_version = $6, resolved_at = now(), expected_until = $7
        WHERE e.cycle_id = $1 AND e.generation = $2 AND e.exception_id = ANY($3::text[]) AND e.resolved_at IS NULL
        RETURNING e.exception_id`,
      [
        c.cycleId,
        generation,
        items.map((i) => i.exceptionId),
        reason,
        `expected:${c.cycleId}:g${generation}`,
        next,
        expectedUntil,
      ],
    );
    if (rows.length === 0) return 0;
    const marked = new Set(rows.map((r) => r.exception_id));
    const mine = items.filter((i) => marked.has(i.exceptionId));
    await client.query(
      `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, resolution, reason, actor, actor_name, details)
       SELECT $1, $2, x, $3, 'expected', 'accept_ours', $4, 'reconciliation', 'reconciliation', jsonb_build_object('expectedUntil', $5::text)
         FROM unnest($6::text[]) AS x`,
      [c.cycleId, generation, next, reason, expectedUntil, mine.map((i) => i.exceptionId)],
    );
    await client.query(
      `INSERT INTO expected_items (partner_id, tx_id, cycle_id, generation, exception_id, tx_type, currency, ours_minor, occurred_at, expected_until)
       SELECT $1, i.tx_id, $2, $3, i.exception_id, i.tx_type, i.currency, i.ours, to_timestamp(i.at / 1000.0), $4
         FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[])
              AS i(tx_id, exception_id, tx_type, currency, ours, at)
       ON CONFLICT DO NOTHING`,
      [
        c.partnerId,
        c.cycleId,
        generation,
        expectedUntil,
        mine.map((i) => i.txId),
        mine.map((i) => i.exceptionId),
        mine.map((i) => i.txType),
        mine.map((i) => i.currency),
        mine.map((i) => i.oursMinor.toString()),
        mine.map((i) => i.occurredAtMs),
      ],
    );
    await client.query(
      'UPDATE exception_books SET version = $2, open = open - $3, updated_at = now() WHERE cycle_id = $1',
      [c.cycleId, next, mine.length],
    );
    return mine.length;
  });
}

/**
 * Expected items of earlier cycles of the partner that this cycle's report answers: the
 * provider now reports the transaction (an open missing_ours here). Same amount: nothing more
 * to settle (the earlier cycle settled it at our figure). Another amount: the difference is a
 * new amount_mismatch in this cycle (the open period), referencing the earlier one.
 */
export async function expectedArrivals(
  db: Queryable,
  cycleId: string,
): Promise<
  {
    exceptionId: string;
    txId: string;
    fromCycle: string;
    fromException: string;
    fromGeneration: number;
    oursMinor: bigint;
    theirsMinor: bigint;
    businessDate: string | null;
    gameId: string | null;
    currency: string | null;
  }[]
> {
  const { rows } = await db.query<{
    exception_id: string;
    tx_id: string;
    from_cycle: string;
    from_exception: string;
    from_generation: number;
    ours_minor: string;
    theirs_minor: string;
    business_date: string | null;
    game_id: string | null;
    currency: string | null;
  }>(
    `SELECT e.exception_id, e.tx_id, x.cycle_id AS from_cycle, x.exception_id AS from_exception,
            x.generation AS from_generation, x.ours_minor::text, e.theirs_minor::text,
            e.business_date::text, e.game_id, e.currency
       FROM settlement_exceptions e
       JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
       JOIN settlement_cycles c ON c.id = e.cycle_id
       JOIN expected_items x ON x.partner_id = c.partner_id AND x.tx_id = e.tx_id AND x.state = 'expected'
      WHERE e.cycle_id = $1 AND e.kind = 'missing_ours' AND e.resolved_at IS NULL AND x.cycle_id <> $1
      ORDER BY e.exception_id`,
    [cycleId],
  );
  return rows.map((r) => ({
    exceptionId: r.exception_id,
    txId: r.tx_id,
    fromCycle: r.from_cycle,
    fromException: r.from_exception,
    fromGeneration: r.from_generation,
    oursMinor: BigInt(r.ours_minor),
    theirsMinor: BigInt(r.theirs_minor),
    businessDate: r.business_date,
    gameId: r.game_id,
    currency: r.currency,
  }));
}

/**
 * Expected items of the partner's earlier cycles whose age limit passed before `asOf` without
 * their counterpart: each becomes a mismatched missing_theirs in this cycle (the open period).
 */
export async function expiredExpected(
  db: Queryable,
  c: { cycleId: string; partnerId: string },
  asOf: string,
): Promise<
  {
    txId: string;
    fromCycle: string;
    fromException: string;
    fromGeneration: number;
    oursMinor: bigint;
    currency: string;
    businessDate: string | null;
    gameId: string | null;
    expectedUntil: string;
  }[]
> {
  const { rows } = await db.query<{
    tx_id: string;
    cycle_id: string;
    exception_id: string;
    generation: number;
    ours_minor: string;
    currency: string;
    business_date: string | null;
    game_id: string | null;
    expected_until: Date;
  }>(
    `SELECT x.tx_id, x.cycle_id, x.exception_id, x.generation, x.ours_minor::text, x.currency,
            g.business_date::text, g.game_id, x.expected_until
       FROM expected_items x
       LEFT JOIN game_transactions g ON g.partner_id = x.partner_id AND g.tx_id = x.tx_id
      WHERE x.partner_id = $1 AND x.state = 'expected' AND x.expected_until < $3 AND x.cycle_id <> $2
      ORDER BY x.tx_id, x.cycle_id`,
    [c.partnerId, c.cycleId, asOf],
  );
  return rows.map((r) => ({
    txId: r.tx_id,
    fromCycle: r.cycle_id,
    fromException: r.exception_id,
    fromGeneration: r.generation,
    oursMinor: BigInt(r.ours_minor),
    currency: r.currency,
    businessDate: r.business_date,
    gameId: r.game_id,
    expectedUntil: r.expected_until.toISOString(),
  }));
}

/**
 * Closes expected items (arrived, or expired into a later cycle's mismatch), with an event on
 * the earlier cycle's exception saying which cycle saw it. Only items still expected change.
 */
export async function closeExpected(
  db: Queryable,
  closedBy: string,
  state: 'arrived' | 'expired',
  items: { fromCycle: string; fromException: string; fromGeneration: number; txId: string; note: string }[],
): Promise<void> {
  if (items.length === 0) return;
  const { rows } = await db.query<{
    cycle_id: string;
    generation: number;
    exception_id: string;
    note: string;
  }>(
    `WITH closed AS (
       UPDATE expected_items x SET state = $2, closed_by_cycle = $1, closed_at = now()
         FROM unnest($3::text[], $4::text[]) AS i(cycle_id, tx_id)
        WHERE x.cycle_id = i.cycle_id AND x.tx_id = i.tx_id AND x.state = 'expected'
        RETURNING x.cycle_id, x.generation, x.exception_id, x.tx_id)
     SELECT c.cycle_id, c.generation, c.exception_id, i.note
       FROM closed c JOIN unnest($3::text[], $4::text[], $5::text[]) AS i(cycle_id, tx_id, note)
         ON i.cycle_id = c.cycle_id AND i.tx_id = c.tx_id`,
    [closedBy, state, items.map((i) => i.fromCycle), items.map((i) => i.txId), items.map((i) => i.note)],
  );
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, reason, actor, actor_name, details)
     SELECT i.cycle_id, i.generation, i.exception_id, b.version, $1, i.note, 'reconciliation', 'reconciliation',
            jsonb_build_object('cycle', $2::text)
       FROM unnest($3::text[], $4::int[], $5::text[], $6::text[]) AS i(cycle_id, generation, exception_id, note)
       JOIN exception_books b ON b.cycle_id = i.cycle_id
     ON CONFLICT DO NOTHING`,
    [
      state,
      closedBy,
      rows.map((r) => r.cycle_id),
      rows.map((r) => r.generation),
      rows.map((r) => r.exception_id),
      rows.map((r) => r.note),
    ],
  );
}

/** A partner's last settled cycles (completed), most recent first: what a dry run replays. */
export async function settledCycles(
  db: Queryable,
  partnerId: string,
  limit: number,
): Promise<{ cycleId: string; periodStart: string; periodEnd: string }[]> {
  const { rows } = await db.query<{ id: string; period_start: string; period_end: string }>(
    `SELECT id, period_start::text, period_end::text FROM settlement_cycles
      WHERE partner_id = $1 AND status = 'Completed' ORDER BY period_start DESC LIMIT $2`,
    [partnerId, limit],
  );
  return rows.map((r) => ({ cycleId: r.id, periodStart: r.period_start, periodEnd: r.period_end }));
}
