import type pg from 'pg';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors';
import {
  accrualMonth,
  checkContractTerms,
  periodContaining,
  readContractTerms,
  type ContractTerms,
  type SettlementCadence,
  type StoredContractTerms,
} from '../domain/contract';
import type { CurrencyRegistry } from '../domain/money';
import type { SettlementInput, SettlementStatus } from '../domain/settlement';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export interface CycleRef {
  cycleId: string;
  partnerId: string;
  periodStart: string;
  periodEnd: string;
  currency: string;
}

/** Lists the cycle (GET /v1/settlements) from its start, however it was started; idempotent. */
export async function registerCycle(db: Queryable, c: CycleRef): Promise<void> {
  await db.query(
    `INSERT INTO settlement_cycles (id, partner_id, period_start, period_end, status)
     VALUES ($1, $2, $3, $4, 'WaitingForCutoff') ON CONFLICT (id) DO NOTHING`,
    [c.cycleId, c.partnerId, c.periodStart, c.periodEnd],
  );
}

/** Freezes the cycle once (creating its row if an older cycle never listed itself); returns when. */
export async function freezeCycle(db: Queryable, c: CycleRef): Promise<string> {
  const { rows } = await db.query<{ frozen_at: Date }>(
    `INSERT INTO settlement_cycles (id, partner_id, period_start, period_end, status, frozen_at)
     VALUES ($1, $2, $3, $4, 'WaitingForCutoff', now())
     ON CONFLICT (id) DO UPDATE SET frozen_at = coalesce(settlement_cycles.frozen_at, now()), updated_at = now()
     RETURNING frozen_at`,
    [c.cycleId, c.partnerId, c.periodStart, c.periodEnd],
  );
  return rows[0]!.frozen_at.toISOString();
}

/** Of these cycles, the ones whose fee step has run (their month's accrual is stored). */
export async function cyclesWithFees(db: Queryable, cycleIds: string[]): Promise<Set<string>> {
  if (cycleIds.length === 0) return new Set();
  const { rows } = await db.query<{ cycle_id: string }>(
    'SELECT cycle_id FROM settlement_accruals WHERE cycle_id = ANY($1::text[])',
    [cycleIds],
  );
  return new Set(rows.map((r) => r.cycle_id));
}

/** The cycle's status, as its workflow published it (the workflow is its only writer). */
export async function setCycleStatus(
  db: Queryable,
  cycleId: string,
  status: SettlementStatus,
): Promise<void> {
  await db.query(`UPDATE settlement_cycles SET status = $2, updated_at = now() WHERE id = $1`, [
    cycleId,
    status,
  ]);
}

/** What a cycle's steps produced (reconciliation summary, fees, statement); never its status. */
export async function storeCycleOutputs(
  db: Queryable,
  cycleId: string,
  outputs: { report?: unknown; fees?: unknown; statement?: unknown },
): Promise<void> {
  await db.query(
    `UPDATE settlement_cycles SET report = coalesce($2, report), fees = coalesce($3, fees),
            statement = coalesce($4, statement), updated_at = now() WHERE id = $1`,
    [
      cycleId,
      outputs.report ? JSON.stringify(outputs.report) : null,
      outputs.fees ? JSON.stringify(outputs.fees) : null,
      outputs.statement ? JSON.stringify(outputs.statement) : null,
    ],
  );
}

/** The approved version in force at `periodStart` (a proposed one is never in force), or null. */
export async function contractInForce(
  db: Queryable,
  partnerId: string,
  periodStart: string,
): Promise<{ version: number; terms: ContractTerms; stored: StoredContractTerms } | null> {
  const { rows } = await db.query<{ version: number; terms: unknown }>(
    `SELECT version, terms FROM partner_contracts WHERE partner_id = $1 AND status = 'approved' AND effective_from <= $2
      ORDER BY effective_from DESC LIMIT 1`,
    [partnerId, periodStart],
  );
  if (!rows[0]) return null;
  return {
    version: rows[0].version,
    terms: readContractTerms(rows[0].terms),
    stored: checkContractTerms(rows[0].terms),
  };
}

export interface LockedRate {
  from: string;
  to: string;
  rate: string;
  source: string;
  asOf: string;
}

export async function lockRate(db: Queryable, cycleId: string, r: LockedRate): Promise<void> {
  await db.query(
    `INSERT INTO settlement_fx_rates (cycle_id, from_ccy, to_ccy, rate, source, as_of) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
    [cycleId, r.from, r.to, r.rate, r.source, r.asOf],
  );
}

export async function lockedRates(db: Queryable, cycleId: string): Promise<LockedRate[]> {
  const { rows } = await db.query<{
    from_ccy: string;
    to_ccy: string;
    rate: string;
    source: string;
    as_of: Date;
  }>(
    'SELECT from_ccy, to_ccy, rate::text, source, as_of FROM settlement_fx_rates WHERE cycle_id = $1 ORDER BY from_ccy',
    [cycleId],
  );
  return rows.map((r) => ({
    from: r.from_ccy,
    to: r.to_ccy,
    rate: r.rate,
    source: r.source,
    asOf: r.as_of.toISOString(),
  }));
}

const REMINDER_INTERVAL_MS = 4 * 60 * 60 * 1000;

/** The cadence of the contract in force today in the partner's timezone (the schedule's). */
export async function contractCadence(db: Queryable, partnerId: string): Promise<SettlementCadence> {
  const { rows } = await db.query<{ terms: unknown }>(
    `SELECT terms FROM partner_contracts c JOIN partners p ON p.id = c.partner_id
      WHERE c.partner_id = $1 AND c.status = 'approved' AND c.effective_from <= (now() AT TIME ZONE p.timezone)::date
      ORDER BY effective_from DESC LIMIT 1`,
    [partnerId],
  );
  return rows[0] ? readContractTerms(rows[0].terms).settlement.period : 'daily';
}

/**
 * Everything a cycle needs to run, from the partner (timezone, settlement currency) and the
 * contract in force (cadence, grace, payout threshold): one place for the API and schedules.
 * periodStart null means "the period that contains the day before `firedAt`" in the partner's
 * timezone: the previous day, ISO week or calendar month, as the contract's cadence says
 * (domain/contract.ts). An explicit periodStart must start a period of that cadence; periodEnd
 * overrides the end.
 */
export async function planCycle(
  db: Queryable,
  currencies: CurrencyRegistry,
  p: { partnerId: string; periodStart: string | null; periodEnd?: string; firedAt?: string },
): Promise<SettlementInput> {
  const partner = await db.query<{ name: string; timezone: string; currency: string; yesterday: string }>(
    `SELECT name, timezone, settlement_currency AS currency,
            ((coalesce($2::timestamptz, now()) AT TIME ZONE timezone)::date - 1)::text AS yesterday
       FROM partners WHERE id = $1`,
    [p.partnerId, p.firedAt ?? null],
  );
  const row = partner.rows[0];
  if (!row)
    throw new NotFoundError(`partner ${p.partnerId} not found`, [
      { path: 'partnerId', message: 'not found' },
    ]);
  const anchor = p.periodStart ?? row.yesterday;
  const contract = await db.query<{ terms: unknown }>(
    `SELECT terms FROM partner_contracts WHERE partner_id = $1 AND status = 'approved' AND effective_from <= $2
      ORDER BY effective_from DESC LIMIT 1`,
    [p.partnerId, anchor],
  );
  // What the partner's contracts say decides these two: a conflict with stored state (409),
  // not a malformed request.
  if (!contract.rows[0])
    throw new ConflictError(`no contract in force for ${p.partnerId} on ${anchor}`, [
      { path: 'periodStart', message: 'no contract in force' },
    ]);
  const terms = readContractTerms(contract.rows[0].terms).settlement;
  const period = periodContaining(anchor, terms.period);
  if (p.periodStart !== null && period.start !== p.periodStart)
    throw new ConflictError(`periodStart ${p.periodStart} does not start a ${terms.period} period`, [
      { path: 'periodStart', message: `the contract settles ${terms.period}: use ${period.start}` },
    ]);
  const periodEnd = p.periodEnd ?? period.end;
  if (periodEnd < period.start)
    throw new ValidationError('periodEnd is before periodStart', [
      { path: 'periodEnd', message: 'before periodStart' },
    ]);
  // Monthly terms accrue per calendar month: a longer period may not hide a month's close.
  if (terms.period !== 'weekly' && accrualMonth(periodEnd) !== accrualMonth(period.start))
    throw new ValidationError(`periodEnd ${periodEnd} is in another month than periodStart`, [
      { path: 'periodEnd', message: 'a period ends in the month it starts (monthly terms accrue per month)' },
    ]);
  const cutoff = await db.query<{ cutoff: Date }>(
    `SELECT (($1::date + 1)::timestamp AT TIME ZONE $2) AS cutoff`,
    [periodEnd, row.timezone],
  );
  return {
    partnerId: p.partnerId,
    partnerName: row.name,
    periodStart: period.start,
    periodEnd,
    currency: row.currency,
    currencyScale: currencies.requireScale(row.currency),
    cutoffAt: cutoff.rows[0]!.cutoff.toISOString(),
    timezone: row.timezone,
    graceMs: terms.cutoffGraceMinutes * 60_000,
    payoutApprovalThresholdMinor: terms.payoutApprovalThresholdMinor,
    reminderIntervalMs: REMINDER_INTERVAL_MS,
  };
}

/**
 * The Schedule backfill window whose firings settle business days `from`..`to` of the partner
 * (a firing settles the day before it, in the partner's timezone), with what bounds a
 * backfill: the partner's first contract day and the last business day that has ended in its
 * timezone (yesterday there). Null for an unknown partner.
 */
export async function backfillWindow(
  db: Queryable,
  partnerId: string,
  from: string,
  to: string,
): Promise<{
  start: Date;
  end: Date;
  timezone: string;
  firstContractDay: string | null;
  lastEndedDay: string;
} | null> {
  const { rows } = await db.query<{
    start: Date;
    end: Date;
    timezone: string;
    first_contract_day: string | null;
    last_ended_day: string;
  }>(
    `SELECT (($2::date + 1)::timestamp AT TIME ZONE timezone) AS start,
            (($3::date + 2)::timestamp AT TIME ZONE timezone) AS end,
            timezone,
            (SELECT min(effective_from)::text FROM partner_contracts WHERE partner_id = p.id AND status = 'approved')
              AS first_contract_day,
            ((now() AT TIME ZONE timezone)::date - 1)::text AS last_ended_day
       FROM partners p WHERE id = $1`,
    [partnerId, from, to],
  );
  const r = rows[0];
  return r
    ? {
        start: r.start,
        end: r.end,
        timezone: r.timezone,
        firstContractDay: r.first_contract_day,
        lastEndedDay: r.last_ended_day,
      }
    : null;
}

export interface CycleListing {
  id: string;
  partnerId: string;
  periodStart: string;
  periodEnd: string;
  status: string;
  frozenAt: string | null;
  fees: unknown;
}

/** Cycles, newest period first then by id, for one partner or all, by status: `limit` after `after`. */
export async function listCycles(
  db: Queryable,
  filter: { partnerId: string | null; status: string | null },
  pageOf: { limit: number; after: { periodStart: string; id: string } | null },
): Promise<CycleListing[]> {
  const { rows } = await db.query<{
    id: string;
    partner_id: string;
    period_start: string;
    period_end: string;
    status: string;
    frozen_at: Date | null;
    fees: unknown;
  }>(
    `SELECT id, partner_id, period_start::text, period_end::text, status, frozen_at, fees FROM settlement_cycles
      WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR status = $2)
        AND ($3::date IS NULL OR period_start < $3 OR (period_start = $3 AND id > $4))
      ORDER BY period_start DESC, id LIMIT $5`,
    [
      filter.partnerId,
      filter.status,
      pageOf.after?.periodStart ?? null,
      pageOf.after?.id ?? null,
      pageOf.limit,
    ],
  );
  return rows.map((r) => ({
    id: r.id,
    partnerId: r.partner_id,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    status: r.status,
    frozenAt: r.frozen_at?.toISOString() ?? null,
    fees: r.fees ?? null,
  }));
}

/** Who planned a cycle: the actor that requested its payout (its key and name), and by which path. */
export interface CycleRequester {
  actor: string;
  name: string;
  plannedBy: 'api' | 'schedule';
}

/**
 * Records a cycle's plan before its workflow starts (one row per cycle id; no two cycles of a
 * partner overlap in days — an exclusion constraint). A plan is recorded again only after its
 * run failed, or as the same requester's retry of a start that never reached Temporal;
 * otherwise the cycle is already planned or settling (ConflictError), as is a period
 * overlapping another cycle's. Nothing overwrites who requested a plan no run has claimed yet.
 */
export async function recordCyclePlan(
  db: Queryable,
  cycleId: string,
  plan: Pick<SettlementInput, 'partnerId' | 'periodStart' | 'periodEnd'>,
  requester: CycleRequester,
): Promise<void> {
  try {
    const { rows } = await db.query<{ recorded: boolean }>(
      `INSERT INTO settlement_cycles (id, partner_id, period_start, period_end, status, requested_by,
                                      requested_by_name, planned_by)
       VALUES ($1, $2, $3, $4, 'WaitingForCutoff', $5, $6, $7)
       ON CONFLICT (id) DO UPDATE
          SET period_end = EXCLUDED.period_end, requested_by = EXCLUDED.requested_by,
              requested_by_name = EXCLUDED.requested_by_name, planned_by = EXCLUDED.planned_by,
              run_id = NULL, status = 'WaitingForCutoff', updated_at = now()
        WHERE settlement_cycles.partner_id = EXCLUDED.partner_id AND settlement_cycles.status = 'Failed'
       RETURNING true AS recorded`,
      [
        cycleId,
        plan.partnerId,
        plan.periodStart,
        plan.periodEnd,
        requester.actor,
        requester.name,
        requester.plannedBy,
      ],
    );
    if (rows.length > 0) return;
    // The same requester retrying a start that never reached Temporal finds its own plan.
    const same = await db.query(
      `SELECT 1 FROM settlement_cycles
        WHERE id = $1 AND run_id IS NULL AND requested_by = $2 AND partner_id = $3 AND period_end = $4`,
      [cycleId, requester.actor, plan.partnerId, plan.periodEnd],
    );
    if (same.rowCount === 0)
      throw new ConflictError(`${cycleId} was already started (or planned by someone else)`, [
        { path: 'periodStart', message: 'already settled or settling' },
      ]);
  } catch (err) {
    if ((err as { code?: string }).code !== '23P01') throw err;
    const { rows } = await db.query<{ id: string; period_start: string; period_end: string }>(
      `SELECT id, period_start::text, period_end::text FROM settlement_cycles
        WHERE partner_id = $1 AND id <> $2 AND daterange(period_start, period_end, '[]') && daterange($3::date, $4::date, '[]')
        LIMIT 1`,
      [plan.partnerId, cycleId, plan.periodStart, plan.periodEnd],
    );
    const other = rows[0];
    throw new ConflictError(
      `the period ${plan.periodStart} to ${plan.periodEnd} overlaps cycle ${other?.id ?? 'another cycle'}` +
        (other ? ` (${other.period_start} to ${other.period_end})` : ''),
      [{ path: 'periodEnd', message: 'overlaps another cycle of this partner' }],
    );
  }
}

/**
 * The plan recorded for a cycle, claimed by one workflow run: null when there is none; a
 * ConflictError when another run already claimed it (a second run of a settled period).
 */
export async function claimCyclePlan(
  db: Queryable,
  cycleId: string,
  runId: string,
  /** The run this one continues (continue-as-new): it takes that run's claim over. */
  continuedFrom: string | null = null,
): Promise<{
  partnerId: string;
  periodStart: string;
  periodEnd: string;
  requester: CycleRequester | null;
} | null> {
  const { rows } = await db.query<{
    partner_id: string;
    period_start: string;
    period_end: string;
    requested_by: string | null;
    requested_by_name: string | null;
    planned_by: 'api' | 'schedule' | null;
    run_id: string | null;
  }>(
    `SELECT partner_id, period_start::text, period_end::text, requested_by, requested_by_name, planned_by, run_id
       FROM settlement_cycles WHERE id = $1 FOR UPDATE`,
    [cycleId],
  );
  const row = rows[0];
  if (!row || row.planned_by === null) return null;
  const handedOver = continuedFrom !== null && row.run_id === continuedFrom;
  if (row.run_id !== null && row.run_id !== runId && !handedOver)
    throw new ConflictError(`${cycleId} was already run (run ${row.run_id}): a period is settled once`);
  if (row.run_id === null || handedOver)
    await db.query('UPDATE settlement_cycles SET run_id = $2, updated_at = now() WHERE id = $1', [
      cycleId,
      runId,
    ]);
  return {
    partnerId: row.partner_id,
    periodStart: row.period_start,
    periodEnd: row.period_end,
    requester:
      row.requested_by && row.requested_by_name && row.planned_by
        ? { actor: row.requested_by, name: row.requested_by_name, plannedBy: row.planned_by }
        : null,
  };
}

/** Who requested a cycle's payout (its plan's requester), or null for a cycle without one. */
export async function cycleRequester(db: Queryable, cycleId: string): Promise<CycleRequester | null> {
  const { rows } = await db.query<{
    actor: string | null;
    name: string | null;
    planned_by: 'api' | 'schedule' | null;
  }>(
    'SELECT requested_by AS actor, requested_by_name AS name, planned_by FROM settlement_cycles WHERE id = $1',
    [cycleId],
  );
  const r = rows[0];
  return r?.actor && r.name && r.planned_by
    ? { actor: r.actor, name: r.name, plannedBy: r.planned_by }
    : null;
}

/** The statement is published (its bytes are the accrual's, stored once) after its journal posted. */
export async function publishStatement(db: Queryable, cycleId: string): Promise<void> {
  await db.query(
    'UPDATE settlement_cycles SET statement_published_at = coalesce(statement_published_at, now()), updated_at = now() WHERE id = $1',
    [cycleId],
  );
}

// The exception book writes exceptions (reconciliation's callers import them from here).
export { recordFound as storeExceptions, listExceptions } from './exception-book';
