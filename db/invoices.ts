import type pg from 'pg';
import type { Db } from './pool';
import { periodState } from './periods';
import { contractInForce } from './settlement';
import { recordFoundLater, resolveInBook, type BatchResult } from './exception-book';
import type { AuditEvent } from './audit';
import { ConflictError, DataError, NotFoundError } from '../domain/errors';
import { invoiceDigest, invoiceLineTotals, ourLineTotals, type InvoiceContent } from '../domain/invoices';
import { formatAmount, type CurrencyRegistry } from '../domain/money';
import { feeVariance, type FeeVariance } from '../domain/reconciliation';
// feeVariance reports the threshold of the lines it names; a stored comparison shows every line's.
import { thresholdMinor as thresholdOf, type RuleTolerance } from '../domain/rules';
import { statementLineKeys, type Statement, type StatementLineKey } from '../domain/statement';

// Partner invoices (domain/invoices.ts) and their comparison with our statements: the invoices
// themselves, the statements of a period (each cycle's latest version), the month's state, and
// the comparison that records each differing line as a fee_variance exception in the exception
// book of the period's last cycle (db/exception-book.ts recordFoundLater), where the queue,
// its SLA tiers, assignment and history already are.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The actor the book records on the `found` events of a comparison. */
export const INVOICE_COMPARISON_ACTOR = 'invoice-comparison';

export interface StoredInvoice extends InvoiceContent {
  id: string;
  partnerId: string;
  digest: string;
  submittedBy: string;
  submittedByRole: string;
  submittedAt: string;
}

interface InvoiceRow {
  id: string;
  partner_id: string;
  reference: string;
  period_start: string;
  period_end: string;
  currency: string;
  lines: { line: StatementLineKey; amountMinor: string }[];
  digest: string;
  submitted_by: string;
  submitted_by_role: string;
  submitted_at: Date;
}

const COLUMNS = `id, partner_id, reference, period_start::text, period_end::text, currency, lines, digest,
  submitted_by, submitted_by_role, submitted_at`;

const fromRow = (r: InvoiceRow): StoredInvoice => ({
  id: r.id,
  partnerId: r.partner_id,
  reference: r.reference,
  periodStart: r.period_start,
  periodEnd: r.period_end,
  currency: r.currency,
  lines: r.lines.map((l) => ({ line: l.line, amountMinor: BigInt(l.amountMinor) })),
  digest: r.digest,
  submittedBy: r.submitted_by,
  submittedByRole: r.submitted_by_role,
  submittedAt: r.submitted_at.toISOString(),
});

/**
 * Stores an invoice once per (partner, reference): the same content again answers the stored
 * invoice (`created` false); other content under the same reference is a ConflictError naming
 * the reference. One statement: nothing is partly written.
 */
export async function submitInvoice(
  db: Queryable,
  id: string,
  partnerId: string,
  c: InvoiceContent,
  by: { actor: string; role: string },
): Promise<{ invoice: StoredInvoice; created: boolean }> {
  const digest = invoiceDigest(c);
  const inserted = await db.query<InvoiceRow>(
    `INSERT INTO partner_invoices (id, partner_id, reference, period_start, period_end, currency, lines, digest,
                                   submitted_by, submitted_by_role)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT DO NOTHING
     RETURNING ${COLUMNS}`,
    [
      id,
      partnerId,
      c.reference,
      c.periodStart,
      c.periodEnd,
      c.currency,
      JSON.stringify(c.lines.map((l) => ({ line: l.line, amountMinor: l.amountMinor.toString() }))),
      digest,
      by.actor,
      by.role,
    ],
  );
  if (inserted.rows[0]) return { invoice: fromRow(inserted.rows[0]), created: true };
  const existing = await getInvoice(db, partnerId, id);
  if (!existing || existing.reference !== c.reference)
    // The id is a digest of (partner, reference): another row under it would be a collision.
    throw new DataError(`invoice id ${id} of ${partnerId} is taken by another reference`);
  if (existing.digest !== digest)
    throw new ConflictError(
      `invoice ${c.reference} of ${partnerId} was submitted with other content (period, currency or lines): a corrected invoice needs its own reference`,
      [{ path: 'reference', message: `already used by invoice ${existing.id} with other content` }],
    );
  return { invoice: existing, created: false };
}

export async function getInvoice(
  db: Queryable,
  partnerId: string,
  id: string,
): Promise<StoredInvoice | null> {
  const { rows } = await db.query<InvoiceRow>(
    `SELECT ${COLUMNS} FROM partner_invoices WHERE partner_id = $1 AND id = $2`,
    [partnerId, id],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

async function invoiceById(db: Queryable, id: string): Promise<StoredInvoice | null> {
  const { rows } = await db.query<InvoiceRow>(`SELECT ${COLUMNS} FROM partner_invoices WHERE id = $1`, [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** A partner's invoices, the latest period first (then by id), `limit` after the cursor. */
export async function listInvoices(
  db: Queryable,
  partnerId: string,
  pageOf: { limit: number; after: { periodEnd: string; id: string } | null },
): Promise<StoredInvoice[]> {
  const { rows } = await db.query<InvoiceRow>(
    `SELECT ${COLUMNS} FROM partner_invoices
      WHERE partner_id = $1 AND ($2::date IS NULL OR (period_end, id) < ($2::date, $3))
      ORDER BY period_end DESC, id DESC LIMIT $4`,
    [partnerId, pageOf.after?.periodEnd ?? null, pageOf.after?.id ?? null, pageOf.limit],
  );
  return rows.map(fromRow);
}

/** The ids of a partner's invoices whose period ends in `month` (YYYY-MM): the month's to compare. */
export async function invoicesEndingIn(db: Queryable, partnerId: string, month: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM partner_invoices
      WHERE partner_id = $1 AND period_end >= to_date($2 || '-01', 'YYYY-MM-DD')
        AND period_end < to_date($2 || '-01', 'YYYY-MM-DD') + interval '1 month'
      ORDER BY id`,
    [partnerId, month],
  );
  return rows.map((r) => r.id);
}

/** The state of a partner's month (db/periods.ts periodState: a month without a row is open). */
export async function monthState(db: Queryable, partnerId: string, month: string): Promise<string> {
  return (await periodState(db, partnerId, month)).state;
}

/** Whether a cycle of the partner settles exactly this period and its statement exists (fees computed). */
export async function cycleStatementExists(
  db: Queryable,
  partnerId: string,
  periodStart: string,
  periodEnd: string,
): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM settlement_cycles c JOIN settlement_accruals a ON a.cycle_id = c.id
      WHERE c.partner_id = $1 AND c.period_start = $2 AND c.period_end = $3`,
    [partnerId, periodStart, periodEnd],
  );
  return rows.length > 0;
}

export interface PeriodStatement {
  cycleId: string;
  periodStart: string;
  periodEnd: string;
  version: number;
  statement: Statement;
  /** The fee adjustments of restatements this version carries (statement_versions.adjustments). */
  adjustments: { line: string; amountMinor: string }[];
}

/**
 * The statements of the cycles whose period ends inside [start, end] (a cycle belongs to where
 * its period ends) in `currency`, each at its latest version (statement_versions; a cycle whose
 * fee step has not stored version 1 there reads its accrual's statement as version 1), in period
 * order.
 */
export async function statementsInPeriod(
  db: Queryable,
  partnerId: string,
  currency: string,
  start: string,
  end: string,
): Promise<PeriodStatement[]> {
  const { rows } = await db.query<{
    id: string;
    period_start: string;
    period_end: string;
    version: number | null;
    text: string;
    adjustments: { line: string; amountMinor: string }[] | null;
  }>(
    `SELECT c.id, c.period_start::text, c.period_end::text, v.version, v.statement_text AS text, v.adjustments
       FROM settlement_cycles c
       JOIN settlement_accruals a ON a.cycle_id = c.id
       JOIN LATERAL (SELECT version, statement_text, adjustments FROM statement_versions s
                      WHERE s.cycle_id = c.id ORDER BY version DESC LIMIT 1) v ON true
      WHERE c.partner_id = $1 AND a.currency = $2 AND c.period_end BETWEEN $3 AND $4
      ORDER BY c.period_end, c.id`,
    [partnerId, currency, start, end],
  );
  return rows.map((r) => ({
    cycleId: r.id,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    version: r.version ?? 1,
    statement: JSON.parse(r.text) as Statement,
    adjustments: r.adjustments ?? [],
  }));
}

export interface ComparedLine {
  line: StatementLineKey;
  oursMinor: string;
  theirsMinor: string;
  differenceMinor: string;
  thresholdMinor: string;
  exceptionId: string | null;
}

export interface Comparison {
  invoiceId: string;
  trigger: 'cycle' | 'period_close';
  contractVersion: number;
  tolerance: RuleTolerance;
  statements: { cycleId: string; version: number }[];
  bookCycleId: string;
  lines: ComparedLine[];
  variances: number;
  comparedAt: string;
}

/** What one comparison did: null when no statement of the period exists yet (nothing compared). */
export interface ComparisonOutcome {
  comparison: Comparison;
  found: FeeVariance[];
  /** The exceptions this run added to the book (none when a comparison before it had). */
  added: string[];
}

/**
 * Compares an invoice with the statements of its period, line by line (domain/reconciliation.ts
 * feeVariance), under the contract version in force at the invoice period's start: each line
 * beyond the tolerance becomes a fee_variance exception in the book of the period's last cycle
 * (once: the same id is never recorded twice), and the comparison is stored. Null when the
 * period has no statement yet.
 */
export async function compareInvoice(
  db: Db,
  currencies: CurrencyRegistry,
  id: string,
  trigger: Comparison['trigger'],
): Promise<ComparisonOutcome | null> {
  const invoice = await invoiceById(db, id);
  if (!invoice) throw new NotFoundError(`no invoice ${id}`);
  const statements = await statementsInPeriod(
    db,
    invoice.partnerId,
    invoice.currency,
    invoice.periodStart,
    invoice.periodEnd,
  );
  if (statements.length === 0) return null;
  const contract = await contractInForce(db, invoice.partnerId, invoice.periodStart);
  if (!contract)
    throw new DataError(`no approved contract of ${invoice.partnerId} in force on ${invoice.periodStart}`);
  const tolerance = contract.terms.invoices.tolerance;
  const scale = currencies.requireScale(invoice.currency);
  const ours = ourLineTotals(statements, scale);
  const theirs = invoiceLineTotals(invoice);
  const found = feeVariance({ invoiceId: id, currency: invoice.currency, scale, ours, theirs, tolerance });
  const bookCycleId = statements.at(-1)!.cycleId;
  const added = await recordFoundLater(
    db,
    bookCycleId,
    found.map((v) => ({
      id: v.id,
      kind: v.kind,
      currency: v.currency,
      oursMinor: v.oursMinor,
      theirsMinor: v.theirsMinor,
      differenceMinor: v.differenceMinor,
      detail: `${v.detail}; resolve with POST /v1/partners/${invoice.partnerId}/invoices/${id}/variances/${v.line}/resolution`,
    })),
    INVOICE_COMPARISON_ACTOR,
  );
  const byLine = new Map(found.map((v) => [v.line, v]));
  const lines: ComparedLine[] = statementLineKeys
    .filter((k) => ours[k] !== 0n || theirs[k] !== undefined)
    .map((k) => {
      const o = ours[k];
      const t = theirs[k] ?? 0n;
      const v = byLine.get(k);
      return {
        line: k,
        oursMinor: o.toString(),
        theirsMinor: t.toString(),
        differenceMinor: (t - o).toString(),
        thresholdMinor: (v?.thresholdMinor ?? thresholdOf(tolerance, o, t)).toString(),
        exceptionId: v?.id ?? null,
      };
    });
  const { rows } = await db.query<{ compared_at: Date }>(
    `INSERT INTO invoice_comparisons (invoice_id, trigger, contract_version, tolerance, statements, book_cycle_id, lines, variances)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (invoice_id) DO UPDATE SET trigger = EXCLUDED.trigger, contract_version = EXCLUDED.contract_version,
       tolerance = EXCLUDED.tolerance, statements = EXCLUDED.statements, book_cycle_id = EXCLUDED.book_cycle_id,
       lines = EXCLUDED.lines, variances = EXCLUDED.variances, compared_at = now()
     RETURNING compared_at`,
    [
      id,
      trigger,
      contract.version,
      JSON.stringify(tolerance),
      JSON.stringify(statements.map((s) => ({ cycleId: s.cycleId, version: s.version }))),
      bookCycleId,
      JSON.stringify(lines),
      found.length,
    ],
  );
  return {
    comparison: {
      invoiceId: id,
      trigger,
      contractVersion: contract.version,
      tolerance,
      statements: statements.map((s) => ({ cycleId: s.cycleId, version: s.version })),
      bookCycleId,
      lines,
      variances: found.length,
      comparedAt: rows[0]!.compared_at.toISOString(),
    },
    found,
    added,
  };
}

export interface VarianceView {
  exceptionId: string;
  line: StatementLineKey;
  settlementId: string;
  oursMinor: string;
  theirsMinor: string;
  differenceMinor: string;
  detail: string;
  resolution: string | null;
  amountMinor: string | null;
  reason: string | null;
  resolvedAt: string | null;
}

/** An invoice's latest comparison with the state of each of its exceptions in the book; null if never compared. */
export async function comparisonOf(
  db: Queryable,
  id: string,
): Promise<(Comparison & { exceptions: VarianceView[] }) | null> {
  const { rows } = await db.query<{
    trigger: Comparison['trigger'];
    contract_version: number;
    tolerance: RuleTolerance;
    statements: Comparison['statements'];
    book_cycle_id: string;
    lines: ComparedLine[];
    variances: number;
    compared_at: Date;
  }>(
    `SELECT trigger, contract_version, tolerance, statements, book_cycle_id, lines, variances, compared_at
       FROM invoice_comparisons WHERE invoice_id = $1`,
    [id],
  );
  const r = rows[0];
  if (!r) return null;
  const { rows: ex } = await db.query<{
    exception_id: string;
    ours_minor: string | null;
    theirs_minor: string | null;
    difference_minor: string;
    detail: string;
    resolution: string | null;
    amount: string | null;
    reason: string | null;
    resolved_at: Date | null;
  }>(
    `SELECT e.exception_id, e.ours_minor::text, e.theirs_minor::text, e.difference_minor::text, e.detail,
            e.resolution, e.resolution_amount_minor::text AS amount, e.reason, e.resolved_at
       FROM settlement_exceptions e JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
      WHERE e.cycle_id = $1 AND e.kind = 'fee_variance' AND e.exception_id LIKE $2
      ORDER BY e.exception_id`,
    [r.book_cycle_id, `fee_variance:${id}:%`],
  );
  return {
    invoiceId: id,
    trigger: r.trigger,
    contractVersion: r.contract_version,
    tolerance: r.tolerance,
    statements: r.statements,
    bookCycleId: r.book_cycle_id,
    lines: r.lines,
    variances: r.variances,
    comparedAt: r.compared_at.toISOString(),
    exceptions: ex.map((e) => ({
      exceptionId: e.exception_id,
      line: e.exception_id.slice(`fee_variance:${id}:`.length) as StatementLineKey,
      settlementId: r.book_cycle_id,
      oursMinor: e.ours_minor ?? '0',
      theirsMinor: e.theirs_minor ?? '0',
      differenceMinor: e.difference_minor,
      detail: e.detail,
      resolution: e.resolution,
      amountMinor: e.amount,
      reason: e.reason,
      resolvedAt: e.resolved_at?.toISOString() ?? null,
    })),
  };
}

/**
 * Records a person's resolution of one fee_variance in its book (db/exception-book.ts
 * resolveInBook, with the decision's audit event in the same transaction): accept_ours,
 * accept_theirs or adjust (the restatement it requested is the caller's, named in `evidence`).
 * The book refuses one already resolved (naming by whom). Its effect on the cycle's own
 * statement is none: a fee_variance is never an input of the statement it compares.
 */
export async function resolveVariance(
  db: Db,
  v: { settlementId: string; exceptionId: string },
  decision: {
    resolution: 'accept_ours' | 'accept_theirs' | 'adjust';
    amountMinor: bigint | null;
    reason: string;
    /** Why it moves what it moves (the restatement it requested), shown with the exception. */
    evidence: Record<string, unknown> | null;
    actor: string;
    name: string;
    audit: AuditEvent;
  },
): Promise<BatchResult> {
  return resolveInBook(db, v.settlementId, {
    items: [
      {
        exceptionId: v.exceptionId,
        resolution: decision.resolution,
        amountMinor: decision.amountMinor,
        reason: decision.reason,
        ...(decision.evidence ? { evidence: decision.evidence } : {}),
      },
    ],
    actor: decision.actor,
    name: decision.name,
    updateId: null,
    audit: decision.audit,
  });
}

/** Formats a stored comparison's minor amounts in the invoice's currency (the API's view). */
export function formatLine(l: ComparedLine, scale: number) {
  return {
    line: l.line,
    ours: formatAmount(BigInt(l.oursMinor), scale),
    theirs: formatAmount(BigInt(l.theirsMinor), scale),
    difference: formatAmount(BigInt(l.differenceMinor), scale),
    tolerance: formatAmount(BigInt(l.thresholdMinor), scale),
    exceptionId: l.exceptionId,
  };
}
