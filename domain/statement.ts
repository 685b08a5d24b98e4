// The money of one settlement period, from its frozen inputs to its statement: FX conversion
// of each currency's totals, the effect of each resolution, the carry in and out, the month's
// accrual, the contract's fee. One pure function (no I/O, no clock): the cycle's activity
// loads the inputs and stores what it returns, and a dry run recomputes a settled period from
// the same inputs and must get the same bytes.
import { readContractTerms, type StoredContractTerms } from './contract';
import {
  categoryBase,
  computeFees,
  totalResidue,
  type FeeResult,
  type MonthToDate,
  type PeriodTotals,
} from './fees';
import { stringify } from 'csv-stringify/sync';
import { createHash } from 'node:crypto';
import { convert, formatAmount, parseAmount, parseDecimal, type Fraction } from './money';
import { resolutionBaseEffect, type Resolution } from './settlement';
import { settlementJournal, type Journal } from './journal';

/** Our side of the period, per business day, game and currency (after rollbacks), as frozen. */
export interface SourceRow {
  businessDate: string;
  gameId: string;
  /** From the partner's game catalogue; null for a game it does not list. */
  category: string | null;
  currency: string;
  betCount: bigint;
  betMinor: bigint;
  winMinor: bigint;
  rollbackBetMinor: bigint;
  rollbackWinMinor: bigint;
  /** Winnings of bonus play (after rollbacks): the operator's bonus cost. */
  bonusWinMinor: bigint;
  jackpotContributionMinor: bigint;
  jackpotWinMinor: bigint;
}

export interface LockedFxRate {
  from: string;
  to: string;
  rate: string;
  source: string;
  asOf: string;
}

/** An exception as reconciliation found it, with the operators' decision. */
export interface ExceptionRecord {
  exceptionId: string;
  kind: string;
  txId: string | null;
  differenceMinor: string;
  /**
   * Our amount of the transaction when it was received after the period froze: ingest
   * accrued it in the ledger, but it is not in the frozen period (frozen with the fee step).
   */
  lateAccruedMinor: string | null;
  detail: string;
  /** The currency its difference is in (the transaction's or the totals'); null when none. */
  currency: string | null;
  /** The type of the transaction it concerns (bet, win…), on either side; null for totals. */
  txType: string | null;
  /** A difference of totals (an aggregator's report), already a GGR difference. */
  isAggregate: boolean;
  resolution: { resolution: Resolution; amount?: string; reason: string; operator: string } | null;
  /**
   * What decided it when a rule or a bulk resolution did (`rule:<id>`, `bulk:<id>`): its effect
   * joins one journal entry per source and resolution (the link table names each exception it
   * covers). Absent or null: a person's own decision, with its own entry.
   */
  group?: string | null;
  /**
   * Settled at our figure while the provider has not reported it yet (an expected item), until
   * this instant; absent or null otherwise.
   */
  expectedUntil?: string | null;
  /** The named account a write-off by a rule or a bulk goes to (absent: a write-off posts nothing). */
  writeOffAccount?: string | null;
}

export interface StatementInputs {
  cycleId: string;
  partnerId: string;
  periodStart: string;
  periodEnd: string;
  currency: string;
  currencyScale: number;
  contract: { version: number; terms: StoredContractTerms };
  /** Scale of every currency the sources use. */
  currencyScales: Record<string, number>;
  sources: SourceRow[];
  fxRates: LockedFxRate[];
  exceptions: ExceptionRecord[];
  /** Carries claimed from earlier periods (see db/accruals), in the settlement currency. */
  carriedIn: { fromSettlementId: string; amountMinor: bigint }[];
  month: string;
  closesMonth: boolean;
  monthToDate: MonthToDate;
}

export interface SettledPeriod {
  statement: Statement;
  fees: FeeResult;
  /**
   * Resolutions that move this period's GGR, and what each posts to the ledger: the effect,
   * less what ingest already accrued there (a transaction received after the freeze).
   */
  resolutionEffects: {
    exceptionId: string;
    effectMinor: bigint;
    ledgerMinor: bigint;
    /** An aggregated entry (`<group>:<resolution>` in place of an exception id): the exceptions it covers. */
    covers?: { exceptionId: string; ledgerMinor: bigint }[];
  }[];
  /**
   * Write-offs to named accounts, per account: what accepting the provider's figure would have
   * moved GGR by (memo entries; the period settles on our figure), and the exceptions covered.
   */
  writeOffs: {
    account: string;
    amountMinor: bigint;
    covers: { exceptionId: string; ledgerMinor: bigint }[];
  }[];
  /** Resolutions deferred to the next period (in the carry out). */
  deferred: { exceptionId: string; effectMinor: bigint }[];
  carriedInMinor: bigint;
}

/** A settled period with what it posts: the journal, built from the exact figures. */
export interface Settled extends SettledPeriod {
  /**
   * Every ledger entry the period posts but the payout (`<cycleId>:settlement`): the keys
   * the statement lists, in its order. Its metadata is not part of the statement's bytes.
   */
  journal: Journal;
}

type Amount = string;
export interface Statement {
  statementVersion: 1;
  settlementId: string;
  partnerId: string;
  period: { start: string; end: string };
  currency: string;
  contractVersion: number;
  sources: {
    businessDate: string;
    gameId: string;
    category: string | null;
    currency: string;
    betCount: string;
    bets: Amount;
    wins: Amount;
    rolledBackBets: Amount;
    rolledBackWins: Amount;
    ggr: Amount;
    bonusCost: Amount;
    jackpotContributions: Amount;
    jackpotWins: Amount;
  }[];
  currencies: {
    currency: string;
    stakes: Amount;
    wins: Amount;
    ggr: Amount;
    bonusCost: Amount;
    jackpotContributions: Amount;
    jackpotWins: Amount;
    fx: { rate: string; source: string; asOf: string } | null;
    inSettlementCurrency: {
      stakes: Amount;
      wins: Amount;
      ggr: Amount;
      bonusCost: Amount;
      jackpotContributions: Amount;
      jackpotWins: Amount;
    };
  }[];
  revenue: {
    stakes: Amount;
    wins: Amount;
    ggrBeforeResolutions: Amount;
    /** `effect` on this period's GGR; `posted`, what its ledger entry moves (see ledgerEntries). */
    /** One line per exception, or per rule or bulk and resolution (`exceptionId` the group's key, with `covers`). */
    resolutions: {
      exceptionId: string;
      resolution: Resolution;
      effect: Amount;
      posted: Amount;
      covers?: number;
    }[];
    ggr: Amount;
    bonusCost: Amount;
    jackpotContributions: Amount;
    jackpotWins: Amount;
    gamingTax: {
      jurisdiction: string;
      on: 'ggr' | 'stakes';
      rate: string;
      /** The month's tax base to date (GGR or stakes), this period included. */
      monthBase: Amount;
      /** Charged to the month's earlier periods. */
      chargedEarlier: Amount;
      /** This period's: rate × the month's base (never below zero) − charged earlier. */
      amount: Amount;
    } | null;
    ngr: Amount;
  };
  base: {
    contractBase: 'ggr' | 'ngr';
    jackpots: 'pass_through' | 'exclude';
    periodBase: Amount;
    carriedIn: { fromSettlementId: string; amount: Amount }[];
    feeBase: Amount;
    carriedOut: {
      negativeBase: Amount;
      deferredResolutions: { exceptionId: string; effect: Amount }[];
      total: Amount;
    };
  };
  categories: { category: string; base: Amount }[];
  month: {
    month: string;
    closesMonth: boolean;
    volumeBefore: Amount;
    volumeAfter: Amount;
    variableFeesToDate: Amount;
    minimumGuarantee: Amount;
    guaranteeAssessed: boolean;
    topUpsToDate: Amount;
    fixedFee: 'charged' | 'charged earlier this month' | "at the month's last period" | 'none';
  };
  lines: { code: string; description: string; base: Amount; rate: string | null; amount: Amount }[];
  grossFee: Amount;
  taxWithheld: Amount;
  netPayable: Amount;
  /** What rounding dropped, per step, as exact fractions of a minor unit (never lost silently). */
  rounding: { step: string; residue: string }[];
  /**
   * Items settled at our figure that the provider had not reported yet, each awaited until its
   * age limit (then booked as mismatched in a later cycle). Present only when there are some.
   */
  expected?: { exceptionId: string; txId: string | null; difference: Amount; until: string }[];
  /** Differences written off to named accounts (memo entries), per account. Present only when there are some. */
  writtenOff?: { account: string; amount: Amount; covers: number }[];
  exceptions: {
    exceptionId: string;
    kind: string;
    txId: string | null;
    /** The currency `difference` is in (the transaction's). */
    currency: string | null;
    difference: Amount;
    detail: string;
    resolution: { resolution: Resolution; amount?: string; reason: string; operator: string } | null;
  }[];
  /** Idempotency keys of the ledger entries this statement posts (GET /v1/ledger/entries?key=). */
  ledgerEntries: string[];
  /**
   * Present on a version after the first: which restatement made it, the version it replaces
   * (with that one's digest) and why. Version 1 never has it (its bytes are the fee step's).
   */
  restatement?: { version: number; previousDigest: string; restatementId: string; reason: string };
  /**
   * Present when the contract has a minimum payout or something is brought forward: what is
   * payable, what is paid, what rolls to the next statement (see withPayout).
   */
  payout?: {
    netPayable: Amount;
    broughtForward: { id: string; kind: string; ref: string; amount: Amount; note: string }[];
    payable: Amount;
    minimumPayout: Amount;
    toPay: Amount;
    rolledToNextStatement: Amount;
    note: string;
  };
}

export class StatementInputError extends Error {}

const FIELDS = [
  'betMinor',
  'winMinor',
  'bonusCostMinor',
  'jackpotContributionMinor',
  'jackpotWinMinor',
] as const;
type Field = (typeof FIELDS)[number];
type Sums = Record<Field, bigint>;
const zeroSums = (): Sums => ({
  betMinor: 0n,
  winMinor: 0n,
  bonusCostMinor: 0n,
  jackpotContributionMinor: 0n,
  jackpotWinMinor: 0n,
});
const sumsOf = (s: SourceRow): Sums => ({
  betMinor: s.betMinor - s.rollbackBetMinor,
  winMinor: s.winMinor - s.rollbackWinMinor,
  bonusCostMinor: s.bonusWinMinor,
  jackpotContributionMinor: s.jackpotContributionMinor,
  jackpotWinMinor: s.jackpotWinMinor,
});
const add = (a: Sums, b: Sums) => {
  for (const f of FIELDS) a[f] += b[f];
};
const fraction = (f: Fraction) => `${f.num}/${f.den}`;
const byKey =
  <T>(key: (t: T) => string) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

/** The ledger entries a settled period posts, by idempotency key (also listed on the statement). */
export function ledgerEntryKeys(
  cycleId: string,
  p: {
    resolutionEffects: { exceptionId: string }[];
    writeOffs?: { account: string }[];
    gamingTaxMinor: bigint;
    netPayableMinor: bigint;
    taxWithheldMinor: bigint;
    carriedInMinor: bigint;
    carriedOutMinor: bigint;
  },
): string[] {
  return [
    ...p.resolutionEffects.map((e) => `${cycleId}:resolution:${e.exceptionId}`),
    ...(p.writeOffs ?? []).map((w) => `${cycleId}:write-off:${w.account}`),
    ...(p.carriedInMinor !== 0n ? [`${cycleId}:carry-in`] : []),
    ...(p.carriedOutMinor !== 0n ? [`${cycleId}:carry-out`] : []),
    ...(p.gamingTaxMinor !== 0n ? [`${cycleId}:gaming-tax`] : []),
    ...(p.netPayableMinor !== 0n || p.taxWithheldMinor !== 0n ? [`${cycleId}:fees`] : []),
    ...(p.netPayableMinor > 0n ? [`${cycleId}:payout`] : []),
  ];
}

/** Settles one period from its inputs: the figures, the statement, what to post and carry. */
export function settlePeriod(inputs: StatementInputs): SettledPeriod {
  return settle(inputs);
}

/**
 * Settles one period from its inputs: the figures, the statement, and the journal of what it
 * posts, built from the same bigint figures the statement formats (never parsed back from it).
 */
export function settle(inputs: StatementInputs): Settled {
  const terms = readContractTerms(inputs.contract.terms).fees;
  const scale = inputs.currencyScale;
  const fmt = (m: bigint) => formatAmount(m, scale);
  const scaleOf = (currency: string) => {
    const s = inputs.currencyScales[currency];
    if (s === undefined) throw new StatementInputError(`no scale for currency ${currency}`);
    return s;
  };
  const rounding: { step: string; residue: string }[] = [];
  const rates = new Map(inputs.fxRates.map((r) => [r.from, r]));

  // 1. Sources, per currency and per (currency, category).
  const sources = [...inputs.sources].sort(byKey((s) => `${s.businessDate}|${s.gameId}|${s.currency}`));
  const perCurrency = new Map<string, Sums>();
  const perCategory = new Map<string, Sums>();
  for (const s of sources) {
    const sums = sumsOf(s);
    if (!perCurrency.has(s.currency)) perCurrency.set(s.currency, zeroSums());
    add(perCurrency.get(s.currency)!, sums);
    if (s.category !== null) {
      const k = `${s.currency}|${s.category}`;
      if (!perCategory.has(k)) perCategory.set(k, zeroSums());
      add(perCategory.get(k)!, sums);
    }
  }

  // 2. Each currency into the settlement currency at its locked rate, field by field.
  const toSettlement = (currency: string, sums: Sums, what: string): Sums => {
    if (currency === inputs.currency) return { ...sums };
    const locked = rates.get(currency);
    const rate = locked ? parseDecimal(locked.rate, { maxScale: 20 }) : null;
    if (!rate?.ok) throw new StatementInputError(`no FX rate locked for ${currency}/${inputs.currency}`);
    const out = zeroSums();
    for (const f of FIELDS) {
      const r = convert(sums[f], scaleOf(currency), rate.value, scale);
      out[f] = r.rounded;
      if (r.residue.num !== 0n) rounding.push({ step: `fx ${what} ${f}`, residue: fraction(r.residue) });
    }
    return out;
  };
  const total = zeroSums();
  const currencies: Statement['currencies'] = [];
  for (const [currency, sums] of [...perCurrency].sort(byKey(([c]) => c))) {
    const converted = toSettlement(currency, sums, currency);
    add(total, converted);
    const own = (m: bigint) => formatAmount(m, scaleOf(currency));
    const locked = rates.get(currency);
    currencies.push({
      currency,
      stakes: own(sums.betMinor),
      wins: own(sums.winMinor),
      ggr: own(sums.betMinor - sums.winMinor),
      bonusCost: own(sums.bonusCostMinor),
      jackpotContributions: own(sums.jackpotContributionMinor),
      jackpotWins: own(sums.jackpotWinMinor),
      fx:
        currency === inputs.currency || !locked
          ? null
          : { rate: locked.rate, source: locked.source, asOf: locked.asOf },
      inSettlementCurrency: {
        stakes: fmt(converted.betMinor),
        wins: fmt(converted.winMinor),
        ggr: fmt(converted.betMinor - converted.winMinor),
        bonusCost: fmt(converted.bonusCostMinor),
        jackpotContributions: fmt(converted.jackpotContributionMinor),
        jackpotWins: fmt(converted.jackpotWinMinor),
      },
    });
  }
  const byCategory = new Map<string, Sums>();
  for (const [k, sums] of [...perCategory].sort(byKey(([c]) => c))) {
    const [currency, category] = k.split('|') as [string, string];
    const converted = toSettlement(currency, sums, `${currency} ${category}`);
    if (!byCategory.has(category)) byCategory.set(category, zeroSums());
    add(byCategory.get(category)!, converted);
  }

  // 3. Resolutions: applied now (accept_theirs, adjust) or deferred to the next period.
  const resolutionEffects: SettledPeriod['resolutionEffects'] = [];
  const deferred: SettledPeriod['deferred'] = [];
  const applied: Statement['revenue']['resolutions'] = [];
  const writeOffs = new Map<
    string,
    { amountMinor: bigint; covers: { exceptionId: string; ledgerMinor: bigint }[] }
  >();
  const grouped = new Map<
    string,
    {
      resolution: Resolution;
      effect: bigint;
      ledger: bigint;
      covers: { exceptionId: string; ledgerMinor: bigint }[];
    }
  >();
  const exceptions = [...inputs.exceptions].sort(byKey((e) => e.exceptionId));
  for (const e of exceptions) {
    if (!e.resolution) throw new StatementInputError(`exception ${e.exceptionId} is not resolved`);
    const fact = {
      kind: e.kind,
      txType: e.txType,
      isAggregate: e.isAggregate,
      differenceMinor: BigInt(e.differenceMinor),
    };
    let amountMinor: bigint | undefined;
    if (e.resolution.amount !== undefined) {
      const parsed = parseAmount(e.resolution.amount, scale, { allowNegative: true });
      if (!parsed.ok) throw new StatementInputError(`amount of ${e.exceptionId}: ${parsed.message}`);
      amountMinor = parsed.minor;
    }
    // A difference is in its transaction's currency: into the settlement currency at the rate
    // locked for the cycle (an `adjust` amount is entered in the settlement currency already).
    const inSettlement = (effect: bigint): bigint => {
      if (effect === 0n || e.currency === null || e.currency === inputs.currency) return effect;
      const locked = rates.get(e.currency);
      const rate = locked ? parseDecimal(locked.rate, { maxScale: 20 }) : null;
      if (!rate?.ok) throw new StatementInputError(`no FX rate locked for ${e.currency}/${inputs.currency}`);
      const r = convert(effect, scaleOf(e.currency), rate.value, scale);
      if (r.residue.num !== 0n) rounding.push({ step: `fx ${e.exceptionId}`, residue: fraction(r.residue) });
      return r.rounded;
    };
    // A late transaction is in the ledger already (ingest accrued it) but not in the frozen
    // period: its entry posts the effect less that accrual, so ledger GGR stays the statement's.
    const accrued =
      e.lateAccruedMinor !== null
        ? inSettlement(
            resolutionBaseEffect(
              { ...fact, differenceMinor: BigInt(e.lateAccruedMinor) },
              { resolution: 'accept_theirs' },
            ),
          )
        : 0n;
    if (e.resolution.resolution === 'write_off' && e.writeOffAccount) {
      const written = inSettlement(resolutionBaseEffect(fact, { resolution: 'accept_theirs' }));
      if (written !== 0n) {
        const w = writeOffs.get(e.writeOffAccount) ?? { amountMinor: 0n, covers: [] };
        w.amountMinor += written;
        w.covers.push({ exceptionId: e.exceptionId, ledgerMinor: written });
        writeOffs.set(e.writeOffAccount, w);
      }
    }
    let effect = 0n;
    if (e.resolution.resolution === 'carry_forward') {
      const deferredEffect = inSettlement(resolutionBaseEffect(fact, { resolution: 'accept_theirs' }));
      if (deferredEffect !== 0n) deferred.push({ exceptionId: e.exceptionId, effectMinor: deferredEffect });
    } else {
      effect =
        e.resolution.resolution === 'adjust'
          ? (amountMinor ?? 0n)
          : inSettlement(resolutionBaseEffect(fact, { resolution: e.resolution.resolution }));
    }
    const ledgerMinor = effect - accrued;
    if (effect === 0n && ledgerMinor === 0n) continue;
    if (e.group) {
      // A rule's or a bulk's decisions: one line and one entry per source and resolution.
      const key = `${e.group}:${e.resolution.resolution}`;
      const g = grouped.get(key) ?? {
        resolution: e.resolution.resolution,
        effect: 0n,
        ledger: 0n,
        covers: [],
      };
      g.effect += effect;
      g.ledger += ledgerMinor;
      g.covers.push({ exceptionId: e.exceptionId, ledgerMinor });
      grouped.set(key, g);
      continue;
    }
    resolutionEffects.push({ exceptionId: e.exceptionId, effectMinor: effect, ledgerMinor });
    applied.push({
      exceptionId: e.exceptionId,
      resolution: e.resolution.resolution,
      effect: fmt(effect),
      posted: fmt(ledgerMinor),
    });
  }
  for (const [key, g] of [...grouped].sort(byKey(([k]) => k))) {
    if (g.effect === 0n && g.ledger === 0n) continue;
    resolutionEffects.push({
      exceptionId: key,
      effectMinor: g.effect,
      ledgerMinor: g.ledger,
      covers: g.covers,
    });
    applied.push({
      exceptionId: key,
      resolution: g.resolution,
      effect: fmt(g.effect),
      posted: fmt(g.ledger),
      covers: g.covers.length,
    });
  }
  const expected = exceptions.flatMap((e) =>
    e.expectedUntil
      ? [
          {
            exceptionId: e.exceptionId,
            txId: e.txId,
            difference:
              e.currency === null
                ? fmt(BigInt(e.differenceMinor))
                : formatAmount(BigInt(e.differenceMinor), scaleOf(e.currency)),
            until: e.expectedUntil,
          },
        ]
      : [],
  );
  const writtenOff = [...writeOffs]
    .filter(([, w]) => w.amountMinor !== 0n)
    .sort(byKey(([a]) => a))
    .map(([account, w]) => ({ account, amountMinor: w.amountMinor, covers: w.covers }));
  const adjustmentMinor = resolutionEffects.reduce((s, e) => s + e.effectMinor, 0n);
  const deferredMinor = deferred.reduce((s, e) => s + e.effectMinor, 0n);
  const carriedInMinor = inputs.carriedIn.reduce((s, c) => s + c.amountMinor, 0n);

  // 4. The contract's fee on the period, in its month.
  const baseByCategoryMinor: Record<string, bigint> = {};
  for (const [category, sums] of byCategory)
    baseByCategoryMinor[category] = categoryBase(terms, { ...sums, baseByCategoryMinor: {} });
  const totals: PeriodTotals = { ...total, adjustmentMinor, baseByCategoryMinor };
  const fees = computeFees(terms, totals, {
    carriedInMinor,
    deferredMinor,
    closesMonth: inputs.closesMonth,
    monthToDate: inputs.monthToDate,
  });
  if (fees.gamingTaxResidue.num !== 0n)
    rounding.push({ step: 'gaming tax', residue: fraction(fees.gamingTaxResidue) });
  for (const l of fees.lines)
    if (l.residue.num !== 0n) rounding.push({ step: `line ${l.description}`, residue: fraction(l.residue) });
  if (fees.taxResidue.num !== 0n) rounding.push({ step: 'tax withheld', residue: fraction(fees.taxResidue) });

  const mtd = inputs.monthToDate;
  const statement: Statement = {
    statementVersion: 1,
    settlementId: inputs.cycleId,
    partnerId: inputs.partnerId,
    period: { start: inputs.periodStart, end: inputs.periodEnd },
    currency: inputs.currency,
    contractVersion: inputs.contract.version,
    sources: sources.map((s) => {
      const own = (m: bigint) => formatAmount(m, scaleOf(s.currency));
      const sums = sumsOf(s);
      return {
        businessDate: s.businessDate,
        gameId: s.gameId,
        category: s.category,
        currency: s.currency,
        betCount: s.betCount.toString(),
        bets: own(s.betMinor),
        wins: own(s.winMinor),
        rolledBackBets: own(s.rollbackBetMinor),
        rolledBackWins: own(s.rollbackWinMinor),
        ggr: own(sums.betMinor - sums.winMinor),
        bonusCost: own(s.bonusWinMinor),
        jackpotContributions: own(s.jackpotContributionMinor),
        jackpotWins: own(s.jackpotWinMinor),
      };
    }),
    currencies,
    revenue: {
      stakes: fmt(total.betMinor),
      wins: fmt(total.winMinor),
      ggrBeforeResolutions: fmt(total.betMinor - total.winMinor),
      resolutions: applied,
      ggr: fmt(fees.ggrMinor),
      bonusCost: fmt(total.bonusCostMinor),
      jackpotContributions: fmt(total.jackpotContributionMinor),
      jackpotWins: fmt(total.jackpotWinMinor),
      gamingTax: terms.gamingTax
        ? {
            jurisdiction: terms.gamingTax.jurisdiction,
            on: terms.gamingTax.on,
            rate: terms.gamingTax.rate,
            monthBase: fmt(fees.month.taxBaseMinor),
            chargedEarlier: fmt(inputs.monthToDate.gamingTaxMinor),
            amount: fmt(fees.gamingTaxMinor),
          }
        : null,
      ngr: fmt(fees.ngrMinor),
    },
    base: {
      contractBase: terms.base,
      jackpots: terms.jackpots,
      periodBase: fmt(fees.periodBaseMinor),
      carriedIn: inputs.carriedIn.map((c) => ({
        fromSettlementId: c.fromSettlementId,
        amount: fmt(c.amountMinor),
      })),
      feeBase: fmt(fees.feeBaseMinor),
      carriedOut: {
        negativeBase: fmt(fees.negativeCarryMinor),
        deferredResolutions: deferred.map((d) => ({
          exceptionId: d.exceptionId,
          effect: fmt(d.effectMinor),
        })),
        total: fmt(fees.carriedOutMinor),
      },
    },
    categories: Object.keys(baseByCategoryMinor)
      .sort()
      .map((category) => ({ category, base: fmt(baseByCategoryMinor[category]!) })),
    month: {
      month: inputs.month,
      closesMonth: inputs.closesMonth,
      volumeBefore: fmt(mtd.volumeMinor),
      volumeAfter: fmt(fees.month.volumeMinor),
      variableFeesToDate: fmt(fees.month.variableFeeMinor),
      minimumGuarantee: fmt(terms.minimumGuaranteeMinor),
      guaranteeAssessed: fees.month.guaranteeAssessed,
      topUpsToDate: fmt(fees.month.topUpMinor),
      fixedFee:
        terms.fixedFeeMinor === 0n
          ? 'none'
          : mtd.fixedFeeCharged
            ? 'charged earlier this month'
            : fees.month.fixedFeeCharged
              ? 'charged'
              : "at the month's last period",
    },
    // Base and rate in the statement's own terms: "10596.49 at 0.12".
    lines: fees.lines.map((l) => ({
      code: l.code,
      description: l.rate === null ? l.description : `${fmt(l.baseMinor)} at ${l.rate}`,
      base: fmt(l.baseMinor),
      rate: l.rate,
      amount: fmt(l.amountMinor),
    })),
    grossFee: fmt(fees.grossFeeMinor),
    taxWithheld: fmt(fees.taxWithheldMinor),
    netPayable: fmt(fees.netPayableMinor),
    rounding: [
      ...rounding,
      ...(rounding.length > 1
        ? [{ step: 'total', residue: fraction(totalResidue(rounding.map(parseFraction))) }]
        : []),
    ],
    exceptions: exceptions.map((e) => ({
      exceptionId: e.exceptionId,
      kind: e.kind,
      txId: e.txId,
      currency: e.currency,
      difference:
        e.currency === null
          ? fmt(BigInt(e.differenceMinor))
          : formatAmount(BigInt(e.differenceMinor), scaleOf(e.currency)),
      detail: e.detail,
      resolution: e.resolution,
    })),
    ...(expected.length > 0 ? { expected } : {}),
    ...(writtenOff.length > 0
      ? {
          writtenOff: writtenOff.map((w) => ({
            account: w.account,
            amount: fmt(w.amountMinor),
            covers: w.covers.length,
          })),
        }
      : {}),
    ledgerEntries: ledgerEntryKeys(inputs.cycleId, {
      writeOffs: writtenOff,
      resolutionEffects: resolutionEffects.filter((e) => e.ledgerMinor !== 0n),
      gamingTaxMinor: fees.gamingTaxMinor,
      netPayableMinor: fees.netPayableMinor,
      taxWithheldMinor: fees.taxWithheldMinor,
      carriedInMinor,
      carriedOutMinor: fees.carriedOutMinor,
    }),
  };
  const journal = settlementJournal(
    {
      cycleId: inputs.cycleId,
      partnerId: inputs.partnerId,
      currency: inputs.currency,
      periodStart: inputs.periodStart,
      periodEnd: inputs.periodEnd,
    },
    {
      scale,
      resolutionEffects: resolutionEffects.filter((e) => e.ledgerMinor !== 0n),
      writeOffs: writtenOff,
      carriedIn: inputs.carriedIn,
      carriedOutMinor: fees.carriedOutMinor,
      gamingTax: terms.gamingTax
        ? { jurisdiction: terms.gamingTax.jurisdiction, amountMinor: fees.gamingTaxMinor }
        : null,
      grossFeeMinor: fees.grossFeeMinor,
      taxWithheldMinor: fees.taxWithheldMinor,
      netPayableMinor: fees.netPayableMinor,
    },
  );
  // The statement lists what is posted: one list, whatever either side computes.
  const listed = statement.ledgerEntries.filter((k) => k !== `${inputs.cycleId}:payout`);
  const posted = journal.entries.map((e) => e.key);
  if (posted.join('|') !== listed.join('|'))
    throw new Error(
      `journal of ${inputs.cycleId} posts ${posted.join(', ')}; the statement lists ${listed.join(', ')}`,
    );
  return { statement, fees, resolutionEffects, writeOffs: writtenOff, deferred, carriedInMinor, journal };
}

function parseFraction(r: { residue: string }): Fraction {
  const [num, den] = r.residue.split('/') as [string, string];
  return { num: BigInt(num), den: BigInt(den) };
}

/** The sha256 (hex) of a statement's bytes: the digest its versions, issue and acknowledgement name. */
export function statementDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The statement's bytes: what is stored, served and compared by a dry run. */
export function renderStatement(s: Statement): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}

/**
 * A cell a spreadsheet would run as a formula (=, +, -, @, tab, carriage return first) is
 * prefixed with an apostrophe; amounts (a minus sign and digits) stay numbers.
 */
export function spreadsheetSafe(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) && !/^-?\d+(\.\d+)?$/.test(cell) ? `'${cell}` : cell;
}

/** The statement as CSV: one row per figure, in the order the statement adds them up. */
export function statementCsv(s: Statement): string {
  const ccy = s.currency;
  const rows: string[][] = [['section', 'item', 'description', 'amount', 'currency']];
  for (const c of s.currencies)
    rows.push([
      'revenue',
      `ggr_${c.currency}`,
      c.fx
        ? `${c.ggr} ${c.currency} at ${c.fx.rate} (${c.fx.source}, ${c.fx.asOf})`
        : 'in the settlement currency',
      c.inSettlementCurrency.ggr,
      ccy,
    ]);
  for (const r of s.revenue.resolutions)
    rows.push(['revenue', 'resolution', `${r.exceptionId} (${r.resolution})`, r.effect, ccy]);
  rows.push(['revenue', 'ggr', 'bets − wins after rollbacks, FX and resolutions', s.revenue.ggr, ccy]);
  rows.push(['revenue', 'bonus_cost', 'winnings of bonus play', s.revenue.bonusCost, ccy]);
  rows.push([
    'revenue',
    'jackpot_contributions',
    'share of stakes to jackpot pools',
    s.revenue.jackpotContributions,
    ccy,
  ]);
  if (s.revenue.gamingTax)
    rows.push([
      'revenue',
      'gaming_tax',
      `${s.revenue.gamingTax.jurisdiction} ${s.revenue.gamingTax.rate} on ${s.revenue.gamingTax.on}`,
      s.revenue.gamingTax.amount,
      ccy,
    ]);
  rows.push(['revenue', 'ngr', 'GGR − bonus cost − jackpot contributions − gaming tax', s.revenue.ngr, ccy]);
  rows.push([
    'base',
    'period_base',
    `${s.base.contractBase}, jackpots ${s.base.jackpots}`,
    s.base.periodBase,
    ccy,
  ]);
  for (const c of s.base.carriedIn)
    rows.push(['base', 'carried_in', `from ${c.fromSettlementId}`, c.amount, ccy]);
  rows.push(['base', 'fee_base', 'what the fee is computed on', s.base.feeBase, ccy]);
  rows.push(['base', 'carried_out', 'to the next period to settle', s.base.carriedOut.total, ccy]);
  rows.push([
    'month',
    'volume',
    `month-to-date volume ${s.month.month}, before ${s.month.volumeBefore}`,
    s.month.volumeAfter,
    ccy,
  ]);
  for (const l of s.lines) rows.push(['fee', l.code, l.description, l.amount, ccy]);
  rows.push(['fee', 'gross_fee', 'total fee', s.grossFee, ccy]);
  rows.push(['fee', 'tax_withheld', 'withheld for tax', s.taxWithheld, ccy]);
  rows.push([
    'fee',
    'net_payable',
    `paid to the partner; ledger entries ${s.ledgerEntries.join(' ')}`,
    s.netPayable,
    ccy,
  ]);
  return stringify(
    rows.map((r) => r.map(spreadsheetSafe)),
    { quoted_match: /[\r\n]/ },
  );
}

// ---- Line keys: how invoices and disputes name a statement's lines --------------------------

/**
 * The keys a partner's invoice and dispute name a statement's fee lines by: the tier fee (all
 * its bands), the category fee (all categories), the minimum-guarantee top-up, the fixed fee,
 * and a restatement's adjustments. The statement lists bands and categories one by one; an
 * invoice states them as the partner's own documents do, one amount per key.
 */
export const statementLineKeys = [
  'tier_fee',
  'category_fee',
  'minimum_guarantee_top_up',
  'fixed_fee',
  'adjustment',
] as const;
export type StatementLineKey = (typeof statementLineKeys)[number];

const LINE_KEY_OF: Record<string, StatementLineKey> = {
  tier: 'tier_fee',
  category: 'category_fee',
  minimum_guarantee_top_up: 'minimum_guarantee_top_up',
  fixed_fee: 'fixed_fee',
  adjustment: 'adjustment',
};

/** A statement's fee lines summed per line key (minor units of its currency; absent keys are 0). */
export function statementLineTotals(
  s: Pick<Statement, 'lines'>,
  scale: number,
): Record<StatementLineKey, bigint> {
  const totals = Object.fromEntries(statementLineKeys.map((k) => [k, 0n])) as Record<
    StatementLineKey,
    bigint
  >;
  for (const l of s.lines) {
    const key = LINE_KEY_OF[l.code];
    if (!key) throw new StatementInputError(`statement line code ${l.code} has no line key`);
    const a = parseAmount(l.amount, scale, { allowNegative: true });
    if (!a.ok) throw new StatementInputError(`statement line ${l.code}: ${a.message}`);
    totals[key] += a.minor;
  }
  return totals;
}

// ---- The payout a statement leads to: minimum payout and what is brought forward ------------

/** What a statement's payout section is computed from (frozen with the fee step). */
export interface PayoutInputs {
  /** The contract's minimum payout (0: none). */
  minimumPayoutMinor: bigint;
  /** Amounts owed to (+) or by (−) the partner from before, claimed by this statement. */
  broughtForward: { id: string; kind: string; ref: string; amountMinor: bigint; note: string }[];
}

/**
 * The statement with its payout section, and what to pay. What is payable is the net payable
 * plus what is brought forward; it is paid when it is positive and at least the contract's
 * minimum payout, otherwise it rolls, whole, to the next statement (`rolledMinor`, recorded as
 * a payable carry). The approval threshold applies to what is paid. Without a minimum and with
 * nothing brought forward the statement is as it always was (no section): a net payable of
 * zero or less pays nothing.
 */
export function withPayout(
  statement: Statement,
  netPayableMinor: bigint,
  p: PayoutInputs,
  scale: number,
): { statement: Statement; toPayMinor: bigint; rolledMinor: bigint } {
  if (p.minimumPayoutMinor === 0n && p.broughtForward.length === 0)
    return { statement, toPayMinor: netPayableMinor > 0n ? netPayableMinor : 0n, rolledMinor: 0n };
  const fmt = (m: bigint) => formatAmount(m, scale);
  const payable = p.broughtForward.reduce((s, b) => s + b.amountMinor, netPayableMinor);
  const pays = payable > 0n && payable >= p.minimumPayoutMinor;
  const toPayMinor = pays ? payable : 0n;
  const rolledMinor = pays ? 0n : payable;
  return {
    statement: {
      ...statement,
      payout: {
        netPayable: fmt(netPayableMinor),
        broughtForward: p.broughtForward.map((b) => ({
          id: b.id,
          kind: b.kind,
          ref: b.ref,
          amount: fmt(b.amountMinor),
          note: b.note,
        })),
        payable: fmt(payable),
        minimumPayout: fmt(p.minimumPayoutMinor),
        toPay: fmt(toPayMinor),
        rolledToNextStatement: fmt(rolledMinor),
        note: pays
          ? 'paid in full'
          : payable > 0n
            ? `below the minimum payout of ${fmt(p.minimumPayoutMinor)}: rolls to the next statement`
            : payable === 0n
              ? 'nothing to pay'
              : 'owed by the partner: carried to the next statement',
      },
    },
    toPayMinor,
    rolledMinor,
  };
}
