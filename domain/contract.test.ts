import fc from 'fast-check';
import {
  accrualMonth,
  checkContractTerms,
  checkNotBackdated,
  checkPayoutThresholdCeiling,
  closesMonth,
  contractApprovalProblem,
  earlierPeriodStarts,
  periodContaining,
  type SettlementCadence,
} from './contract';
import { ConflictError, ForbiddenError, ValidationError } from './errors';

const day = fc
  .date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2035-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
const cadence = fc.constantFrom<SettlementCadence>('daily', 'weekly', 'monthly');
const next = (d: string) => new Date(Date.parse(`${d}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

describe('contract cadence rules', () => {
  it('a period contains its day, starts where its cadence starts, and the next period follows it', () => {
    fc.assert(
      fc.property(day, cadence, (d, c) => {
        const p = periodContaining(d, c);
        expect(p.start <= d && d <= p.end).toBe(true);
        if (c === 'weekly') expect(new Date(`${p.start}T00:00:00Z`).getUTCDay()).toBe(1);
        if (c === 'monthly') expect([p.start.slice(8), next(p.end).slice(8)]).toEqual(['01', '01']);
        expect(periodContaining(next(p.end), c).start).toBe(next(p.end));
      }),
    );
  });

  it('exactly one period of each month closes it: the one whose successor ends in another month', () => {
    fc.assert(
      fc.property(day, cadence, (d, c) => {
        const p = periodContaining(d, c);
        const following = periodContaining(next(p.end), c);
        expect(closesMonth(p.end, c)).toBe(accrualMonth(following.end) !== accrualMonth(p.end));
      }),
    );
    expect(closesMonth('2026-11-30', 'daily')).toBe(true);
    expect(closesMonth('2026-11-29', 'daily')).toBe(false);
    expect(closesMonth('2026-11-29', 'weekly')).toBe(true); // the next week ends on 6 December
  });

  it('names the field of terms the fee engine refuses', () => {
    const terms = {
      base: 'ggr',
      // Tiers that do not rise: a rule across items, the fee engine's (a schema cannot say it).
      tiers: [
        { upToMinor: '5000', rate: '0.1' },
        { upToMinor: '5000', rate: '0.08' },
        { upToMinor: null, rate: '0.05' },
      ],
      tierMode: 'marginal',
      negativeBase: 'floor',
      jackpots: 'exclude',
    };
    expect(() => checkContractTerms(terms)).toThrow(ValidationError);
    try {
      checkContractTerms(terms);
    } catch (err) {
      expect((err as ValidationError).details).toEqual([
        { path: 'terms.tiers.1.upToMinor', message: 'must rise from tier to tier' },
      ]);
    }
    // A rate above 100 % is refused by the schema itself (and so says the OpenAPI document).
    expect(() => checkContractTerms({ ...terms, tiers: [{ upToMinor: null, rate: '1.5' }] })).toThrow(
      /invalid contract terms/,
    );
    expect(checkContractTerms({ ...terms, tiers: [{ upToMinor: null, rate: '0.1' }] }).settlement).toEqual({
      period: 'daily',
      cutoffGraceMinutes: 60,
      payoutApprovalThresholdMinor: '1000000',
      minimumPayoutMinor: '0',
      acknowledgementDays: 14,
      paymentTermsDays: 30,
    });
  });
});

describe('earlierPeriodStarts', () => {
  it('lists every day from the first of the month before the accrual month to the day before the period', () => {
    const days = earlierPeriodStarts('2026-11-03', '2026-11-03');
    expect(days[0]).toBe('2026-10-01');
    expect(days.at(-1)).toBe('2026-11-02');
    expect(days).toHaveLength(31 + 2);
    // A week that ends in January accrues to January: its earlier periods start from 1 December.
    const week = earlierPeriodStarts('2026-12-28', '2027-01-03');
    expect(week[0]).toBe('2026-12-01');
    expect(week.at(-1)).toBe('2026-12-27');
    expect(earlierPeriodStarts('2026-01-01', '2026-01-31')).toHaveLength(31); // December 2025
  });
});

describe('contract maker-checker rules', () => {
  const terms = (threshold: string) =>
    checkContractTerms({
      base: 'ggr',
      tiers: [{ upToMinor: null, rate: '0.1' }],
      tierMode: 'marginal',
      negativeBase: 'floor',
      jackpots: 'exclude',
      settlement: { payoutApprovalThresholdMinor: threshold },
    });

  it('refuses a threshold above the ceiling, naming the field; the ceiling itself passes', () => {
    expect(() => checkPayoutThresholdCeiling(terms('100000000'), '100000000')).not.toThrow();
    expect(() => checkPayoutThresholdCeiling(terms('100000001'), '100000000')).toThrow(ValidationError);
    let details: unknown = null;
    try {
      checkPayoutThresholdCeiling(terms('999999999999999999'), '100000000');
    } catch (err) {
      details = (err as ValidationError).details;
    }
    expect(details).toEqual([
      {
        path: 'terms.settlement.payoutApprovalThresholdMinor',
        message: 'at most 100000000 (minor units of the settlement currency)',
      },
    ]);
  });

  it('refuses an effectiveFrom reaching into a frozen period, naming the period', () => {
    const frozen = { cycleId: 'settlement:p:2026-11-01', periodStart: '2026-11-01', periodEnd: '2026-11-30' };
    expect(() => checkNotBackdated('2026-12-01', null)).not.toThrow();
    expect(() => checkNotBackdated('2026-11-30', frozen)).toThrow(ConflictError);
    expect(() => checkNotBackdated('2026-11-30', frozen)).toThrow(/frozen period 2026-11-01\.\.2026-11-30/);
  });

  it('compares maker and checker by key, never by name; the bootstrap administrator never approves', () => {
    const maker = { key: 'clearhouse#mallory', name: 'mallory' };
    expect(
      contractApprovalProblem(maker, { key: 'clearhouse#mallory', name: 'Someone Else', via: 'token' }),
    ).toBeInstanceOf(ForbiddenError);
    expect(
      contractApprovalProblem(maker, { key: 'clearhouse#ana', name: 'mallory', via: 'token' }),
    ).toBeNull();
    expect(
      contractApprovalProblem(maker, { key: 'bootstrap-admin', name: 'bootstrap-admin', via: 'bootstrap' }),
    ).toBeInstanceOf(ForbiddenError);
  });
});
