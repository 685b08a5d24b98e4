import fc from 'fast-check';
import {
  checkControlTotals,
  differingKeys,
  feeVariance,
  reconcileTransactions,
  type OurTx,
  type ReportedTx,
} from './reconciliation';

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

  it('fee variance: their invoice against our computed fee, beyond a tolerance', () => {
    expect(feeVariance(17_000_00n, 17_000_01n, 1n)).toBeNull();
    expect(feeVariance(17_000_00n, 17_500_00n, 1n)).toMatchObject({
      kind: 'fee_variance',
      differenceMinor: 500_00n,
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
