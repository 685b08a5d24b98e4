// Watching the money (DOMAIN.md): the detection logic behind RTP drift, hourly volume, big wins
// and the integrity signals. Pure and deterministic (no clock, no randomness, no I/O): the caller
// passes the window's sums, the history and the settings, so the scan activity, a replayed
// workflow and a test simulating a million spins all get the same verdict.
//
// Statistics are JS numbers: a z-score or a tail probability is not money, and 16 significant
// digits are far more than a test at |z| > 3 can use. Amounts stay bigint minor units and are
// compared exactly (a big win is held or not to the last minor unit, never by a float's whim).

import { divideHalfEven, formatAmount, parseDecimal, type Decimal } from './money';

// ---------------------------------------------------------------------------------------------
// Statistics helpers (exported for the tests and for the console's wording).

const SQRT_2PI = Math.sqrt(2 * Math.PI);

function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / SQRT_2PI;
}

/**
 * P(Z > z) for a standard normal Z, accurate to about 1e-13 relative over the range alarms use
 * (no cancellation in the tail, where 1 − Φ(z) computed naively would lose every digit).
 */
export function normalUpperTail(z: number): number {
  if (Number.isNaN(z)) throw new RangeError('normalUpperTail: z is NaN');
  if (z < 0) return 1 - normalUpperTail(-z);
  if (z < 3) {
    // Marsaglia (2004): Φ(z) = ½ + φ(z)·(z + z³/3 + z⁵/(3·5) + …); every term is positive.
    let term = z;
    let sum = z;
    for (let i = 3; sum + term !== sum; i += 2) {
      term *= (z * z) / i;
      sum += term;
    }
    return 0.5 - normalPdf(z) * sum;
  }
  // Laplace's continued fraction, evaluated from the tail: Q(z) = φ(z)/(z + 1/(z + 2/(z + …))).
  let f = z;
  for (let k = 200; k >= 1; k--) f = z + k / f;
  return normalPdf(z) / f;
}

/** The z with P(Z > z) = p, by bisection (called rarely; robust over the whole of (0, 1)). */
export function normalUpperQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalUpperQuantile: p must be in (0, 1), not ${p}`);
  let lo = -40;
  let hi = 40;
  for (let i = 0; i < 200 && hi - lo > 1e-14; i++) {
    const mid = (lo + hi) / 2;
    if (normalUpperTail(mid) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

const LOG_FACTORIALS: number[] = [0];
for (let k = 1; k <= 256; k++) LOG_FACTORIALS.push(LOG_FACTORIALS[k - 1]! + Math.log(k));

/** ln(k!) for an integer k ≥ 0: a table to 256, then Stirling's series (error below 1e-17). */
function logFactorial(k: number): number {
  if (k <= 256) return LOG_FACTORIALS[k]!;
  const n = k + 1; // ln k! = ln Γ(n)
  const n2 = n * n;
  return (
    (n - 0.5) * Math.log(n) -
    n +
    0.5 * Math.log(2 * Math.PI) +
    1 / (12 * n) -
    1 / (360 * n * n2) +
    1 / (1260 * n * n2 * n2)
  );
}

function poissonPmf(k: number, lambda: number): number {
  return Math.exp(k * Math.log(lambda) - lambda - logFactorial(k));
}

// The tails are summed term by term in log space, outward from k and away from the mode, so each
// term is smaller than the last and the sum stops when a term no longer changes it. That is exact
// (to rounding) at any λ: no normal approximation is used, and λ = 1e6 neither overflows nor
// takes more than some ten thousand terms (the pmf falls off like exp(−d²/2λ) from the mode).

/** Σ_{j ≥ k} pmf(j) for k > λ (terms decrease). */
function sumUpward(k: number, lambda: number): number {
  let term = poissonPmf(k, lambda);
  let sum = 0;
  for (let j = k; term > 0 && sum + term !== sum; j++) {
    sum += term;
    term *= lambda / (j + 1);
  }
  return sum;
}

/** Σ_{j ≤ k} pmf(j) for k < λ (terms decrease going down). */
function sumDownward(k: number, lambda: number): number {
  let term = poissonPmf(k, lambda);
  let sum = 0;
  for (let j = k; j >= 0 && term > 0 && sum + term !== sum; j--) {
    sum += term;
    term *= j / lambda;
  }
  return sum;
}

/** P(X ≥ k) for X ~ Poisson(λ). */
export function poissonUpperTail(k: number, lambda: number): number {
  checkPoisson(k, lambda);
  if (k <= 0) return 1;
  if (k > lambda) return sumUpward(k, lambda);
  return Math.max(0, 1 - sumDownward(k - 1, lambda));
}

/** P(X ≤ k) for X ~ Poisson(λ). */
export function poissonLowerTail(k: number, lambda: number): number {
  checkPoisson(k, lambda);
  if (k < lambda) return sumDownward(k, lambda);
  return Math.max(0, 1 - sumUpward(k + 1, lambda));
}

function checkPoisson(k: number, lambda: number): void {
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`a count must be a whole number ≥ 0, not ${k}`);
  if (!(lambda > 0 && Number.isFinite(lambda))) throw new RangeError(`λ must be positive, not ${lambda}`);
}

/** The median of a non-empty list (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// Wording helpers.

const group = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const int = (n: number) => (Number.isFinite(n) ? group(Math.round(n).toString()) : String(n));
const pct = (r: number) => `${(100 * r).toFixed(2)}%`;
const fixed = (n: number, d = 2) => n.toFixed(d);
const prob = (p: number) => (p === 0 ? '< 1e-300' : p < 1e-3 ? p.toExponential(2) : p.toPrecision(3));

/** A decimal string as a number (statistics only), refusing anything that is not one. */
function decimalNumber(field: string, value: string, opts: { allowZero: boolean }): number {
  const parsed = parseDecimal(value, { maxScale: 12 });
  if (!parsed.ok) throw new RangeError(`${field} ${parsed.message}`);
  const n = Number(parsed.value.units) / 10 ** parsed.value.scale;
  if (!opts.allowZero && n === 0) throw new RangeError(`${field} must be greater than 0`);
  return n;
}

/**
 * A configured number (350, 0.05) as the exact decimal it was written as: JS prints a number as
 * the shortest decimal that reads back to it, which is the figure the configuration held.
 */
function exactDecimal(field: string, n: number): Decimal {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${field} must be a finite number ≥ 0, not ${n}`);
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(n));
  if (!m) throw new RangeError(`${field}: cannot read ${n} as a decimal`);
  const [, whole, fraction = '', exp = '0'] = m;
  let units = BigInt(whole! + fraction);
  let scale = fraction.length - Number(exp);
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units, scale };
}

// ---------------------------------------------------------------------------------------------
// RTP drift.

export interface GameMaths {
  /** The maths sheet's return to player, jackpot contribution included, e.g. "0.9612". */
  theoreticalRtp: string;
  /** σ of the return per unit stake (the game's volatility), e.g. "10.5". */
  stdDev: string;
  /** The share of each stake paid into a jackpot pool, e.g. "0.01" (0 for none). */
  jackpotContributionRate: string;
}

/** A window's sums for one game: Σb, Σwin (jackpot wins excluded by the caller) and Σb². */
export interface RtpSample {
  spins: number;
  betMinor: bigint;
  winMinor: bigint;
  /** Σ(b²) in (minor units)²: how concentrated the stakes are. */
  betSquaredMinor: bigint;
}

export interface RtpSettings {
  /** |z| above which a meaningful window alerts (default 3: 0.27 % two-sided under the null). */
  zThreshold: number;
  /** The fewest effective spins for any verdict (default 10,000). */
  minSpins: number;
  /** n_eff must also be ≥ cltFactor·σ² (default 100): see minimumEffectiveSpins. */
  cltFactor: number;
}

export const DEFAULT_RTP_SETTINGS: RtpSettings = Object.freeze({
  zThreshold: 3,
  minSpins: 10_000,
  cltFactor: 100,
});

export interface RtpResult {
  observedRtp: number | null;
  /** theoreticalRtp − jackpotContributionRate: the base game's share, like for like with observed. */
  expectedRtp: number;
  standardError: number | null;
  z: number | null;
  /** expected ± zThreshold·SE: the confidence band the console draws around the expected RTP. */
  band: { low: number; high: number } | null;
  /** n_eff = (Σb)²/Σb²: one whale's stake counts as few spins, however many spins it is. */
  effectiveSpins: number;
  /** max(minSpins, cltFactor·σ²). */
  minimumEffectiveSpins: number;
  meaningful: boolean;
  alert: boolean;
  /** Which side of the band an alert is on; null without an alert. */
  direction: 'above' | 'below' | null;
  explanation: string;
}

function checkRtpSettings(s: RtpSettings): void {
  if (!(s.zThreshold > 0 && Number.isFinite(s.zThreshold)))
    throw new RangeError('zThreshold must be a positive number');
  if (!(Number.isFinite(s.minSpins) && s.minSpins >= 1)) throw new RangeError('minSpins must be at least 1');
  if (!(Number.isFinite(s.cltFactor) && s.cltFactor >= 0)) throw new RangeError('cltFactor must be ≥ 0');
}

/**
 * Whether a game's observed RTP over a window is consistent with its maths (DOMAIN.md).
 *
 * With stakes b_i and per-unit-stake returns X_i (mean μ, σ from the maths sheet), the observed
 * RTP Σb_iX_i/Σb_i has variance σ²·Σb²/(Σb)², hence SE = σ·√(Σb²)/Σb: with equal stakes the
 * familiar σ/√n, and with one whale staking most of the window, close to σ (one spin's worth of
 * evidence). n_eff = (Σb)²/Σb² is that count of equal-stake spins.
 *
 * The verdict is only meaningful once n_eff reaches max(minSpins, cltFactor·σ²). The second term
 * is what makes the normal approximation honest: a high-volatility game's returns are heavily
 * skewed (rare large wins), and the skewness of the window's mean falls like γ/√n_eff, where γ
 * is of the order of σ for such games; n_eff ≥ 100·σ² keeps it at or below about a tenth, where
 * the two-sided 3-σ tail is within a small factor of its nominal 0.27 % (the tests measure it).
 *
 * The comparison is like for like: jackpot wins are excluded from the observed base game by the
 * caller, so the expected figure is the theoretical RTP less the jackpot contribution rate. σ is
 * the sheet's figure as given (the base game's σ differs from it only by the jackpot's share).
 */
export function rtpTest(
  sample: RtpSample,
  maths: GameMaths,
  settings: RtpSettings = DEFAULT_RTP_SETTINGS,
): RtpResult {
  checkRtpSettings(settings);
  const theoretical = decimalNumber('theoreticalRtp', maths.theoreticalRtp, { allowZero: false });
  const sigma = decimalNumber('stdDev', maths.stdDev, { allowZero: false });
  const jackpot = decimalNumber('jackpotContributionRate', maths.jackpotContributionRate, {
    allowZero: true,
  });
  if (jackpot >= theoretical)
    throw new RangeError('jackpotContributionRate must be below theoreticalRtp (it is a part of it)');
  const { spins, betMinor: bets, winMinor: wins, betSquaredMinor: betsSq } = sample;
  if (!Number.isSafeInteger(spins) || spins < 0) throw new RangeError('spins must be a whole number ≥ 0');
  if (bets < 0n || wins < 0n || betsSq < 0n)
    throw new RangeError('Σbet, Σwin and Σbet² must not be negative');
  // Sums of one set of n non-negative stakes satisfy (Σb)²/n ≤ Σb² ≤ (Σb)² (Cauchy–Schwarz):
  // anything else is sums from different windows or positions, and no verdict should rest on it.
  if (betsSq * BigInt(spins) < bets * bets || betsSq > bets * bets)
    throw new RangeError(
      'Σbet² is inconsistent with Σbet and the spin count: (Σb)²/n ≤ Σb² ≤ (Σb)² must hold',
    );

  const expectedRtp = theoretical - jackpot;
  const minimumEffectiveSpins = Math.max(settings.minSpins, settings.cltFactor * sigma * sigma);
  const zMax = settings.zThreshold;
  if (bets === 0n) {
    return {
      observedRtp: null,
      expectedRtp,
      standardError: null,
      z: null,
      band: null,
      effectiveSpins: 0,
      minimumEffectiveSpins,
      meaningful: false,
      alert: false,
      direction: null,
      explanation: `No stakes in the window: nothing to compare with the expected RTP of ${pct(expectedRtp)}.`,
    };
  }
  // Ratios of bigints as numbers: each side is rounded to 53 bits at most, so the ratio is good to
  // ~1e-16 relative, whatever the magnitudes (Σb² of a busy game passes 2^53 quickly).
  const observedRtp = Number(wins) / Number(bets);
  const effectiveSpins = Number(bets) ** 2 / Number(betsSq);
  const standardError = sigma / Math.sqrt(effectiveSpins); // = σ·√(Σb²)/Σb
  const z = (observedRtp - expectedRtp) / standardError;
  const band = { low: expectedRtp - zMax * standardError, high: expectedRtp + zMax * standardError };
  const meaningful = effectiveSpins >= minimumEffectiveSpins;
  const alert = meaningful && Math.abs(z) > zMax;
  const direction = alert ? (z > 0 ? 'above' : 'below') : null;

  const figures =
    `observed ${pct(observedRtp)} against the expected ${pct(expectedRtp)}, z = ${fixed(z)} ` +
    `(SE ${fixed(100 * standardError, 3)} points over ${int(effectiveSpins)} effective spins)`;
  let explanation: string;
  if (!meaningful) {
    const why =
      minimumEffectiveSpins > settings.minSpins
        ? `${int(settings.cltFactor)}·σ² for σ = ${sigma}, so the normal approximation holds`
        : `the minimum of ${int(settings.minSpins)}`;
    explanation =
      `Not meaningful yet: ${int(effectiveSpins)} effective spins (stake-weighted, from ${int(spins)} spins) ` +
      `of the ${int(minimumEffectiveSpins)} needed (${why}); so far ${figures.replace(/^observed /, '')}.`;
  } else if (alert) {
    explanation =
      `RTP ${direction === 'above' ? 'above' : 'below'} the ±${zMax}-SE band ` +
      `[${pct(band.low)}, ${pct(band.high)}]: ${figures}.`;
  } else {
    explanation = `Within the ±${zMax}-SE band [${pct(band.low)}, ${pct(band.high)}]: ${figures}.`;
  }
  return {
    observedRtp,
    expectedRtp,
    standardError,
    z,
    band,
    effectiveSpins,
    minimumEffectiveSpins,
    meaningful,
    alert,
    direction,
    explanation,
  };
}

/**
 * Equal-stake spins needed to tell a drift of `drift` (e.g. 0.01 for one RTP point) on a game of
 * volatility σ: n = ((z + z_power)·σ/drift)², rounded up.
 *
 * With the default power of ½ (z_power = 0) this is DOMAIN.md's n = (z·σ/drift)² (a 1-point drift
 * at σ = 10 and z = 3: 9 million spins), the count at which the EXPECTED z reaches the threshold,
 * so the drift is caught in only about half the windows of that size. For "caught in most
 * windows" ask for a power: 0.8 adds z_power ≈ 0.84 (about 1.6 times the spins).
 */
export function spinsToDetect(drift: number, stdDev: number, z = 3, power = 0.5): number {
  if (!(drift !== 0 && Number.isFinite(drift))) throw new RangeError('drift must be a non-zero number');
  if (!(stdDev > 0 && Number.isFinite(stdDev))) throw new RangeError('stdDev must be positive');
  if (!(z > 0 && Number.isFinite(z))) throw new RangeError('z must be positive');
  if (!(power > 0 && power < 1)) throw new RangeError('power must be in (0, 1)');
  const zPower = power === 0.5 ? 0 : normalUpperQuantile(1 - power);
  return Math.ceil((((z + zPower) * stdDev) / Math.abs(drift)) ** 2 - 1e-9);
}

// ---------------------------------------------------------------------------------------------
// Volume by hour of week.

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Readonly<Record<string, number>> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/**
 * The hour of the week (0..167, Monday 00:00 local = 0) of an instant in an IANA zone: the
 * bucket a partner's traffic is compared in, because players keep local hours. Local wall time,
 * so across a DST change the skipped hour's bucket gets nothing that week and the repeated hour's
 * bucket gets two hours' traffic (the caller may discount that one bucket twice a year).
 */
export function hourOfWeek(instantMs: number, timeZone: string): number {
  if (!Number.isFinite(instantMs)) throw new RangeError('instantMs must be a finite number');
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for a zone Intl does not know, which is what a caller should see.
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: 'numeric', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  let weekday: number | undefined;
  let hour: number | undefined;
  for (const part of f.formatToParts(instantMs)) {
    if (part.type === 'weekday') weekday = WEEKDAYS[part.value];
    else if (part.type === 'hour') hour = Number(part.value) % 24;
  }
  if (weekday === undefined || hour === undefined || !Number.isInteger(hour))
    throw new Error(`hourOfWeek: unexpected Intl output for ${timeZone}`);
  return weekday * 24 + hour;
}

export interface VolumeSettings {
  /** |robust z| above which an hour alerts (default 4). */
  zThreshold: number;
  /** The fewest weeks of history for a verdict (default 3). */
  minWeeks: number;
  /** Below this median the count-based (Poisson) test is used (default 30). */
  smallCountMedian: number;
  /** One-sided tail probability of the Poisson test (default: the normal tail at zThreshold). */
  tailProbability: number;
  /** A silent complete hour is called silence only if the baseline median is at least this. */
  silenceMinExpected: number;
}

export const DEFAULT_VOLUME_SETTINGS: VolumeSettings = Object.freeze({
  zThreshold: 4,
  minWeeks: 3,
  smallCountMedian: 30,
  tailProbability: normalUpperTail(4), // ≈ 3.167e-5: the same false-alarm rate as |z| > 4, per side
  silenceMinExpected: 20,
});

export interface VolumeResult {
  kind: 'spike' | 'drop' | 'silence' | null;
  observed: number;
  median: number;
  mad: number;
  weeks: number;
  /** Robust z = (x − median)/(1.4826·MAD) when that test is used (the scale raised to
   * pooledSpread·median when that is given and larger). */
  z: number | null;
  /** The Poisson tail on the observation's side when the count-based test is used. */
  tailProbability: number | null;
  method: 'robust_z' | 'poisson' | 'insufficient_history';
  explanation: string;
}

/** MAD × 1.4826 estimates σ for normal data. */
const MAD_TO_SIGMA = 1.4826;

function checkCount(field: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${field} must be a whole count ≥ 0, not ${n}`);
}

function checkVolumeSettings(s: VolumeSettings): void {
  if (!(s.zThreshold > 0 && Number.isFinite(s.zThreshold)))
    throw new RangeError('zThreshold must be a positive number');
  if (!(Number.isInteger(s.minWeeks) && s.minWeeks >= 1)) throw new RangeError('minWeeks must be at least 1');
  if (!(s.smallCountMedian >= 0)) throw new RangeError('smallCountMedian must be ≥ 0');
  if (!(s.tailProbability > 0 && s.tailProbability < 0.5))
    throw new RangeError('tailProbability must be in (0, 0.5)');
  if (!(s.silenceMinExpected >= 0)) throw new RangeError('silenceMinExpected must be ≥ 0');
}

/**
 * One hour's count against the same hour of week in the trailing weeks (DOMAIN.md).
 *
 * history: that bucket's count in each trailing week (complete hours only). complete = false:
 * the current hour so far. Only a spike can be judged on a partial hour, because the count only
 * grows (a third of the way through, a third of the usual count is no drop); drop and silence
 * wait for the hour to end. A partial count is compared with whole hours as it stands, so a
 * spike is caught as soon as the partial count alone is extreme, never earlier on a guess.
 *
 * Which test:
 * - Fewer than minWeeks values: no verdict ('insufficient_history').
 * - Median ≥ smallCountMedian and a robust scale 1.4826·MAD (or see pooledSpread) ≥ √median:
 *   robust z = (x − median)/(1.4826·MAD), spike above +zThreshold, drop below −zThreshold.
 * - Otherwise the count-based test, X ~ Poisson(λ = max(median, 0.5)): spike if P(X ≥ x) <
 *   tailProbability, drop if P(X ≤ x) < tailProbability. For small counts because a median of 3
 *   has no useful MAD; and whenever the history's spread is below Poisson noise (MAD 0 from a
 *   flat history included), because counts of independent events cannot vary less than √λ: a
 *   MAD that small is luck in a few weeks' sample, and dividing by it would alarm on noise.
 *   The tails are computed exactly at any λ (summed in log space, no normal approximation).
 * - pooledSpread (optional, see pooledRelativeSpread): the partner's week-on-week relative spread
 *   over all its buckets. The robust scale is then max(1.4826·MAD, pooledSpread·median), and z is
 *   computed against it. Without it the test is the plain robust z, whose MAD from a few weeks is
 *   itself so noisy that on overdispersed traffic (real traffic is) it alarms far more often than
 *   |z| > 4 suggests: the tests measure percents, not 6e-5. With it, near the nominal rate.
 * - Silence: a complete hour with nothing, whose baseline median ≥ silenceMinExpected, and which
 *   the drop test also calls a drop. A zero below silenceMinExpected that the drop test calls a
 *   drop stays a 'drop' (a zero is never judged more leniently than a one would be).
 */
export function volumeTest(
  observed: number,
  history: number[],
  complete: boolean,
  settings: VolumeSettings = DEFAULT_VOLUME_SETTINGS,
  pooledSpread: number | null = null,
): VolumeResult {
  checkVolumeSettings(settings);
  checkCount('observed', observed);
  history.forEach((h, i) => checkCount(`history[${i}]`, h));
  if (pooledSpread !== null && !(pooledSpread >= 0 && Number.isFinite(pooledSpread)))
    throw new RangeError('pooledSpread must be a number ≥ 0 (or null)');
  const weeks = history.length;
  const med = weeks > 0 ? median(history) : 0;
  const mad = weeks > 0 ? median(history.map((h) => Math.abs(h - med))) : 0;
  const base = { observed, median: med, mad, weeks };
  const baseline = `${int(observed)} against a median of ${int(med)} over ${weeks} weeks`;
  if (weeks < settings.minWeeks) {
    return {
      ...base,
      kind: null,
      z: null,
      tailProbability: null,
      method: 'insufficient_history',
      explanation: `No verdict: ${weeks} week${weeks === 1 ? '' : 's'} of history for this hour of the week, ${settings.minWeeks} needed.`,
    };
  }
  const scale = Math.max(MAD_TO_SIGMA * mad, (pooledSpread ?? 0) * med);
  const partialNote = complete ? '' : ' (partial hour: only a spike can be judged before it ends)';

  if (med >= settings.smallCountMedian && scale >= Math.sqrt(med)) {
    const z = (observed - med) / scale;
    const spike = z > settings.zThreshold;
    const drop = complete && z < -settings.zThreshold;
    const kind = spike ? 'spike' : drop ? silenceOrDrop(observed, med, settings) : null;
    const verdict = kind ?? 'no alert';
    return {
      ...base,
      kind,
      z,
      tailProbability: null,
      method: 'robust_z',
      explanation:
        `${capitalise(verdict)}: ${baseline}, robust z = ${fixed(z)} ` +
        `(scale ${int(scale)} from ${scale > MAD_TO_SIGMA * mad ? `the pooled spread ${pct(pooledSpread ?? 0)}` : `MAD ${int(mad)}`}, ` +
        `threshold ±${settings.zThreshold})${partialNote}.`,
    };
  }

  const lambda = Math.max(med, 0.5);
  const upper = poissonUpperTail(observed, lambda);
  const lower = poissonLowerTail(observed, lambda);
  const spike = upper < settings.tailProbability;
  const drop = complete && lower < settings.tailProbability;
  const kind = spike ? 'spike' : drop ? silenceOrDrop(observed, med, settings) : null;
  const tail = observed >= lambda ? upper : lower;
  const why = med < settings.smallCountMedian ? 'small counts' : 'history spread below Poisson noise';
  return {
    ...base,
    kind,
    z: null,
    tailProbability: tail,
    method: 'poisson',
    explanation:
      `${capitalise(kind ?? 'no alert')}: ${baseline}; Poisson(${fixed(lambda, 1)}) tail ` +
      `P(X ${observed >= lambda ? '≥' : '≤'} ${int(observed)}) = ${prob(tail)} against ${prob(settings.tailProbability)} (${why})${partialNote}.`,
  };
}

function silenceOrDrop(observed: number, med: number, s: VolumeSettings): 'silence' | 'drop' {
  return observed === 0 && med >= s.silenceMinExpected ? 'silence' : 'drop';
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * A partner's typical relative spread of an hour's count from its baseline, pooled over all its
 * hour-of-week buckets: 1.4826 × the median, over every bucket and week, of |x − m|/m, where m is
 * the median of the bucket's OTHER weeks (leave one out). That is exactly the error volumeTest
 * makes (a new week against the median of the past ones), estimated from hundreds of values
 * instead of the three or four one bucket has, so its own noise is small. Buckets whose baseline
 * is below minMedian are left out (their Poisson noise would inflate it). null when fewer than
 * minValues values qualify.
 */
export function pooledRelativeSpread(
  histories: readonly (readonly number[])[],
  minMedian = DEFAULT_VOLUME_SETTINGS.smallCountMedian,
  minValues = 50,
): number | null {
  const ratios: number[] = [];
  histories.forEach((h, b) => h.forEach((x, i) => checkCount(`histories[${b}][${i}]`, x)));
  for (const h of histories) {
    if (h.length < 3) continue; // leave one out needs two others
    for (let i = 0; i < h.length; i++) {
      const m = median(h.filter((_, j) => j !== i));
      if (m >= minMedian && m > 0) ratios.push(Math.abs(h[i]! - m) / m);
    }
  }
  return ratios.length < minValues ? null : MAD_TO_SIGMA * median(ratios);
}

// ---------------------------------------------------------------------------------------------
// Big wins.

export interface BigWinSettings {
  /** A win must exceed this (minor units of the settlement currency)… */
  absoluteMinor: bigint;
  /** …and this multiple of the round's bets (exactly: 350.5 is 350.5, not a float near it). */
  multiple: number;
}

/** DOMAIN.md's aggregator figures, 40,000.00 and 350×, for a currency of the given scale. */
export function defaultBigWinSettings(scale: number): BigWinSettings {
  if (!Number.isInteger(scale) || scale < 0 || scale > 18) throw new RangeError('scale must be 0 to 18');
  return { absoluteMinor: 40_000n * 10n ** BigInt(scale), multiple: 350 };
}

/**
 * A win held for review: above the absolute amount AND (no bet in the round, or above the
 * multiple of its bets). Both limits are strict, so a win exactly at either is paid. Compared in
 * integers: win·10^s > m·bets for the multiple m/10^s.
 */
export function bigWinCheck(
  winInSettlementMinor: bigint,
  roundBetsInSettlementMinor: bigint,
  s: BigWinSettings,
): { held: boolean; multiple: string | null; reason: string } {
  const win = winInSettlementMinor;
  const bets = roundBetsInSettlementMinor;
  if (bets < 0n) throw new RangeError('the round’s bets must not be negative');
  if (s.absoluteMinor < 0n) throw new RangeError('absoluteMinor must not be negative');
  const m = exactDecimal('multiple', s.multiple);
  const mText = decimalText(m);
  // win/bets to 2 places, rounded down (floor: a multiple shown never exceeds the true one).
  const multiple = bets === 0n ? null : formatAmount(floorDiv(win * 100n, bets), 2);
  const overAmount = win > s.absoluteMinor;
  const overMultiple = bets === 0n || win * 10n ** BigInt(m.scale) > m.units * bets;
  const held = overAmount && overMultiple;
  const amountPart = `${overAmount ? 'above' : 'not above'} the ${s.absoluteMinor} minor-unit limit`;
  const multiplePart =
    bets === 0n
      ? 'no bet in the round'
      : `${multiple}× the round's bets, ${overMultiple ? 'above' : 'not above'} ${mText}×`;
  return {
    held,
    multiple,
    reason: `${held ? 'Held for review' : 'Not held'}: a win of ${win} minor units, ${amountPart}; ${multiplePart}.`,
  };
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

// ---------------------------------------------------------------------------------------------
// Integrity signals.

export interface RateSignal {
  kind: 'rollback_rate' | 'duplicate_rate';
  numerator: number;
  denominator: number;
  /** A fraction, e.g. 0.05: a rate strictly above it alerts. */
  threshold: number;
  /** Below this denominator there is no verdict (2 rollbacks in 10 bets is not a 20 % problem). */
  minDenominator: number;
}

const RATE_NAMES = { rollback_rate: 'rollback rate', duplicate_rate: 'duplicate rate' } as const;

/** A rate against its threshold, compared exactly (5 of 100 at 0.05 does not alert). */
export function rateSignal(s: RateSignal): { alert: boolean; rate: number | null; explanation: string } {
  checkCount('numerator', s.numerator);
  checkCount('denominator', s.denominator);
  checkCount('minDenominator', s.minDenominator);
  const t = exactDecimal('threshold', s.threshold);
  const name = RATE_NAMES[s.kind];
  const thresholdText = pctOfDecimal(t);
  if (s.denominator === 0)
    return { alert: false, rate: null, explanation: `No ${name}: nothing to divide by (0 in the window).` };
  const rate = s.numerator / s.denominator;
  const of = `${int(s.numerator)} of ${int(s.denominator)}`;
  if (s.denominator < s.minDenominator)
    return {
      alert: false,
      rate,
      explanation: `No verdict on the ${name} of ${pct(rate)} (${of}): ${int(s.minDenominator)} needed.`,
    };
  const alert = BigInt(s.numerator) * 10n ** BigInt(t.scale) > t.units * BigInt(s.denominator);
  return {
    alert,
    rate,
    explanation: `The ${name} of ${pct(rate)} (${of}) is ${alert ? 'above' : 'within'} the ${thresholdText} threshold.`,
  };
}

/** A decimal without trailing fractional zeros (350 → "350", 0.0500 → "0.05"). */
function decimalText(d: Decimal): string {
  const text = formatAmount(d.units, d.scale);
  return d.scale > 0 ? text.replace(/\.?0+$/, '') : text;
}

/** A fraction as an exact percentage string (0.05 → "5%", 0.0125 → "1.25%"). */
function pctOfDecimal(d: Decimal): string {
  // × 100 is two places fewer, or two more zeros for a fraction written with fewer than two.
  const shifted =
    d.scale >= 2
      ? { units: d.units, scale: d.scale - 2 }
      : { units: d.units * 10n ** BigInt(2 - d.scale), scale: 0 };
  return `${decimalText(shifted)}%`;
}

/**
 * How far a locked FX rate moved from the previous lock, exactly: (new − previous)/previous in
 * percent, signed, half-even to 4 places. The alert compares the exact move (not the rounded
 * one) with maxPercent: |move| > maxPercent.
 */
export function fxMove(
  previousRate: string,
  newRate: string,
  maxPercent: string,
): { alert: boolean; movePercent: string; explanation: string } {
  const rate = (field: string, v: string) => {
    const p = parseDecimal(v, { maxScale: 18 });
    if (!p.ok) throw new RangeError(`${field} ${p.message}`);
    if (p.value.units === 0n) throw new RangeError(`${field} must be greater than 0`);
    return p.value;
  };
  const prev = rate('previousRate', previousRate);
  const next = rate('newRate', newRate);
  const maxParsed = parseDecimal(maxPercent, { maxScale: 18 });
  if (!maxParsed.ok) throw new RangeError(`maxPercent ${maxParsed.message}`);
  const max = maxParsed.value;
  const scale = Math.max(prev.scale, next.scale);
  const p = prev.units * 10n ** BigInt(scale - prev.scale);
  const n = next.units * 10n ** BigInt(scale - next.scale);
  const diff = n - p;
  const move = divideHalfEven(diff * 100n * 10_000n, p).rounded; // percent, 4 places
  const movePercent = formatAmount(move, 4);
  const absDiff = diff < 0n ? -diff : diff;
  const alert = absDiff * 100n * 10n ** BigInt(max.scale) > max.units * p;
  return {
    alert,
    movePercent,
    explanation:
      `The rate moved ${movePercent}% (${previousRate} → ${newRate}), ` +
      `${alert ? 'more than' : 'within'} the ${maxPercent}% allowed.`,
  };
}
