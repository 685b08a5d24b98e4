import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ConflictError, NotFoundError } from '../domain/errors';
import {
  buildPeriodReport,
  buildTaxReturn,
  checkMonth,
  closeBlockers,
  MAX_LATE_LISTED,
  monthBounds,
  type AccountBalances,
  type CloseBlocker,
  type CycleOfMonth,
  type LateEntry,
  type MovementGroup,
  type PeriodReport,
  type PeriodState,
  type TaxMovement,
  type TaxReturn,
} from '../domain/periods';
import { appendAudit, digestOf, type AuditEvent } from './audit';
import { verifyAudit } from './audit';
import { verifyLedger } from './ledger';

// Accounting periods (1764000033000_periods.sql): the period rows, the close's two steps, the
// period report and the gaming-tax return from the ledger, and the auditor's pack. Postgres
// itself refuses postings into a closing or closed period (ledger_postings_a_closed_periods).

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The SQLSTATE the ledger raises for a posting dated inside a closed period. */
export const PERIOD_CLOSED_SQLSTATE = 'CH423';

/** The ledger's refusal of a posting into a closed period as a ConflictError (anything else as it came). */
export function periodClosedFailure(err: unknown): unknown {
  const e = err as { code?: string; message?: string };
  if (e?.code === PERIOD_CLOSED_SQLSTATE)
    return new ConflictError(e.message ?? 'period closed', [
      { path: 'effectiveDate', message: 'inside a closed period: date it with openPostingDate' },
    ]);
  return err;
}

/**
 * The date to post an entry for `day` with: `day` itself when its period is open, else the
 * first day after the partner's closed-through date (late ingest and restatements use it; the
 * entry's metadata should say which day it belongs to).
 */
export async function openPostingDate(q: Queryable, partnerId: string, day: string): Promise<string> {
  const { rows } = await q.query<{ d: string }>(
    `SELECT greatest($2::date, coalesce((SELECT closed_through + 1 FROM partner_closed_through WHERE partner_id = $1), $2::date))::text AS d`,
    [partnerId, day],
  );
  return rows[0]!.d;
}

/** The last day of the partner's latest closing or closed month (null: none). */
export async function closedThrough(q: Queryable, partnerId: string): Promise<string | null> {
  const { rows } = await q.query<{ d: string }>(
    'SELECT closed_through::text AS d FROM partner_closed_through WHERE partner_id = $1',
    [partnerId],
  );
  return rows[0]?.d ?? null;
}

export interface PeriodRow {
  partnerId: string;
  month: string;
  state: PeriodState;
  closeRequestedBy: { actor: string; name: string; at: string } | null;
  closeWorkflowId: string | null;
  closingAt: string | null;
  closedBy: { actor: string; name: string } | null;
  closedAt: string | null;
  reportDigest: string | null;
  blockers: CloseBlocker[];
  blockedAt: string | null;
  /** False when no row exists yet: the month is open by default. */
  recorded: boolean;
}

interface Row {
  partner_id: string;
  month: string;
  state: PeriodState;
  close_requested_by: string | null;
  close_requested_name: string | null;
  close_requested_at: Date | null;
  close_workflow_id: string | null;
  closing_at: Date | null;
  closed_by: string | null;
  closed_name: string | null;
  closed_at: Date | null;
  report_digest: string | null;
  blockers: CloseBlocker[];
  blocked_at: Date | null;
}
const COLUMNS = `partner_id, month, state, close_requested_by, close_requested_name, close_requested_at, close_workflow_id,
  closing_at, closed_by, closed_name, closed_at, report_digest, blockers, blocked_at`;
const iso = (d: Date | null) => (d ? d.toISOString() : null);
const fromRow = (r: Row): PeriodRow => ({
  partnerId: r.partner_id,
  month: r.month,
  state: r.state,
  closeRequestedBy:
    r.close_requested_by && r.close_requested_at
      ? {
          actor: r.close_requested_by,
          name: r.close_requested_name ?? '',
          at: r.close_requested_at.toISOString(),
        }
      : null,
  closeWorkflowId: r.close_workflow_id,
  closingAt: iso(r.closing_at),
  closedBy: r.closed_by ? { actor: r.closed_by, name: r.closed_name ?? '' } : null,
  closedAt: iso(r.closed_at),
  reportDigest: r.report_digest,
  blockers: r.blockers,
  blockedAt: iso(r.blocked_at),
  recorded: true,
});

/** A partner's month as stored, or open by default when no row exists yet. */
export async function periodState(q: Queryable, partnerId: string, month: string): Promise<PeriodRow> {
  checkMonth(month);
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM accounting_periods WHERE partner_id = $1 AND month = $2`,
    [partnerId, month],
  );
  if (rows[0]) return fromRow(rows[0]);
  return {
    partnerId,
    month,
    state: 'open',
    closeRequestedBy: null,
    closeWorkflowId: null,
    closingAt: null,
    closedBy: null,
    closedAt: null,
    reportDigest: null,
    blockers: [],
    blockedAt: null,
    recorded: false,
  };
}

/** The stored report of a closed period (null when it has none). */
export async function storedPeriodReport(
  q: Queryable,
  partnerId: string,
  month: string,
): Promise<{ report: PeriodReport; digest: string } | null> {
  const { rows } = await q.query<{ report: PeriodReport | null; report_digest: string | null }>(
    'SELECT report, report_digest FROM accounting_periods WHERE partner_id = $1 AND month = $2',
    [partnerId, month],
  );
  const r = rows[0];
  return r?.report && r.report_digest ? { report: r.report, digest: r.report_digest } : null;
}

/** Periods by partner then month (newest first), optionally one partner's or in one state. */
export async function listPeriods(
  q: Queryable,
  filter: { partnerId?: string; state?: PeriodState },
  pageOf: { limit: number; after: { partnerId: string; month: string } | null },
): Promise<PeriodRow[]> {
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM accounting_periods
      WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR state = $2)
        AND ($3::text IS NULL OR (partner_id, month) > ($3, $4))
      ORDER BY partner_id, month LIMIT $5`,
    [
      filter.partnerId ?? null,
      filter.state ?? null,
      pageOf.after?.partnerId ?? null,
      pageOf.after?.month ?? null,
      pageOf.limit,
    ],
  );
  return rows.map(fromRow);
}

/**
 * Records who asks for a close (the verified operator), before its workflow starts: the
 * workflow reads the requester from here. A closed or closing month is a ConflictError.
 */
export async function requestPeriodClose(
  q: Queryable,
  r: { partnerId: string; month: string; actor: string; name: string; workflowId: string },
): Promise<PeriodRow> {
  checkMonth(r.month);
  const { rows } = await q.query<Row>(
    `INSERT INTO accounting_periods (partner_id, month, close_requested_by, close_requested_name, close_requested_at, close_workflow_id)
     VALUES ($1, $2, $3, $4, now(), $5)
     ON CONFLICT (partner_id, month) DO UPDATE SET close_requested_by = excluded.close_requested_by,
            close_requested_name = excluded.close_requested_name, close_requested_at = now(),
            close_workflow_id = excluded.close_workflow_id
      WHERE accounting_periods.state = 'open'
     RETURNING ${COLUMNS}`,
    [r.partnerId, r.month, r.actor, r.name, r.workflowId],
  );
  if (rows[0]) return fromRow(rows[0]);
  const now = await periodState(q, r.partnerId, r.month);
  throw new ConflictError(`period ${r.month} of ${r.partnerId} is ${now.state}`, [
    { path: 'month', message: `already ${now.state}` },
  ]);
}

/** The cycles of a partner's month: their period ends in it (domain/periods.ts periodMonthOf). */
export async function cyclesOfMonth(q: Queryable, partnerId: string, month: string): Promise<CycleOfMonth[]> {
  const { from, to } = monthBounds(month);
  const { rows } = await q.query<{ id: string; s: string; e: string; status: string }>(
    `SELECT id, period_start::text AS s, period_end::text AS e, status FROM settlement_cycles
      WHERE partner_id = $1 AND period_end BETWEEN $2 AND $3 ORDER BY period_start, id`,
    [partnerId, from, to],
  );
  return rows.map((r) => ({ id: r.id, periodStart: r.s, periodEnd: r.e, status: r.status }));
}

/** Months before `month`, after the partner's closed-through date, with cycles or positions: not closed yet. */
async function earlierOpenMonths(q: Queryable, partnerId: string, month: string): Promise<string[]> {
  const { from } = monthBounds(month);
  const { rows } = await q.query<{ m: string }>(
    `WITH ct AS (SELECT coalesce((SELECT closed_through FROM partner_closed_through WHERE partner_id = $1), '-infinity'::date) AS d)
     SELECT DISTINCT to_char(d, 'YYYY-MM') AS m FROM (
       SELECT period_end AS d FROM settlement_cycles, ct WHERE partner_id = $1 AND period_end < $2 AND period_end > ct.d
       UNION
       SELECT business_date FROM positions, ct WHERE partner_id = $1 AND business_date < $2 AND business_date > ct.d
     ) x ORDER BY 1`,
    [partnerId, from],
  );
  return rows.map((r) => r.m);
}

/**
 * The close's first step, in one transaction: the month's cycles must all be Completed and the
 * earlier months with activity closed. Blocked: the period stays open with its blockers listed.
 * Otherwise it becomes `closing`, which moves the partner's closed-through date: from this
 * commit on, Postgres refuses every posting dated in the month.
 */
export async function beginPeriodClose(
  client: pg.PoolClient,
  partnerId: string,
  month: string,
): Promise<
  | { outcome: 'closing' | 'closed_already'; requester: { actor: string; name: string } }
  | { outcome: 'blocked'; blockers: CloseBlocker[]; requester: { actor: string; name: string } }
> {
  const { rows } = await client.query<Row>(
    `SELECT ${COLUMNS} FROM accounting_periods WHERE partner_id = $1 AND month = $2 FOR UPDATE`,
    [partnerId, month],
  );
  const row = rows[0];
  if (!row?.close_requested_by)
    throw new NotFoundError(`no close of ${month} was requested for ${partnerId}`, [
      { path: 'month', message: 'request the close through the API first' },
    ]);
  const requester = { actor: row.close_requested_by, name: row.close_requested_name ?? '' };
  if (row.state === 'closed') return { outcome: 'closed_already', requester };
  if (row.state === 'closing') return { outcome: 'closing', requester };
  const blockers = closeBlockers(
    month,
    await cyclesOfMonth(client, partnerId, month),
    await earlierOpenMonths(client, partnerId, month),
  );
  if (blockers.length > 0) {
    await client.query(
      `UPDATE accounting_periods SET blockers = $3::jsonb, blocked_at = now() WHERE partner_id = $1 AND month = $2`,
      [partnerId, month, JSON.stringify(blockers)],
    );
    return { outcome: 'blocked', blockers, requester };
  }
  await client.query(
    `UPDATE accounting_periods SET state = 'closing', closing_at = now(), blockers = '[]', blocked_at = NULL
      WHERE partner_id = $1 AND month = $2`,
    [partnerId, month],
  );
  return { outcome: 'closing', requester };
}

/** A close that could not finish goes back to open (unlocking the month), with why. */
export async function abandonPeriodClose(
  q: Queryable,
  partnerId: string,
  month: string,
  reason: string,
): Promise<void> {
  await q.query(
    `UPDATE accounting_periods SET state = 'open', closing_at = NULL, blocked_at = now(),
            blockers = jsonb_build_array(jsonb_build_object('kind', 'close_failed', 'ref', month, 'detail', $3::text))
      WHERE partner_id = $1 AND month = $2 AND state = 'closing'`,
    [partnerId, month, reason.slice(0, 1000)],
  );
}

/**
 * Waits until every transaction running now has ended: called once the month is `closing`
 * (committed), so that a writer that inserted postings dated in the month before it could see
 * the lock (its trigger ran on an older snapshot) has committed or rolled back before the report
 * is computed, and the report misses nothing posted before the close instant. Costs ingest
 * nothing (no lock on the posting path). Throws (the activity retries) after `timeoutMs`.
 */
export async function waitForEarlierTransactions(q: Queryable, timeoutMs = 20_000): Promise<void> {
  const { rows } = await q.query<{ xip: string[] }>(
    `SELECT coalesce(array_agg(x::text), '{}') AS xip FROM pg_snapshot_xip(pg_current_snapshot()) AS x`,
  );
  const xids = rows[0]!.xip;
  if (xids.length === 0) return;
  for (const started = Date.now(); ;) {
    const { rows: r } = await q.query<{ running: number }>(
      `SELECT count(*)::int AS running FROM unnest($1::xid8[]) AS x WHERE pg_xact_status(x) = 'in progress'`,
      [xids],
    );
    if (r[0]!.running === 0) return;
    if (Date.now() - started > timeoutMs)
      throw new Error(`${r[0]!.running} transaction(s) older than the lock are still running`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The close's last step, in one transaction: the report at this transaction's instant (the
 * close instant: postings into the month are refused since the period became closing), stored
 * with its digest, the period closed, and the audit event. Idempotent: a closed period returns
 * what was stored.
 */
export async function completePeriodClose(
  client: pg.PoolClient,
  partnerId: string,
  month: string,
  scaleOf: (currency: string) => number,
  audit: (closed: {
    closedAt: string;
    digest: string;
    closedBy: { actor: string; name: string };
  }) => AuditEvent,
): Promise<{ closedAt: string; digest: string }> {
  const { rows } = await client.query<Row & { now: Date }>(
    `SELECT ${COLUMNS}, now() AS now FROM accounting_periods WHERE partner_id = $1 AND month = $2 FOR UPDATE`,
    [partnerId, month],
  );
  const row = rows[0];
  if (!row) throw new NotFoundError(`no period ${month} for ${partnerId}`);
  if (row.state === 'closed') return { closedAt: row.closed_at!.toISOString(), digest: row.report_digest! };
  if (row.state !== 'closing')
    throw new ConflictError(`period ${month} of ${partnerId} is ${row.state}, not closing`);
  const closedAt = row.now.toISOString();
  const report = await periodReport(client, partnerId, month, closedAt, scaleOf);
  const digest = digestOf(report);
  await client.query(
    `UPDATE accounting_periods SET state = 'closed', closed_at = $3, closed_by = close_requested_by,
            closed_name = close_requested_name, report = $4::jsonb, report_digest = $5
      WHERE partner_id = $1 AND month = $2`,
    [partnerId, month, row.now, JSON.stringify(report), digest],
  );
  await appendAudit(
    client,
    audit({
      closedAt,
      digest,
      closedBy: { actor: row.close_requested_by!, name: row.close_requested_name ?? '' },
    }),
  );
  return { closedAt, digest };
}

/** Partners with activity in a month (cycles ending in it, or positions on its days), and their period's state. */
export async function partnersActiveIn(
  q: Queryable,
  month: string,
): Promise<{ partnerId: string; state: PeriodState }[]> {
  const { from, to } = monthBounds(month);
  const { rows } = await q.query<{ partner_id: string; state: PeriodState | null }>(
    `SELECT x.partner_id, p.state FROM (
       SELECT partner_id FROM settlement_cycles WHERE period_end BETWEEN $1 AND $2
       UNION
       SELECT partner_id FROM positions WHERE business_date BETWEEN $1 AND $2
     ) x LEFT JOIN accounting_periods p ON p.partner_id = x.partner_id AND p.month = $3
     ORDER BY x.partner_id`,
    [from, to, month],
  );
  return rows.map((r) => ({ partnerId: r.partner_id, state: r.state ?? 'open' }));
}

// ---- The period report ------------------------------------------------------------------------

/**
 * A partner's period report as the ledger recorded it by `asRecordedAt` (an ISO instant; the
 * close instant for the stored one): every account of the partner, per currency, on both axes
 * (domain/periods.ts buildPeriodReport).
 */
export async function periodReport(
  q: Queryable,
  partnerId: string,
  month: string,
  asRecordedAt: string,
  scaleOf: (currency: string) => number,
): Promise<PeriodReport> {
  const { from, to } = monthBounds(month);
  const { rows: p } = await q.query<{ timezone: string; start: Date }>(
    `SELECT timezone, ($2::date::timestamp AT TIME ZONE timezone) AS start FROM partners WHERE id = $1`,
    [partnerId, from],
  );
  if (!p[0])
    throw new NotFoundError(`partner ${partnerId} not found`, [{ path: 'partnerId', message: 'not found' }]);
  const start = p[0].start.toISOString();
  const args = [partnerId, from, to, asRecordedAt, start];

  const { rows: bal } = await q.query<{
    code: string;
    kind: string;
    currency: string;
    eff_open: string;
    eff_close: string;
    rec_open: string;
    rec_close: string;
  }>(
    `WITH acc AS (SELECT id, code, kind, currency FROM ledger_accounts WHERE partner_id = $1 AND created_at <= $4::timestamptz),
     mv AS (
       SELECT p.debit_account_id AS id, p.amount_minor AS amt, p.effective_date, p.posted_at
         FROM ledger_postings p WHERE p.debit_account_id IN (SELECT id FROM acc) AND p.posted_at <= $4::timestamptz
       UNION ALL
       SELECT p.credit_account_id, -p.amount_minor, p.effective_date, p.posted_at
         FROM ledger_postings p WHERE p.credit_account_id IN (SELECT id FROM acc) AND p.posted_at <= $4::timestamptz)
     SELECT a.code, a.kind, a.currency,
            coalesce(sum(mv.amt) FILTER (WHERE mv.effective_date < $2::date), 0)::text AS eff_open,
            coalesce(sum(mv.amt) FILTER (WHERE mv.effective_date <= $3::date), 0)::text AS eff_close,
            coalesce(sum(mv.amt) FILTER (WHERE mv.posted_at <= $5::timestamptz), 0)::text AS rec_open,
            coalesce(sum(mv.amt), 0)::text AS rec_close
       FROM acc a LEFT JOIN mv ON mv.id = a.id
      GROUP BY a.code, a.kind, a.currency`,
    args,
  );
  const balances: AccountBalances[] = bal.map((r) => ({
    accountCode: r.code,
    accountKind: r.kind,
    currency: r.currency,
    effectiveOpeningMinor: BigInt(r.eff_open),
    effectiveClosingMinor: BigInt(r.eff_close),
    recordedOpeningMinor: BigInt(r.rec_open),
    recordedClosingMinor: BigInt(r.rec_close),
  }));

  const { rows: mov } = await q.query<{
    code: string;
    other: string;
    currency: string;
    source_kind: string;
    line: string | null;
    restates: boolean;
    eff: string;
    rec: string;
  }>(
    `WITH acc AS (SELECT id FROM ledger_accounts WHERE partner_id = $1 AND created_at <= $4::timestamptz),
     mv AS (
       SELECT p.debit_account_id AS id, p.credit_account_id AS other_id, p.amount_minor AS amt, p.entry_id, p.effective_date, p.posted_at
         FROM ledger_postings p
        WHERE p.debit_account_id IN (SELECT id FROM acc) AND p.posted_at <= $4::timestamptz
          AND (p.effective_date BETWEEN $2::date AND $3::date OR p.posted_at > $5::timestamptz)
       UNION ALL
       SELECT p.credit_account_id, p.debit_account_id, -p.amount_minor, p.entry_id, p.effective_date, p.posted_at
         FROM ledger_postings p
        WHERE p.credit_account_id IN (SELECT id FROM acc) AND p.posted_at <= $4::timestamptz
          AND (p.effective_date BETWEEN $2::date AND $3::date OR p.posted_at > $5::timestamptz))
     SELECT a.code, o.code AS other, a.currency, e.source_kind, e.metadata->>'line' AS line,
            (e.metadata ? 'restates' OR e.metadata ? 'restatementId') AS restates,
            coalesce(sum(mv.amt) FILTER (WHERE mv.effective_date BETWEEN $2::date AND $3::date), 0)::text AS eff,
            coalesce(sum(mv.amt) FILTER (WHERE mv.posted_at > $5::timestamptz), 0)::text AS rec
       FROM mv JOIN ledger_accounts a ON a.id = mv.id JOIN ledger_accounts o ON o.id = mv.other_id
       JOIN ledger_entries e ON e.id = mv.entry_id
      GROUP BY 1, 2, 3, 4, 5, 6`,
    args,
  );
  const movements: MovementGroup[] = mov.map((r) => ({
    accountCode: r.code,
    counterpartyCode: r.other,
    currency: r.currency,
    sourceKind: r.source_kind,
    line: r.line,
    restates: r.restates,
    effectiveMinor: BigInt(r.eff),
    recordedMinor: BigInt(r.rec),
  }));

  // Ingest entries of the month late for their day: dated here from a closed day (lateFor), or
  // recorded after the cycle of their day froze its sources (not in that cycle's statement).
  const { rows: late } = await q.query<{
    key: string;
    kind: 'redated' | 'after_cycle';
    for_day: string;
    effective_date: string;
    posted_at: Date;
    currency: string;
    ggr: string;
    cycle_id: string | null;
    total: string;
  }>(
    `WITH ga AS (SELECT id FROM ledger_accounts WHERE partner_id = $1 AND code LIKE 'partner:' || $1 || ':game_activity:%'),
     e AS (
       SELECT DISTINCT e.id, e.idempotency_key, e.effective_date, e.posted_at, e.metadata, p.currency
         FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
        WHERE (p.debit_account_id IN (SELECT id FROM ga) OR p.credit_account_id IN (SELECT id FROM ga))
          AND p.effective_date BETWEEN $2::date AND $3::date AND p.posted_at <= $4::timestamptz
          AND e.source_kind = 'ingest_batch'),
     l AS (
       SELECT e.idempotency_key AS key,
              CASE WHEN e.metadata ? 'lateFor' THEN 'redated' ELSE 'after_cycle' END AS kind,
              coalesce(e.metadata->>'lateFor', e.effective_date::text) AS for_day,
              e.effective_date::text AS effective_date, e.posted_at, e.currency,
              coalesce(e.metadata->>'ggrMinor', '0') AS ggr, c.id AS cycle_id
         FROM e LEFT JOIN LATERAL (
           SELECT c.id FROM settlement_cycles c
            WHERE c.partner_id = $1 AND c.frozen_at IS NOT NULL AND e.posted_at > c.frozen_at
              AND coalesce((e.metadata->>'lateFor')::date, e.effective_date) BETWEEN c.period_start AND c.period_end
            LIMIT 1) c ON true
        WHERE e.metadata ? 'lateFor' OR c.id IS NOT NULL)
     SELECT *, count(*) OVER ()::text AS total FROM l ORDER BY posted_at, key LIMIT ${MAX_LATE_LISTED}`,
    [partnerId, from, to, asRecordedAt],
  );
  const lateEntries: LateEntry[] = late.map((r) => ({
    entryKey: r.key,
    kind: r.kind,
    forDay: r.for_day,
    effectiveDate: r.effective_date,
    postedAt: r.posted_at.toISOString(),
    currency: r.currency,
    ggrMinor: BigInt(r.ggr),
    cycleId: r.cycle_id,
  }));

  return buildPeriodReport({
    partnerId,
    month,
    timezone: p[0].timezone,
    monthStartedAt: start,
    asRecordedAt: new Date(asRecordedAt).toISOString(),
    scaleOf,
    balances,
    movements,
    cycles: await cyclesOfMonth(q, partnerId, month),
    late: lateEntries,
    lateCount: Number(late[0]?.total ?? 0),
  });
}

// ---- Gaming-tax return ------------------------------------------------------------------------

/** One jurisdiction's month from its payable accounts (domain/accounts.ts gamingTaxAccount), by effective date. */
export async function taxReturn(
  q: Queryable,
  jurisdiction: string,
  month: string,
  scaleOf: (currency: string) => number,
): Promise<TaxReturn> {
  const { from, to } = monthBounds(month);
  const prefix = `house:gaming_tax_payable:${jurisdiction.toLowerCase()}:`;
  const { rows: accounts } = await q.query<{ id: string; code: string; currency: string; opening: string }>(
    `SELECT a.id::text, a.code, a.currency,
            (coalesce((SELECT sum(amount_minor) FROM ledger_postings WHERE credit_account_id = a.id AND effective_date < $2::date), 0)
           - coalesce((SELECT sum(amount_minor) FROM ledger_postings WHERE debit_account_id = a.id AND effective_date < $2::date), 0))::text AS opening
       FROM ledger_accounts a WHERE a.code LIKE $1 || '%' AND a.code ~ ('^' || $1 || '[A-Z][A-Z0-9]{2,9}$')`,
    [prefix, from],
  );
  const ids = accounts.map((a) => a.id);
  const { rows: mv } = await q.query<{
    currency: string;
    partner_id: string | null;
    amount: string;
    entries: string;
  }>(
    `SELECT m.currency, o.partner_id, sum(m.amt)::text AS amount, count(DISTINCT m.entry_id)::text AS entries
       FROM (SELECT p.currency, p.debit_account_id AS other_id, p.amount_minor AS amt, p.entry_id
               FROM ledger_postings p WHERE p.credit_account_id = ANY($1::bigint[]) AND p.effective_date BETWEEN $2::date AND $3::date
             UNION ALL
             SELECT p.currency, p.credit_account_id, -p.amount_minor, p.entry_id
               FROM ledger_postings p WHERE p.debit_account_id = ANY($1::bigint[]) AND p.effective_date BETWEEN $2::date AND $3::date) m
       JOIN ledger_accounts o ON o.id = m.other_id
      GROUP BY 1, 2`,
    [ids, from, to],
  );
  const movements: TaxMovement[] = mv.map((r) => ({
    currency: r.currency,
    partnerId: r.partner_id,
    amountMinor: BigInt(r.amount),
    entries: Number(r.entries),
  }));
  const partnerIds = [...new Set(movements.flatMap((m) => (m.partnerId ? [m.partnerId] : [])))];
  const { rows: states } = await q.query<{ partner_id: string; state: PeriodState }>(
    'SELECT partner_id, state FROM accounting_periods WHERE month = $1 AND partner_id = ANY($2::text[])',
    [month, partnerIds],
  );
  return buildTaxReturn({
    jurisdiction,
    month,
    scaleOf,
    accounts: accounts.map((a) => ({
      currency: a.currency,
      code: a.code,
      openingPayableMinor: BigInt(a.opening),
    })),
    movements,
    periodStates: new Map(states.map((s) => [s.partner_id, s.state])),
  });
}

// ---- The auditor's pack -----------------------------------------------------------------------

export interface PeriodPack {
  packVersion: 1;
  partnerId: string;
  month: string;
  generatedAt: string;
  period: PeriodRow;
  /** The stored report of a closed period (checked against its digest), else the ledger now. */
  report: PeriodReport;
  reportDigest: string;
  reportDigestMatches: boolean | null;
  statements: {
    cycleId: string;
    version: number;
    digest: string;
    digestMatches: boolean;
    restatementId: string | null;
    createdAt: string;
    statementText: string;
  }[];
  journals: {
    id: string;
    kind: string;
    sourceRef: string;
    digest: string;
    createdAt: string;
    entries: unknown;
    summary: unknown;
  }[];
  auditEvents: Record<string, unknown>[];
  verification: {
    ledger: Awaited<ReturnType<typeof verifyLedger>>;
    audit: Awaited<ReturnType<typeof verifyAudit>>;
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Everything an auditor asks for about one partner's month, in one document. */
export async function periodPack(
  q: Queryable,
  partnerId: string,
  month: string,
  scaleOf: (currency: string) => number,
): Promise<PeriodPack> {
  const { rows: nowRows } = await q.query<{ now: Date }>('SELECT now()');
  const generatedAt = nowRows[0]!.now.toISOString();
  const period = await periodState(q, partnerId, month);
  const stored = await storedPeriodReport(q, partnerId, month);
  const report = stored?.report ?? (await periodReport(q, partnerId, month, generatedAt, scaleOf));
  const reportDigest = digestOf(report);
  const cycles = await cyclesOfMonth(q, partnerId, month);
  const cycleIds = cycles.map((c) => c.id);

  // Every version of every statement (version 1 is stored with the fee step).
  const { rows: statements } = await q.query<{
    cycle_id: string;
    version: number;
    digest: string;
    restatement_id: string | null;
    created_at: Date;
    statement_text: string;
  }>(
    `SELECT cycle_id, version, digest, restatement_id, created_at, statement_text
       FROM statement_versions WHERE cycle_id = ANY($1::text[])
     ORDER BY 1, 2`,
    [cycleIds],
  );
  const { rows: journals } = await q.query<{
    id: string;
    kind: string;
    source_ref: string;
    digest: string;
    created_at: Date;
    entries: unknown;
    summary: unknown;
  }>(
    `SELECT id, kind, source_ref, digest, created_at, entries, summary FROM journals
      WHERE source_ref = ANY($1::text[]) ORDER BY source_ref, created_at, id`,
    [cycleIds],
  );
  const periodTarget = `period:${partnerId}:${month}`;
  const { rows: audit } = await q.query<{
    id: string;
    at: Date;
    actor: string;
    actor_role: string;
    action: string;
    target: string;
    source: string;
    request_id: string | null;
    workflow_id: string | null;
    before_digest: string | null;
    after_digest: string | null;
    details: unknown;
    chain_id: number;
    seq: string;
    hash: Buffer;
  }>(
    `SELECT id::text, at, actor, actor_role, action, target, source, request_id, workflow_id, before_digest, after_digest,
            details, chain_id, seq::text, hash
       FROM audit_events
      WHERE target = ANY($1::text[]) OR workflow_id = ANY($1::text[]) OR target LIKE $2
      ORDER BY id`,
    [[...cycleIds, periodTarget, `period-close:${partnerId}:${month}`], `/v1/periods/${partnerId}/${month}%`],
  );
  return {
    packVersion: 1,
    partnerId,
    month,
    generatedAt,
    period,
    report,
    reportDigest,
    reportDigestMatches: stored ? stored.digest === reportDigest : null,
    statements: statements.map((s) => ({
      cycleId: s.cycle_id,
      version: s.version,
      digest: s.digest,
      digestMatches: sha256(s.statement_text) === s.digest,
      restatementId: s.restatement_id,
      createdAt: s.created_at.toISOString(),
      statementText: s.statement_text,
    })),
    journals: journals.map((j) => ({
      id: j.id,
      kind: j.kind,
      sourceRef: j.source_ref,
      digest: j.digest,
      createdAt: j.created_at.toISOString(),
      entries: j.entries,
      summary: j.summary,
    })),
    auditEvents: audit.map((a) => ({
      id: a.id,
      at: a.at.toISOString(),
      actor: a.actor,
      role: a.actor_role,
      action: a.action,
      target: a.target,
      source: a.source,
      requestId: a.request_id,
      workflowId: a.workflow_id,
      beforeDigest: a.before_digest,
      afterDigest: a.after_digest,
      details: a.details,
      chainId: a.chain_id,
      seq: a.seq,
      hash: a.hash.toString('hex'),
    })),
    verification: { ledger: await verifyLedger(q), audit: await verifyAudit(q) },
  };
}
