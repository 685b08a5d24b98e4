// A month's daily money figure (expected payout, GGR, …) projected to month end, with an
// interval. Pure and deterministic: the history and "today" (asOf, the last complete day) are
// passed in, never read from a clock or a database.
//
// Money stays bigint minor units: the month to date and the weekday sums are exact, the
// projection is an exact fraction rounded once, half-even. Only the spread (a statistic) is a
// float, and its exact binary value is used when the bounds are rounded, so each bound is also
// rounded exactly once.

import { divideHalfEven } from './money';

export interface DailyFigure {
  /** YYYY-MM-DD (a calendar day; the caller decides in which zone days are cut). */
  date: string;
  amountMinor: bigint;
}

export interface Forecast {
  month: string;
  asOf: string;
  monthToDateMinor: bigint;
  projectedMinor: bigint;
  lowMinor: bigint;
  highMinor: bigint;
  /** Days of the month after asOf. */
  remainingDays: number;
  /** Complete weeks of history behind the weekday means (at most `weeks`). */
  weeksOfHistory: number;
  method: string;
  /** Per weekday, Monday = 0 … Sunday = 6 (as hourOfWeek): its mean (half-even) and day count. */
  byWeekday: { weekday: number; meanMinor: bigint; days: number }[];
}

const DAY_MS = 86_400_000;
const WEEKDAY_NAMES = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** Days since 1970-01-01 of a YYYY-MM-DD date, refusing dates that do not exist. */
function dayNumber(field: string, date: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const ms = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : Number.NaN;
  if (!m || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== date)
    throw new RangeError(`${field} must be a date written YYYY-MM-DD, not ${JSON.stringify(date)}`);
  return ms / DAY_MS;
}

const dateOf = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);
/** 1970-01-01 was a Thursday (3 when Monday is 0). */
const weekdayOf = (day: number) => (((day + 3) % 7) + 7) % 7;

/** An exact fraction from a finite float (a float is a dyadic rational: doubling is exact). */
function floatToFraction(x: number): { num: bigint; den: bigint } {
  if (!Number.isFinite(x)) throw new RangeError('not a finite number');
  let den = 1n;
  while (!Number.isInteger(x)) {
    x *= 2;
    den *= 2n;
  }
  return { num: BigInt(x), den };
}

const gcd = (a: bigint, b: bigint): bigint => {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
};

interface WeekdayStats {
  days: number;
  sum: bigint;
  sumOfSquares: bigint;
}

/**
 * Projects a month's total from its days so far and the weekday pattern of the trailing weeks.
 *
 * - Month to date: the sum of the month's figures dated on or before asOf.
 * - Each remaining day of the month is expected at the mean of the same weekday over the trailing
 *   `weeks` weeks up to and including asOf (7·weeks days, so each weekday at most `weeks` times).
 *   A day with no figure counts as 0 only from the first figure on: before it the history does
 *   not reach, and a partner live for three weeks has three weeks of history, not eight with five
 *   of zeros. Several figures on one date add up (e.g. one per partner). Figures after asOf are
 *   ignored (that day is not complete).
 * - projected = month to date + Σ remaining days' weekday means, exact, rounded half-even once.
 * - Interval: projected ± z·√V, assuming the remaining days independent of one another and each
 *   drawn like the history of its weekday. V adds, per weekday w with k_w remaining days, n_w
 *   days of history and sample variance s_w² (n − 1):
 *     k_w·s_w²          the days' own spread, and
 *     k_w²·s_w²/n_w     the uncertainty of the mean they are projected at (the k_w days share
 *                       one estimated mean, so its error counts k_w times over, not √k_w).
 *   Without the second term, projecting from 8 weeks covered 89 % of simulated months at
 *   z = 1.96 a week into the month (93 % a week before its end); with it, 94–95 %. A weekday with fewer than 2 days of history takes
 *   the largest variance of the others (with none at all, the variance of all days pooled).
 * - Days are NOT really independent (a promotion lifts a week, a month-end effect, a trend):
 *   the interval is the spread of an ordinary month, not a bound. Figures may be negative
 *   (a payout net of reversals, a GGR): nothing is clamped.
 */
export function forecastMonth(
  history: DailyFigure[],
  month: string,
  asOf: string,
  weeks = 8,
  z = 1.96,
): Forecast {
  if (!/^\d{4}-\d{2}$/.test(month)) throw new RangeError(`month must be written YYYY-MM, not ${month}`);
  const monthStart = dayNumber('month', `${month}-01`);
  const [year, mon] = month.split('-').map(Number) as [number, number];
  const monthEnd = Date.UTC(year, mon, 0) / DAY_MS; // day 0 of the next month: this month's last
  const today = dayNumber('asOf', asOf);
  if (!Number.isInteger(weeks) || weeks < 1 || weeks > 520)
    throw new RangeError('weeks must be a whole number from 1 to 520');
  if (!(Number.isFinite(z) && z >= 0)) throw new RangeError('z must be a number ≥ 0');

  const byDay = new Map<number, bigint>();
  let firstDay = Number.POSITIVE_INFINITY;
  history.forEach((f, i) => {
    const day = dayNumber(`history[${i}].date`, f.date);
    if (typeof f.amountMinor !== 'bigint') throw new RangeError(`history[${i}].amountMinor must be a bigint`);
    if (day > today) return;
    byDay.set(day, (byDay.get(day) ?? 0n) + f.amountMinor);
    firstDay = Math.min(firstDay, day);
  });

  let monthToDate = 0n;
  for (let d = monthStart; d <= Math.min(today, monthEnd); d++) monthToDate += byDay.get(d) ?? 0n;

  // The weekday statistics over the covered part of the trailing window.
  const windowStart = today - 7 * weeks + 1;
  const coveredStart = Math.max(windowStart, firstDay);
  const stats: WeekdayStats[] = Array.from({ length: 7 }, () => ({ days: 0, sum: 0n, sumOfSquares: 0n }));
  for (let d = coveredStart; d <= today; d++) {
    const v = byDay.get(d) ?? 0n;
    const s = stats[weekdayOf(d)]!;
    s.days++;
    s.sum += v;
    s.sumOfSquares += v * v;
  }
  const coveredDays = Number.isFinite(coveredStart) ? today - coveredStart + 1 : 0;
  const weeksOfHistory = Math.floor(coveredDays / 7);

  // Remaining days by weekday.
  const remaining = [0, 0, 0, 0, 0, 0, 0];
  const firstRemaining = Math.max(today + 1, monthStart);
  for (let d = firstRemaining; d <= monthEnd; d++) remaining[weekdayOf(d)]!++;
  const remainingDays = Math.max(0, monthEnd - firstRemaining + 1);

  const missing = remaining.flatMap((k, w) => (k > 0 && stats[w]!.days === 0 ? [WEEKDAY_NAMES[w]!] : []));
  if (missing.length > 0)
    throw new RangeError(
      `no ${missing.join(', ')} in the history up to ${asOf}: at least a week of history is needed to project ${month}`,
    );

  // projected = MTD + Σ_w k_w·sum_w/n_w, as one exact fraction over the common denominator.
  let den = 1n;
  remaining.forEach((k, w) => {
    if (k === 0) return;
    const n = BigInt(stats[w]!.days);
    den = (den * n) / gcd(den, n);
  });
  let num = monthToDate * den;
  remaining.forEach((k, w) => {
    if (k > 0) num += (BigInt(k) * stats[w]!.sum * den) / BigInt(stats[w]!.days); // exact: n_w divides den
  });
  const projectedMinor = divideHalfEven(num, den).rounded;

  // Sample variances, exactly: (n·Σx² − (Σx)²) / (n·(n − 1)), then a float (a statistic).
  const variance = (days: number, sum: bigint, squares: bigint) =>
    days < 2 ? null : Number(BigInt(days) * squares - sum * sum) / (days * (days - 1));
  const variances = stats.map((s) => variance(s.days, s.sum, s.sumOfSquares));
  const known = variances.filter((v): v is number => v !== null);
  let fallback: number | null = known.length > 0 ? Math.max(...known) : null;
  if (fallback === null && remainingDays > 0) {
    const all = stats.reduce(
      (a, s) => ({
        days: a.days + s.days,
        sum: a.sum + s.sum,
        sumOfSquares: a.sumOfSquares + s.sumOfSquares,
      }),
      { days: 0, sum: 0n, sumOfSquares: 0n },
    );
    fallback = variance(all.days, all.sum, all.sumOfSquares);
    if (fallback === null)
      throw new RangeError(`at least two days of history are needed to project ${month}`);
  }
  let total = 0;
  remaining.forEach((k, w) => {
    if (k === 0) return;
    const v = variances[w] ?? fallback!;
    total += k * v + (k * k * v) / stats[w]!.days;
  });
  const halfWidth = floatToFraction(z * Math.sqrt(total));
  // low/high = the exact projection ∓ the half-width, each rounded once, half-even.
  const exactMinus = num * halfWidth.den - halfWidth.num * den;
  const exactPlus = num * halfWidth.den + halfWidth.num * den;
  const lowMinor = divideHalfEven(exactMinus, den * halfWidth.den).rounded;
  const highMinor = divideHalfEven(exactPlus, den * halfWidth.den).rounded;

  const byWeekday = stats.map((s, weekday) => ({
    weekday,
    meanMinor: s.days > 0 ? divideHalfEven(s.sum, BigInt(s.days)).rounded : 0n,
    days: s.days,
  }));
  const daysSoFar = Math.max(0, Math.min(today, monthEnd) - monthStart + 1);
  const soFar =
    daysSoFar === 0
      ? `Nothing of ${month} yet as of ${asOf}`
      : `Month to date (${daysSoFar} day${daysSoFar === 1 ? '' : 's'} to ${dateOf(Math.min(today, monthEnd))})`;
  const method =
    remainingDays === 0
      ? `The month is complete as of ${asOf}: its ${daysSoFar} days' figures summed, nothing projected.`
      : `${soFar} plus ${remainingDays === 1 ? 'the one remaining day' : `each of the ${remainingDays} remaining days`} ` +
        `at the mean of its weekday over the ` +
        `${coveredDays} days to ${asOf} (up to ${weeks} weeks; a day without a figure after the first counts as 0), ` +
        `rounded half-even; interval ±${z}·√(Σ each day's weekday variance + the weekday means' own uncertainty), ` +
        `days assumed independent.`;
  return {
    month,
    asOf,
    monthToDateMinor: monthToDate,
    projectedMinor,
    lowMinor,
    highMinor,
    remainingDays,
    weeksOfHistory,
    method,
    byWeekday,
  };
}
