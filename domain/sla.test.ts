import fc from 'fast-check';
import {
  AGEING_BUCKETS,
  DEFAULT_SLA_TIERS,
  ageingBucket,
  dueAt,
  parseSlaTiers,
  slaTiersJson,
  tierOf,
  tierRank,
  type SlaTiers,
} from './sla';

const H = 3_600_000;
const D = 24 * H;

describe('SLA tiers', () => {
  it('follows DOMAIN.md by default: amount OR age, the most urgent tier met', () => {
    const t = (amountMinor: bigint, ageMs: number) => tierOf({ amountMinor, ageMs });
    expect(t(100_000n, 0)).toBe('critical');
    expect(t(-100_000n, 0)).toBe('critical'); // |difference|
    expect(t(0n, 5 * D)).toBe('critical');
    expect(t(99_999n, 5 * D - 1)).toBe('high');
    expect(t(10_000n, 0)).toBe('high');
    expect(t(0n, 3 * D)).toBe('high');
    expect(t(1_000n, 0)).toBe('medium');
    expect(t(0n, D)).toBe('medium');
    expect(t(999n, D - 1)).toBe('low');
    expect(dueAt(new Date('2026-12-01T00:00:00Z'), 'critical').toISOString()).toBe(
      '2026-12-02T00:00:00.000Z',
    );
    expect(dueAt(new Date('2026-12-01T00:00:00Z'), 'low').toISOString()).toBe('2026-12-08T00:00:00.000Z');
    expect(dueAt(new Date('2026-12-01T00:00:00Z'), 'medium').toISOString()).toBe('2026-12-06T00:00:00.000Z');
  });

  const amount = fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n });
  const age = fc.integer({ min: -D, max: 30 * D });
  const more = fc.bigInt({ min: 0n, max: 10n ** 12n });
  const older = fc.integer({ min: 0, max: 30 * D });
  const abs = (v: bigint) => (v < 0n ? -v : v);

  /** Any valid configuration: thresholds non-increasing down the tiers, due times non-decreasing. */
  const tiersArb: fc.Arbitrary<SlaTiers> = fc
    .tuple(
      fc.array(fc.bigInt({ min: 0n, max: 10n ** 9n }), { minLength: 3, maxLength: 3 }),
      fc.array(fc.integer({ min: 1, max: 24 * 300 }), { minLength: 3, maxLength: 3 }),
      fc.array(fc.integer({ min: 1, max: 24 * 300 }), { minLength: 4, maxLength: 4 }),
    )
    .map(([amounts, ages, dues]) => {
      const a = [...amounts].sort((x, y) => (x > y ? -1 : x < y ? 1 : 0));
      const g = [...ages].sort((x, y) => y - x);
      const d = [...dues].sort((x, y) => x - y);
      return {
        critical: { minAmountMinor: a[0]!, minAgeHours: g[0]!, dueHours: d[0]! },
        high: { minAmountMinor: a[1]!, minAgeHours: g[1]!, dueHours: d[1]! },
        medium: { minAmountMinor: a[2]!, minAgeHours: g[2]!, dueHours: d[2]! },
        low: { dueHours: d[3]! },
      };
    });

  it('is monotone: more amount or more age never lowers the tier (defaults and any configuration)', () => {
    fc.assert(
      fc.property(amount, age, more, older, tiersArb, (a, g, da, dg, tiers) => {
        for (const t of [DEFAULT_SLA_TIERS, tiers]) {
          const base = tierRank(tierOf({ amountMinor: a, ageMs: g }, t));
          // "More amount" is a larger |difference|, in either sign.
          const bigger = abs(a) + da;
          expect(tierRank(tierOf({ amountMinor: bigger, ageMs: g }, t))).toBeLessThanOrEqual(base);
          expect(tierRank(tierOf({ amountMinor: -bigger, ageMs: g }, t))).toBeLessThanOrEqual(base);
          expect(tierRank(tierOf({ amountMinor: a, ageMs: g + dg }, t))).toBeLessThanOrEqual(base);
        }
      }),
    );
  });

  it('is due no later in a more urgent tier (any valid configuration)', () => {
    fc.assert(
      fc.property(tiersArb, fc.date({ noInvalidDate: true }), (tiers, found) => {
        const due = (['critical', 'high', 'medium', 'low'] as const).map((t) =>
          dueAt(found, t, tiers).getTime(),
        );
        expect([...due].sort((x, y) => x - y)).toEqual(due);
      }),
    );
  });

  it('reads EXCEPTION_SLA_TIERS: defaults round-trip, nonsense is refused with where', () => {
    expect(parseSlaTiers(slaTiersJson(DEFAULT_SLA_TIERS))).toEqual(DEFAULT_SLA_TIERS);
    expect(() => parseSlaTiers('{')).toThrow(/not JSON/);
    const bad = JSON.parse(slaTiersJson(DEFAULT_SLA_TIERS)) as Record<string, Record<string, unknown>>;
    bad.high!.minAmountMinor = '1000000';
    bad.low!.dueHours = 1;
    expect(() => parseSlaTiers(JSON.stringify(bad))).toThrow(
      /high\.minAmountMinor above critical's.*low\.dueHours sooner than medium's/,
    );
    expect(() => parseSlaTiers('{"critical":{}}')).toThrow(/critical\.minAmountMinor/);
  });
});

describe('ageing buckets', () => {
  it('partition ages: every age is in exactly one bucket, buckets in order and contiguous', () => {
    expect(AGEING_BUCKETS[0].fromHours).toBe(0);
    for (let i = 1; i < AGEING_BUCKETS.length; i++)
      expect(AGEING_BUCKETS[i]!.fromHours).toBe(AGEING_BUCKETS[i - 1]!.toHours);
    expect(AGEING_BUCKETS.at(-1)!.toHours).toBe(Infinity);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 * D }), (ms) => {
        const h = ms / H;
        const holding = AGEING_BUCKETS.filter((b) => h >= b.fromHours && h < b.toHours);
        expect(holding.map((b) => b.bucket)).toEqual([ageingBucket(ms)]);
      }),
    );
  });

  it('are monotone in age, with the edges on the lower bound', () => {
    const order = AGEING_BUCKETS.map((b) => b.bucket as string);
    fc.assert(
      fc.property(fc.integer({ min: -D, max: 30 * D }), fc.integer({ min: 0, max: 30 * D }), (ms, d) => {
        expect(order.indexOf(ageingBucket(ms + d))).toBeGreaterThanOrEqual(order.indexOf(ageingBucket(ms)));
      }),
    );
    expect([0, D - 1, D, 3 * D - 1, 3 * D, 7 * D - 1, 7 * D, -5].map(ageingBucket)).toEqual([
      '0-1d',
      '0-1d',
      '1-3d',
      '1-3d',
      '3-7d',
      '3-7d',
      '>7d',
      '0-1d',
    ]);
  });
});
