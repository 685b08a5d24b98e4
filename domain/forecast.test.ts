import fc from 'fast-check';
import { forecastMonth, type DailyFigure } from './forecast';

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** Monday = 0 … Sunday = 6, from Date's own Sunday-first weekday. */
const weekdayOf = (ms: number) => (new Date(ms).getUTCDay() + 6) % 7;

/** Every day from `from` to `to` (inclusive), with amounts from `amount`. */
function days(from: number, to: number, amount: (ms: number) => bigint): DailyFigure[] {
  const out: DailyFigure[] = [];
  for (let t = from; t <= to; t += DAY) out.push({ date: iso(t), amountMinor: amount(t) });
  return out;
}

// Hoisted: a global looked up in a hot loop is slow inside jest's vm sandbox.
const imul = Math.imul;

/** mulberry32, seeded: the simulated months are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = imul(a ^ (a >>> 15), 1 | a);
    t = (t + imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('forecastMonth', () => {
  it('projects a constant weekday pattern exactly, with a zero-width interval', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), { minLength: 7, maxLength: 7 }),
        fc.integer({ min: 2000, max: 2099 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: -3, max: 33 }), // asOf as a day of the month (may be outside it)
        fc.integer({ min: 2, max: 10 }), // two weeks at least: one day per weekday has no variance
        (pattern, year, month, dayOfMonth, weeks) => {
          const monthStart = Date.UTC(year, month - 1, 1);
          const monthEnd = Date.UTC(year, month, 0);
          const asOf = Date.UTC(year, month - 1, dayOfMonth);
          const value = (ms: number) => pattern[weekdayOf(ms)]!;
          const history = days(Math.min(asOf - (7 * weeks - 1) * DAY, monthStart), asOf, value);
          const mm = `${year}-${String(month).padStart(2, '0')}`;
          const f = forecastMonth(history, mm, iso(asOf), weeks);

          let mtd = 0n;
          let rest = 0n;
          let remaining = 0;
          for (let t = monthStart; t <= monthEnd; t += DAY) {
            if (t <= asOf) mtd += value(t);
            else {
              rest += value(t);
              remaining++;
            }
          }
          expect(f.monthToDateMinor).toBe(mtd);
          expect(f.projectedMinor).toBe(mtd + rest);
          expect(f.lowMinor).toBe(f.projectedMinor);
          expect(f.highMinor).toBe(f.projectedMinor);
          expect(f.remainingDays).toBe(remaining);
          expect(f.weeksOfHistory).toBe(weeks);
          expect(f.byWeekday).toEqual(
            pattern.map((meanMinor, weekday) => ({ weekday, meanMinor, days: weeks })),
          );
        },
      ),
      { numRuns: 300, seed: 801 },
    );
  });

  it('falls back to the pooled variance of all days when no weekday has two days of history', () => {
    // One week of a constant pattern: constant or not, one day per weekday cannot tell. The
    // interval then uses the spread of all seven days (here 0..6: variance 14/3).
    const history = days(Date.UTC(2025, 2, 24), Date.UTC(2025, 2, 30), (t) => BigInt(weekdayOf(t)));
    const f = forecastMonth(history, '2025-03', '2025-03-30', 1);
    expect(f.projectedMinor).toBe(21n + 0n);
    const halfWidth = 1.96 * Math.sqrt(14 / 3 + 14 / 3); // one Monday: the day, plus its mean of one
    expect(f.lowMinor).toBe(BigInt(Math.round(21 - halfWidth)));
    expect(f.highMinor).toBe(BigInt(Math.round(21 + halfWidth)));
  });

  it('rounds the projection and each bound once, half-even, and says how it projected', () => {
    // March 2025 as of Sunday the 30th: one day left, Monday the 31st. Two weeks of history,
    // starting Monday the 17th; the two Mondays stake 1 and 2 minor units, every other day 0.
    const history = [
      { date: '2025-03-17', amountMinor: 1n },
      { date: '2025-03-24', amountMinor: 2n },
    ];
    const f = forecastMonth(history, '2025-03', '2025-03-30', 2);
    expect(f.monthToDateMinor).toBe(3n);
    // 3 + 1.5 = 4.5 → 4 (half-even; half-up would say 5).
    expect(f.projectedMinor).toBe(4n);
    // V = 1·0.5 (the day) + 1²·0.5/2 (the mean): ±1.96·√0.75 = ±1.697 around 4.5 → [2.80, 6.20].
    expect(f.lowMinor).toBe(3n);
    expect(f.highMinor).toBe(6n);
    expect(f.byWeekday[0]).toEqual({ weekday: 0, meanMinor: 2n, days: 2 }); // 1.5 → 2
    expect(f.remainingDays).toBe(1);
    expect(f.weeksOfHistory).toBe(2);
    expect(f.method).toBe(
      'Month to date (30 days to 2025-03-30) plus the one remaining day at the mean of its weekday over ' +
        'the 14 days to 2025-03-30 (up to 2 weeks; a day without a figure after the first counts as 0), rounded ' +
        "half-even; interval ±1.96·√(Σ each day's weekday variance + the weekday means' own uncertainty), days assumed independent.",
    );
    // 5 + 2.5 = 7.5 → 8; Mondays −1 and −2: −3 − 1.5 = −4.5 → −4; means −1.5 → −2.
    const up = forecastMonth(
      [
        { date: '2025-03-17', amountMinor: 2n },
        { date: '2025-03-24', amountMinor: 3n },
      ],
      '2025-03',
      '2025-03-30',
      2,
    );
    expect(up.projectedMinor).toBe(8n);
    const negative = forecastMonth(
      history.map((h) => ({ ...h, amountMinor: -h.amountMinor })),
      '2025-03',
      '2025-03-30',
      2,
    );
    expect(negative.projectedMinor).toBe(-4n);
    expect(negative.byWeekday[0]!.meanMinor).toBe(-2n);
    // Not clamped: a negative figure's interval goes where it goes.
    expect(negative.lowMinor).toBe(-6n);
    expect(negative.highMinor).toBe(-3n);
  });

  it('counts a missing day as 0 inside the history, not before its first figure; ignores days after asOf; adds figures of one date', () => {
    // 8 weeks asked, 3 weeks of figures (from Monday 2025-03-10 to Sunday 2025-03-30), all 100
    // except a missing Wednesday (2025-03-19) and two figures on Friday 2025-03-28.
    const history = days(Date.UTC(2025, 2, 10), Date.UTC(2025, 2, 30), () => 100n).filter(
      (d) => d.date !== '2025-03-19',
    );
    history.push({ date: '2025-03-28', amountMinor: 50n });
    history.push({ date: '2025-03-31', amountMinor: 1_000_000n }); // after asOf: not complete
    const f = forecastMonth(history, '2025-03', '2025-03-30');
    expect(f.weeksOfHistory).toBe(3);
    expect(f.byWeekday.map((w) => w.days)).toEqual([3, 3, 3, 3, 3, 3, 3]);
    expect(f.byWeekday[2]!.meanMinor).toBe(67n); // Wednesdays 100, 0, 100
    expect(f.byWeekday[4]!.meanMinor).toBe(117n); // Fridays 100, 100, 150
    expect(f.monthToDateMinor).toBe(21n * 100n - 100n + 50n);
    expect(f.projectedMinor).toBe(f.monthToDateMinor + 100n); // Monday the 31st at its mean
  });

  it('sums a finished month without projecting, and refuses too little history or a bad date', () => {
    const history = days(Date.UTC(2025, 0, 1), Date.UTC(2025, 1, 28), (t) => BigInt(weekdayOf(t)));
    const done = forecastMonth(history, '2025-02', '2025-03-03');
    expect(done).toMatchObject({ remainingDays: 0, monthToDateMinor: 4n * 21n, projectedMinor: 84n });
    expect(done.lowMinor).toBe(84n);
    expect(done.method).toMatch(/^The month is complete/);
    // Before the month starts, all of it is projected.
    const ahead = forecastMonth(history, '2025-03', '2025-02-28');
    expect(ahead.monthToDateMinor).toBe(0n);
    expect(ahead.remainingDays).toBe(31);
    expect(ahead.method).toMatch(
      /^Nothing of 2025-03 yet as of 2025-02-28 plus each of the 31 remaining days/,
    );
    expect(() => forecastMonth(history.slice(-3), '2025-03', '2025-02-28')).toThrow(/at least a week/);
    expect(() => forecastMonth(history, '2025-02', '2025-02-30')).toThrow(/asOf/);
    expect(() => forecastMonth(history, '2025-13', '2025-02-28')).toThrow(/month/);
    expect(() => forecastMonth([{ date: '2025-2-1', amountMinor: 1n }], '2025-02', '2025-02-28')).toThrow(
      /history\[0\]\.date/,
    );
  });

  it('has the true month total inside its 95 % interval in about 95 % of simulated months', () => {
    // A weekday pattern with weekend peaks, each day normal around it with a 15 % spread, 8 weeks
    // of history; the month's actual remaining days drawn the same way. 1,000 months, asOf on
    // the 6th, 14th and 24th of March 2025 in turn.
    const rand = prng(901);
    const normal = () => {
      let u = 0;
      while (u === 0) u = rand();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
    };
    const pattern = [120_000, 100_000, 100_000, 110_000, 150_000, 220_000, 200_000];
    const draw = (ms: number) => {
      const mean = pattern[weekdayOf(ms)]!;
      return BigInt(Math.round(mean + 0.15 * mean * normal()));
    };
    const monthStart = Date.UTC(2025, 2, 1);
    const monthEnd = Date.UTC(2025, 2, 31);
    let inside = 0;
    let below = 0;
    const runs = 1_000;
    for (let i = 0; i < runs; i++) {
      const asOf = Date.UTC(2025, 2, 6 + [0, 8, 18][i % 3]!);
      const all = days(asOf - 60 * DAY, monthEnd, draw);
      const f = forecastMonth(
        all.filter((d) => Date.parse(d.date) <= asOf),
        '2025-03',
        iso(asOf),
      );
      const truth = all
        .filter((d) => Date.parse(d.date) >= monthStart)
        .reduce((a, d) => a + d.amountMinor, 0n);
      if (f.lowMinor <= truth && truth <= f.highMinor) inside++;
      else if (truth < f.lowMinor) below++;
    }
    // Binomial noise at 1,000 runs is ±0.7 point; the variances estimated from 8 days per weekday
    // make a z interval a little narrower than it should be (t with 7 degrees of freedom).
    expect(inside / runs).toBeGreaterThanOrEqual(0.92); // measured 95.9 % (24 of 41 misses below)
    expect(inside / runs).toBeLessThanOrEqual(0.975);
    // And it misses on both sides, not one (the projection is unbiased).
    expect(below).toBeGreaterThan(0.2 * (runs - inside));
    expect(below).toBeLessThan(0.8 * (runs - inside));
  });
});
