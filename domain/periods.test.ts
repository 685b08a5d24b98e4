import {
  accountName,
  addMonths,
  buildPeriodReport,
  buildTaxReturn,
  closeBlockers,
  filingDueDate,
  monthBounds,
  movementKind,
  periodMonthOf,
  taxReturnCsv,
  type AccountBalances,
  type MovementGroup,
} from './periods';
import { ValidationError } from './errors';

describe('months', () => {
  it('bounds a month, leap years included, and refuses what is not YYYY-MM', () => {
    expect(monthBounds('2026-11')).toEqual({ from: '2026-11-01', to: '2026-11-30' });
    expect(monthBounds('2028-02')).toEqual({ from: '2028-02-01', to: '2028-02-29' });
    expect(monthBounds('2026-12')).toEqual({ from: '2026-12-01', to: '2026-12-31' });
    expect(() => monthBounds('2026-13')).toThrow(ValidationError);
    expect(() => monthBounds('2026-1')).toThrow(ValidationError);
    expect(addMonths('2026-12', 1)).toBe('2027-01');
    expect(addMonths('2026-01', -1)).toBe('2025-12');
  });

  it('puts a cycle in the month its period ends in: a weekly period straddling a month end belongs to the later month', () => {
    expect(periodMonthOf('2026-11-30')).toBe('2026-11');
    // Monday 30 November to Sunday 6 December.
    expect(periodMonthOf('2026-12-06')).toBe('2026-12');
  });
});

describe('closeBlockers', () => {
  const cycle = (start: string, end: string, status: string) => ({
    id: `settlement:p:${start}`,
    periodStart: start,
    periodEnd: end,
    status,
  });
  it('lists every cycle of the month not Completed, failed ones as such, and ignores other months', () => {
    const blockers = closeBlockers(
      '2026-11',
      [
        cycle('2026-11-01', '2026-11-01', 'Completed'),
        cycle('2026-11-02', '2026-11-02', 'AwaitingPayoutApproval'),
        cycle('2026-11-03', '2026-11-03', 'Failed'),
        // The straddling week ends in December: it blocks December, not November.
        cycle('2026-11-30', '2026-12-06', 'Reconciling'),
        // A week that started in October and ends in November is November's.
        cycle('2026-10-26', '2026-11-01', 'ComputingFees'),
      ],
      [],
    );
    expect(blockers.map((b) => [b.kind, b.ref])).toEqual([
      ['cycle_not_completed', 'settlement:p:2026-10-26'],
      ['cycle_not_completed', 'settlement:p:2026-11-02'],
      ['cycle_failed', 'settlement:p:2026-11-03'],
    ]);
    expect(closeBlockers('2026-11', [cycle('2026-11-01', '2026-11-01', 'Completed')], [])).toEqual([]);
  });
  it('makes months close in order', () => {
    expect(closeBlockers('2026-11', [], ['2026-10', '2026-09'])).toEqual([
      expect.objectContaining({ kind: 'earlier_month_open', ref: '2026-09' }),
      expect.objectContaining({ kind: 'earlier_month_open', ref: '2026-10' }),
    ]);
  });
});

describe('movementKind', () => {
  const p = (name: string) => `partner:nova:${name}:EUR`;
  const g = (
    accountCode: string,
    counterpartyCode: string,
    sourceKind: string,
    line: string | null = null,
    restates = false,
  ) => movementKind({ accountCode, counterpartyCode, sourceKind, line, restates });
  it('classifies the settlement journal, ingest, payouts and restatements', () => {
    expect(accountName(p('game_activity'))).toBe('game_activity');
    expect(accountName('house:gaming_tax_payable:mt:EUR')).toBe('gaming_tax_payable:mt');
    expect(accountName(p('write_off:rounding'))).toBe('write_off:rounding');
    expect(g(p('game_activity'), p('gaming_revenue'), 'ingest_batch')).toBe('ggr');
    expect(g(p('game_activity'), p('gaming_revenue'), 'adjustment', 'revenue.resolutions')).toBe(
      'adjustments',
    );
    expect(g(p('carry_forward'), p('carry_forward_offset'), 'settlement', 'base.carriedOut')).toBe('carries');
    expect(g(p('gaming_tax'), 'house:gaming_tax_payable:mt:EUR', 'settlement', 'revenue.gamingTax')).toBe(
      'taxes',
    );
    expect(g(p('provider_fees'), p('tax_withheld'), 'settlement', 'grossFee')).toBe('taxes');
    expect(g(p('provider_fees'), p('fees_payable'), 'settlement', 'grossFee')).toBe('fees');
    expect(g(p('fees_payable'), 'house:payouts_clearing:EUR', 'settlement', 'netPayable')).toBe('payouts');
    expect(g(p('provider_fees'), p('fees_payable'), 'adjustment', 'grossFee', true)).toBe('adjustments');
    expect(g(p('write_off:x'), p('write_off_offset'), 'adjustment', 'writtenOff')).toBe('adjustments');
    expect(g(p('something_new'), 'house:elsewhere:EUR', 'transfer')).toBe('other');
  });
});

describe('buildPeriodReport', () => {
  const bal = (code: string, o: bigint, c: bigint, ro: bigint, rc: bigint): AccountBalances => ({
    accountCode: code,
    accountKind: 'asset',
    currency: 'EUR',
    effectiveOpeningMinor: o,
    effectiveClosingMinor: c,
    recordedOpeningMinor: ro,
    recordedClosingMinor: rc,
  });
  const mv = (
    code: string,
    other: string,
    sourceKind: string,
    eff: bigint,
    rec: bigint,
    line: string | null = null,
  ): MovementGroup => ({
    accountCode: code,
    counterpartyCode: other,
    currency: 'EUR',
    sourceKind,
    line,
    restates: false,
    effectiveMinor: eff,
    recordedMinor: rec,
  });
  const base = {
    partnerId: 'nova',
    month: '2026-11',
    timezone: 'Europe/Malta',
    monthStartedAt: '2026-10-31T23:00:00.000Z',
    asRecordedAt: '2026-12-02T10:00:00.000Z',
    scaleOf: () => 2,
    cycles: [],
    late: [],
    lateCount: 0,
  };
  it('adds opening and movements by kind up to the closing balance on both axes', () => {
    const ga = 'partner:nova:game_activity:EUR';
    const rev = 'partner:nova:gaming_revenue:EUR';
    const report = buildPeriodReport({
      ...base,
      balances: [bal(ga, 1000n, 1500n, 900n, 1600n), bal(rev, -1000n, -1500n, -900n, -1600n)],
      movements: [
        mv(ga, rev, 'ingest_batch', 600n, 700n),
        mv(ga, rev, 'adjustment', -100n, 0n, 'revenue.resolutions'),
        mv(rev, ga, 'ingest_batch', -600n, -700n),
        mv(rev, ga, 'adjustment', 100n, 0n, 'revenue.resolutions'),
      ],
    });
    expect(report.from).toBe('2026-11-01');
    expect(report.to).toBe('2026-11-30');
    const [eur] = report.currencies;
    expect(eur!.currency).toBe('EUR');
    expect(eur!.accounts[0]).toEqual({
      code: ga,
      name: 'game_activity',
      kind: 'asset',
      byEffectiveDate: {
        opening: '10.00',
        movements: {
          ggr: '6.00',
          fees: '0.00',
          taxes: '0.00',
          carries: '0.00',
          adjustments: '-1.00',
          payouts: '0.00',
          other: '0.00',
        },
        closing: '15.00',
      },
      asRecorded: {
        opening: '9.00',
        movements: {
          ggr: '7.00',
          fees: '0.00',
          taxes: '0.00',
          carries: '0.00',
          adjustments: '0.00',
          payouts: '0.00',
          other: '0.00',
        },
        closing: '16.00',
      },
    });
  });
  it('throws when the ledger figures do not add up (a bug, never a report)', () => {
    expect(() =>
      buildPeriodReport({
        ...base,
        balances: [bal('partner:nova:game_activity:EUR', 0n, 10n, 0n, 0n)],
        movements: [],
      }),
    ).toThrow(/≠ closing/);
  });
});

describe('gaming-tax returns', () => {
  it('dues Malta on the 20th of the next month, others by the default 20th, clamped to short months', () => {
    expect(filingDueDate('MT', '2026-11')).toBe('2026-12-20');
    expect(filingDueDate('mt', '2026-12')).toBe('2027-01-20');
    expect(filingDueDate('GB', '2026-01')).toBe('2026-02-20');
  });
  it('sums what each partner assessed, what was paid, and writes formula-safe CSV', () => {
    const r = buildTaxReturn({
      jurisdiction: 'mt',
      month: '2026-11',
      scaleOf: () => 2,
      accounts: [{ currency: 'EUR', code: 'house:gaming_tax_payable:mt:EUR', openingPayableMinor: 500n }],
      movements: [
        { currency: 'EUR', partnerId: 'nova', amountMinor: 321n, entries: 2 },
        { currency: 'EUR', partnerId: '=cmd', amountMinor: 100n, entries: 1 },
        { currency: 'EUR', partnerId: null, amountMinor: -500n, entries: 1 },
      ],
      periodStates: new Map([['nova', 'closed']]),
    });
    expect(r.jurisdiction).toBe('MT');
    expect(r.dueDate).toBe('2026-12-20');
    expect(r.currencies[0]).toMatchObject({
      openingPayable: '5.00',
      assessed: '4.21',
      paid: '5.00',
      closingPayable: '4.21',
    });
    expect(r.provisional).toEqual(['=cmd']);
    const csv = taxReturnCsv(r);
    expect(csv.split('\n')[0]).toBe(
      'jurisdiction,month,due_date,currency,partner,period_state,item,amount,entries',
    );
    expect(csv).toContain("'=cmd");
    expect(csv).toContain('MT,2026-11,2026-12-20,EUR,nova,closed,gaming_tax,3.21,2');
    expect(csv).toContain('MT,2026-11,2026-12-20,EUR,,,paid,5.00,');
  });
});
