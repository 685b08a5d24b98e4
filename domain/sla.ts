import { z } from 'zod';

/**
 * SLA tiers of the exception work queue (DOMAIN.md, "Exceptions at volume"): an open exception's
 * tier follows from its amount and its age, and says how long after it was found it is due.
 * Each tier but the lowest names an amount and an age; an exception meeting either (OR) is in
 * that tier, the most urgent tier it meets winning. Every condition is "at least", so more
 * amount or more age never lowers a tier, whatever the configured figures.
 *
 * Amounts are compared in minor units of the exception's own currency for now: 100,000 is
 * 1,000.00 EUR but 100,000 JPY. A later issue converts to one reporting currency (FX at the
 * cycle's locked rates) before comparing.
 *
 * Pure and deterministic: the API, the sweep's SQL (db/exception-queue.ts renders the same rules)
 * and tests share it.
 */

/** Most urgent first: the order tiers are tried in, and their rank (0 = most urgent). */
export const SLA_TIERS = ['critical', 'high', 'medium', 'low'] as const;
export type SlaTier = (typeof SLA_TIERS)[number];
export const slaTierSchema = z.enum(SLA_TIERS);

export interface SlaThreshold {
  /** |difference| at or above which an exception is in the tier, in minor units. */
  minAmountMinor: bigint;
  /** Age (since found) at or above which an exception is in the tier, in hours. */
  minAgeHours: number;
  /** Due this long after it was found. */
  dueHours: number;
}

export interface SlaTiers {
  critical: SlaThreshold;
  high: SlaThreshold;
  medium: SlaThreshold;
  /** What meets no other tier: only a due time. */
  low: { dueHours: number };
}

export const DEFAULT_SLA_TIERS: SlaTiers = {
  critical: { minAmountMinor: 100_000n, minAgeHours: 5 * 24, dueHours: 24 },
  high: { minAmountMinor: 10_000n, minAgeHours: 3 * 24, dueHours: 72 },
  medium: { minAmountMinor: 1_000n, minAgeHours: 24, dueHours: 120 },
  low: { dueHours: 168 },
};

const HOUR_MS = 3_600_000;
/** A year: a due time or an age threshold beyond it is a typo, not a policy. */
const MAX_HOURS = 24 * 366;

const minorUnits = z
  .union([z.int().min(0), z.string().regex(/^\d{1,18}$/, 'minor units as digits')])
  .transform((v) => BigInt(v));
const hours = z.number().positive().max(MAX_HOURS);
const threshold = z.object({ minAmountMinor: minorUnits, minAgeHours: hours, dueHours: hours }).strict();

/**
 * The configured form (EXCEPTION_SLA_TIERS, JSON): every tier, with amounts as integers or
 * digit strings (beyond 2^53 a JSON number would round). Thresholds must not rise from a tier
 * to a more urgent one's (else the less urgent tier could never be reached that way: a typo),
 * and a more urgent tier must not be due later than a less urgent one.
 */
export const slaTiersSchema = z
  .object({
    critical: threshold,
    high: threshold,
    medium: threshold,
    low: z.object({ dueHours: hours }).strict(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const ranked = [t.critical, t.high, t.medium] as const;
    for (let i = 1; i < ranked.length; i++) {
      const [upper, lower, name] = [ranked[i - 1]!, ranked[i]!, SLA_TIERS[i]!];
      if (lower.minAmountMinor > upper.minAmountMinor)
        ctx.addIssue({
          code: 'custom',
          path: [name, 'minAmountMinor'],
          message: `above ${SLA_TIERS[i - 1]}'s`,
        });
      if (lower.minAgeHours > upper.minAgeHours)
        ctx.addIssue({ code: 'custom', path: [name, 'minAgeHours'], message: `above ${SLA_TIERS[i - 1]}'s` });
    }
    const due = [t.critical.dueHours, t.high.dueHours, t.medium.dueHours, t.low.dueHours];
    for (let i = 1; i < due.length; i++)
      if (due[i]! < due[i - 1]!)
        ctx.addIssue({
          code: 'custom',
          path: [SLA_TIERS[i]!, 'dueHours'],
          message: `sooner than ${SLA_TIERS[i - 1]}'s: a less urgent tier is never due first`,
        });
  });

/** Parses EXCEPTION_SLA_TIERS' text; throws with the offending paths. */
export function parseSlaTiers(text: string): SlaTiers {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('is not JSON');
  }
  const parsed = slaTiersSchema.safeParse(json);
  if (!parsed.success)
    throw new Error(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; '),
    );
  return parsed.data;
}

/** The tier of an exception of this |difference| (minor units) and age. */
export function tierOf(
  e: { amountMinor: bigint; ageMs: number },
  tiers: SlaTiers = DEFAULT_SLA_TIERS,
): SlaTier {
  const amount = e.amountMinor < 0n ? -e.amountMinor : e.amountMinor;
  const ageHours = e.ageMs / HOUR_MS;
  for (const tier of ['critical', 'high', 'medium'] as const) {
    const t = tiers[tier];
    if (amount >= t.minAmountMinor || ageHours >= t.minAgeHours) return tier;
  }
  return 'low';
}

/** When an exception of this tier, found at `foundAt`, is due. */
export function dueAt(foundAt: Date, tier: SlaTier, tiers: SlaTiers = DEFAULT_SLA_TIERS): Date {
  return new Date(foundAt.getTime() + tiers[tier].dueHours * HOUR_MS);
}

/** 0 for the most urgent tier: a lower rank is more urgent. */
export function tierRank(tier: SlaTier): number {
  return SLA_TIERS.indexOf(tier);
}

/** Ageing buckets of the queue's ageing view, youngest first; each age is in exactly one. */
export const AGEING_BUCKETS = [
  { bucket: '0-1d', fromHours: 0, toHours: 24 },
  { bucket: '1-3d', fromHours: 24, toHours: 72 },
  { bucket: '3-7d', fromHours: 72, toHours: 168 },
  { bucket: '>7d', fromHours: 168, toHours: Infinity },
] as const;
export type AgeingBucket = (typeof AGEING_BUCKETS)[number]['bucket'];

/**
 * The bucket of an age: [from, to) hours. An age below zero (a found time a little ahead of
 * this clock) counts as new.
 */
export function ageingBucket(ageMs: number): AgeingBucket {
  const h = ageMs / HOUR_MS;
  for (const b of AGEING_BUCKETS) if (h < b.toHours) return b.bucket;
  return '>7d';
}

/** The configured tiers as JSON (amounts as strings): how the config documents its default. */
export function slaTiersJson(tiers: SlaTiers): string {
  return JSON.stringify(tiers, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
