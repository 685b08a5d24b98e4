import fc from 'fast-check';
import { computeFees, InvalidTermsError, type FeeTerms, type PeriodTotals } from './fees';

const EUR = (units: number) => BigInt(units) * 100n;

const slotTerms: FeeTerms = {
  base: 'ggr',
  tiers: [
    { upToMinor: EUR(100_000), rate: '0.12' },
    { upToMinor: null, rate: '0.10' },
  ],
  tierMode: 'marginal',
  minimumGuaranteeMinor: 0n,
  fixedFeeMinor: 0n,
  categoryRates: {},
  negativeBase: 'carry_forward',
  jackpots: 'exclude',
  taxWithholdingRate: '0',
  gamingTax: null,
};

const totals = (over: Partial<PeriodTotals>): PeriodTotals => ({
  betMinor: 0n,
  winMinor: 0n,
  bonusCostMinor: 0n,
  jackpotContributionMinor: 0n,
  jackpotWinMinor: 0n,
  baseByCategoryMinor: {},
  ...over,
});

// The worked examples of the README, checked by hand.
describe('fee engine: worked examples', () => {
  it('marginal tiers: GGR 150,000 at 12 % up to 100,000 and 10 % above → 17,000', () => {
    const r = computeFees(slotTerms, totals({ betMinor: EUR(1_000_000), winMinor: EUR(850_000) }));
    expect(r.ggrMinor).toBe(EUR(150_000));
    expect(r.lines.map((l) => [l.baseMinor, l.amountMinor])).toEqual([
      [EUR(100_000), EUR(12_000)],
      [EUR(50_000), EUR(5_000)],
    ]);
    expect(r.grossFeeMinor).toBe(EUR(17_000));
  });

  it('whole-volume tiers: the same GGR all at the 10 % tier → 15,000', () => {
    const r = computeFees(
      { ...slotTerms, tierMode: 'whole_volume' },
      totals({ betMinor: EUR(1_000_000), winMinor: EUR(850_000) }),
    );
    expect(r.grossFeeMinor).toBe(EUR(15_000));
  });

  it('minimum guarantee: a 1,200 fee is topped up to the 5,000 minimum', () => {
    const r = computeFees(
      { ...slotTerms, minimumGuaranteeMinor: EUR(5_000) },
      totals({ betMinor: EUR(50_000), winMinor: EUR(40_000) }),
    );
    expect(r.lines.map((l) => [l.code, l.amountMinor])).toEqual([
      ['tier', EUR(1_200)],
      ['minimum_guarantee_top_up', EUR(3_800)],
    ]);
    expect(r.grossFeeMinor).toBe(EUR(5_000));
  });

  it('negative GGR is carried forward and offsets the next period', () => {
    const first = computeFees(slotTerms, totals({ betMinor: EUR(10_000), winMinor: EUR(12_000) }));
    expect(first).toMatchObject({ feeBaseMinor: 0n, carriedOutMinor: EUR(-2_000), grossFeeMinor: 0n });
    const second = computeFees(slotTerms, totals({ betMinor: EUR(10_000), winMinor: EUR(5_000) }), {
      carriedInMinor: first.carriedOutMinor,
    });
    expect(second).toMatchObject({
      periodBaseMinor: EUR(5_000),
      feeBaseMinor: EUR(3_000),
      carriedOutMinor: 0n,
      grossFeeMinor: EUR(360),
    });
  });

  it('negative GGR floored at zero is not carried', () => {
    const r = computeFees(
      { ...slotTerms, negativeBase: 'floor' },
      totals({ betMinor: EUR(10_000), winMinor: EUR(12_000) }),
    );
    expect(r).toMatchObject({ feeBaseMinor: 0n, carriedOutMinor: 0n, grossFeeMinor: 0n });
  });

  it('live casino on NGR: 25 % of (GGR 10,000 − bonus 1,000 − jackpot 500 − tax 1,500) = 1,750; premium tables +2 %; 5 % withheld', () => {
    const terms: FeeTerms = {
      ...slotTerms,
      base: 'ngr',
      tiers: [{ upToMinor: null, rate: '0.25' }],
      categoryRates: { premium: '0.02' },
      taxWithholdingRate: '0.05',
      gamingTax: { jurisdiction: 'MT', rate: '0.15', on: 'ggr' },
    };
    const r = computeFees(
      terms,
      totals({
        betMinor: EUR(100_000),
        winMinor: EUR(90_000),
        bonusCostMinor: EUR(1_000),
        jackpotContributionMinor: EUR(500),
        baseByCategoryMinor: { premium: EUR(4_000) },
      }),
    );
    expect(r.gamingTaxMinor).toBe(EUR(1_500));
    expect(r.ngrMinor).toBe(EUR(7_000));
    expect(r.lines.map((l) => [l.code, l.amountMinor])).toEqual([
      ['tier', EUR(1_750)],
      ['category', EUR(80)],
    ]);
    expect(r.grossFeeMinor).toBe(EUR(1_830));
    expect(r.taxWithheldMinor).toBe(9150n); // 91.50
    expect(r.netPayableMinor).toBe(EUR(1_830) - 9150n);
  });

  it('jackpots: GGR is bets − wins either way; passed through, the base loses jackpot wins; excluded, contributions', () => {
    const t = totals({
      betMinor: EUR(1_000),
      winMinor: EUR(800),
      jackpotContributionMinor: EUR(50),
      jackpotWinMinor: EUR(20),
    });
    const excluded = computeFees(slotTerms, t);
    const passed = computeFees({ ...slotTerms, jackpots: 'pass_through' }, t);
    expect([excluded.ggrMinor, excluded.periodBaseMinor]).toEqual([EUR(200), EUR(150)]);
    expect([passed.ggrMinor, passed.periodBaseMinor]).toEqual([EUR(200), EUR(180)]);
    // NGR base: contributions are deducted by NGR itself; passing through adds them back.
    const ngr = { ...slotTerms, base: 'ngr' as const };
    expect(computeFees(ngr, totals({ ...t, bonusCostMinor: EUR(30) })).periodBaseMinor).toBe(EUR(120));
    expect(
      computeFees({ ...ngr, jackpots: 'pass_through' }, totals({ ...t, bonusCostMinor: EUR(30) }))
        .periodBaseMinor,
    ).toBe(EUR(150));
  });

  it('gaming tax on stakes or on GGR (never on a negative GGR) lowers NGR', () => {
    const ngr: FeeTerms = { ...slotTerms, base: 'ngr', tiers: [{ upToMinor: null, rate: '0.2' }] };
    const stakes = computeFees(
      { ...ngr, gamingTax: { jurisdiction: 'GB', rate: '0.01', on: 'stakes' } },
      totals({ betMinor: EUR(10_000), winMinor: EUR(9_000) }),
    );
    expect([stakes.gamingTaxMinor, stakes.ngrMinor, stakes.grossFeeMinor]).toEqual([
      EUR(100),
      EUR(900),
      EUR(180),
    ]);
    const losing = computeFees(
      { ...ngr, gamingTax: { jurisdiction: 'MT', rate: '0.05', on: 'ggr' } },
      totals({ betMinor: EUR(1_000), winMinor: EUR(1_500) }),
    );
    expect(losing.gamingTaxMinor).toBe(0n);
  });

  it('gaming tax on GGR is assessed on the month: a losing day lowers the tax of the days after it', () => {
    const terms: FeeTerms = { ...slotTerms, gamingTax: { jurisdiction: 'MT', rate: '0.15', on: 'ggr' } };
    const win = computeFees(terms, totals({ betMinor: EUR(10_000) }), { closesMonth: false });
    expect(win.gamingTaxMinor).toBe(EUR(1_500));
    // The month's GGR is back to 0: the tax charged on the first day is refunded.
    const loss = computeFees(terms, totals({ winMinor: EUR(10_000) }), {
      closesMonth: false,
      monthToDate: win.month,
    });
    expect([loss.gamingTaxMinor, loss.month.gamingTaxMinor]).toEqual([EUR(-1_500), 0n]);
  });

  it('rounds half-even and reports the residue: 12.5 % of 100.01 → 12.50, residue 0.125 cent', () => {
    const r = computeFees(
      { ...slotTerms, tiers: [{ upToMinor: null, rate: '0.125' }] },
      totals({ betMinor: 10001n }),
    );
    expect(r.lines[0]).toMatchObject({ amountMinor: 1250n, residue: { num: 125n, den: 1000n } });
  });

  it('refuses inconsistent terms with the field named', () => {
    expect(() =>
      computeFees({ ...slotTerms, tiers: [{ upToMinor: null, rate: '1.5' }] }, totals({})),
    ).toThrow(/tiers.0.rate: must not exceed 1/);
    expect(() =>
      computeFees({ ...slotTerms, tiers: [{ upToMinor: EUR(10), rate: '0.1' }] }, totals({})),
    ).toThrow(InvalidTermsError);
    expect(() =>
      computeFees(
        {
          ...slotTerms,
          tiers: [
            { upToMinor: EUR(10), rate: '0.1' },
            { upToMinor: EUR(5), rate: '0.1' },
            { upToMinor: null, rate: '0.1' },
          ],
        },
        totals({}),
      ),
    ).toThrow(/tiers.1.upToMinor: must rise/);
  });
});

describe('fee engine: the month', () => {
  const month: FeeTerms = { ...slotTerms, minimumGuaranteeMinor: EUR(20_000), fixedFeeMinor: EUR(500) };
  const day = (ggr: number) => totals({ betMinor: EUR(ggr) });

  it('daily periods accrue toward the month: tiers continue from the month-to-date volume', () => {
    // Day 1: 80,000 at 12 %. Day 2: 40,000 → 20,000 more at 12 % (to 100,000), 20,000 at 10 %.
    const d1 = computeFees(month, day(80_000), { closesMonth: false });
    expect(d1.lines.map((l) => [l.code, l.amountMinor])).toEqual([['tier', EUR(9_600)]]);
    const d2 = computeFees(month, day(40_000), { closesMonth: false, monthToDate: d1.month });
    expect(d2.lines.map((l) => [l.baseMinor, l.amountMinor])).toEqual([
      [EUR(20_000), EUR(2_400)],
      [EUR(20_000), EUR(2_000)],
    ]);
    expect(d2.month.volumeMinor).toBe(EUR(120_000));
  });

  it('the guarantee and the fixed fee are charged once, by the month’s last period', () => {
    const d1 = computeFees(month, day(50_000), { closesMonth: false });
    expect(d1.lines.map((l) => l.code)).toEqual(['tier']);
    expect(d1.month.guaranteeAssessed).toBe(false);
    const last = computeFees(month, day(50_000), { closesMonth: true, monthToDate: d1.month });
    // Variable fees of the month: 6,000 + 6,000 = 12,000 < 20,000 → 8,000 top-up; fixed 500.
    expect(last.lines.map((l) => [l.code, l.amountMinor])).toEqual([
      ['tier', EUR(6_000)],
      ['minimum_guarantee_top_up', EUR(8_000)],
      ['fixed_fee', EUR(500)],
    ]);
    // A day of the month settled after its last: the month's volume is past 100,000 (10 %);
    // its fees true the guarantee up (less top-up), and no second fixed fee.
    const late = computeFees(month, day(10_000), { closesMonth: false, monthToDate: last.month });
    expect(late.lines.map((l) => [l.code, l.amountMinor])).toEqual([
      ['tier', EUR(1_000)],
      ['minimum_guarantee_top_up', EUR(-1_000)],
    ]);
    expect(late.grossFeeMinor).toBe(0n);
  });
});

describe('fee engine: properties', () => {
  const terms = fc
    .record({
      tierMode: fc.constantFrom<FeeTerms['tierMode']>('marginal', 'whole_volume'),
      negativeBase: fc.constantFrom<FeeTerms['negativeBase']>('carry_forward', 'floor'),
      rates: fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 4 }),
      bounds: fc.uniqueArray(fc.bigInt({ min: 1n, max: 10n ** 9n }), { minLength: 3, maxLength: 3 }),
      mmrg: fc.bigInt({ min: 0n, max: 10n ** 6n }),
      tax: fc.integer({ min: 0, max: 5_000 }),
    })
    .map(({ tierMode, negativeBase, rates, bounds, mmrg, tax }): FeeTerms => {
      const sorted = [...bounds].sort((a, b) => (a < b ? -1 : 1));
      return {
        ...slotTerms,
        tierMode,
        negativeBase,
        minimumGuaranteeMinor: mmrg,
        taxWithholdingRate: (tax / 10_000).toFixed(4),
        tiers: rates.map((r, i) => ({
          upToMinor: i === rates.length - 1 ? null : sorted[i]!,
          rate: (r / 10_000).toFixed(4),
        })),
      };
    });
  const period = fc.record({
    bet: fc.bigInt({ min: 0n, max: 10n ** 11n }),
    win: fc.bigInt({ min: 0n, max: 10n ** 11n }),
    carry: fc.bigInt({ min: -(10n ** 9n), max: 0n }),
  });

  it('accounts for every minor unit: lines add up, net + tax = gross, carry balances the base, residues are exact', () => {
    fc.assert(
      fc.property(terms, period, (t, p) => {
        const r = computeFees(t, totals({ betMinor: p.bet, winMinor: p.win }), { carriedInMinor: p.carry });
        expect(r.lines.reduce((s, l) => s + l.amountMinor, 0n)).toBe(r.grossFeeMinor);
        expect(r.netPayableMinor + r.taxWithheldMinor).toBe(r.grossFeeMinor);
        expect(r.feeBaseMinor >= 0n && r.carriedOutMinor <= 0n).toBe(true);
        if (t.negativeBase === 'carry_forward')
          expect(r.feeBaseMinor + r.carriedOutMinor).toBe(r.periodBaseMinor + p.carry);
        for (const l of r.lines.filter((x) => x.rate !== null)) {
          const [units, scale] = [BigInt(l.rate!.replace('.', '')), l.rate!.split('.')[1]?.length ?? 0];
          expect(l.amountMinor * l.residue.den + l.residue.num).toBe(
            l.baseMinor * units * (l.residue.den / 10n ** BigInt(scale)),
          );
        }
        if (t.tierMode === 'marginal')
          expect(r.lines.filter((l) => l.code === 'tier').reduce((s, l) => s + l.baseMinor, 0n)).toBe(
            r.feeBaseMinor,
          );
        expect(r.grossFeeMinor >= t.minimumGuaranteeMinor).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('marginal fees never fall when the base grows', () => {
    fc.assert(
      fc.property(
        terms,
        fc.bigInt({ min: 0n, max: 10n ** 10n }),
        fc.bigInt({ min: 0n, max: 10n ** 9n }),
        (t, base, extra) => {
          const marginal = { ...t, tierMode: 'marginal' as const, minimumGuaranteeMinor: 0n };
          const a = computeFees(marginal, totals({ betMinor: base })).grossFeeMinor;
          const b = computeFees(marginal, totals({ betMinor: base + extra })).grossFeeMinor;
          expect(b >= a).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
