import fc from 'fast-check';
import {
  checkControlTotals,
  differingKeys,
  feeVariance,
  reconcileTransactions,
  type FeeVarianceInput,
  type OurTx,
  type ReportedTx,
} from './reconciliation';
import type { RuleTolerance } from './rules';

const theirs = (id: string, over: Partial<ReportedTx> = {}): ReportedTx => ({
  id,
  type: 'bet',
  roundId: `r-${id}`,
  gameId: 'g1',
  currency: 'EUR',
  amountMinor: 1000n,
  occurredAt: '2026-11-23T10:00:00.000Z',
  businessDate: '2026-11-23',
  ...over,
});
const ours = (id: string, over: Partial<OurTx> = {}): OurTx => ({
  ...theirs(id),
  receivedAt: '2026-11-23T10:00:01.000Z',
  ...over,
});
const opts = { frozenAt: '2026-11-24T01:00:00.000Z' };

describe('reconciliation names every discrepancy', () => {
  it('finds nothing when both sides agree', () => {
    expect(reconcileTransactions([ours('a'), ours('b')], [theirs('b'), theirs('a')], opts)).toEqual([]);
  });

  it.each([
    ['missing_ours', [], [theirs('a')], 1000n],
    ['missing_theirs', [ours('a')], [], -1000n],
    ['amount_mismatch', [ours('a')], [theirs('a', { amountMinor: 1500n })], 500n],
    // A one-unit difference is a mismatch here; the contract's rules say whether it is rounding.
    ['amount_mismatch', [ours('a')], [theirs('a', { amountMinor: 1001n })], 1n],
    ['currency_mismatch', [ours('a')], [theirs('a', { currency: 'USD' })], 0n],
    ['duplicate', [ours('a')], [theirs('a'), theirs('a')], 0n],
    ['conflicting_duplicate', [ours('a')], [theirs('a'), theirs('a', { amountMinor: 9n })], 0n],
    ['open_round', [ours('a')], [theirs('a', { roundStatus: 'open' })], 0n],
    ['late_transaction', [ours('a', { receivedAt: '2026-11-24T02:00:00.000Z' })], [theirs('a')], 1000n],
  ] as const)('%s', (kind, mine, their, difference) => {
    const found = reconcileTransactions([...mine], [...their], opts);
    expect(found).toEqual([
      expect.objectContaining({ id: `${kind}:a`, kind, txId: 'a', differenceMinor: difference }),
    ]);
  });

  it('control totals: a truncated report is caught', () => {
    const rows = [{ amountMinor: 100n }, { amountMinor: 250n }];
    expect(checkControlTotals(rows, { recordCount: 2, sumMinor: 350n })).toBeNull();
    expect(checkControlTotals(rows, { recordCount: 3, sumMinor: 400n })).toMatchObject({
      kind: 'control_total_mismatch',
      differenceMinor: 50n,
    });
  });

  describe('fee variance: a partner invoice against our statements, line by line', () => {
    const tol = (over: Partial<RuleTolerance> = {}): RuleTolerance => ({
      absoluteMinor: '100',
      percent: '0',
      base: 'larger',
      rounding: 'half_up',
      ...over,
    });
    const compare = (ours: FeeVarianceInput['ours'], theirs: FeeVarianceInput['theirs'], tolerance = tol()) =>
      feeVariance({ invoiceId: 'inv-1', currency: 'EUR', scale: 2, ours, theirs, tolerance });

    it('finds nothing when every line is within the tolerance (the bound itself included)', () => {
      expect(
        compare({ tier_fee: 17_000_00n, fixed_fee: 500_00n }, { tier_fee: 17_001_00n, fixed_fee: 499_50n }),
      ).toEqual([]);
    });

    it('names one fee_variance per line beyond it, with ours, theirs and theirs − ours', () => {
      const found = compare(
        { tier_fee: 17_000_00n, category_fee: 2_000_00n, fixed_fee: 500_00n },
        { tier_fee: 17_500_00n, category_fee: 2_000_50n, fixed_fee: 400_00n },
      );
      expect(found).toEqual([
        expect.objectContaining({
          id: 'fee_variance:inv-1:tier_fee',
          kind: 'fee_variance',
          line: 'tier_fee',
          currency: 'EUR',
          oursMinor: 17_000_00n,
          theirsMinor: 17_500_00n,
          differenceMinor: 500_00n,
          thresholdMinor: 100n,
        }),
        expect.objectContaining({ id: 'fee_variance:inv-1:fixed_fee', differenceMinor: -100_00n }),
      ]);
      expect(found[0]!.detail).toContain('invoiced 17500.00, our statements 17000.00, difference 500.00 EUR');
    });

    it('counts a line only one side states as 0 on the other, in statement line order', () => {
      expect(compare({ minimum_guarantee_top_up: 300_00n }, { tier_fee: 5_00n })).toEqual([
        expect.objectContaining({
          line: 'tier_fee',
          oursMinor: 0n,
          theirsMinor: 5_00n,
          differenceMinor: 5_00n,
        }),
        expect.objectContaining({
          line: 'minimum_guarantee_top_up',
          oursMinor: 300_00n,
          theirsMinor: 0n,
          differenceMinor: -300_00n,
        }),
      ]);
    });

    it("a percentage of the base, rounded by the tolerance's mode, when larger than the absolute amount", () => {
      // 0.1 % of the larger side, 12345 → 12.345: half_up 12, up 13, down 12; 12355 → 12.355: half_even 12.
      const pct = (rounding: RuleTolerance['rounding']) =>
        tol({ absoluteMinor: '0', percent: '0.1', rounding });
      expect(compare({ tier_fee: 12_333n }, { tier_fee: 12_345n }, pct('half_up'))).toEqual([]);
      expect(compare({ tier_fee: 12_332n }, { tier_fee: 12_345n }, pct('half_up'))).toEqual([
        expect.objectContaining({ thresholdMinor: 12n, differenceMinor: 13n }),
      ]);
      expect(compare({ tier_fee: 12_332n }, { tier_fee: 12_345n }, pct('up'))).toEqual([]);
      expect(compare({ tier_fee: 12_332n }, { tier_fee: 12_345n }, pct('down'))).toHaveLength(1);
      // 12350 × 0.001 = 12.35 → half_up 12; 12500 × 0.001 = 12.5 → half_up 13, half_even 12.
      expect(compare({ tier_fee: 12_487n }, { tier_fee: 12_500n }, pct('half_up'))).toEqual([]);
      expect(compare({ tier_fee: 12_487n }, { tier_fee: 12_500n }, pct('half_even'))).toEqual([
        expect.objectContaining({ thresholdMinor: 12n }),
      ]);
      // The base: 10 % of ours (5000 → 500) admits less than 10 % of theirs (5540 → 554).
      const base = (b: RuleTolerance['base']) => tol({ absoluteMinor: '0', percent: '10', base: b });
      expect(compare({ tier_fee: 5_000n }, { tier_fee: 5_540n }, base('ours'))).toEqual([
        expect.objectContaining({ thresholdMinor: 500n, differenceMinor: 540n }),
      ]);
      expect(compare({ tier_fee: 5_000n }, { tier_fee: 5_540n }, base('theirs'))).toEqual([]);
      expect(compare({ tier_fee: 5_000n }, { tier_fee: 5_540n }, base('smaller'))).toHaveLength(1);
      expect(compare({ tier_fee: 5_000n }, { tier_fee: 5_540n }, base('larger'))).toEqual([]);
      // The absolute amount wins when it is the larger.
      expect(
        compare({ tier_fee: 1_000n }, { tier_fee: 1_050n }, tol({ absoluteMinor: '50', percent: '1' })),
      ).toEqual([]);
    });

    it('is deterministic: comparing again gives the same ids', () => {
      const a = compare({ tier_fee: 1n }, { tier_fee: 1_000n, adjustment: -500n });
      expect(compare({ tier_fee: 1n }, { tier_fee: 1_000n, adjustment: -500n })).toEqual(a);
      expect(a.map((d) => d.id)).toEqual(['fee_variance:inv-1:tier_fee', 'fee_variance:inv-1:adjustment']);
    });
  });

  it('narrows the drill-down to the keys whose totals differ', () => {
    const row = (gameId: string, betMinor: bigint) => ({
      businessDate: '2026-11-23',
      gameId,
      currency: 'EUR',
      betCount: 1n,
      betMinor,
      winMinor: 0n,
    });
    expect(
      differingKeys([row('g1', 10n), row('g2', 10n)], [row('g1', 10n), row('g2', 11n), row('g3', 1n)]),
    ).toEqual([
      { businessDate: '2026-11-23', gameId: 'g2', currency: 'EUR' },
      { businessDate: '2026-11-23', gameId: 'g3', currency: 'EUR' },
    ]);
  });
});

describe('reconciliation properties', () => {
  const side = fc.uniqueArray(
    fc.record({
      id: fc.integer({ min: 0, max: 40 }).map((n) => `t${n}`),
      amount: fc.bigInt({ min: 1n, max: 10_000n }),
    }),
    { selector: (x) => x.id, maxLength: 30 },
  );

  it('is deterministic: the order of the inputs does not change the result', () => {
    fc.assert(
      fc.property(side, side, fc.integer(), (a, b, seed) => {
        const mine = a.map((x) => ours(x.id, { amountMinor: x.amount }));
        const their = b.map((x) => theirs(x.id, { amountMinor: x.amount }));
        const shuffled = <T>(xs: T[]) =>
          xs
            .map((x, i) => ({ x, k: (i * 7919 + seed) % 101 }))
            .sort((p, q) => p.k - q.k)
            .map((p) => p.x);
        expect(reconcileTransactions(shuffled(mine), shuffled(their), opts)).toEqual(
          reconcileTransactions(mine, their, opts),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('explains every minor unit: the differences add up to theirs − ours', () => {
    fc.assert(
      fc.property(side, side, (a, b) => {
        const mine = a.map((x) => ours(x.id, { amountMinor: x.amount }));
        const their = b.map((x) => theirs(x.id, { amountMinor: x.amount }));
        const explained = reconcileTransactions(mine, their, opts).reduce(
          (s, d) => s + d.differenceMinor,
          0n,
        );
        const total = (xs: { amount: bigint }[]) => xs.reduce((s, x) => s + x.amount, 0n);
        expect(explained).toBe(total(b) - total(a));
      }),
      { numRuns: 300 },
    );
  });
});
