import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { formatAmount } from '../domain/money';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { recordContract } from './support/partners';
import { startStack, type Stack } from './support/stack';

// A net payable below the contract's minimum payout is not paid: it rolls, whole, to the next
// statement, which brings it forward; a statement whose payable reaches the minimum pays it all.
describe('minimum payout', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let fx: SimulatedFx;
  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    provider = await startJsonCursorProvider();
  });
  afterAll(async () => {
    await provider?.close();
    await fx?.close();
    await stack?.close();
  });

  const terms = (minimumPayoutMinor: string) => ({
    base: 'ggr',
    tiers: [{ upToMinor: null, rate: '0.10' }],
    tierMode: 'marginal',
    minimumGuaranteeMinor: '0',
    fixedFeeMinor: '0',
    categoryRates: {},
    negativeBase: 'carry_forward',
    jackpots: 'exclude',
    taxWithholdingRate: '0',
    settlement: {
      period: 'daily',
      cutoffGraceMinutes: 60,
      payoutApprovalThresholdMinor: '100000000',
      minimumPayoutMinor,
    },
  });

  it('rolls a payable below the minimum to the next statement, and pays it all once the minimum is reached', async () => {
    const DAYS = ['2026-11-10', '2026-11-11', '2026-11-12'];
    const txs = DAYS.flatMap((d, i) => dayOfTransactions(`mp${i}`, d, 9));
    // Version 1 (the helper's) is replaced from the first day by a minimum of 10,000.00.
    const p = await settlingPartner(stack, provider, txs);
    expect(
      (await recordContract(stack, p.id, 2, { effectiveFrom: '2026-11-02', terms: terms('1000000') })).status,
    ).toBe(200);
    provider.setTransactions(txs);
    const cycle = (d: string) => `settlement:${p.id}:${d}`;
    const statement = async (d: string) =>
      (await stack.api(`/v1/settlements/${encodeURIComponent(cycle(d))}/statement`)).body;
    const payoutEntries = async () =>
      (
        await stack.db.pool.query<{ key: string; amount: string }>(
          `SELECT e.idempotency_key AS key, sum(p.amount_minor)::text AS amount
             FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id
            WHERE e.idempotency_key LIKE $1 AND e.idempotency_key LIKE '%:payout' GROUP BY 1 ORDER BY 1`,
          [`settlement:${p.id}:%`],
        )
      ).rows;
    const minor = (s: string) => BigInt(s.replace('.', ''));

    for (const d of DAYS.slice(0, 2))
      expect((await (await startPlannedCycle(stack, p.id, d)).result()).status).toBe('Completed');
    const [s1, s2] = [await statement(DAYS[0]!), await statement(DAYS[1]!)];
    const [n1, n2] = [minor(s1.netPayable as string), minor(s2.netPayable as string)];
    expect(n1 > 0n && n2 > 0n).toBe(true);
    // Day 1: below the minimum, nothing paid, the whole payable rolls.
    expect(s1.payout).toMatchObject({
      broughtForward: [],
      payable: formatAmount(n1, 2),
      minimumPayout: '10000.00',
      toPay: '0.00',
      rolledToNextStatement: formatAmount(n1, 2),
    });
    expect(s1.payout.note).toMatch(/below the minimum payout of 10000.00: rolls to the next statement/);
    // Day 2 brings day 1's forward; still below, so both roll.
    expect(s2.payout).toMatchObject({
      broughtForward: [
        expect.objectContaining({ kind: 'below_minimum', ref: cycle(DAYS[0]!), amount: formatAmount(n1, 2) }),
      ],
      payable: formatAmount(n1 + n2, 2),
      toPay: '0.00',
      rolledToNextStatement: formatAmount(n1 + n2, 2),
    });
    expect(await payoutEntries()).toEqual([]);

    // From the third day, no minimum (a new version, through maker-checker): everything owed is paid.
    expect(
      (await recordContract(stack, p.id, 3, { effectiveFrom: DAYS[2]!, terms: terms('0') })).status,
    ).toBe(200);
    expect((await (await startPlannedCycle(stack, p.id, DAYS[2]!)).result()).status).toBe('Completed');
    const s3 = await statement(DAYS[2]!);
    const n3 = minor(s3.netPayable as string);
    expect(s3.payout).toMatchObject({
      broughtForward: [
        expect.objectContaining({
          kind: 'below_minimum',
          ref: cycle(DAYS[1]!),
          amount: formatAmount(n1 + n2, 2),
        }),
      ],
      payable: formatAmount(n1 + n2 + n3, 2),
      toPay: formatAmount(n1 + n2 + n3, 2),
      rolledToNextStatement: '0.00',
      note: 'paid in full',
    });
    expect(await payoutEntries()).toEqual([
      { key: `${cycle(DAYS[2]!)}:payout`, amount: (n1 + n2 + n3).toString() },
    ]);
    // What the partner was owed is now paid: its fees payable are back to zero.
    const payable = await stack.api(
      `/v1/ledger/accounts/${encodeURIComponent(`partner:${p.id}:fees_payable:EUR`)}/balance`,
    );
    expect(payable.body.balance).toBe('0.00');
    // Every carry claimed exactly once.
    const carries = await stack.db.pool.query<{ id: string; claimed_by: string | null }>(
      'SELECT id, claimed_by FROM payable_carries WHERE partner_id = $1 ORDER BY id',
      [p.id],
    );
    expect(carries.rows).toEqual([
      { id: `${cycle(DAYS[0]!)}:rolled`, claimed_by: cycle(DAYS[1]!) },
      { id: `${cycle(DAYS[1]!)}:rolled`, claimed_by: cycle(DAYS[2]!) },
    ]);
  }, 120_000);
});
