// A partner's invoice for a period: what it says it charges, per statement line key, in its own
// reference. Pure (no I/O, no clock): the body's schema, its checks naming the field at fault,
// its canonical content (what "the same invoice" means), its deterministic id, and the
// restatement a resolved fee_variance asks for. The comparison itself is feeVariance's
// (domain/reconciliation.ts), the one owner.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ValidationError } from './errors';
import { parseAmount } from './money';
import { statementLineKeys, statementLineTotals, type Statement, type StatementLineKey } from './statement';

/** 1 to 100 printable ASCII characters, no space at either end (the partner's own numbering). */
const REFERENCE = /^[!-~](?:[ -~]{0,98}[!-~])?$/;
const REFERENCE_HINT = "the partner's own reference: 1 to 100 printable characters, no space at either end";
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const isoDate = (what: string) =>
  z
    .string()
    .regex(DATE, `${what}: a date YYYY-MM-DD`)
    .refine((d) => {
      const t = Date.parse(`${d}T00:00:00Z`);
      // A calendar date the ledger can hold (years 1970–9999).
      return Number.isFinite(t) && d >= '1970-01-01' && new Date(t).toISOString().slice(0, 10) === d;
    }, `${what}: not a calendar date from 1970`);

/** The longest invoice period (in days, both ends counted): a quarter. */
export const MAX_INVOICE_DAYS = 92;

export const invoiceBodySchema = z
  .object({
    reference: z.string().regex(REFERENCE, REFERENCE_HINT),
    period: z
      .object({ start: isoDate('period.start'), end: isoDate('period.end') })
      .strict()
      .meta({
        description:
          "The period invoiced, in the partner's business dates: usually a calendar month; may equal one settlement cycle's period",
      }),
    currency: z.string().regex(/^[A-Z][A-Z0-9]{2,9}$/, 'a currency code such as EUR'),
    lines: z
      .array(
        z
          .object({
            line: z.enum(statementLineKeys),
            amount: z
              .string()
              .regex(/^-?\d{1,18}(\.\d{1,18})?$/, 'a decimal amount such as "1234.50" (a credit is negative)')
              .meta({ description: "In the currency's scale; negative for a credit" }),
          })
          .strict(),
      )
      .min(1, 'at least one line')
      .max(statementLineKeys.length, `at most ${statementLineKeys.length} lines, one per line key`),
  })
  .strict()
  .meta({ id: 'PartnerInvoice' });
export type InvoiceBody = z.output<typeof invoiceBodySchema>;

/** An invoice as stored and compared: amounts in minor units, lines in statement line order. */
export interface InvoiceContent {
  reference: string;
  periodStart: string;
  periodEnd: string;
  currency: string;
  lines: { line: StatementLineKey; amountMinor: bigint }[];
}

const daysBetween = (from: string, to: string) =>
  Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;

/**
 * The cross-field rules of a body the schema admitted: the period in order and at most
 * MAX_INVOICE_DAYS long, the partner's settlement currency (its statements' currency), each line
 * key once, each amount in the currency's scale. Throws a ValidationError naming every field at
 * fault (`period.end`, `currency`, `lines[1].line`, `lines[0].amount`).
 */
export function checkInvoice(
  body: InvoiceBody,
  opts: { settlementCurrency: string; scale: number | undefined },
): InvoiceContent {
  const issues: { path: string; message: string }[] = [];
  const { start, end } = body.period;
  if (end < start) issues.push({ path: 'period.end', message: `ends before it starts (${start})` });
  else if (daysBetween(start, end) > MAX_INVOICE_DAYS)
    issues.push({ path: 'period.end', message: `at most ${MAX_INVOICE_DAYS} days after period.start` });
  if (body.currency !== opts.settlementCurrency)
    issues.push({
      path: 'currency',
      message: `the partner's statements are in ${opts.settlementCurrency}, not ${body.currency}`,
    });
  const seen = new Map<string, number>();
  const lines: InvoiceContent['lines'] = [];
  body.lines.forEach((l, i) => {
    const first = seen.get(l.line);
    if (first !== undefined)
      issues.push({
        path: `lines.${i}.line`,
        message: `${l.line} is already lines[${first}]: one amount per line key`,
      });
    else seen.set(l.line, i);
    if (opts.scale === undefined) return;
    const a = parseAmount(l.amount, opts.scale, { allowNegative: true, allowZero: true });
    if (!a.ok) issues.push({ path: `lines.${i}.amount`, message: a.message });
    else lines.push({ line: l.line, amountMinor: a.minor });
  });
  if (issues.length > 0)
    throw new ValidationError(`invalid invoice: ${issues[0]!.path} ${issues[0]!.message}`, issues);
  const order = (k: StatementLineKey) => statementLineKeys.indexOf(k);
  return {
    reference: body.reference,
    periodStart: start,
    periodEnd: end,
    currency: body.currency,
    lines: lines.sort((a, b) => order(a.line) - order(b.line)),
  };
}

/**
 * An invoice's id: the same for the same partner and reference, whatever else it says (so that a
 * resubmission finds it), never the reference itself (any printable text) in a path or an
 * exception id.
 */
export function invoiceId(partnerId: string, reference: string): string {
  return `inv-${createHash('sha256').update(`${partnerId}\u0000${reference}`).digest('hex').slice(0, 24)}`;
}

/** The content that decides "the same invoice": period, currency and lines (not who sent it). */
export function invoiceDigest(c: InvoiceContent): string {
  const canonical = JSON.stringify({
    period: [c.periodStart, c.periodEnd],
    currency: c.currency,
    lines: c.lines.map((l) => [l.line, l.amountMinor.toString()]),
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** The invoice's amounts per line key (what feeVariance compares as theirs). */
export function invoiceLineTotals(
  c: Pick<InvoiceContent, 'lines'>,
): Partial<Record<StatementLineKey, bigint>> {
  return Object.fromEntries(c.lines.map((l) => [l.line, l.amountMinor]));
}

/**
 * Our side of an invoice: the fee lines of the period's statements (each at its latest version)
 * summed per line key. A restatement's fee adjustment is a line `adjustment` on the statement,
 * made for a named line (its `adjustments`, statement_versions): it counts on that line, as the
 * partner's invoice states it (a tier fee corrected by 25.00 is a tier fee 25.00 higher), so that
 * comparing again after an accepted variance or dispute finds the line settled, not moved.
 */
export function ourLineTotals(
  statements: {
    statement: Pick<Statement, 'lines'>;
    adjustments: { line: string; amountMinor: string }[];
  }[],
  scale: number,
): Record<StatementLineKey, bigint> {
  const ours = Object.fromEntries(statementLineKeys.map((k) => [k, 0n])) as Record<StatementLineKey, bigint>;
  for (const s of statements) {
    const totals = statementLineTotals(s.statement, scale);
    for (const k of statementLineKeys) ours[k] += totals[k];
    for (const a of s.adjustments) {
      if (a.line === 'adjustment' || !(statementLineKeys as readonly string[]).includes(a.line)) continue;
      const m = BigInt(a.amountMinor);
      ours[a.line as StatementLineKey] += m;
      ours.adjustment -= m;
    }
  }
  return ours;
}

/** How a person resolves a fee_variance. */
export const varianceResolutions = ['accept_ours', 'accept_theirs', 'adjust'] as const;
export type VarianceResolution = (typeof varianceResolutions)[number];

/**
 * The restatement a resolved fee_variance asks for (services/restatements.ts requestRestatement's
 * `reason`), or null when nothing moves (accept_ours, or an adjustment of 0). The amount is the
 * signed fee change owed to the partner: accept_theirs moves the line by the whole difference
 * (theirs − ours); adjust by the amount the resolver states. Its change key makes starting it
 * twice start it once.
 */
export function varianceRestatement(
  v: { invoiceId: string; line: StatementLineKey; differenceMinor: bigint; detail: string },
  resolution: VarianceResolution,
  amountMinor: bigint | null,
  note: string,
): {
  reason: { kind: 'invoice'; invoiceId: string; line: StatementLineKey; amountMinor: string; note: string };
  changeKey: string;
} | null {
  if (resolution === 'accept_ours') return null;
  const amount = resolution === 'accept_theirs' ? v.differenceMinor : (amountMinor ?? 0n);
  if (amount === 0n) return null;
  return {
    reason: { kind: 'invoice', invoiceId: v.invoiceId, line: v.line, amountMinor: amount.toString(), note },
    changeKey: `fee_variance:${v.invoiceId}:${v.line}:${resolution}:${amount}`,
  };
}
