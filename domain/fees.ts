// The fee engine: what a partner earns for a settlement period under the contract version in
// force. Pure and deterministic (no I/O, no clock): the settlement workflow calls it through
// an activity, and finance can re-run it by hand from the statement's inputs.
// Every multiplication rounds half-even to minor units and reports its residue.
import { divideHalfEven, multiplyHalfEven, parseDecimal, type Decimal, type Fraction } from './money';

export type FeeBase = 'ggr' | 'ngr';
export type TierMode = 'marginal' | 'whole_volume';

export interface Tier {
  /** Upper bound of the tier's slice of the month's volume, in minor units; null for the last tier. */
  upToMinor: bigint | null;
  /** Exact decimal rate, e.g. "0.12" for 12 %. */
  rate: string;
}

/** The gaming tax of the partner's jurisdiction: a rate on GGR (never below zero) or on stakes. */
export interface GamingTax {
  jurisdiction: string;
  rate: string;
  on: 'ggr' | 'stakes';
}

export interface FeeTerms {
  base: FeeBase;
  /** Tiers by monthly volume (the month's fee base to date). */
  tiers: Tier[];
  tierMode: TierMode;
  /** Monthly minimum revenue guarantee: a month's variable fee below it is topped up to it. */
  minimumGuaranteeMinor: bigint;
  /** Fixed fee per month. */
  fixedFeeMinor: bigint;
  /** Extra rate on the base of games of a category (premium content, live tables). */
  categoryRates: Record<string, string>;
  /** Negative base (players won): offset against later periods, or ignored. */
  negativeBase: 'carry_forward' | 'floor';
  /**
   * Jackpots. A contribution is the share of stakes (already in bets) that feeds the jackpot
   * pool; a jackpot win is paid from the pool (not in wins). 'pass_through': the pool's flows
   * are the partner's (contributions stay in the base, jackpot wins come out); 'exclude':
   * neither (contributions come out of the base, jackpot wins are ignored).
   */
  jackpots: 'pass_through' | 'exclude';
  /** Share of the fee withheld for tax and paid to the authority instead of the partner. */
  taxWithholdingRate: string;
  gamingTax: GamingTax | null;
}

/** Period totals in the settlement currency's minor units (after FX). */
export interface PeriodTotals {
  /** Stakes after rollbacks. */
  betMinor: bigint;
  /** Wins after rollbacks. */
  winMinor: bigint;
  /** Resolutions that move GGR this period (signed), e.g. an `adjust` or `accept_theirs`. */
  adjustmentMinor?: bigint;
  /** Bonus cost: winnings paid from bonus play (bonus stakes are not stakes). */
  bonusCostMinor: bigint;
  jackpotContributionMinor: bigint;
  jackpotWinMinor: bigint;
  /** The base attributable to each game category, for category rates (see categoryBase). */
  baseByCategoryMinor: Record<string, bigint>;
}

/**
 * Where the period stands in its calendar month: tiers are by monthly volume, the guarantee
 * and the fixed fee are monthly. Sums over the month's cycles that computed their fees before
 * this one (in settlement order).
 */
export interface MonthToDate {
  /** The month's gaming-tax base so far (GGR or stakes, signed). */
  taxBaseMinor: bigint;
  /** Gaming tax charged so far this month. */
  gamingTaxMinor: bigint;
  /** Fee base of the month so far: the tier position this period starts from. */
  volumeMinor: bigint;
  /** Tier fees charged so far this month. */
  tierFeeMinor: bigint;
  /** Variable fees (tiers + categories) charged so far this month. */
  variableFeeMinor: bigint;
  /** Minimum-guarantee top-ups charged so far this month (net of true-ups). */
  topUpMinor: bigint;
  fixedFeeCharged: boolean;
  /** Whether the month's closing cycle has already computed its fees. */
  closed: boolean;
}

export const emptyMonth: MonthToDate = {
  taxBaseMinor: 0n,
  gamingTaxMinor: 0n,
  volumeMinor: 0n,
  tierFeeMinor: 0n,
  variableFeeMinor: 0n,
  topUpMinor: 0n,
  fixedFeeCharged: false,
  closed: false,
};

export interface FeePeriod {
  /** The base carried in from earlier periods (signed: a negative base, deferred resolutions). */
  carriedInMinor?: bigint;
  /** Resolutions deferred to the next period (`carry_forward`), signed GGR effect. */
  deferredMinor?: bigint;
  /** Whether this period is the last of its month (the guarantee and fixed fee are assessed). */
  closesMonth?: boolean;
  monthToDate?: MonthToDate;
}

export interface FeeLine {
  code: 'tier' | 'category' | 'minimum_guarantee_top_up' | 'fixed_fee';
  description: string;
  baseMinor: bigint;
  rate: string | null;
  amountMinor: bigint;
  /** What rounding dropped from this line, as an exact fraction of a minor unit. */
  residue: Fraction;
}

export interface FeeResult {
  stakesMinor: bigint;
  /** Bets − wins after rollbacks, plus this period's resolutions. */
  ggrMinor: bigint;
  gamingTaxMinor: bigint;
  gamingTaxResidue: Fraction;
  /** GGR − bonus cost − jackpot contributions − gaming tax. */
  ngrMinor: bigint;
  /** The contract's base for the period (GGR or NGR, with the jackpot rule), before any carry. */
  periodBaseMinor: bigint;
  carriedInMinor: bigint;
  /** The base fees were computed on (never negative). */
  feeBaseMinor: bigint;
  /** Negative base carried to the next period (≤ 0). */
  negativeCarryMinor: bigint;
  /** Everything carried to the next period: the negative base and deferred resolutions. */
  carriedOutMinor: bigint;
  lines: FeeLine[];
  grossFeeMinor: bigint;
  taxWithheldMinor: bigint;
  taxResidue: Fraction;
  /** What the partner is paid: gross fee − tax withheld. */
  netPayableMinor: bigint;
  /** The month after this period: what the next cycle of the month starts from. */
  month: MonthToDate & { guaranteeAssessed: boolean };
  /** This period's own share of the month's accrual (what is stored for the next cycle). */
  accrual: {
    taxBaseMinor: bigint;
    gamingTaxMinor: bigint;
    volumeMinor: bigint;
    tierFeeMinor: bigint;
    variableFeeMinor: bigint;
    topUpMinor: bigint;
  };
}

export class InvalidTermsError extends Error {}

function rate(value: string, what: string): Decimal {
  const parsed = parseDecimal(value, { maxScale: 12 });
  if (!parsed.ok) throw new InvalidTermsError(`${what}: ${parsed.message}`);
  if (parsed.value.units > 10n ** BigInt(parsed.value.scale))
    throw new InvalidTermsError(`${what}: must not exceed 1 (100 %)`);
  return parsed.value;
}

export function validateTerms(terms: FeeTerms): void {
  if (terms.tiers.length === 0) throw new InvalidTermsError('tiers: at least one tier is needed');
  let previous = 0n;
  terms.tiers.forEach((t, i) => {
    rate(t.rate, `tiers.${i}.rate`);
    const last = i === terms.tiers.length - 1;
    if (last !== (t.upToMinor === null))
      throw new InvalidTermsError(`tiers.${i}.upToMinor: only the last tier is open-ended`);
    if (t.upToMinor !== null) {
      if (t.upToMinor <= previous)
        throw new InvalidTermsError(`tiers.${i}.upToMinor: must rise from tier to tier`);
      previous = t.upToMinor;
    }
  });
  for (const [category, r] of Object.entries(terms.categoryRates)) rate(r, `categoryRates.${category}`);
  rate(terms.taxWithholdingRate, 'taxWithholdingRate');
  if (terms.gamingTax) rate(terms.gamingTax.rate, 'gamingTax.rate');
  if (terms.minimumGuaranteeMinor < 0n)
    throw new InvalidTermsError('minimumGuaranteeMinor: must not be negative');
  if (terms.fixedFeeMinor < 0n) throw new InvalidTermsError('fixedFeeMinor: must not be negative');
}

/** GGR = bets − wins (after rollbacks), plus the period's resolutions. */
export function grossGamingRevenue(t: PeriodTotals): bigint {
  return t.betMinor - t.winMinor + (t.adjustmentMinor ?? 0n);
}

/**
 * The gaming tax of the period. Gaming tax is assessed per month (returns are monthly): on the
 * month's GGR to date (nothing while it is negative) or its stakes, less what the month's
 * earlier periods were charged — so a losing day lowers the tax of the month's later days, and
 * a day settled after a winning one can be a refund. `monthBaseMinor` is the month's tax base
 * before this period.
 */
export function gamingTax(
  t: PeriodTotals,
  tax: GamingTax | null,
  month: { baseMinor: bigint; chargedMinor: bigint } = { baseMinor: 0n, chargedMinor: 0n },
): { amountMinor: bigint; residue: Fraction; baseMinor: bigint } {
  if (!tax) return { amountMinor: 0n, residue: { num: 0n, den: 1n }, baseMinor: 0n };
  const baseMinor = tax.on === 'stakes' ? t.betMinor : grossGamingRevenue(t);
  const monthBase = month.baseMinor + baseMinor;
  const r = multiplyHalfEven(monthBase > 0n ? monthBase : 0n, rate(tax.rate, 'gamingTax.rate'));
  return { amountMinor: r.rounded - month.chargedMinor, residue: r.residue, baseMinor };
}

/** NGR = GGR − bonus cost − jackpot contributions − gaming tax (DOMAIN.md). */
export function netGamingRevenue(t: PeriodTotals, gamingTaxMinor: bigint): bigint {
  return grossGamingRevenue(t) - t.bonusCostMinor - t.jackpotContributionMinor - gamingTaxMinor;
}

/** The contract's base from GGR or NGR, with the jackpot rule applied. */
export function contractBase(terms: FeeTerms, t: PeriodTotals, gamingTaxMinor: bigint): bigint {
  if (terms.base === 'ggr')
    return (
      grossGamingRevenue(t) - (terms.jackpots === 'exclude' ? t.jackpotContributionMinor : t.jackpotWinMinor)
    );
  const ngr = netGamingRevenue(t, gamingTaxMinor);
  return terms.jackpots === 'exclude' ? ngr : ngr + t.jackpotContributionMinor - t.jackpotWinMinor;
}

/**
 * A category's base, by the same rule as the total except gaming tax, which is levied on the
 * whole period and not apportioned to categories.
 */
export function categoryBase(terms: FeeTerms, t: PeriodTotals): bigint {
  return contractBase(terms, t, 0n);
}

/** The tier fee of the month's volume [from, to): marginal slices or the whole volume's tier. */
function tierLines(terms: FeeTerms, from: bigint, to: bigint, chargedBefore: bigint): FeeLine[] {
  if (to === from) return [];
  if (terms.tierMode === 'whole_volume') {
    // The month's volume to date at the tier it reaches, less what the month was charged so far.
    const tier = terms.tiers.find((t) => t.upToMinor === null || to <= t.upToMinor)!;
    const r = multiplyHalfEven(to, rate(tier.rate, 'tier'));
    return [
      {
        code: 'tier',
        description:
          from === 0n
            ? `whole volume at ${tier.rate}`
            : `whole month-to-date volume at ${tier.rate}, less ${chargedBefore} charged earlier this month`,
        baseMinor: to - from,
        rate: from === 0n ? tier.rate : null,
        amountMinor: r.rounded - chargedBefore,
        residue: r.residue,
      },
    ];
  }
  const lines: FeeLine[] = [];
  let lower = 0n;
  for (const tier of terms.tiers) {
    const upper = tier.upToMinor === null || tier.upToMinor > to ? to : tier.upToMinor;
    const sliceFrom = lower > from ? lower : from;
    if (upper > sliceFrom) {
      const slice = upper - sliceFrom;
      const r = multiplyHalfEven(slice, rate(tier.rate, 'tier'));
      lines.push({
        code: 'tier',
        description: `slice ${sliceFrom}–${upper} at ${tier.rate}`,
        baseMinor: slice,
        rate: tier.rate,
        amountMinor: r.rounded,
        residue: r.residue,
      });
    }
    if (upper === to) break;
    lower = upper;
  }
  return lines;
}

const zero: Fraction = { num: 0n, den: 1n };

/**
 * Computes the period's fee. Tiers apply to the month's volume (the month-to-date position
 * plus this period's base); the minimum guarantee is assessed on the month's variable fees
 * once its closing period is settled (later periods of the month true it up); the fixed fee
 * is charged by the closing period. Without `period`, the period is a whole month.
 */
export function computeFees(terms: FeeTerms, totals: PeriodTotals, period: FeePeriod = {}): FeeResult {
  validateTerms(terms);
  const carriedInMinor = period.carriedInMinor ?? 0n;
  const deferredMinor = period.deferredMinor ?? 0n;
  const closesMonth = period.closesMonth ?? true;
  const mtd = period.monthToDate ?? emptyMonth;
  const tax = gamingTax(totals, terms.gamingTax, {
    baseMinor: mtd.taxBaseMinor,
    chargedMinor: mtd.gamingTaxMinor,
  });
  const ggrMinor = grossGamingRevenue(totals);
  const ngrMinor = netGamingRevenue(totals, tax.amountMinor);
  const periodBaseMinor = contractBase(terms, totals, tax.amountMinor);

  const effective = periodBaseMinor + carriedInMinor;
  const feeBaseMinor = effective > 0n ? effective : 0n;
  const negativeCarryMinor = terms.negativeBase === 'carry_forward' && effective < 0n ? effective : 0n;

  const lines = tierLines(terms, mtd.volumeMinor, mtd.volumeMinor + feeBaseMinor, mtd.tierFeeMinor);
  const tierFeeMinor = lines.reduce((sum, l) => sum + l.amountMinor, 0n);
  // Code-point order, not the locale's: the same lines, in the same order, on every machine.
  for (const [category, categoryRate] of Object.entries(terms.categoryRates).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    const base = totals.baseByCategoryMinor[category] ?? 0n;
    if (base <= 0n) continue;
    const r = multiplyHalfEven(base, rate(categoryRate, `categoryRates.${category}`));
    lines.push({
      code: 'category',
      description: `${category} at ${categoryRate}`,
      baseMinor: base,
      rate: categoryRate,
      amountMinor: r.rounded,
      residue: r.residue,
    });
  }
  const variableFeeMinor = lines.reduce((sum, l) => sum + l.amountMinor, 0n);
  const guaranteeAssessed = closesMonth || mtd.closed;
  let topUpMinor = 0n;
  if (guaranteeAssessed) {
    const variableMonth = mtd.variableFeeMinor + variableFeeMinor;
    const owed =
      variableMonth < terms.minimumGuaranteeMinor ? terms.minimumGuaranteeMinor - variableMonth : 0n;
    topUpMinor = owed - mtd.topUpMinor;
    if (topUpMinor !== 0n)
      lines.push({
        code: 'minimum_guarantee_top_up',
        description:
          topUpMinor > 0n
            ? `minimum guarantee ${terms.minimumGuaranteeMinor} on month-to-date variable fees ${variableMonth}`
            : `minimum guarantee true-up: month-to-date variable fees ${variableMonth} now cover more of ${terms.minimumGuaranteeMinor}`,
        baseMinor: variableMonth,
        rate: null,
        amountMinor: topUpMinor,
        residue: zero,
      });
  }
  const chargeFixed = closesMonth && !mtd.fixedFeeCharged && terms.fixedFeeMinor > 0n;
  if (chargeFixed) {
    lines.push({
      code: 'fixed_fee',
      description: 'fixed monthly fee',
      baseMinor: 0n,
      rate: null,
      amountMinor: terms.fixedFeeMinor,
      residue: zero,
    });
  }
  const grossFeeMinor = lines.reduce((sum, l) => sum + l.amountMinor, 0n);
  const withheld = multiplyHalfEven(grossFeeMinor, rate(terms.taxWithholdingRate, 'taxWithholdingRate'));
  return {
    stakesMinor: totals.betMinor,
    ggrMinor,
    gamingTaxMinor: tax.amountMinor,
    gamingTaxResidue: tax.residue,
    ngrMinor,
    periodBaseMinor,
    carriedInMinor,
    feeBaseMinor,
    negativeCarryMinor,
    carriedOutMinor: negativeCarryMinor + deferredMinor,
    lines,
    grossFeeMinor,
    taxWithheldMinor: withheld.rounded,
    taxResidue: withheld.residue,
    netPayableMinor: grossFeeMinor - withheld.rounded,
    month: {
      taxBaseMinor: mtd.taxBaseMinor + tax.baseMinor,
      gamingTaxMinor: mtd.gamingTaxMinor + tax.amountMinor,
      volumeMinor: mtd.volumeMinor + feeBaseMinor,
      tierFeeMinor: mtd.tierFeeMinor + tierFeeMinor,
      variableFeeMinor: mtd.variableFeeMinor + variableFeeMinor,
      topUpMinor: mtd.topUpMinor + topUpMinor,
      fixedFeeCharged: mtd.fixedFeeCharged || chargeFixed,
      closed: mtd.closed || closesMonth,
      guaranteeAssessed,
    },
    accrual: {
      taxBaseMinor: tax.baseMinor,
      gamingTaxMinor: tax.amountMinor,
      volumeMinor: feeBaseMinor,
      tierFeeMinor,
      variableFeeMinor,
      topUpMinor,
    },
  };
}

/** Sum of residues as one exact fraction (what the statement reports as rounding). */
export function totalResidue(fractions: Fraction[]): Fraction {
  return fractions.reduce<Fraction>(
    (acc, f) => {
      const den = acc.den * f.den;
      return { num: acc.num * f.den + f.num * acc.den, den };
    },
    { num: 0n, den: 1n },
  );
}

/** Rounds an exact fraction of minor units (e.g. a residue total) half-even. */
export function roundFraction(f: Fraction): bigint {
  return divideHalfEven(f.num, f.den).rounded;
}
