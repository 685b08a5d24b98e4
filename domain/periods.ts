// Accounting periods (README, "Periods and their close"). A period is a partner's calendar
// month in its own timezone — business dates are already partner-local — open → closing →
// closed. A cycle belongs to the month its period ENDS in (accrualMonth): a weekly period
// straddling a month end belongs to the month it ends in. GGR accrues by business day, so the
// straddling week's first days' GGR is in the earlier month's ledger and its fee in the later
// month's. Pure: no I/O, no clock (the workflow may import it).
import { ValidationError } from './errors';
import { stringify } from 'csv-stringify/sync';
import { formatAmount } from './money';
import { spreadsheetSafe } from './statement';

export const periodStates = ['open', 'closing', 'closed'] as const;
export type PeriodState = (typeof periodStates)[number];

/** YYYY-MM, years 1900 to 2199 (what Postgres dates and the ledger can hold without surprises). */
export const MONTH_PATTERN = /^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])$/;

/** Throws a ValidationError naming `path` when `month` is not `YYYY-MM`. */
export function checkMonth(month: string, path = 'month'): string {
  if (!MONTH_PATTERN.test(month))
    throw new ValidationError(`${path} must be a month YYYY-MM`, [{ path, message: 'a month YYYY-MM' }]);
  return month;
}

/** The month a cycle belongs to: the month its period ends in (domain/contract.ts accrualMonth). */
export function periodMonthOf(periodEnd: string): string {
  return periodEnd.slice(0, 7);
}

const pad = (n: number) => String(n).padStart(2, '0');

/** First and last business day of a month `YYYY-MM`. */
export function monthBounds(month: string): { from: string; to: string } {
  checkMonth(month);
  const [y, m] = month.split('-').map(Number) as [number, number];
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return { from: `${month}-01`, to: `${month}-${pad(last)}` };
}

/** The month after (`1`) or before (`-1`) `month`. */
export function addMonths(month: string, n: number): string {
  const [y, m] = checkMonth(month).split('-').map(Number) as [number, number];
  const d = new Date(Date.UTC(y, m - 1 + n, 1));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`;
}

/** The day after a business date (YYYY-MM-DD). */
export function nextDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

// ---- Close: what blocks it ----------------------------------------------------------------

export interface CycleOfMonth {
  id: string;
  periodStart: string;
  periodEnd: string;
  /** The status the cycle's workflow mirrors to settlement_cycles. */
  status: string;
}

export interface CloseBlocker {
  kind: 'cycle_not_completed' | 'cycle_failed' | 'earlier_month_open';
  /** The cycle id, or the earlier month. */
  ref: string;
  detail: string;
}

/**
 * What stops a partner's month from closing: every cycle of the month (its period ending in it)
 * must be Completed — one still running or failed blocks it — and the months before it with
 * activity must be closed first (months close in order). Cycles of other months are ignored,
 * so a weekly period straddling the month end blocks the month it ends in, not this one.
 */
export function closeBlockers(
  month: string,
  cycles: CycleOfMonth[],
  earlierOpenMonths: string[],
): CloseBlocker[] {
  const blockers: CloseBlocker[] = [];
  for (const m of [...earlierOpenMonths].sort())
    if (m < month)
      blockers.push({
        kind: 'earlier_month_open',
        ref: m,
        detail: `${m} has activity and is not closed: months close in order`,
      });
  for (const c of [...cycles].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    if (periodMonthOf(c.periodEnd) !== month || c.status === 'Completed') continue;
    blockers.push(
      c.status === 'Failed'
        ? {
            kind: 'cycle_failed',
            ref: c.id,
            detail: `${c.periodStart}..${c.periodEnd} failed: start it again and settle it`,
          }
        : {
            kind: 'cycle_not_completed',
            ref: c.id,
            detail: `${c.periodStart}..${c.periodEnd} is ${c.status}, not Completed`,
          },
    );
  }
  return blockers;
}

// ---- The period report --------------------------------------------------------------------

export const movementKinds = ['ggr', 'fees', 'taxes', 'carries', 'adjustments', 'payouts', 'other'] as const;
export type MovementKind = (typeof movementKinds)[number];

/** What the database sums, per account, counterparty and the entries' kind of source. */
export interface MovementGroup {
  accountCode: string;
  counterpartyCode: string;
  currency: string;
  sourceKind: string;
  /** metadata.line of the entries (the statement line they post), if any. */
  line: string | null;
  /** Whether the entries restate (metadata.restates / restatementId). */
  restates: boolean;
  /** Debit-positive sum of postings dated in the month and recorded by the instant. */
  effectiveMinor: bigint;
  /** Debit-positive sum of postings recorded after the month began and by the instant (any date). */
  recordedMinor: bigint;
}

export interface AccountBalances {
  accountCode: string;
  accountKind: string;
  currency: string;
  /** Debit-positive: dated before the month / up to its last day, recorded by the instant. */
  effectiveOpeningMinor: bigint;
  effectiveClosingMinor: bigint;
  /** Debit-positive: recorded by the month's first instant / by the report's instant. */
  recordedOpeningMinor: bigint;
  recordedClosingMinor: bigint;
}

export interface LateEntry {
  entryKey: string;
  /** `redated`: its day was in a closed period, so it is dated in the first open day (metadata lateFor). `after_cycle`: recorded after the cycle of its day froze. */
  kind: 'redated' | 'after_cycle';
  forDay: string;
  effectiveDate: string;
  postedAt: string;
  currency: string;
  ggrMinor: bigint;
  cycleId: string | null;
}

/** The account's name in the chart (domain/accounts.ts): `game_activity`, `gaming_tax_payable:mt`… */
export function accountName(code: string): string {
  const parts = code.split(':');
  const body = parts[0] === 'partner' ? parts.slice(2, -1) : parts.slice(1, -1);
  return body.join(':');
}

const TAX_ACCOUNTS = new Set(['gaming_tax', 'tax_withheld']);
const PAYOUT_ACCOUNTS = new Set(['payouts_clearing', 'payouts_in_transit', 'bank']);
const FEE_ACCOUNTS = new Set(['provider_fees', 'fees_payable']);
const GGR_ACCOUNTS = new Set(['game_activity', 'gaming_revenue']);

/**
 * The kind of a movement, from its entries' source and both accounts (first rule that holds):
 * ingest → ggr; a restatement's delta or a reversal → adjustments; carry accounts or lines →
 * carries; gaming tax and tax withheld → taxes; resolutions and write-offs (adjustment
 * entries) → adjustments; payouts (the payout line, clearing, in transit, bank) → payouts;
 * the fee accounts → fees; game activity ↔ gaming revenue → ggr; anything else → other.
 */
export function movementKind(
  g: Pick<MovementGroup, 'accountCode' | 'counterpartyCode' | 'sourceKind' | 'line' | 'restates'>,
): MovementKind {
  const names = [accountName(g.accountCode), accountName(g.counterpartyCode)];
  const any = (f: (n: string) => boolean) => names.some(f);
  if (g.sourceKind === 'ingest_batch') return 'ggr';
  if (g.restates || g.sourceKind === 'reversal') return 'adjustments';
  if (any((n) => n.startsWith('carry_forward')) || /carr|broughtForward/i.test(g.line ?? ''))
    return 'carries';
  if (any((n) => TAX_ACCOUNTS.has(n) || n.startsWith('gaming_tax_payable'))) return 'taxes';
  if (g.sourceKind === 'adjustment' || any((n) => n.startsWith('write_off'))) return 'adjustments';
  if (g.line === 'netPayable' || any((n) => PAYOUT_ACCOUNTS.has(n))) return 'payouts';
  if (any((n) => FEE_ACCOUNTS.has(n))) return 'fees';
  if (any((n) => GGR_ACCOUNTS.has(n))) return 'ggr';
  return 'other';
}

type Movements = Record<MovementKind, string>;
export interface AxisFigures {
  opening: string;
  movements: Movements;
  closing: string;
}
export interface PeriodReportAccount {
  code: string;
  name: string;
  kind: string;
  /** Amounts are debit-positive (debits − credits), as the ledger keeps balances. */
  byEffectiveDate: AxisFigures;
  asRecorded: AxisFigures;
}
export interface PeriodReport {
  reportVersion: 1;
  partnerId: string;
  month: string;
  timezone: string;
  /** The month's business days. */
  from: string;
  to: string;
  /** The instant the month began in the partner's timezone (the recorded axis starts there). */
  monthStartedAt: string;
  /** The ledger as recorded by this instant (the close instant for a closed period's report). */
  asRecordedAt: string;
  /** Balances are debit-positive; movement kinds in this order. */
  movementKinds: MovementKind[];
  currencies: { currency: string; accounts: PeriodReportAccount[] }[];
  /** The month's cycles (their period ends in it) and their status. */
  cycles: CycleOfMonth[];
  /** Ingest entries late for their day (first 500; lateCount says how many). */
  late: (Omit<LateEntry, 'ggrMinor'> & { ggr: string })[];
  lateCount: number;
}

export interface PeriodReportInput {
  partnerId: string;
  month: string;
  timezone: string;
  monthStartedAt: string;
  asRecordedAt: string;
  scaleOf: (currency: string) => number;
  balances: AccountBalances[];
  movements: MovementGroup[];
  cycles: CycleOfMonth[];
  late: LateEntry[];
  lateCount: number;
}

export const MAX_LATE_LISTED = 500;

const zeroMovements = (): Record<MovementKind, bigint> =>
  Object.fromEntries(movementKinds.map((k) => [k, 0n])) as Record<MovementKind, bigint>;

/**
 * The period report per currency and account, on both axes an auditor asks about:
 * `byEffectiveDate` (postings dated in the month, recorded by the instant: what belongs to the
 * month) and `asRecorded` (postings recorded between the month's first instant and the
 * instant, whatever their date: what the books said). On each, opening + Σ movements = closing,
 * checked here against the closing the ledger gave: a mismatch is a bug, and throws.
 */
export function buildPeriodReport(input: PeriodReportInput): PeriodReport {
  const { from, to } = monthBounds(input.month);
  const byAccount = new Map<
    string,
    { eff: Record<MovementKind, bigint>; rec: Record<MovementKind, bigint> }
  >();
  for (const g of input.movements) {
    const kind = movementKind(g);
    const m = byAccount.get(g.accountCode) ?? { eff: zeroMovements(), rec: zeroMovements() };
    m.eff[kind] += g.effectiveMinor;
    m.rec[kind] += g.recordedMinor;
    byAccount.set(g.accountCode, m);
  }
  const currencies = new Map<string, PeriodReportAccount[]>();
  const sorted = [...input.balances].sort((a, b) =>
    a.currency === b.currency ? (a.accountCode < b.accountCode ? -1 : 1) : a.currency < b.currency ? -1 : 1,
  );
  for (const b of sorted) {
    const scale = input.scaleOf(b.currency);
    const fmt = (v: bigint) => formatAmount(v, scale);
    const m = byAccount.get(b.accountCode) ?? { eff: zeroMovements(), rec: zeroMovements() };
    const axis = (opening: bigint, moves: Record<MovementKind, bigint>, closing: bigint, which: string) => {
      const sum = movementKinds.reduce((s, k) => s + moves[k], 0n);
      if (opening + sum !== closing)
        throw new Error(
          `period report ${input.partnerId} ${input.month}: ${b.accountCode} ${which}: opening ${opening} + movements ${sum} ≠ closing ${closing}`,
        );
      return {
        opening: fmt(opening),
        movements: Object.fromEntries(movementKinds.map((k) => [k, fmt(moves[k])])) as Movements,
        closing: fmt(closing),
      };
    };
    const account: PeriodReportAccount = {
      code: b.accountCode,
      name: accountName(b.accountCode),
      kind: b.accountKind,
      byEffectiveDate: axis(b.effectiveOpeningMinor, m.eff, b.effectiveClosingMinor, 'by effective date'),
      asRecorded: axis(b.recordedOpeningMinor, m.rec, b.recordedClosingMinor, 'as recorded'),
    };
    const list = currencies.get(b.currency) ?? [];
    list.push(account);
    currencies.set(b.currency, list);
  }
  return {
    reportVersion: 1,
    partnerId: input.partnerId,
    month: input.month,
    timezone: input.timezone,
    from,
    to,
    monthStartedAt: input.monthStartedAt,
    asRecordedAt: input.asRecordedAt,
    movementKinds: [...movementKinds],
    currencies: [...currencies.entries()].map(([currency, accounts]) => ({ currency, accounts })),
    cycles: [...input.cycles].sort((a, b) => (a.periodStart < b.periodStart ? -1 : 1)),
    late: input.late.slice(0, MAX_LATE_LISTED).map(({ ggrMinor, ...l }) => ({
      ...l,
      ggr: formatAmount(ggrMinor, input.scaleOf(l.currency)),
    })),
    lateCount: input.lateCount,
  };
}

// ---- Gaming-tax returns -------------------------------------------------------------------

/**
 * When each jurisdiction's monthly gaming-tax return is due: the day of the month after the
 * return's month (Malta: the 20th). A jurisdiction not listed files by the default.
 */
export const TAX_FILING_RULES: Record<string, { dayOfNextMonth: number; authority?: string }> = {
  MT: { dayOfNextMonth: 20, authority: 'Malta Gaming Authority' },
};
export const DEFAULT_FILING_DAY = 20;

export const JURISDICTION_PATTERN = /^[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?$/;

export function filingDueDate(jurisdiction: string, month: string): string {
  const rule = TAX_FILING_RULES[jurisdiction.toUpperCase()];
  const day = rule?.dayOfNextMonth ?? DEFAULT_FILING_DAY;
  const next = addMonths(month, 1);
  const { to } = monthBounds(next);
  return `${next}-${pad(Math.min(day, Number(to.slice(8))))}`;
}

/** The liability movements of one jurisdiction's payable account in a month, per partner. */
export interface TaxMovement {
  currency: string;
  /** The partner whose entry moved it (null: not a partner's, e.g. a payment to the authority). */
  partnerId: string | null;
  /** Credit-positive (what became owed to the authority); negative for refunds and payments. */
  amountMinor: bigint;
  entries: number;
}

export interface TaxReturn {
  jurisdiction: string;
  month: string;
  from: string;
  to: string;
  dueDate: string;
  authority: string | null;
  currencies: {
    currency: string;
    account: string;
    /** Owed to the authority (credit-positive) before the month and at its end, by effective date. */
    openingPayable: string;
    assessed: string;
    paid: string;
    closingPayable: string;
    partners: { partnerId: string; gamingTax: string; entries: number; periodState: PeriodState }[];
  }[];
  /** Partners whose month is not closed: their figures may still change. */
  provisional: string[];
}

/** The return's figures from the payable account's movements (credit-positive) and its opening balance. */
export function buildTaxReturn(input: {
  jurisdiction: string;
  month: string;
  scaleOf: (currency: string) => number;
  accounts: { currency: string; code: string; openingPayableMinor: bigint }[];
  movements: TaxMovement[];
  periodStates: Map<string, PeriodState>;
}): TaxReturn {
  const { from, to } = monthBounds(input.month);
  const j = input.jurisdiction.toUpperCase();
  const provisional = new Set<string>();
  const currencies = [...input.accounts]
    .sort((a, b) => (a.currency < b.currency ? -1 : 1))
    .map((a) => {
      const fmt = (v: bigint) => formatAmount(v, input.scaleOf(a.currency));
      const mine = input.movements.filter((m) => m.currency === a.currency);
      const byPartner = mine.filter((m) => m.partnerId !== null);
      const assessed = byPartner.reduce((s, m) => s + m.amountMinor, 0n);
      const paid = -mine.filter((m) => m.partnerId === null).reduce((s, m) => s + m.amountMinor, 0n);
      const partners = byPartner
        .sort((x, y) => (x.partnerId! < y.partnerId! ? -1 : 1))
        .map((m) => {
          const periodState = input.periodStates.get(m.partnerId!) ?? 'open';
          if (periodState !== 'closed') provisional.add(m.partnerId!);
          return { partnerId: m.partnerId!, gamingTax: fmt(m.amountMinor), entries: m.entries, periodState };
        });
      return {
        currency: a.currency,
        account: a.code,
        openingPayable: fmt(a.openingPayableMinor),
        assessed: fmt(assessed),
        paid: fmt(paid),
        closingPayable: fmt(a.openingPayableMinor + assessed - paid),
        partners,
      };
    });
  return {
    jurisdiction: j,
    month: input.month,
    from,
    to,
    dueDate: filingDueDate(j, input.month),
    authority: TAX_FILING_RULES[j]?.authority ?? null,
    currencies,
    provisional: [...provisional].sort(),
  };
}

/** The return as CSV rows (header first): one row per partner and currency, then the totals. */
export function taxReturnRows(r: TaxReturn): string[][] {
  const rows: string[][] = [
    ['jurisdiction', 'month', 'due_date', 'currency', 'partner', 'period_state', 'item', 'amount', 'entries'],
  ];
  for (const c of r.currencies) {
    for (const p of c.partners)
      rows.push([
        r.jurisdiction,
        r.month,
        r.dueDate,
        c.currency,
        p.partnerId,
        p.periodState,
        'gaming_tax',
        p.gamingTax,
        String(p.entries),
      ]);
    for (const [item, amount] of [
      ['opening_payable', c.openingPayable],
      ['assessed', c.assessed],
      ['paid', c.paid],
      ['closing_payable', c.closingPayable],
    ] as const)
      rows.push([r.jurisdiction, r.month, r.dueDate, c.currency, '', '', item, amount, '']);
  }
  return rows;
}

/** The return as formula-safe CSV (domain/statement.ts spreadsheetSafe): a cell a spreadsheet would run is quoted. */
export function taxReturnCsv(r: TaxReturn): string {
  return stringify(
    taxReturnRows(r).map((row) => row.map(spreadsheetSafe)),
    { quoted_match: /[\r\n]/ },
  );
}
