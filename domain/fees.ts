// The fee engine: what a partner earns for a settlement period under the contract version in
// force. Pure and deterministic (no I/O, no clock): the settlement workflow calls it through
// an activity, and finance can re-run it by hand from the statement's inputs.
// Every multiplication rounds half-even to minor units and reports its residue.
import { divideHalfEven, multiplyHalfEven, parseDecimal, type Decimal, type Fraction } from './money';

export type FeeBase = 'ggr' | 'ngr';
export type TierMode = 'marginal' | 'whole_volume';

export interface Tier {
  /** Upper bound of the tier's slice of the base, in minor units; null for the last tier. */
  upToMinor: bigint | null;
  /** Exact decimal rate, e.g. "0.12" for 12 %. */
  rate: string;
}

export interface FeeTerms {
  base: FeeBase;
  tiers: Tier[];
  tierMode: TierMode;
  /** Monthly minimum revenue guarantee: a fee below it is topped up to it. */
  minimumGuaranteeMinor: bigint;
  /** Fixed fee for the period. */
  fixedFeeMinor: bigint;
  /** Extra rate on the base of games of a category (premium content, live tables). */
  categoryRates: Record<string, string>;
  /** Negative base (players won): offset against later periods, or ignored. */
  negativeBase: 'carry_forward' | 'floor';
  /** Jackpot contributions and wins in the base ('pass_through') or not ('exclude'). */
  jackpots: 'pass_through' | 'exclude';
  /** Share of the fee withheld for tax and paid to the authority instead of the partner. */
  taxWithholdingRate: string;
}

/** Period totals in the settlement currency's minor units (after FX). */
export interface PeriodTotals {
  betMinor: bigint;
  winMinor: bigint;
  bonusCostMinor: bigint;
  jackpotContributionMinor: bigint;
  jackpotWinMinor: bigint;
  gamingTaxMinor: bigint;
  /** The base attributable to each game category, for category rates (same rules as the total). */
  baseByCategoryMinor: Record<string, bigint>;
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
  ggrMinor: bigint;
  ngrMinor: bigint;
  /** The contract's base for the period, before any carry. */
  periodBaseMinor: bigint;
  carriedInMinor: bigint;
  /** The base fees were computed on (never negative). */
  feeBaseMinor: bigint;
  /** Negative base carried to the next period (≤ 0). */
  carriedOutMinor: bigint;
  lines: FeeLine[];
  grossFeeMinor: bigint;
  taxWithheldMinor: bigint;
  taxResidue: Fraction;
  /** What the partner is paid: gross fee − tax withheld. */
  netPayableMinor: bigint;
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
  if (terms.minimumGuaranteeMinor < 0n)
    throw new InvalidTermsError('minimumGuaranteeMinor: must not be negative');
  if (terms.fixedFeeMinor < 0n) throw new InvalidTermsError('fixedFeeMinor: must not be negative');
}

/** GGR = bets − wins (after rollbacks); with pass-through jackpots, contributions in and jackpot wins out. */
export function grossGamingRevenue(t: PeriodTotals, jackpots: FeeTerms['jackpots']): bigint {
  const ggr = t.betMinor - t.winMinor;
  return jackpots === 'pass_through' ? ggr + t.jackpotContributionMinor - t.jackpotWinMinor : ggr;
}

/** NGR = GGR − bonus cost − jackpot contributions − gaming taxes. */
export function netGamingRevenue(t: PeriodTotals, jackpots: FeeTerms['jackpots']): bigint {
  return grossGamingRevenue(t, jackpots) - t.bonusCostMinor - t.jackpotContributionMinor - t.gamingTaxMinor;
}

function tierLines(terms: FeeTerms, base: bigint): FeeLine[] {
  if (base === 0n) return [];
  if (terms.tierMode === 'whole_volume') {
    const tier = terms.tiers.find((t) => t.upToMinor === null || base <= t.upToMinor)!;
    const r = multiplyHalfEven(base, rate(tier.rate, 'tier'));
    return [
      {
        code: 'tier',
        description: `whole volume at ${tier.rate}`,
        baseMinor: base,
        rate: tier.rate,
        amountMinor: r.rounded,
        residue: r.residue,
      },
    ];
  }
  const lines: FeeLine[] = [];
  let lower = 0n;
  for (const tier of terms.tiers) {
    const upper = tier.upToMinor === null || tier.upToMinor > base ? base : tier.upToMinor;
    if (upper > lower) {
      const slice = upper - lower;
      const r = multiplyHalfEven(slice, rate(tier.rate, 'tier'));
      lines.push({
        code: 'tier',
        description: `slice ${lower}–${upper} at ${tier.rate}`,
        baseMinor: slice,
        rate: tier.rate,
        amountMinor: r.rounded,
        residue: r.residue,
      });
    }
    if (upper === base) break;
    lower = upper;
  }
  return lines;
}

/**
 * Computes the period's fee. `carriedInMinor` is the negative base carried from the previous
 * period (0 or less); the result says what to carry out.
 */
export function computeFees(terms: FeeTerms, totals: PeriodTotals, carriedInMinor = 0n): FeeResult {
  validateTerms(terms);
  if (carriedInMinor > 0n) throw new InvalidTermsError('carriedInMinor: a carry is a negative base (≤ 0)');
  const ggrMinor = grossGamingRevenue(totals, terms.jackpots);
  const ngrMinor = netGamingRevenue(totals, terms.jackpots);
  const periodBaseMinor = terms.base === 'ggr' ? ggrMinor : ngrMinor;

  let feeBaseMinor: bigint;
  let carriedOutMinor = 0n;
  if (terms.negativeBase === 'carry_forward') {
    const effective = periodBaseMinor + carriedInMinor;
    feeBaseMinor = effective > 0n ? effective : 0n;
    carriedOutMinor = effective < 0n ? effective : 0n;
  } else {
    feeBaseMinor = periodBaseMinor > 0n ? periodBaseMinor : 0n;
  }

  const lines = tierLines(terms, feeBaseMinor);
  for (const [category, categoryRate] of Object.entries(terms.categoryRates).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    const categoryBase = totals.baseByCategoryMinor[category] ?? 0n;
    if (categoryBase <= 0n) continue;
    const r = multiplyHalfEven(categoryBase, rate(categoryRate, `categoryRates.${category}`));
    lines.push({
      code: 'category',
      description: `${category} at ${categoryRate}`,
      baseMinor: categoryBase,
      rate: categoryRate,
      amountMinor: r.rounded,
      residue: r.residue,
    });
  }
  const variable = lines.reduce((sum, l) => sum + l.amountMinor, 0n);
  if (variable < terms.minimumGuaranteeMinor) {
    lines.push({
      code: 'minimum_guarantee_top_up',
      description: `minimum guarantee ${terms.minimumGuaranteeMinor}`,
      baseMinor: variable,
      rate: null,
      amountMinor: terms.minimumGuaranteeMinor - variable,
      residue: { num: 0n, den: 1n },
    });
  }
  if (terms.fixedFeeMinor > 0n) {
    lines.push({
      code: 'fixed_fee',
      description: 'fixed fee',
      baseMinor: 0n,
      rate: null,
      amountMinor: terms.fixedFeeMinor,
      residue: { num: 0n, den: 1n },
    });
  }
  const grossFeeMinor = lines.reduce((sum, l) => sum + l.amountMinor, 0n);
  const tax = multiplyHalfEven(grossFeeMinor, rate(terms.taxWithholdingRate, 'taxWithholdingRate'));
  return {
    ggrMinor,
    ngrMinor,
    periodBaseMinor,
    carriedInMinor,
    feeBaseMinor,
    carriedOutMinor,
    lines,
    grossFeeMinor,
    taxWithheldMinor: tax.rounded,
    taxResidue: tax.residue,
    netPayableMinor: grossFeeMinor - tax.rounded,
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
