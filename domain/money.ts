// Money: integer minor units (bigint) with a per-currency scale. No float ever touches an
// amount: decimal strings are parsed digit by digit, and every rounding is explicit and
// returns its residue so the caller can post it.

import { ValidationError } from './errors';

/** Postgres bigint range: the largest amount (in minor units) the ledger can hold. */
export const MAX_MINOR = 2n ** 63n - 1n;
/** The longest decimal string an amount may be written as. */
export const MAX_AMOUNT_CHARS = 64;

/** ISO 4217 minor-unit exponents of active currencies; a code not listed (nor configured) is unknown. */
export const ISO_4217_SCALES: Readonly<Record<string, number>> = Object.freeze({
  ...Object.fromEntries(
    (
      'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CNY COP CRC ' +
      'CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES ' +
      'KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR ' +
      'NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT ' +
      'TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG'
    )
      .split(' ')
      .map((c) => [c, 2]),
  ),
  ...Object.fromEntries(
    'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF'.split(' ').map((c) => [c, 0]),
  ),
  ...Object.fromEntries('BHD IQD JOD KWD LYD OMR TND'.split(' ').map((c) => [c, 3])),
  CLF: 4,
  UYW: 4,
});

export interface CurrencyRegistry {
  scaleOf(code: string): number | undefined;
  /** The scale of a currency that must be known; an unknown one is an error naming it, never a guess. */
  requireScale(code: string): number;
  codes(): string[];
}

/** A currency neither in ISO 4217 nor configured as an extra asset. */
export class UnknownCurrencyError extends ValidationError {
  constructor(readonly currency: string) {
    super(
      `unknown currency ${currency}: not an ISO 4217 code nor an asset configured in CURRENCY_EXTRA_ASSETS`,
      [{ path: 'currency', message: `unknown currency ${currency}` }],
    );
  }
}

/** ISO 4217 plus configured extra assets (e.g. { USDC: 6 }). */
export function createCurrencyRegistry(extra: Record<string, number> = {}): CurrencyRegistry {
  for (const [code, scale] of Object.entries(extra)) {
    if (!/^[A-Z][A-Z0-9]{2,9}$/.test(code))
      throw new Error(`asset code ${code} must be 3 to 10 uppercase letters or digits`);
    if (!Number.isInteger(scale) || scale < 0 || scale > 18)
      throw new Error(`asset ${code}: scale must be an integer from 0 to 18`);
  }
  const scales = new Map<string, number>([...Object.entries(ISO_4217_SCALES), ...Object.entries(extra)]);
  return {
    scaleOf: (code) => scales.get(code),
    requireScale: (code) => {
      const scale = scales.get(code);
      if (scale === undefined) throw new UnknownCurrencyError(code);
      return scale;
    },
    codes: () => [...scales.keys()].sort(),
  };
}

export const defaultCurrencies: CurrencyRegistry = createCurrencyRegistry({ USDC: 6, USDT: 6 });

export type ParseResult = { ok: true; minor: bigint } | { ok: false; message: string };

/** A decimal string as amounts are written: an optional minus, no leading zeros, no exponent. */
export const DECIMAL = /^(-)?(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;
const SHAPE_HINT = 'must be a decimal string such as "12.34"';

/**
 * Parses a decimal string into minor units, exactly. Strict on purpose: no JSON numbers, no
 * exponents, signs, spaces, leading zeros or more fractional digits than the scale (even
 * zeros: "1.230" for a 2-decimal currency is refused rather than silently reinterpreted).
 */
export function parseAmount(
  input: unknown,
  scale: number,
  opts: { allowNegative?: boolean; allowZero?: boolean } = {},
): ParseResult {
  if (typeof input !== 'string')
    return { ok: false, message: `${SHAPE_HINT}, not a JSON ${input === null ? 'null' : typeof input}` };
  if (input.length === 0 || input.length > MAX_AMOUNT_CHARS) return { ok: false, message: SHAPE_HINT };
  const m = DECIMAL.exec(input);
  if (!m) return { ok: false, message: SHAPE_HINT };
  const [, sign, whole, fraction = ''] = m;
  if (fraction.length > scale) {
    return {
      ok: false,
      message:
        scale === 0 ? 'must be a whole number in this currency' : `has more than ${scale} decimal places`,
    };
  }
  let minor = BigInt(whole! + fraction.padEnd(scale, '0'));
  if (sign) minor = -minor;
  if (minor < 0n && !opts.allowNegative) return { ok: false, message: 'must not be negative' };
  if (minor === 0n && opts.allowZero === false) return { ok: false, message: 'must not be zero' };
  if (minor > MAX_MINOR || minor < -MAX_MINOR) return { ok: false, message: 'exceeds the supported range' };
  return { ok: true, minor };
}

export function formatAmount(minor: bigint, scale: number): string {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale > 0 ? `.${digits.slice(digits.length - scale)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/** An exact fraction num/den (den > 0). */
export interface Fraction {
  num: bigint;
  den: bigint;
}

export interface RoundResult {
  rounded: bigint;
  /** Exactly what rounding dropped: value − rounded. */
  residue: Fraction;
}

/** numerator / denominator rounded to an integer, ties to even; the residue is exact. */
export function divideHalfEven(numerator: bigint, denominator: bigint): RoundResult {
  if (denominator === 0n) throw new RangeError('division by zero');
  if (denominator < 0n) {
    numerator = -numerator;
    denominator = -denominator;
  }
  let q = numerator / denominator; // truncates toward zero
  let r = numerator - q * denominator;
  const twice = 2n * (r < 0n ? -r : r);
  if (twice > denominator || (twice === denominator && q % 2n !== 0n)) {
    q += r < 0n ? -1n : 1n;
    r = numerator - q * denominator;
  }
  return { rounded: q, residue: { num: r, den: denominator } };
}

/** An exact decimal: units / 10^scale (rates, FX, percentages). */
export interface Decimal {
  units: bigint;
  scale: number;
}

export function parseDecimal(
  input: unknown,
  opts: { maxScale?: number; allowNegative?: boolean } = {},
): { ok: true; value: Decimal } | { ok: false; message: string } {
  const maxScale = opts.maxScale ?? 12;
  if (typeof input !== 'string') return { ok: false, message: 'must be a decimal string such as "0.125"' };
  if (input.length === 0 || input.length > MAX_AMOUNT_CHARS)
    return { ok: false, message: 'must be a decimal string such as "0.125"' };
  const m = DECIMAL.exec(input);
  if (!m) return { ok: false, message: 'must be a decimal string such as "0.125"' };
  const [, sign, whole, fraction = ''] = m;
  if (fraction.length > maxScale) return { ok: false, message: `has more than ${maxScale} decimal places` };
  const units = BigInt(whole! + fraction) * (sign ? -1n : 1n);
  if (units < 0n && !opts.allowNegative) return { ok: false, message: 'must not be negative' };
  return { ok: true, value: { units, scale: fraction.length } };
}

/** minor × rate, rounded half-even to whole minor units, with the exact residue. */
export function multiplyHalfEven(minor: bigint, rate: Decimal): RoundResult {
  return divideHalfEven(minor * rate.units, 10n ** BigInt(rate.scale));
}

/** Moves an amount between scales (e.g. a 6-decimal stablecoin to 2 decimals), half-even. */
export function rescale(minor: bigint, fromScale: number, toScale: number): RoundResult {
  if (toScale >= fromScale)
    return { rounded: minor * 10n ** BigInt(toScale - fromScale), residue: { num: 0n, den: 1n } };
  return divideHalfEven(minor, 10n ** BigInt(fromScale - toScale));
}

/**
 * Splits total over weights by largest remainder: the parts add up to total exactly, each
 * within one minor unit of its exact share; ties go to the lowest index.
 */
export function allocate(total: bigint, weights: bigint[]): bigint[] {
  if (weights.some((w) => w < 0n)) throw new RangeError('weights must not be negative');
  const sum = weights.reduce((a, b) => a + b, 0n);
  if (sum === 0n) throw new RangeError('weights must not all be zero');
  const negative = total < 0n;
  const t = negative ? -total : total;
  const parts = weights.map((w) => (t * w) / sum);
  let left = t - parts.reduce((a, b) => a + b, 0n);
  const order = weights
    .map((w, i) => ({ i, rem: (t * w) % sum }))
    .sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (const { i } of order) {
    if (left === 0n) break;
    parts[i]! += 1n;
    left -= 1n;
  }
  return negative ? parts.map((p) => -p) : parts;
}

/**
 * Converts minor units of one currency into another at an exact rate (quote per base),
 * across scales (e.g. JPY 0 → EUR 2), rounded half-even with the exact residue.
 */
export function convert(minor: bigint, fromScale: number, rate: Decimal, toScale: number): RoundResult {
  return divideHalfEven(minor * rate.units * 10n ** BigInt(toScale), 10n ** BigInt(rate.scale + fromScale));
}
