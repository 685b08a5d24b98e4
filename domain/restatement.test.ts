import fc from 'fast-check';
import { reconciliationTermsSchema } from './rules';
import type { StoredContractTerms } from './contract';
import { emptyMonth, type MonthToDate } from './fees';
import type { Journal, JournalEntry } from './journal';
import {
  restateChain,
  settleVersion,
  type ChainPeriod,
  type RestatementAdjustment,
  type RestatementReason,
} from './restatement';
import type { SourceRow, StatementInputs, StatementLineKey } from './statement';

// Restatement by delta, as properties: over generated months of daily periods and stacked
// changes, (1) each version's statement differs from the one before by exactly what its
// restatement posts; (2) what the ledger holds after every delta equals a from-scratch
// computation of the whole month under the final inputs; (3) restating with no change posts
// nothing.

const terms = (rate: string, mmrg: bigint, negativeBase: 'carry_forward' | 'floor'): StoredContractTerms => ({
  base: 'ggr',
  tiers: [
    { upToMinor: '500000', rate },
    { upToMinor: null, rate: '0.08' },
  ],
  tierMode: 'marginal',
  minimumGuaranteeMinor: mmrg.toString(),
  fixedFeeMinor: '10000',
  categoryRates: { live: '0.02' },
  negativeBase,
  jackpots: 'pass_through',
  taxWithholdingRate: '0.05',
  gamingTax: { jurisdiction: 'MT', rate: '0.05', on: 'ggr' },
  settlement: {
    period: 'daily',
    cutoffGraceMinutes: 60,
    payoutApprovalThresholdMinor: '1000000',
    minimumPayoutMinor: '0',
    acknowledgementDays: 14,
    paymentTermsDays: 30,
  },
  reconciliation: reconciliationTermsSchema.parse({}),
  invoices: { tolerance: { absoluteMinor: '100', percent: '0', base: 'larger', rounding: 'half_up' } },
});

const day = (i: number) => `2026-11-${String(i + 1).padStart(2, '0')}`;
const cycleId = (i: number) => `settlement:acme:${day(i)}`;

interface Built {
  inputs: StatementInputs;
  adjustments: RestatementAdjustment[];
  text: string;
  journal: Journal;
  net: bigint;
}

/** A month settled period by period as the fee step does: month-to-date and carries from the ones before. */
function settleMonth(
  days: SourceRow[][],
  contract: { version: number; terms: StoredContractTerms },
  adjustments: RestatementAdjustment[][],
): Built[] {
  const out: Built[] = [];
  let mtd: MonthToDate = { ...emptyMonth };
  let unclaimed: { fromSettlementId: string; amountMinor: bigint }[] = [];
  for (const [i, sources] of days.entries()) {
    const closes = i === days.length - 1;
    const inputs: StatementInputs = {
      cycleId: cycleId(i),
      partnerId: 'acme',
      periodStart: day(i),
      periodEnd: day(i),
      currency: 'EUR',
      currencyScale: 2,
      contract,
      currencyScales: { EUR: 2 },
      sources,
      fxRates: [],
      exceptions: [],
      carriedIn: unclaimed,
      month: '2026-11-01',
      closesMonth: closes,
      monthToDate: mtd,
    };
    const v = settleVersion(inputs, adjustments[i] ?? []);
    const a = v.settled.fees.accrual;
    mtd = {
      taxBaseMinor: mtd.taxBaseMinor + a.taxBaseMinor,
      gamingTaxMinor: mtd.gamingTaxMinor + a.gamingTaxMinor,
      volumeMinor: mtd.volumeMinor + a.volumeMinor,
      tierFeeMinor: mtd.tierFeeMinor + a.tierFeeMinor,
      variableFeeMinor: mtd.variableFeeMinor + a.variableFeeMinor,
      topUpMinor: mtd.topUpMinor + a.topUpMinor,
      fixedFeeCharged: mtd.fixedFeeCharged || v.settled.fees.month.fixedFeeCharged,
      closed: mtd.closed || closes,
    };
    const out_ = v.settled.fees.carriedOutMinor;
    unclaimed = out_ !== 0n ? [{ fromSettlementId: cycleId(i), amountMinor: out_ }] : [];
    out.push({
      inputs,
      adjustments: adjustments[i] ?? [],
      text: v.text,
      journal: v.journal,
      net: v.netPayableMinor,
    });
  }
  return out;
}

/** Balances (debit-positive) per account of a set of entries. */
function balances(entries: JournalEntry[]): Map<string, bigint> {
  const b = new Map<string, bigint>();
  for (const e of entries)
    for (const p of e.postings) {
      expect(p.amountMinor > 0n).toBe(true);
      b.set(p.debit.code, (b.get(p.debit.code) ?? 0n) + p.amountMinor);
      b.set(p.credit.code, (b.get(p.credit.code) ?? 0n) - p.amountMinor);
    }
  for (const [k, v] of b) if (v === 0n) b.delete(k);
  return b;
}
const sorted = (m: Map<string, bigint>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

const sourceRow = (d: number) =>
  fc
    .record({
      bet: fc.bigInt({ min: 0n, max: 600_000n }),
      win: fc.bigInt({ min: 0n, max: 700_000n }),
      live: fc.boolean(),
    })
    .map((s): SourceRow => ({
      businessDate: day(d),
      gameId: s.live ? 'g-live' : 'g-slot',
      category: s.live ? 'live' : null,
      currency: 'EUR',
      betCount: 10n,
      betMinor: s.bet,
      winMinor: s.win,
      rollbackBetMinor: 0n,
      rollbackWinMinor: 0n,
      bonusWinMinor: 0n,
      jackpotContributionMinor: 0n,
      jackpotWinMinor: 0n,
    }));

const lineKey = fc.constantFrom<StatementLineKey | 'ggr'>('tier_fee', 'fixed_fee', 'adjustment', 'ggr');
const change = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('manual', 'provider_correction', 'contract_version'),
  line: lineKey,
  amount: fc.bigInt({ min: -200_000n, max: 200_000n }),
  rate: fc.constantFrom('0.1', '0.15', '0.2'),
});

describe('restatement by delta', () => {
  it('posts v(n+1) − v(n) and ends where a from-scratch month under the final inputs is', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 5 })
          .chain((n) =>
            fc.tuple(
              fc.tuple(
                ...[...Array(n).keys()].map((d) => fc.array(sourceRow(d), { minLength: 1, maxLength: 2 })),
              ),
              fc.array(change, { minLength: 1, maxLength: 3 }),
              fc.constantFrom<'carry_forward' | 'floor'>('carry_forward', 'floor'),
              fc.bigInt({ min: 0n, max: 300_000n }),
            ),
          ),
        ([days, changes, negativeBase, mmrg]) => {
          let contract = { version: 1, terms: terms('0.12', mmrg, negativeBase) };
          const v1 = settleMonth(days, contract, []);
          // The ledger: every version 1 journal, then each delta.
          const ledger: JournalEntry[] = v1.flatMap((b) => b.journal.entries);
          const state = v1.map((b) => ({
            inputs: b.inputs,
            adjustments: b.adjustments,
            text: b.text,
            version: 1,
          }));
          const finalAdjustments: RestatementAdjustment[][] = days.map(() => []);
          for (const [k, c] of changes.entries()) {
            const at = c.at % days.length;
            const id = `rst-${String(k).padStart(20, '0')}`;
            let reason: RestatementReason;
            if (c.kind === 'contract_version') {
              contract = { version: contract.version + 1, terms: terms(c.rate, mmrg, negativeBase) };
              reason = { kind: 'contract_version', contractVersion: contract.version, note: 'amended' };
            } else if (c.kind === 'provider_correction')
              reason = {
                kind: 'provider_correction',
                amountMinor: c.amount.toString(),
                reference: 'r',
                note: 'late rows',
              };
            else
              reason = {
                kind: 'manual',
                line: c.line,
                amountMinor: c.amount.toString(),
                note: 'by hand',
              };
            const from = c.kind === 'contract_version' ? 0 : at;
            const chain: ChainPeriod[] = state.slice(from).map((s) => ({
              inputs: s.inputs,
              adjustments: s.adjustments,
              latest: { version: s.version, text: s.text },
              contractNow: contract,
            }));
            const r = restateChain(chain, reason, id, '2026-12-01');
            const before = balances(
              chain.flatMap((p, i) =>
                settleVersion(p.inputs, p.adjustments).journal.entries.map((e) => ({
                  ...e,
                  key: `${i}:${e.key}`,
                })),
              ),
            );
            // (1) The delta is exactly the difference of the two versions' journals.
            const after = balances(r.periods.flatMap((p) => p.after.journal.entries));
            const moved = balances(r.delta);
            for (const [code, v] of moved) before.set(code, (before.get(code) ?? 0n) + v);
            for (const [k2, v] of before) if (v === 0n) before.delete(k2);
            expect(sorted(before)).toEqual(sorted(after));
            for (const e of r.delta) {
              expect(e.effectiveDate).toBe('2026-12-01');
              expect(e.key.startsWith(`${id}:`)).toBe(true);
            }
            ledger.push(...r.delta);
            for (const [i, p] of r.periods.entries()) {
              const s = state[from + i]!;
              if (p.toVersion !== null) {
                s.version = p.toVersion;
                s.text = p.after.text;
                expect(p.after.statement.restatement?.version).toBe(p.toVersion);
              } else expect(p.netPayableDeltaMinor).toBe(0n);
              s.inputs = { ...s.inputs, ...p.overrides };
              s.adjustments = p.overrides.adjustments;
            }
            if (reason.kind !== 'contract_version' && c.amount !== 0n)
              finalAdjustments[at]!.push(r.periods[0]!.overrides.adjustments.at(-1)!);
          }
          // (2) The ledger after every delta is the month computed from scratch under the final inputs.
          const scratch = settleMonth(days, contract, finalAdjustments);
          expect(sorted(balances(ledger))).toEqual(
            sorted(balances(scratch.flatMap((b) => b.journal.entries))),
          );
          for (const [i, s] of state.entries()) {
            const { restatement: _r, ...latest } = JSON.parse(s.text) as Record<string, unknown>;
            const { restatement: _s, ...fresh } = JSON.parse(scratch[i]!.text) as Record<string, unknown>;
            expect(latest).toEqual(fresh);
          }
        },
      ),
      { numRuns: 150, seed: 20261207 },
    );
  });

  it('restating with no change gives an empty delta and no new version', () => {
    const days = [0, 1, 2].map((d) => [
      {
        businessDate: day(d),
        gameId: 'g',
        category: null,
        currency: 'EUR',
        betCount: 1n,
        betMinor: 300_000n,
        winMinor: 100_000n,
        rollbackBetMinor: 0n,
        rollbackWinMinor: 0n,
        bonusWinMinor: 0n,
        jackpotContributionMinor: 0n,
        jackpotWinMinor: 0n,
      },
    ]);
    const contract = { version: 1, terms: terms('0.12', 0n, 'floor') };
    const v1 = settleMonth(days, contract, []);
    const chain = v1.map((b) => ({
      inputs: b.inputs,
      adjustments: [],
      latest: { version: 1, text: b.text },
      contractNow: contract,
    }));
    for (const reason of [
      { kind: 'contract_version', contractVersion: 1, note: 'same terms' },
      { kind: 'manual', line: 'tier_fee', amountMinor: '0', note: 'nothing' },
    ] as RestatementReason[]) {
      const r = restateChain(chain, reason, 'rst-00000000000000000001', '2026-12-01');
      expect(r.delta).toEqual([]);
      expect(r.periods.every((p) => p.toVersion === null)).toBe(true);
    }
  });

  it('refuses a chain whose latest version does not recompute to its stored bytes', () => {
    const contract = { version: 1, terms: terms('0.12', 0n, 'floor') };
    const [b] = settleMonth([[]], contract, []);
    expect(() =>
      restateChain(
        [
          {
            inputs: b!.inputs,
            adjustments: [],
            latest: { version: 1, text: b!.text.replace('acme', 'acmf') },
            contractNow: contract,
          },
        ],
        { kind: 'manual', line: 'tier_fee', amountMinor: '100', note: 'x' },
        'rst-00000000000000000002',
        '2026-12-01',
      ),
    ).toThrow(/does not recompute/);
  });
});
