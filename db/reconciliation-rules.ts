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
const RULE_KINDS = ['amount_mismatch', 'missing_theirs', 'missing_ours'];
/** Recorded before tolerances were rules: an amount difference within 1 minor unit (a dry run reads it as one). */
const LEGACY_ROUNDING = 'fx_rounding';
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
 * The current generation's open exceptions of the kinds rules decide (every one, resolved or
 * not, for a dry run: `includeResolved`), each with its counterpart: for missing_theirs, the
 * provider's row of the same id that an earlier period of the partner (ending within `lagDays`)
 * found missing on our side; for missing_ours, our own transaction of that id (dated outside the
 * period, or it would not be missing) against this cycle's own report row. Earlier periods only:
 * what a cycle reconciling in order can see, so a dry run over settled periods sees what they
 * saw. Step by step, each by key (exceptions by cycle, report rows by their primary key, ours
 * by partner and id): never a scan of report rows by transaction id (there is no such index,
 * and a day may hold millions).
 */
export async function openRuleFacts(
  db: Db,
  cycleId: string,
  opts: { lagDays: number; includeResolved?: boolean },
): Promise<OpenFacts[]> {
  const { rows: ex } = await db.query<{
    exception_id: string;
    kind: string;
    currency: string | null;
    ours_minor: string | null;
    theirs_minor: string | null;
    difference_minor: string;
    tx_id: string | null;
    report_tx_type: string | null;
    partner_id: string;
  }>(
    `SELECT e.exception_id, e.kind, e.currency, e.ours_minor::text, e.theirs_minor::text,
            e.difference_minor::text, e.tx_id, e.report_tx_type, c.partner_id
       FROM settlement_exceptions e
       JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
       JOIN settlement_cycles c ON c.id = e.cycle_id
      WHERE e.cycle_id = $1 AND (e.kind = ANY($2::text[]) OR ($3 AND e.kind = $4)) AND ($3 OR e.resolved_at IS NULL)
      ORDER BY e.exception_id`,
    [cycleId, RULE_KINDS, opts.includeResolved === true, LEGACY_ROUNDING],
  );
  if (ex.length === 0) return [];
  const partnerId = ex[0]!.partner_id;
  const txIds = [...new Set(ex.flatMap((e) => (e.tx_id === null ? [] : [e.tx_id])))];
  // This cycle and the partner's earlier periods that end within the lag.
  const { rows: near } = await db.query<{ id: string }>(
    `SELECT o.id FROM settlement_cycles o JOIN settlement_cycles c ON c.id = $1
      WHERE o.partner_id = c.partner_id AND o.period_start <= c.period_start AND o.period_end >= c.period_start - $2::int`,
    [cycleId, opts.lagDays],
  );
  // The provider's rows those cycles found missing on our side, by id: exception → report row.
  const { rows: found } = await db.query<{
    tx_id: string;
    cycle_id: string;
    ord: number;
    period_start: string;
  }>(
    `SELECT o.tx_id, o.cycle_id, m.report_ord AS ord, c.period_start::text
       FROM settlement_exceptions o
       JOIN exception_books ob ON ob.cycle_id = o.cycle_id AND ob.generation = o.generation
       JOIN settlement_cycles c ON c.id = o.cycle_id
       JOIN exception_matches m ON m.cycle_id = o.cycle_id AND m.generation = o.generation
                               AND m.exception_id = o.exception_id AND m.side = 'theirs'
      WHERE o.cycle_id = ANY($1::text[]) AND o.kind = 'missing_ours' AND o.tx_id = ANY($2::text[])
        AND m.report_ord IS NOT NULL`,
    [near.map((n) => n.id), txIds],
  );
  const { rows: theirRows } = await db.query<{
    cycle_id: string;
    period_start: string;
    tx_id: string;
    amount_minor: string;
    at_ms: string;
    business_date: string;
  }>(
    `SELECT r.cycle_id, r.period_start::text, r.tx_id, r.amount_minor::text, (extract(epoch FROM r.occurred_at) * 1000)::bigint::text AS at_ms,
            r.business_date::text
       FROM unnest($1::text[], $2::int[], $3::date[]) AS k(cycle_id, ord, period_start)
       JOIN provider_report_rows r ON r.cycle_id = k.cycle_id AND r.ord = k.ord AND r.period_start = k.period_start`,
    [found.map((f) => f.cycle_id), found.map((f) => f.ord), found.map((f) => f.period_start)],
  );
  const { rows: ours } = await db.query<{
    tx_id: string;
    type: string;
    amount_minor: string;
    at_ms: string;
    business_date: string;
  }>(
    `SELECT tx_id, type, amount_minor::text, (extract(epoch FROM occurred_at) * 1000)::bigint::text AS at_ms,
            business_date::text
       FROM game_transactions WHERE partner_id = $1 AND tx_id = ANY($2::text[])`,
    [partnerId, txIds],
  );
  const ourById = new Map(ours.map((o) => [o.tx_id, o]));
  const here = new Map<string, (typeof theirRows)[number]>();
  const elsewhere = new Map<string, (typeof theirRows)[number]>();
  for (const r of theirRows) {
    if (r.cycle_id === cycleId) here.set(r.tx_id, r);
    // The latest earlier period's row, by its period (not its id's spelling).
    else if (!elsewhere.has(r.tx_id) || r.period_start > elsewhere.get(r.tx_id)!.period_start)
      elsewhere.set(r.tx_id, r);
  }
  const big = (v: string | null) => (v === null ? null : BigInt(v));
  return ex.map((e): OpenFacts => {
    const g = e.tx_id === null ? undefined : ourById.get(e.tx_id);
    let counterpart: RuleFacts['counterpart'] = null;
    const theirsElsewhere = e.tx_id === null ? undefined : elsewhere.get(e.tx_id);
    const theirsHere = e.tx_id === null ? undefined : here.get(e.tx_id);
    if (e.kind === 'missing_theirs' && theirsElsewhere && g)
      counterpart = {
        side: 'theirs',
        amountMinor: BigInt(theirsElsewhere.amount_minor),
        lagMs: Number(theirsElsewhere.at_ms) - Number(g.at_ms),
        businessDaysApart: days(theirsElsewhere.business_date, g.business_date),
      };
    if (e.kind === 'missing_ours' && g && theirsHere)
      counterpart = {
        side: 'ours',
        amountMinor: BigInt(g.amount_minor),
        lagMs: Number(g.at_ms) - Number(theirsHere.at_ms),
        businessDaysApart: days(g.business_date, theirsHere.business_date),
      };
    return {
      exceptionId: e.exception_id,
      kind: e.kind === LEGACY_ROUNDING ? 'amount_mismatch' : e.kind,
      currency: e.currency,
      oursMinor: big(e.ours_minor),
      theirsMinor: big(e.theirs_minor),
      differenceMinor: BigInt(e.difference_minor),
      counterpart,
      txId: e.tx_id,
      txType: g?.type ?? e.report_tx_type,
      oursAtMs: g ? Number(g.at_ms) : null,
    };
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
    // The items first: a transaction of this cycle a later cycle already saw arrive or expire
    // (an earlier run's) is not expected again — its exception stays open for a person.
    const claimed = await client.query<{ exception_id: string }>(
      `INSERT INTO expected_items (partner_id, tx_id, cycle_id, generation, exception_id, tx_type, currency, ours_minor, occurred_at, expected_until)
       SELECT $1, i.tx_id, $2, $3, i.exception_id, i.tx_type, i.currency, i.ours, to_timestamp(i.at / 1000.0), $4
         FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[])
              AS i(tx_id, exception_id, tx_type, currency, ours, at)
       ON CONFLICT (partner_id, tx_id, cycle_id) DO UPDATE
          SET generation = EXCLUDED.generation, exception_id = EXCLUDED.exception_id, tx_type = EXCLUDED.tx_type,
              currency = EXCLUDED.currency, ours_minor = EXCLUDED.ours_minor, occurred_at = EXCLUDED.occurred_at,
              expected_until = EXCLUDED.expected_until, state = 'expected', closed_by_cycle = NULL, closed_at = NULL
        WHERE expected_items.state = 'voided' OR (expected_items.state = 'expected' AND expected_items.generation = EXCLUDED.generation)
       RETURNING exception_id`,
      [
        c.partnerId,
        c.cycleId,
        generation,
        expectedUntil,
        items.map((i) => i.txId),
        items.map((i) => i.exceptionId),
        items.map((i) => i.txType),
        items.map((i) => i.currency),
        items.map((i) => i.oursMinor.toString()),
        items.map((i) => i.occurredAtMs),
      ],
    );
    const { rows } = await client.query<{ exception_id: string }>(
      `UPDATE settlement_exceptions e
          SET resolution = 'accept_ours', reason = $4, operator = 'reconciliation', actor = 'reconciliation',
              update_id = $5, resolved_version = $6, resolved_at = now(), expected_until = $7
        WHERE e.cycle_id = $1 AND e.generation = $2 AND e.exception_id = ANY($3::text[]) AND e.resolved_at IS NULL
        RETURNING e.exception_id`,
      [
        c.cycleId,
        generation,
        claimed.rows.map((r) => r.exception_id),
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
      'UPDATE exception_books SET version = $2, open = open - $3, updated_at = now() WHERE cycle_id = $1',
      [c.cycleId, next, mine.length],
    );
    return mine.length;
  });
}

/**
 * Claims the expected items of the partner's earlier periods that this cycle's report answers
 * (the provider now reports the transaction: an open missing_ours here): each becomes `arrived`,
 * closed by this cycle, in one transaction under the items' row locks — two cycles reconciling
 * at once cannot both take one, and a resolver reversing it in its own cycle waits for (and then
 * sees) the claim. Only items of their cycle's current run, from periods that ended before this
 * one starts. A retry gets back what it claimed. Same amount: nothing more to settle (the earlier
 * cycle settled it at our figure); another amount: the difference belongs to this period.
 */
export async function claimArrivals(
  db: Db,
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
  return withTransaction(db, async (client) => {
    const { rows } = await client.query<{
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
         JOIN expected_items x ON x.partner_id = c.partner_id AND x.tx_id = e.tx_id
         JOIN exception_books xb ON xb.cycle_id = x.cycle_id AND xb.generation = x.generation
         JOIN settlement_cycles xc ON xc.id = x.cycle_id
        WHERE e.cycle_id = $1 AND e.kind = 'missing_ours' AND x.cycle_id <> $1 AND xc.period_end < c.period_start
          AND ((x.state = 'expected' AND e.resolved_at IS NULL)
               -- A retry: what this cycle claimed, open or already settled as its arrival.
               OR (x.state = 'arrived' AND x.closed_by_cycle = $1
                   AND (e.resolved_at IS NULL OR e.update_id LIKE 'arrivals:%')))
        ORDER BY x.partner_id, x.tx_id, x.cycle_id
        FOR UPDATE OF x`,
      [cycleId],
    );
    if (rows.length === 0) return [];
    await client.query(
      `UPDATE expected_items x SET state = 'arrived', closed_by_cycle = $1, closed_at = coalesce(x.closed_at, now())
         FROM unnest($2::text[], $3::text[]) AS i(cycle_id, tx_id)
         JOIN settlement_cycles c ON c.id = $1
        WHERE x.partner_id = c.partner_id AND x.cycle_id = i.cycle_id AND x.tx_id = i.tx_id`,
      [cycleId, rows.map((r) => r.from_cycle), rows.map((r) => r.tx_id)],
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
  });
}

/**
 * Claims the expected items of the partner's earlier periods whose age limit passed before
 * `asOf` without their counterpart: each becomes `expired`, closed by this cycle, to be booked
 * here as mismatched (this cycle's period is the open one). One claim per item, under its row
 * lock; current runs only; periods that ended before this one starts. A retry gets back what
 * it claimed.
 */
export async function claimExpiries(
  db: Db,
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
  return withTransaction(db, async (client) => {
    const { rows } = await client.query<{
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
         JOIN exception_books xb ON xb.cycle_id = x.cycle_id AND xb.generation = x.generation
         JOIN settlement_cycles xc ON xc.id = x.cycle_id
         JOIN settlement_cycles me ON me.id = $2
         LEFT JOIN game_transactions g ON g.partner_id = x.partner_id AND g.tx_id = x.tx_id
        WHERE x.partner_id = $1 AND x.cycle_id <> $2 AND xc.period_end < me.period_start
          AND ((x.state = 'expected' AND x.expected_until < $3) OR (x.state = 'expired' AND x.closed_by_cycle = $2))
        ORDER BY x.partner_id, x.tx_id, x.cycle_id
        FOR UPDATE OF x`,
      [c.partnerId, c.cycleId, asOf],
    );
    if (rows.length === 0) return [];
    await client.query(
      `UPDATE expected_items x SET state = 'expired', closed_by_cycle = $2, closed_at = coalesce(x.closed_at, now())
         FROM unnest($3::text[], $4::text[]) AS i(cycle_id, tx_id)
        WHERE x.partner_id = $1 AND x.cycle_id = i.cycle_id AND x.tx_id = i.tx_id`,
      [c.partnerId, c.cycleId, rows.map((r) => r.cycle_id), rows.map((r) => r.tx_id)],
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
  });
}

/**
 * What became of expected items (arrived, expired), as an event on each earlier cycle's
 * exception naming the cycle that saw it. Idempotent.
 */
export async function recordExpectedOutcome(
  db: Queryable,
  closedBy: string,
  event: 'arrived' | 'expired',
  items: { fromCycle: string; fromException: string; fromGeneration: number; note: string }[],
): Promise<void> {
  if (items.length === 0) return;
  await db.query(
    `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, reason, actor, actor_name, details)
     SELECT i.cycle_id, i.generation, i.exception_id, b.version, $1, i.note, 'reconciliation', 'reconciliation',
            jsonb_build_object('cycle', $2::text)
       FROM unnest($3::text[], $4::int[], $5::text[], $6::text[]) AS i(cycle_id, generation, exception_id, note)
       JOIN exception_books b ON b.cycle_id = i.cycle_id
     ON CONFLICT DO NOTHING`,
    [
      event,
      closedBy,
      items.map((i) => i.fromCycle),
      items.map((i) => i.fromGeneration),
      items.map((i) => i.fromException),
      items.map((i) => i.note),
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
