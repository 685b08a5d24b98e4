import type pg from 'pg';
import { openPostingDate } from './periods';
import type { Camt053Statement } from '../domain/camt053';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors';
import type { Journal } from '../domain/journal';
import { formatAmount, parseAmount } from '../domain/money';
import {
  carryOf,
  paymentOutcome,
  payoutOutcomeJournal,
  payoutSentJournal,
  reconcileBankLine,
  type BankLineOutcome,
  type PaymentOutcome,
  type PayoutRef,
  type PayoutState,
} from '../domain/payouts';
import { postJournal, storeJournal } from './journals';
import { recordPayableCarry } from './payable-carries';

// Statement issues, payouts and imported bank statements (1764000036000_payouts.sql).

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// ---------------------------------------------------------------------------------------------
// Statement issues.

export interface StatementIssue {
  cycleId: string;
  version: number;
  partnerId: string;
  digest: string;
  issuedAt: Date;
  acknowledgementDays: number;
  acknowledgeBy: Date;
  webhook: 'pending' | 'sent' | 'no-webhook' | 'failed';
  webhookAt: Date | null;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
}

interface IssueRow {
  cycle_id: string;
  version: number;
  partner_id: string;
  digest: string;
  issued_at: Date;
  acknowledgement_days: number;
  acknowledge_by: Date;
  webhook: StatementIssue['webhook'];
  webhook_at: Date | null;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
}
const issueOf = (r: IssueRow): StatementIssue => ({
  cycleId: r.cycle_id,
  version: r.version,
  partnerId: r.partner_id,
  digest: r.digest,
  issuedAt: r.issued_at,
  acknowledgementDays: r.acknowledgement_days,
  acknowledgeBy: r.acknowledge_by,
  webhook: r.webhook,
  webhookAt: r.webhook_at,
  acknowledgedAt: r.acknowledged_at,
  acknowledgedBy: r.acknowledged_by,
});

/**
 * Records a statement version as issued, once: now, with its deadline `acknowledgementDays`
 * later. A repeat returns the row as first recorded.
 */
export async function recordStatementIssue(
  db: Queryable,
  i: { cycleId: string; version: number; partnerId: string; digest: string; acknowledgementDays: number },
): Promise<StatementIssue> {
  await db.query(
    `INSERT INTO statement_issues (cycle_id, version, partner_id, digest, issued_at, acknowledgement_days, acknowledge_by)
     VALUES ($1, $2, $3, $4, now(), $5, now() + make_interval(days => $5))
     ON CONFLICT (cycle_id, version) DO NOTHING`,
    [i.cycleId, i.version, i.partnerId, i.digest, i.acknowledgementDays],
  );
  return (await statementIssue(db, i.cycleId, i.version))!;
}

/** One issued version, or the latest issued when `version` is omitted; null when none. */
export async function statementIssue(
  db: Queryable,
  cycleId: string,
  version?: number,
  opts: { forUpdate?: boolean } = {},
): Promise<StatementIssue | null> {
  const { rows } = await db.query<IssueRow>(
    `SELECT * FROM statement_issues WHERE cycle_id = $1 AND ($2::int IS NULL OR version = $2)
      ORDER BY version DESC LIMIT 1${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [cycleId, version ?? null],
  );
  return rows[0] ? issueOf(rows[0]) : null;
}

export async function setIssueWebhook(
  db: Queryable,
  cycleId: string,
  version: number,
  webhook: StatementIssue['webhook'],
): Promise<void> {
  await db.query(
    `UPDATE statement_issues SET webhook = $3, webhook_at = now()
      WHERE cycle_id = $1 AND version = $2 AND webhook IN ('pending', 'failed')`,
    [cycleId, version, webhook],
  );
}

export async function acknowledgeIssue(
  db: Queryable,
  cycleId: string,
  version: number,
  by: string,
): Promise<void> {
  await db.query(
    `UPDATE statement_issues SET acknowledged_at = now(), acknowledged_by = $3
      WHERE cycle_id = $1 AND version = $2 AND acknowledged_at IS NULL`,
    [cycleId, version, by],
  );
}

/** The cycle's partner and currency scale as its plan recorded them, or null for an unknown cycle. */
export async function cycleOf(
  db: Queryable,
  cycleId: string,
): Promise<{ partnerId: string; currency: string; timezone: string; published: boolean } | null> {
  const { rows } = await db.query<{
    partner_id: string;
    currency: string;
    timezone: string;
    published: boolean;
  }>(
    `SELECT c.partner_id, p.settlement_currency AS currency, p.timezone,
            (c.statement_published_at IS NOT NULL) AS published
       FROM settlement_cycles c JOIN partners p ON p.id = c.partner_id WHERE c.id = $1`,
    [cycleId],
  );
  const r = rows[0];
  return r
    ? { partnerId: r.partner_id, currency: r.currency, timezone: r.timezone, published: r.published }
    : null;
}

/**
 * The partner's business day now (its timezone): the effective date of a step happening now,
 * or the first open day when that month is closing or closed (db/periods.ts).
 */
export async function businessDayNow(db: Queryable, partnerId: string): Promise<string> {
  const { rows } = await db.query<{ day: string }>(
    `SELECT to_char((now() AT TIME ZONE timezone)::date, 'YYYY-MM-DD') AS day FROM partners WHERE id = $1`,
    [partnerId],
  );
  if (!rows[0]) throw new Error(`no partner ${partnerId}`);
  return openPostingDate(db, partnerId, rows[0].day);
}

// ---------------------------------------------------------------------------------------------
// Payouts.

export interface PayoutRow {
  cycleId: string;
  partnerId: string;
  currency: string;
  currencyScale: number;
  netMinor: bigint;
  amountMinor: bigint;
  heldMinor: bigint;
  state: PayoutState;
  approvedAt: Date;
  approvedBy: string[];
  paymentTermsDays: number;
  dueDate: string;
  paymentReference: string | null;
  sentAt: Date | null;
  sentBy: string | null;
  confirmedAt: Date | null;
  confirmedBy: string | null;
  failedAt: Date | null;
  failedBy: string | null;
  failureReason: string | null;
  paidMinor: bigint | null;
  settledSource: 'operator' | 'bank_statement' | null;
  bankStatementId: string | null;
  bankLineRef: string | null;
  /** The partner's business day now, for the overdue rule. */
  today: string;
}

const PAYOUT_COLUMNS = `p.cycle_id, p.partner_id, p.currency, p.currency_scale, p.net_minor::text, p.amount_minor::text,
  p.held_minor::text, p.state, p.approved_at, p.approved_by, p.payment_terms_days,
  to_char(p.due_date, 'YYYY-MM-DD') AS due_date, p.payment_reference, p.sent_at, p.sent_by, p.confirmed_at,
  p.confirmed_by, p.failed_at, p.failed_by, p.failure_reason, p.paid_minor::text, p.settled_source,
  p.bank_statement_id, p.bank_line_ref,
  to_char((now() AT TIME ZONE pa.timezone)::date, 'YYYY-MM-DD') AS today`;

interface PayoutDbRow {
  cycle_id: string;
  partner_id: string;
  currency: string;
  currency_scale: number;
  net_minor: string;
  amount_minor: string;
  held_minor: string;
  state: PayoutState;
  approved_at: Date;
  approved_by: string[];
  payment_terms_days: number;
  due_date: string;
  payment_reference: string | null;
  sent_at: Date | null;
  sent_by: string | null;
  confirmed_at: Date | null;
  confirmed_by: string | null;
  failed_at: Date | null;
  failed_by: string | null;
  failure_reason: string | null;
  paid_minor: string | null;
  settled_source: PayoutRow['settledSource'];
  bank_statement_id: string | null;
  bank_line_ref: string | null;
  today: string;
}
const payoutOf = (r: PayoutDbRow): PayoutRow => ({
  cycleId: r.cycle_id,
  partnerId: r.partner_id,
  currency: r.currency,
  currencyScale: r.currency_scale,
  netMinor: BigInt(r.net_minor),
  amountMinor: BigInt(r.amount_minor),
  heldMinor: BigInt(r.held_minor),
  state: r.state,
  approvedAt: r.approved_at,
  approvedBy: r.approved_by,
  paymentTermsDays: r.payment_terms_days,
  dueDate: r.due_date,
  paymentReference: r.payment_reference,
  sentAt: r.sent_at,
  sentBy: r.sent_by,
  confirmedAt: r.confirmed_at,
  confirmedBy: r.confirmed_by,
  failedAt: r.failed_at,
  failedBy: r.failed_by,
  failureReason: r.failure_reason,
  paidMinor: r.paid_minor === null ? null : BigInt(r.paid_minor),
  settledSource: r.settled_source,
  bankStatementId: r.bank_statement_id,
  bankLineRef: r.bank_line_ref,
  today: r.today,
});

/**
 * Records the cycle's payout as approved, once (a repeat changes nothing): due `paymentTermsDays`
 * after the partner's business day of approval.
 */
export async function insertPayout(
  db: Queryable,
  p: {
    cycleId: string;
    partnerId: string;
    currency: string;
    currencyScale: number;
    netMinor: bigint;
    amountMinor: bigint;
    heldMinor: bigint;
    approvedBy: string[];
    paymentTermsDays: number;
  },
): Promise<{ inserted: boolean }> {
  const { rowCount } = await db.query(
    `INSERT INTO payouts (cycle_id, partner_id, currency, currency_scale, net_minor, amount_minor, held_minor, state,
                          approved_at, approved_by, payment_terms_days, due_date)
     SELECT $1, $2, $3, $4, $5, $6, $7, 'approved', now(), $8::jsonb, $9,
            (now() AT TIME ZONE pa.timezone)::date + $9::int
       FROM partners pa WHERE pa.id = $2
     ON CONFLICT (cycle_id) DO NOTHING`,
    [
      p.cycleId,
      p.partnerId,
      p.currency,
      p.currencyScale,
      p.netMinor.toString(),
      p.amountMinor.toString(),
      p.heldMinor.toString(),
      JSON.stringify(p.approvedBy),
      p.paymentTermsDays,
    ],
  );
  return { inserted: rowCount === 1 };
}

export async function payoutOfCycle(
  db: Queryable,
  cycleId: string,
  opts: { forUpdate?: boolean } = {},
): Promise<PayoutRow | null> {
  const { rows } = await db.query<PayoutDbRow>(
    `SELECT ${PAYOUT_COLUMNS} FROM payouts p JOIN partners pa ON pa.id = p.partner_id
      WHERE p.cycle_id = $1${opts.forUpdate ? ' FOR UPDATE OF p' : ''}`,
    [cycleId],
  );
  return rows[0] ? payoutOf(rows[0]) : null;
}

export async function payoutByReference(
  db: Queryable,
  reference: string,
  opts: { forUpdate?: boolean } = {},
): Promise<PayoutRow | null> {
  const { rows } = await db.query<PayoutDbRow>(
    `SELECT ${PAYOUT_COLUMNS} FROM payouts p JOIN partners pa ON pa.id = p.partner_id
      WHERE p.payment_reference = $1${opts.forUpdate ? ' FOR UPDATE OF p' : ''}`,
    [reference],
  );
  return rows[0] ? payoutOf(rows[0]) : null;
}

/** Payouts, newest approval first; `overdue` keeps those approved or sent past their due date. */
export async function listPayouts(
  db: Queryable,
  f: {
    partnerId?: string;
    state?: PayoutState;
    overdue?: boolean;
    limit: number;
    before?: { approvedAt: string; cycleId: string };
  },
): Promise<PayoutRow[]> {
  const { rows } = await db.query<PayoutDbRow>(
    `SELECT ${PAYOUT_COLUMNS} FROM payouts p JOIN partners pa ON pa.id = p.partner_id
      WHERE ($1::text IS NULL OR p.partner_id = $1)
        AND ($2::text IS NULL OR p.state = $2)
        AND (NOT $3::boolean OR (p.state IN ('approved', 'sent') AND p.due_date < (now() AT TIME ZONE pa.timezone)::date))
        AND ($4::timestamptz IS NULL OR (p.approved_at, p.cycle_id) < ($4::timestamptz, $5::text))
      ORDER BY p.approved_at DESC, p.cycle_id DESC
      LIMIT $6`,
    [
      f.partnerId ?? null,
      f.state ?? null,
      f.overdue ?? false,
      f.before?.approvedAt ?? null,
      f.before?.cycleId ?? null,
      f.limit,
    ],
  );
  return rows.map(payoutOf);
}

export async function markPayoutSent(
  db: Queryable,
  cycleId: string,
  s: { paymentReference: string; by: string },
): Promise<void> {
  await db.query(
    `UPDATE payouts SET state = 'sent', payment_reference = $2, sent_at = now(), sent_by = $3, updated_at = now()
      WHERE cycle_id = $1 AND state = 'approved'`,
    [cycleId, s.paymentReference, s.by],
  );
}

/** Confirmed, partly paid or failed: the outcome, once, from `sent`. */
export async function settlePayout(
  db: Queryable,
  cycleId: string,
  s: {
    state: 'confirmed' | 'partly_paid' | 'failed';
    paidMinor: bigint;
    by: string;
    source: 'operator' | 'bank_statement';
    reason?: string;
    bankStatementId?: string;
    bankLineRef?: string;
  },
): Promise<void> {
  const failed = s.state === 'failed';
  await db.query(
    `UPDATE payouts SET state = $2,
            confirmed_at = CASE WHEN $3 THEN NULL ELSE now() END,
            confirmed_by = CASE WHEN $3 THEN NULL ELSE $5 END,
            paid_minor = CASE WHEN $3 THEN NULL ELSE $4::bigint END,
            failed_at = CASE WHEN $3 THEN now() END,
            failed_by = CASE WHEN $3 THEN $5 END,
            failure_reason = CASE WHEN $3 THEN $6 END,
            settled_source = $7, bank_statement_id = $8, bank_line_ref = $9, updated_at = now()
      WHERE cycle_id = $1 AND state = 'sent'`,
    [
      cycleId,
      s.state,
      failed,
      s.paidMinor.toString(),
      s.by,
      s.reason ?? null,
      s.source,
      s.bankStatementId ?? null,
      s.bankLineRef ?? null,
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// Bank statements.

export interface BankStatementRow {
  id: string;
  account: string | null;
  createdAt: Date | null;
  fromDate: string | null;
  toDate: string | null;
  digest: string;
  importedAt: Date;
  importedBy: string;
}

/** Records a statement once; returns whether this call inserted it. */
export async function insertBankStatement(
  db: Queryable,
  s: Omit<BankStatementRow, 'importedAt' | 'createdAt'> & { createdAt: string | null },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO bank_statements (id, account, created_at, from_date, to_date, digest, imported_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
    [s.id, s.account, s.createdAt, s.fromDate, s.toDate, s.digest, s.importedBy],
  );
  return rowCount === 1;
}

export interface BankLineRow {
  statementId: string;
  lineRef: string;
  ord: number;
  creditDebit: 'CRDT' | 'DBIT';
  amount: string;
  amountMinor: bigint | null;
  currency: string;
  bookingDate: string | null;
  reference: string | null;
  outcome: BankLineOutcome;
  payoutCycleId: string | null;
  differenceMinor: bigint | null;
  reason: string;
}

/** Which of these line refs the statement already holds (they are not reconciled again). */
export async function importedLineRefs(db: Queryable, statementId: string): Promise<Set<string>> {
  const { rows } = await db.query<{ line_ref: string }>(
    'SELECT line_ref FROM bank_statement_lines WHERE statement_id = $1',
    [statementId],
  );
  return new Set(rows.map((r) => r.line_ref));
}

export async function insertBankLine(db: Queryable, l: BankLineRow): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO bank_statement_lines (statement_id, line_ref, ord, credit_debit, amount, amount_minor, currency,
                                       booking_date, reference, outcome, payout_cycle_id, difference_minor, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (statement_id, line_ref) DO NOTHING`,
    [
      l.statementId,
      l.lineRef,
      l.ord,
      l.creditDebit,
      l.amount,
      l.amountMinor?.toString() ?? null,
      l.currency,
      l.bookingDate,
      l.reference,
      l.outcome,
      l.payoutCycleId,
      l.differenceMinor?.toString() ?? null,
      l.reason,
    ],
  );
  return rowCount === 1;
}

export async function bankStatementOf(
  db: Queryable,
  id: string,
): Promise<{ statement: BankStatementRow; lines: BankLineRow[] } | null> {
  const { rows } = await db.query<{
    id: string;
    account: string | null;
    created_at: Date | null;
    from_date: string | null;
    to_date: string | null;
    digest: string;
    imported_at: Date;
    imported_by: string;
  }>(
    `SELECT id, account, created_at, to_char(from_date, 'YYYY-MM-DD') AS from_date,
            to_char(to_date, 'YYYY-MM-DD') AS to_date, digest, imported_at, imported_by
       FROM bank_statements WHERE id = $1`,
    [id],
  );
  const s = rows[0];
  if (!s) return null;
  const lines = await db.query<{
    statement_id: string;
    line_ref: string;
    ord: number;
    credit_debit: 'CRDT' | 'DBIT';
    amount: string;
    amount_minor: string | null;
    currency: string;
    booking_date: string | null;
    reference: string | null;
    outcome: BankLineOutcome;
    payout_cycle_id: string | null;
    difference_minor: string | null;
    reason: string;
  }>(
    `SELECT statement_id, line_ref, ord, credit_debit, amount, amount_minor::text, currency,
            to_char(booking_date, 'YYYY-MM-DD') AS booking_date, reference, outcome, payout_cycle_id,
            difference_minor::text, reason
       FROM bank_statement_lines WHERE statement_id = $1 ORDER BY ord, line_ref`,
    [id],
  );
  return {
    statement: {
      id: s.id,
      account: s.account,
      createdAt: s.created_at,
      fromDate: s.from_date,
      toDate: s.to_date,
      digest: s.digest,
      importedAt: s.imported_at,
      importedBy: s.imported_by,
    },
    lines: lines.rows.map((l) => ({
      statementId: l.statement_id,
      lineRef: l.line_ref,
      ord: l.ord,
      creditDebit: l.credit_debit,
      amount: l.amount,
      amountMinor: l.amount_minor === null ? null : BigInt(l.amount_minor),
      currency: l.currency,
      bookingDate: l.booking_date,
      reference: l.reference,
      outcome: l.outcome,
      payoutCycleId: l.payout_cycle_id,
      differenceMinor: l.difference_minor === null ? null : BigInt(l.difference_minor),
      reason: l.reason,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// The payout's steps, each in the caller's transaction (db/retry.ts withTransaction): the row's
// state, the step's journal (stored, then posted: idempotent per `<cycleId>:payout-<step>`) and
// the payable carry a remainder or an overpayment leaves, together or not at all. Each step
// is dated the partner's business day it happens on, never back into the statement's period.

/** Who did a step: the verified caller (an operator's actor key, or an importer of a bank statement). */
export interface StepActor {
  by: string;
}

const payoutRef = (p: PayoutRow): PayoutRef => ({
  cycleId: p.cycleId,
  partnerId: p.partnerId,
  currency: p.currency,
  amountMinor: p.amountMinor,
  paymentReference: p.paymentReference!,
});

async function postStep(client: Queryable, journal: Journal): Promise<void> {
  await storeJournal(client, journal);
  await postJournal(client, journal.id);
}

/**
 * approved → sent, with the payment reference the bank will carry back (EndToEndId). The same
 * reference again is a no-op; another reference, or a payout not `approved`, a 409; a reference
 * another payout holds, a 409 naming it.
 */
export async function payoutSent(
  client: Queryable,
  cycleId: string,
  s: StepActor & { paymentReference: string },
): Promise<{ payout: PayoutRow; changed: boolean }> {
  const p = await payoutOfCycle(client, cycleId, { forUpdate: true });
  if (!p) throw new NotFoundError(`no payout for ${cycleId}`);
  if (p.state !== 'approved') {
    if (p.paymentReference === s.paymentReference) return { payout: p, changed: false };
    throw new ConflictError(
      `the payout of ${cycleId} is ${p.state} already, under reference ${p.paymentReference}`,
      [{ path: 'paymentReference', message: `the payout was sent as ${p.paymentReference}` }],
    );
  }
  const other = await payoutByReference(client, s.paymentReference);
  if (other)
    throw new ConflictError(`payment reference ${s.paymentReference} names the payout of ${other.cycleId}`, [
      { path: 'paymentReference', message: 'already used by another payout' },
    ]);
  const day = await businessDayNow(client, p.partnerId);
  await postStep(
    client,
    payoutSentJournal({ ...payoutRef(p), paymentReference: s.paymentReference }, day, { sentBy: s.by }),
  );
  await markPayoutSent(client, cycleId, s);
  return { payout: (await payoutOfCycle(client, cycleId))!, changed: true };
}

const CARRY_KIND = {
  failed: 'payout_failed',
  partly_paid: 'payout_partly_paid',
  confirmed: 'overpaid',
} as const;

/** The outcome of a sent payout (confirmed, partly paid, overpaid, failed): journal, state and carry. */
async function settleSent(
  client: Queryable,
  p: PayoutRow,
  outcome: PaymentOutcome,
  s: StepActor & {
    source: 'operator' | 'bank_statement';
    reason?: string;
    bank?: { statementId: string; lineRef: string; bookingDate: string | null };
  },
): Promise<void> {
  const day = await businessDayNow(client, p.partnerId);
  await postStep(
    client,
    payoutOutcomeJournal(payoutRef(p), outcome, day, {
      source: s.source,
      by: s.by,
      ...(s.bank
        ? {
            bankStatementId: s.bank.statementId,
            bankLineRef: s.bank.lineRef,
            bookingDate: s.bank.bookingDate,
          }
        : {}),
    }),
  );
  await settlePayout(client, p.cycleId, {
    state: outcome.state,
    paidMinor: outcome.paidMinor,
    by: s.by,
    source: s.source,
    ...(s.reason === undefined ? {} : { reason: s.reason }),
    ...(s.bank ? { bankStatementId: s.bank.statementId, bankLineRef: s.bank.lineRef } : {}),
  });
  const carry = carryOf(outcome);
  if (carry !== 0n) {
    const fmt = (m: bigint) => `${formatAmount(m, p.currencyScale)} ${p.currency}`;
    await recordPayableCarry(client, {
      id: `payout:${p.cycleId}`,
      partnerId: p.partnerId,
      currency: p.currency,
      amountMinor: carry,
      sourceKind: CARRY_KIND[outcome.state],
      sourceRef: p.cycleId,
      note:
        outcome.state === 'failed'
          ? `payout ${p.paymentReference} of ${fmt(p.amountMinor)} failed: ${s.reason ?? 'returned'}`
          : outcome.state === 'partly_paid'
            ? `payout ${p.paymentReference}: paid ${fmt(outcome.paidMinor)} of ${fmt(p.amountMinor)}, the rest brought forward`
            : `payout ${p.paymentReference}: paid ${fmt(outcome.paidMinor)} for ${fmt(p.amountMinor)}, the excess owed back`,
    });
  }
}

/**
 * An operator's confirmation of a sent payout: of its amount, or of `paidMinor` (less: partly
 * paid; more: confirmed with an overpayment). The same confirmation again is a no-op.
 */
export async function payoutConfirmed(
  client: Queryable,
  cycleId: string,
  s: StepActor & { paidMinor?: bigint },
): Promise<{ payout: PayoutRow; changed: boolean }> {
  const p = await payoutOfCycle(client, cycleId, { forUpdate: true });
  if (!p) throw new NotFoundError(`no payout for ${cycleId}`);
  const paid = s.paidMinor ?? p.amountMinor;
  if ((p.state === 'confirmed' || p.state === 'partly_paid') && p.paidMinor === paid)
    return { payout: p, changed: false };
  if (p.state !== 'sent')
    throw new ConflictError(
      p.state === 'approved'
        ? `the payout of ${cycleId} was not sent: record it sent with its payment reference first`
        : `the payout of ${cycleId} is ${p.state} already${p.paidMinor === null ? '' : ` (paid ${formatAmount(p.paidMinor, p.currencyScale)})`}`,
      [{ path: 'params.cycleId', message: `payout is ${p.state}` }],
    );
  if (paid <= 0n)
    throw new ValidationError('a confirmation pays something: use /failed for a payout that did not arrive', [
      { path: 'amount', message: 'must be more than zero' },
    ]);
  await settleSent(client, p, paymentOutcome(p.amountMinor, paid), { ...s, source: 'operator' });
  return { payout: (await payoutOfCycle(client, cycleId))!, changed: true };
}

/** A sent payout that did not arrive (returned, rejected): back to fees payable, carried to the next statement. */
export async function payoutFailed(
  client: Queryable,
  cycleId: string,
  s: StepActor & { reason: string },
): Promise<{ payout: PayoutRow; changed: boolean }> {
  const p = await payoutOfCycle(client, cycleId, { forUpdate: true });
  if (!p) throw new NotFoundError(`no payout for ${cycleId}`);
  if (p.state === 'failed') return { payout: p, changed: false };
  if (p.state !== 'sent')
    throw new ConflictError(
      p.state === 'approved'
        ? `the payout of ${cycleId} was not sent: nothing left the bank to fail`
        : `the payout of ${cycleId} is ${p.state} already`,
      [{ path: 'params.cycleId', message: `payout is ${p.state}` }],
    );
  await settleSent(client, p, paymentOutcome(p.amountMinor, 0n), { ...s, source: 'operator' });
  return { payout: (await payoutOfCycle(client, cycleId))!, changed: true };
}

/** Open disputes of a cycle (db/disputes.ts's states): its statement reads `disputed` while any is. */
export async function openDisputeCount(db: Queryable, cycleId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM disputes WHERE cycle_id = $1 AND state IN ('open', 'waiting_for_evidence')`,
    [cycleId],
  );
  return rows[0]?.n ?? 0;
}

/** What one import did, per statement of the document. */
export interface BankImportResult {
  statementId: string;
  /** False when the statement was imported before (only lines it did not hold are new). */
  created: boolean;
  newLines: number;
  /** Entries not booked (PDNG, INFO): not reconciled, not recorded; a later statement books them. */
  notBooked: number;
}

/**
 * Imports a parsed camt.053 document: each statement once by its Id, each booked line once by
 * its reference within it, reconciled against the payouts by payment reference and amount
 * (domain/payouts.ts reconcileBankLine). A line already imported is not looked at again: the
 * same statement imported twice changes nothing.
 */
export async function importBankStatements(
  client: Queryable,
  statements: Camt053Statement[],
  s: StepActor & { digest: string; scaleOf: (currency: string) => number | undefined },
): Promise<BankImportResult[]> {
  const out: BankImportResult[] = [];
  for (const st of statements) {
    const created = await insertBankStatement(client, {
      id: st.id,
      account: st.account,
      createdAt: st.createdAt,
      fromDate: st.fromDate,
      toDate: st.toDate,
      digest: s.digest,
      importedBy: s.by,
    });
    const held = await importedLineRefs(client, st.id);
    let newLines = 0;
    let notBooked = 0;
    for (const l of st.lines) {
      if (held.has(l.lineRef)) continue;
      if (l.status !== null && l.status !== 'BOOK') {
        notBooked++;
        continue;
      }
      const scale = s.scaleOf(l.currency);
      const amountMinor = scale === undefined ? null : bankAmount(l.amount, scale, st.id, l.lineRef);
      const payout = l.reference ? await payoutByReference(client, l.reference, { forUpdate: true }) : null;
      const fmt = (m: bigint) => `${formatAmount(m, scale ?? 0)} ${l.currency}`;
      const r = reconcileBankLine(
        { creditDebit: l.creditDebit, currency: l.currency, amountMinor, reference: l.reference },
        payout,
        fmt,
      );
      await insertBankLine(client, {
        statementId: st.id,
        lineRef: l.lineRef,
        ord: l.ord,
        creditDebit: l.creditDebit,
        amount: l.amount,
        amountMinor,
        currency: l.currency,
        bookingDate: l.bookingDate,
        reference: l.reference,
        outcome: r.outcome,
        payoutCycleId: payout && r.outcome !== 'currency_mismatch' ? payout.cycleId : null,
        differenceMinor: r.differenceMinor,
        reason: r.reason,
      });
      newLines++;
      if (r.payment && payout)
        await settleSent(client, payout, r.payment, {
          by: s.by,
          source: 'bank_statement',
          bank: { statementId: st.id, lineRef: l.lineRef, bookingDate: l.bookingDate },
        });
    }
    out.push({ statementId: st.id, created, newLines, notBooked });
  }
  return out;
}

/** A bank's amount in minor units; trailing zeros past the currency's decimals are the same amount. */
function bankAmount(amount: string, scale: number, statementId: string, lineRef: string): bigint {
  const trimmed = amount.includes('.') ? amount.replace(/0+$/, '').replace(/\.$/, '') : amount;
  const parsed = parseAmount(trimmed, scale);
  if (!parsed.ok)
    throw new ValidationError(
      `camt.053 statement ${statementId} line ${lineRef}: amount ${amount} ${parsed.message}`,
      [{ path: `Stmt[${statementId}].Ntry[${lineRef}].Amt`, message: parsed.message }],
    );
  return parsed.minor;
}
