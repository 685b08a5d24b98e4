import fc from 'fast-check';
import { reconciliationTermsSchema } from './rules';
import type { StoredContractTerms } from './contract';
import { computeFees, emptyMonth, type FeeTerms, type MonthToDate } from './fees';
import { gamingTaxAccount, partnerAccount, type PartnerAccountName } from './accounts';
import type { Journal } from './journal';
import { formatAmount, parseAmount } from './money';
import { resolutions, type Resolution } from './settlement';
import {
  renderStatement,
  settle,
  settlePeriod,
  spreadsheetSafe,
  statementCsv,
  type ExceptionRecord,
  type SourceRow,
  type Statement,
  type StatementInputs,
} from './statement';

const SCALES: Record<string, number> = { EUR: 2, USD: 2, JPY: 0, KWD: 3 };
const RATES = [
  { from: 'USD', to: 'EUR', rate: '0.9231', source: 'test', asOf: '2026-11-30T00:00:00.000Z' },
  { from: 'JPY', to: 'EUR', rate: '0.0061237', source: 'test', asOf: '2026-11-30T00:00:00.000Z' },
  { from: 'KWD', to: 'EUR', rate: '2.98', source: 'test', asOf: '2026-11-30T00:00:00.000Z' },
];
const m = (s: string, scale: number) => {
  const p = parseAmount(s, scale, { allowNegative: true });
  if (!p.ok) throw new Error(`${s}: ${p.message}`);
  return p.minor;
};
const eur = (s: string) => m(s, 2);
const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

const amount = fc.bigInt({ min: 0n, max: 10n ** 9n });
const source = fc
  .record({
    day: fc.constantFrom('2026-11-28', '2026-11-29', '2026-11-30'),
    game: fc.constantFrom('g1', 'g2', 'g3', 'g4'),
    currency: fc.constantFrom('EUR', 'USD', 'JPY', 'KWD'),
    bet: amount,
    win: amount,
    rbShare: fc.integer({ min: 0, max: 50 }),
    bonus: amount,
    jc: fc.bigInt({ min: 0n, max: 10n ** 7n }),
    jw: fc.bigInt({ min: 0n, max: 10n ** 7n }),
  })
  .map((s): SourceRow => ({
    businessDate: s.day,
    gameId: s.game,
    category: s.game === 'g1' ? 'slots' : s.game === 'g2' ? 'live' : null,
    currency: s.currency,
    betCount: 10n,
    betMinor: s.bet,
    winMinor: s.win,
    rollbackBetMinor: (s.bet * BigInt(s.rbShare)) / 100n,
    rollbackWinMinor: (s.win * BigInt(s.rbShare)) / 200n,
    bonusWinMinor: s.bonus / 10n,
    jackpotContributionMinor: s.jc,
    jackpotWinMinor: s.jw,
  }));
const exception = (i: number) =>
  fc
    .record({
      resolution: fc.constantFrom<Resolution>(...resolutions),
      txType: fc.constantFrom<string | null>('bet', 'win', null),
      currency: fc.constantFrom<string | null>('EUR', 'USD', 'JPY', 'KWD', null),
      aggregate: fc.boolean(),
      difference: fc.bigInt({ min: -(10n ** 6n), max: 10n ** 6n }),
      adjust: fc.bigInt({ min: -(10n ** 6n), max: 10n ** 6n }).filter((x) => x !== 0n),
    })
    .map((e): ExceptionRecord => ({
      exceptionId: `amount_mismatch:tx-${i}`,
      kind: 'amount_mismatch',
      txId: e.txType ? `tx-${i}` : null,
      differenceMinor: e.difference.toString(),
      detail: 'generated',
      lateAccruedMinor: null,
      currency: e.currency,
      txType: e.txType,
      isAggregate: e.txType === null && e.aggregate,
      resolution: {
        resolution: e.resolution,
        ...(e.resolution === 'adjust'
          ? {
              amount: `${e.adjust < 0n ? '-' : ''}${(e.adjust < 0n ? -e.adjust : e.adjust) / 100n}.${((e.adjust < 0n ? -e.adjust : e.adjust) % 100n).toString().padStart(2, '0')}`,
            }
          : {}),
        reason: 'generated',
        operator: 'ana',
      },
    }));
const terms = fc.record({
  base: fc.constantFrom<'ggr' | 'ngr'>('ggr', 'ngr'),
  tierMode: fc.constantFrom<'marginal' | 'whole_volume'>('marginal', 'whole_volume'),
  negativeBase: fc.constantFrom<'carry_forward' | 'floor'>('carry_forward', 'floor'),
  jackpots: fc.constantFrom<'pass_through' | 'exclude'>('pass_through', 'exclude'),
  gamingTax: fc.option(
    fc.record({
      jurisdiction: fc.constantFrom('MT', 'GB'),
      rate: fc.constantFrom('0.05', '0.15', '0.0125'),
      on: fc.constantFrom<'ggr' | 'stakes'>('ggr', 'stakes'),
    }),
    { nil: null },
  ),
  mmrg: fc.bigInt({ min: 0n, max: 10n ** 8n }),
  fixed: fc.bigInt({ min: 0n, max: 10n ** 6n }),
});
type GeneratedTerms = typeof terms extends fc.Arbitrary<infer T> ? T : never;
const storedTerms = (t: GeneratedTerms) =>
  ({
    base: t.base,
    tiers: [
      { upToMinor: '10000000', rate: '0.12' },
      { upToMinor: '50000000', rate: '0.1' },
      { upToMinor: null, rate: '0.085' },
    ],
    tierMode: t.tierMode,
    minimumGuaranteeMinor: t.mmrg.toString(),
    fixedFeeMinor: t.fixed.toString(),
    categoryRates: { live: '0.02', slots: '0.005' },
    negativeBase: t.negativeBase,
    jackpots: t.jackpots,
    taxWithholdingRate: '0.05',
    gamingTax: t.gamingTax,
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
  }) satisfies StoredContractTerms;

const inputs = fc
  .record({
    terms,
    sources: fc.uniqueArray(source, {
      maxLength: 12,
      selector: (s) => `${s.businessDate}|${s.gameId}|${s.currency}`,
    }),
    exceptions: fc.integer({ min: 0, max: 6 }).chain((n) => fc.tuple(...[...Array(n).keys()].map(exception))),
    carry: fc.array(fc.bigInt({ min: -(10n ** 8n), max: 10n ** 6n }), { maxLength: 2 }),
    closesMonth: fc.boolean(),
    mtdVolume: fc.bigInt({ min: 0n, max: 10n ** 8n }),
  })
  .map((g): StatementInputs => ({
    cycleId: 'settlement:acme:2026-11-30',
    partnerId: 'acme',
    periodStart: '2026-11-28',
    periodEnd: '2026-11-30',
    currency: 'EUR',
    currencyScale: 2,
    contract: { version: 3, terms: storedTerms(g.terms) },
    currencyScales: SCALES,
    sources: g.sources,
    fxRates: RATES,
    exceptions: g.exceptions,
    carriedIn: g.carry.map((amountMinor, i) => ({
      fromSettlementId: `settlement:acme:2026-11-0${i + 1}`,
      amountMinor,
    })),
    month: '2026-11-01',
    closesMonth: g.closesMonth,
    monthToDate: {
      ...emptyMonth,
      volumeMinor: g.mtdVolume,
      tierFeeMinor: g.mtdVolume / 10n,
      variableFeeMinor: g.mtdVolume / 10n,
    },
  }));

describe('statement: every figure adds up from its sources to the net payable', () => {
  it('sources → currencies → FX → resolutions → GGR → NGR → base → carry → lines → net payable', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const { statement: s } = settlePeriod(input);
        const t = input.contract.terms;
        // Per currency, in its own scale: the sources add up to the currency's totals.
        for (const c of s.currencies) {
          const scale = SCALES[c.currency]!;
          const rows = s.sources.filter((r) => r.currency === c.currency);
          expect(sum(rows.map((r) => m(r.ggr, scale)))).toBe(m(c.ggr, scale));
          expect(sum(rows.map((r) => m(r.bets, scale) - m(r.rolledBackBets, scale)))).toBe(
            m(c.stakes, scale),
          );
          expect(sum(rows.map((r) => m(r.wins, scale) - m(r.rolledBackWins, scale)))).toBe(m(c.wins, scale));
          expect(m(c.stakes, scale) - m(c.wins, scale)).toBe(m(c.ggr, scale));
          if (c.currency === 'EUR') expect(c.inSettlementCurrency.ggr).toBe(c.ggr);
          else expect(c.fx?.rate).toBe(RATES.find((r) => r.from === c.currency)!.rate);
        }
        // In the settlement currency: the converted currencies add up to the revenue.
        const conv = (f: 'stakes' | 'wins' | 'bonusCost' | 'jackpotContributions' | 'jackpotWins') =>
          sum(s.currencies.map((c) => eur(c.inSettlementCurrency[f])));
        expect(conv('stakes')).toBe(eur(s.revenue.stakes));
        expect(conv('wins')).toBe(eur(s.revenue.wins));
        expect(conv('bonusCost')).toBe(eur(s.revenue.bonusCost));
        expect(eur(s.revenue.stakes) - eur(s.revenue.wins)).toBe(eur(s.revenue.ggrBeforeResolutions));
        const applied = sum(s.revenue.resolutions.map((r) => eur(r.effect)));
        expect(eur(s.revenue.ggrBeforeResolutions) + applied).toBe(eur(s.revenue.ggr));
        const gamingTax = s.revenue.gamingTax ? eur(s.revenue.gamingTax.amount) : 0n;
        expect(eur(s.revenue.ngr)).toBe(
          eur(s.revenue.ggr) - eur(s.revenue.bonusCost) - eur(s.revenue.jackpotContributions) - gamingTax,
        );
        const [jc, jw] = [eur(s.revenue.jackpotContributions), eur(s.revenue.jackpotWins)];
        const expectedBase =
          t.base === 'ggr'
            ? eur(s.revenue.ggr) - (t.jackpots === 'exclude' ? jc : jw)
            : eur(s.revenue.ngr) + (t.jackpots === 'exclude' ? 0n : jc - jw);
        expect(eur(s.base.periodBase)).toBe(expectedBase);
        // Carry: what came in, what the base absorbed, what goes out.
        const carriedIn = sum(s.base.carriedIn.map((c) => eur(c.amount)));
        expect(carriedIn).toBe(sum(input.carriedIn.map((c) => c.amountMinor)));
        const effective = eur(s.base.periodBase) + carriedIn;
        expect(eur(s.base.feeBase)).toBe(effective > 0n ? effective : 0n);
        expect(eur(s.base.carriedOut.negativeBase)).toBe(
          t.negativeBase === 'carry_forward' && effective < 0n ? effective : 0n,
        );
        expect(eur(s.base.carriedOut.total)).toBe(
          eur(s.base.carriedOut.negativeBase) +
            sum(s.base.carriedOut.deferredResolutions.map((d) => eur(d.effect))),
        );
        // Every resolution accounted once: applied now, deferred, or without effect on GGR.
        const ids = [...s.revenue.resolutions, ...s.base.carriedOut.deferredResolutions].map(
          (r) => r.exceptionId,
        );
        expect(new Set(ids).size).toBe(ids.length);
        for (const r of s.revenue.resolutions)
          expect(s.ledgerEntries).toContain(`${input.cycleId}:resolution:${r.exceptionId}`);
        // Month: the tier volume moves by the fee base.
        expect(eur(s.month.volumeAfter) - eur(s.month.volumeBefore)).toBe(eur(s.base.feeBase));
        // Lines → gross fee → net payable.
        expect(sum(s.lines.map((l) => eur(l.amount)))).toBe(eur(s.grossFee));
        expect(eur(s.netPayable) + eur(s.taxWithheld)).toBe(eur(s.grossFee));
        // Marginal tiers never charge less for more volume; whole-volume tiers may (a credit line
        // when the month's volume reaches a lower-rate tier).
        if (t.tierMode === 'marginal') expect(eur(s.grossFee) >= 0n).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('is reproducible: the same inputs in any order give the same bytes', () => {
    fc.assert(
      fc.property(inputs, fc.integer(), (input, seed) => {
        const shuffled = <T>(xs: T[]) =>
          xs
            .map((x, i) => ({ x, k: (i * 7919 + seed) % 1000 }))
            .sort((a, b) => a.k - b.k)
            .map((e) => e.x);
        const again: StatementInputs = {
          ...input,
          sources: shuffled(input.sources),
          exceptions: shuffled(input.exceptions),
          fxRates: shuffled(input.fxRates),
        };
        expect(renderStatement(settlePeriod(again).statement)).toBe(
          renderStatement(settlePeriod(input).statement),
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe('resolutions in another currency', () => {
  it("accepting the provider's figure of a JPY bet moves GGR by the difference at the locked rate", () => {
    const base = fc.sample(inputs, { seed: 7, numRuns: 1 })[0]!;
    const input: StatementInputs = {
      ...base,
      sources: [],
      carriedIn: [],
      exceptions: [
        {
          exceptionId: 'amount_mismatch:jp-1',
          kind: 'amount_mismatch',
          txId: 'jp-1',
          differenceMinor: '5000',
          detail: 'ours 5000, theirs 10000',
          lateAccruedMinor: null,
          currency: 'JPY',
          txType: 'bet',
          isAggregate: false,
          resolution: { resolution: 'accept_theirs', reason: 'their log', operator: 'ana' },
        },
      ],
    };
    const s = settlePeriod(input).statement;
    // ¥5,000 × 0.0061237 = €30.6185 → 30.62 (half-even), the residue reported.
    expect(s.revenue.resolutions).toEqual([
      { exceptionId: 'amount_mismatch:jp-1', resolution: 'accept_theirs', effect: '30.62', posted: '30.62' },
    ]);
    expect(s.exceptions[0]).toMatchObject({ currency: 'JPY', difference: '5000' });
    expect(s.rounding).toContainEqual({ step: 'fx amount_mismatch:jp-1', residue: '-1500000/10000000' });
  });
});

describe('the CSV statement', () => {
  it('neutralises what a spreadsheet would run as a formula, keeps negative amounts as numbers', () => {
    expect(['=HYPERLINK("x")', '+1', '@SUM(A1)', '\tx', '\rx', '-cmd'].map(spreadsheetSafe)).toEqual([
      `'=HYPERLINK("x")`,
      "'+1",
      "'@SUM(A1)",
      "'\tx",
      "'\rx",
      "'-cmd",
    ]);
    expect(['-900.00', '12.50', 'slots'].map(spreadsheetSafe)).toEqual(['-900.00', '12.50', 'slots']);
    const input = fc.sample(inputs, { seed: 3, numRuns: 1 })[0]!;
    const csv = statementCsv(
      settlePeriod({
        ...input,
        exceptions: [
          {
            exceptionId: '=cmd|calc',
            kind: 'amount_mismatch',
            txId: null,
            differenceMinor: '0',
            lateAccruedMinor: null,
            detail: 'hostile id',
            currency: null,
            txType: null,
            isAggregate: false,
            resolution: { resolution: 'adjust', amount: '-1.00', reason: 'x', operator: 'ana' },
          },
        ],
      }).statement,
    );
    expect(csv).toContain("'=cmd|calc (adjust)");
    expect(csv).toContain(',-1.00,');
  });
});

describe('a transaction received after the freeze', () => {
  const late = (resolution: Resolution): StatementInputs => ({
    ...fc.sample(inputs, { seed: 7, numRuns: 1 })[0]!,
    sources: [],
    carriedIn: [],
    exceptions: [
      {
        exceptionId: 'late_transaction:l-1',
        kind: 'late_transaction',
        txId: 'l-1',
        differenceMinor: '50000',
        lateAccruedMinor: '50000',
        detail: 'received after the freeze',
        currency: 'EUR',
        txType: 'bet',
        isAggregate: false,
        resolution: { resolution, reason: 'late', operator: 'ana' },
      },
    ],
  });
  it('counts once: accepted, it is in GGR and the ledger already holds it; refused, the ledger gives it back', () => {
    const accepted = settlePeriod(late('accept_theirs')).statement;
    expect(accepted.revenue.resolutions).toEqual([
      { exceptionId: 'late_transaction:l-1', resolution: 'accept_theirs', effect: '500.00', posted: '0.00' },
    ]);
    expect(accepted.ledgerEntries.some((k) => k.includes(':resolution:'))).toBe(false);
    const refused = settlePeriod(late('accept_ours')).statement;
    expect(refused.revenue).toMatchObject({
      ggr: '0.00',
      resolutions: [{ resolution: 'accept_ours', effect: '0.00', posted: '-500.00' }],
    });
    expect(refused.ledgerEntries).toContain('settlement:acme:2026-11-30:resolution:late_transaction:l-1');
  });
});

describe('the month, settled in any order', () => {
  const feeTerms = (t: StoredContractTerms): FeeTerms => ({
    base: 'ggr',
    tiers: t.tiers.map((x) => ({
      upToMinor: x.upToMinor === null ? null : BigInt(x.upToMinor),
      rate: x.rate,
    })),
    tierMode: t.tierMode,
    minimumGuaranteeMinor: BigInt(t.minimumGuaranteeMinor),
    fixedFeeMinor: BigInt(t.fixedFeeMinor),
    categoryRates: {},
    negativeBase: 'floor',
    jackpots: 'exclude',
    taxWithholdingRate: '0',
    gamingTax: null,
  });

  it('charges the month what one monthly period would (within a minor unit per line), the fixed fee once', () => {
    fc.assert(
      fc.property(
        terms,
        fc.array(fc.bigInt({ min: 0n, max: 3n * 10n ** 7n }), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (g, days, rotation) => {
          const t = feeTerms(storedTerms(g));
          const order = days.map((_, i) => (i + rotation) % days.length);
          let mtd: MonthToDate = emptyMonth;
          let gross = 0n;
          let lines = 0;
          let fixedFees = 0;
          for (const i of order) {
            const r = computeFees(
              t,
              {
                betMinor: days[i]!,
                winMinor: 0n,
                bonusCostMinor: 0n,
                jackpotContributionMinor: 0n,
                jackpotWinMinor: 0n,
                baseByCategoryMinor: {},
              },
              {
                closesMonth: i === days.length - 1,
                monthToDate: mtd,
              },
            );
            mtd = r.month;
            gross += r.grossFeeMinor;
            lines += r.lines.filter((l) => l.code === 'tier').length;
            fixedFees += r.lines.filter((l) => l.code === 'fixed_fee').length;
          }
          const whole = computeFees(t, {
            betMinor: sum(days),
            winMinor: 0n,
            bonusCostMinor: 0n,
            jackpotContributionMinor: 0n,
            jackpotWinMinor: 0n,
            baseByCategoryMinor: {},
          });
          const diff = gross - whole.grossFeeMinor;
          const bound = BigInt(lines + whole.lines.filter((l) => l.code === 'tier').length);
          expect(diff <= bound && diff >= -bound).toBe(true);
          expect(fixedFees).toBe(t.fixedFeeMinor > 0n ? 1 : 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// What activities/settlement.ts postSettlement posted before journals: the statement's text
// parsed back (its feeSummary) and the entries rebuilt from it, rule by rule, as it did them.
// Kept here as the reference the journal must match, entry for entry.
function postedFromStatementText(
  s: Statement,
  p: { partnerId: string; periodStart: string; periodEnd: string },
) {
  const scale = 2;
  const amount = (x: string) => m(x, scale);
  const effects = s.revenue.resolutions
    .filter((r) => r.posted !== formatAmount(0n, scale))
    .map((r) => ({ exceptionId: r.exceptionId, effect: r.posted, minor: amount(r.posted) }));
  const gamingTax = s.revenue.gamingTax
    ? { jurisdiction: s.revenue.gamingTax.jurisdiction, amount: s.revenue.gamingTax.amount }
    : null;
  const carriedIn = sum(s.base.carriedIn.map((x) => amount(x.amount)));
  const carriedOut = amount(s.base.carriedOut.total);
  const net = amount(s.netPayable);
  const tax = amount(s.taxWithheld);
  const gamingTaxMinor = gamingTax ? amount(gamingTax.amount) : 0n;
  const acct = (name: PartnerAccountName) => partnerAccount(p.partnerId, name, s.currency).code;
  const taxPayable = gamingTax ? gamingTaxAccount(gamingTax.jurisdiction, s.currency).code : null;
  const signed = (up: string, down: string, x: bigint) =>
    x > 0n
      ? { debit: up, credit: down, currency: s.currency, amountMinor: x }
      : { debit: down, credit: up, currency: s.currency, amountMinor: -x };
  const entry = (
    key: string,
    sourceKind: string,
    metadata: Record<string, unknown>,
    postings: unknown[],
  ) => ({
    key,
    effectiveDate: p.periodEnd,
    sourceKind,
    sourceRef: s.settlementId,
    metadata: { partnerId: p.partnerId, ...metadata },
    postings,
  });
  const entries = [];
  for (const e of effects)
    entries.push(
      entry(
        `${s.settlementId}:resolution:${e.exceptionId}`,
        'adjustment',
        { exceptionId: e.exceptionId, ggrEffectMinor: e.minor.toString() },
        [signed(acct('game_activity'), acct('gaming_revenue'), e.minor)],
      ),
    );
  if (carriedIn !== 0n)
    entries.push(
      entry(`${s.settlementId}:carry-in`, 'settlement', { carriedInMinor: carriedIn.toString() }, [
        signed(acct('carry_forward_offset'), acct('carry_forward'), carriedIn),
      ]),
    );
  if (carriedOut !== 0n)
    entries.push(
      entry(`${s.settlementId}:carry-out`, 'settlement', { carriedOutMinor: carriedOut.toString() }, [
        signed(acct('carry_forward'), acct('carry_forward_offset'), carriedOut),
      ]),
    );
  if (gamingTaxMinor !== 0n && taxPayable)
    entries.push(
      entry(
        `${s.settlementId}:gaming-tax`,
        'settlement',
        { jurisdiction: gamingTax!.jurisdiction, gamingTax: gamingTax!.amount },
        [signed(acct('gaming_tax'), taxPayable, gamingTaxMinor)],
      ),
    );
  const feePostings = [
    ...(net !== 0n ? [signed(acct('provider_fees'), acct('fees_payable'), net)] : []),
    ...(tax !== 0n ? [signed(acct('provider_fees'), acct('tax_withheld'), tax)] : []),
  ];
  if (feePostings.length > 0)
    entries.push(
      entry(
        `${s.settlementId}:fees`,
        'settlement',
        {
          periodStart: p.periodStart,
          periodEnd: p.periodEnd,
          grossFee: s.grossFee,
          taxWithheld: s.taxWithheld,
          netPayable: s.netPayable,
        },
        feePostings,
      ),
    );
  return entries;
}

/** The journal in the reference's shape; metadata without the fields journals added. */
const asPosted = (j: Journal) =>
  j.entries.map((e) => {
    const { line: _line, fromSettlementIds: _from, ...metadata } = e.metadata;
    return {
      key: e.key,
      effectiveDate: e.effectiveDate,
      sourceKind: e.sourceKind,
      sourceRef: j.sourceRef,
      metadata,
      postings: e.postings.map((p) => ({
        debit: p.debit.code,
        credit: p.credit.code,
        currency: p.currency,
        amountMinor: p.amountMinor,
      })),
    };
  });

describe('the settlement journal', () => {
  const check = (input: StatementInputs) => {
    const settled = settle(input);
    const { statement: s, journal } = settled;
    // The statement is the one settlePeriod gives, byte for byte: the journal adds nothing to it.
    expect(renderStatement(s)).toBe(renderStatement(settlePeriod(input).statement));
    expect(renderStatement(s)).not.toContain('"line"');
    expect(journal).toMatchObject({
      id: `${input.cycleId}:settlement`,
      kind: 'settlement',
      sourceRef: input.cycleId,
    });
    // Its keys are the statement's ledger entries, the payout aside, in the same order...
    expect(journal.entries.map((e) => e.key)).toEqual(
      s.ledgerEntries.filter((k) => k !== `${input.cycleId}:payout`),
    );
    // ...and each entry posts what postSettlement posted from the statement's text.
    expect(asPosted(journal)).toEqual(postedFromStatementText(s, input));
    // Every entry names the statement line it comes from; every posting is positive.
    for (const e of journal.entries) {
      expect(typeof e.metadata.line).toBe('string');
      for (const p of e.postings) expect(p.amountMinor > 0n).toBe(true);
    }
  };

  it('posts exactly what postSettlement posted, under the keys the statement lists', () => {
    fc.assert(fc.property(inputs, check), { numRuns: 500 });
  });

  it('holds for the hand-made fixtures too (late transactions under every resolution, a carry in, no activity)', () => {
    const base = fc.sample(inputs, { seed: 7, numRuns: 1 })[0]!;
    const late = (resolution: Resolution): StatementInputs => ({
      ...base,
      sources: [],
      carriedIn: [{ fromSettlementId: 'settlement:acme:2026-11-01', amountMinor: -12_345n }],
      exceptions: [
        {
          exceptionId: 'late_transaction:l-1',
          kind: 'late_transaction',
          txId: 'l-1',
          differenceMinor: '50000',
          lateAccruedMinor: '50000',
          detail: 'received after the freeze',
          currency: 'EUR',
          txType: 'bet',
          isAggregate: false,
          resolution: { resolution, reason: 'late', operator: 'ana' },
        },
      ],
    });
    for (const r of resolutions) check(late(r));
    check({ ...base, sources: [], exceptions: [], carriedIn: [] });
    const refused = settle(late('accept_ours')).journal;
    expect(refused.entries.find((e) => e.key.endsWith(':resolution:late_transaction:l-1'))).toMatchObject({
      sourceKind: 'adjustment',
      metadata: {
        line: 'revenue.resolutions',
        exceptionId: 'late_transaction:l-1',
        ggrEffectMinor: '-50000',
      },
      postings: [
        {
          debit: { code: 'partner:acme:gaming_revenue:EUR' },
          credit: { code: 'partner:acme:game_activity:EUR' },
          amountMinor: 50000n,
        },
      ],
    });
  });
});

describe('decisions of a rule or a bulk, aggregated', () => {
  /** Each account's balance (debits − credits) over a journal's postings. */
  const balances = (j: Journal): Map<string, bigint> => {
    const out = new Map<string, bigint>();
    for (const e of j.entries)
      for (const p of e.postings) {
        out.set(p.debit.code, (out.get(p.debit.code) ?? 0n) + p.amountMinor);
        out.set(p.credit.code, (out.get(p.credit.code) ?? 0n) - p.amountMinor);
      }
    for (const [k, v] of out) if (v === 0n) out.delete(k);
    return out;
  };

  it('leave every account with the same balance and the statement with the same figures as resolving one by one', () => {
    fc.assert(
      fc.property(inputs, fc.constantFrom('bulk:b1', 'rule:rounding'), (input, group) => {
        const one = settle(input);
        // What a bulk can decide (never an `adjust`, which needs an amount per exception).
        const grouped = settle({
          ...input,
          exceptions: input.exceptions.map((e) =>
            e.resolution?.resolution === 'adjust' ? e : { ...e, group },
          ),
        });
        for (const figure of ['grossFee', 'taxWithheld', 'netPayable'] as const)
          expect(grouped.statement[figure]).toBe(one.statement[figure]);
        expect(grouped.statement.revenue.ggr).toBe(one.statement.revenue.ggr);
        expect(grouped.statement.base).toEqual(one.statement.base);
        expect(balances(grouped.journal)).toEqual(balances(one.journal));
        // One line (and one entry) per source and resolution: its amount is the sum of the parts
        // the link table records, each an exception that moves money on its own.
        const moved = new Map(one.resolutionEffects.map((r) => [r.exceptionId, r.ledgerMinor]));
        for (const r of grouped.resolutionEffects.filter((x) => x.covers)) {
          expect(r.exceptionId.startsWith(`${group}:`)).toBe(true);
          expect(r.covers!.reduce((sum, c) => sum + c.ledgerMinor, 0n)).toBe(r.ledgerMinor);
          for (const c of r.covers!) expect(moved.get(c.exceptionId) ?? 0n).toBe(c.ledgerMinor);
        }
      }),
      { numRuns: 300 },
    );
  });
});
