// Per-contract reconciliation rules: what a contract says may be resolved without a person
// (a tolerance, a date lag) and how, and the matching and ageing settings of its exceptions.
// Pure and deterministic (no clock, no randomness, no I/O): a workflow replays decideByRules
// and gets the same decisions, so the rules are data in the contract, never code.
import { z } from 'zod';
import { divideHalfEven } from './money';

const MINOR = 'minor units as a string of digits';
const minor = z.string({ error: MINOR }).regex(/^\d{1,18}$/, MINOR);
/** A percentage from 0 to 100 with at most 4 decimals, exact (never a float). */
const percent = z
  .string()
  .regex(
    /^(100(\.0{1,4})?|[1-9]?\d(\.\d{1,4})?)$/,
    'a percentage from 0 to 100 such as "0.5" (4 decimals at most)',
  );
const int = (field: string, min: number, max: number) => {
  const error = `${field}: an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, error).max(max, error);
};

/**
 * What a rule may decide. Not currency_mismatch: ours and theirs are in two currencies and no
 * rate is locked before the fee, so no tolerance can compare them (a person decides).
 */
export const ruleKinds = ['amount_mismatch', 'missing_theirs', 'missing_ours'] as const;
export type RuleKind = (typeof ruleKinds)[number];
export const ruleActions = ['accept_ours', 'accept_theirs', 'write_off', 'carry_forward', 'propose'] as const;
export type RuleAction = (typeof ruleActions)[number];
const MISSING: readonly string[] = ['missing_theirs', 'missing_ours'];

export const toleranceSchema = z
  .object({
    absoluteMinor: minor.default('0'),
    percent: percent.default('0'),
    base: z.enum(['ours', 'theirs', 'larger', 'smaller']).default('larger'),
    rounding: z.enum(['half_up', 'half_even', 'up', 'down']).default('half_up'),
  })
  .strict();
export type RuleTolerance = z.output<typeof toleranceSchema>;

export const ruleSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, 'a rule id such as rounding or late-report'),
    kinds: z.array(z.enum(ruleKinds)).min(1, 'at least one kind').meta({ uniqueItems: true }),
    currencies: z.array(z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR')).optional(),
    tolerance: toleranceSchema.optional(),
    dateLag: z
      .union(
        [
          z.object({ hours: int('dateLag.hours', 1, 168) }).strict(),
          z.object({ businessDays: int('dateLag.businessDays', 1, 10) }).strict(),
        ],
        { error: 'dateLag: exactly one of hours (1 to 168) or businessDays (1 to 10)' },
      )
      .optional(),
    action: z.enum(ruleActions),
    writeOffAccount: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,39}$/, 'an account name such as fx_rounding')
      .optional(),
  })
  .strict()
  // What checkRule enforces, stated in the published schema too (the parse keeps its messages
  // naming the field): an amount rule has a tolerance and no lag, a missing rule a lag; a
  // write-off names its account, nothing else does; each kind listed once.
  .meta({
    allOf: [
      {
        anyOf: [
          {
            properties: { kinds: { items: { const: 'amount_mismatch' } } },
            required: ['tolerance'],
            not: { required: ['dateLag'] },
          },
          {
            properties: { kinds: { items: { enum: ['missing_theirs', 'missing_ours'] } } },
            required: ['dateLag'],
          },
        ],
      },
      {
        anyOf: [
          { properties: { action: { const: 'write_off' } }, required: ['writeOffAccount'] },
          {
            properties: { action: { enum: ruleActions.filter((a) => a !== 'write_off') } },
            not: { required: ['writeOffAccount'] },
          },
        ],
      },
    ],
  });
export type Rule = z.output<typeof ruleSchema>;
export type RuleJson = z.input<typeof ruleSchema>;

/** Today's behaviour for a contract that states no rules: a 1-minor-unit difference is a
 * rounding difference, proposed to a person who confirms it. */
export const DEFAULT_RULES: Rule[] = [
  {
    id: 'rounding',
    kinds: ['amount_mismatch'],
    tolerance: { absoluteMinor: '1', percent: '0', base: 'larger', rounding: 'half_up' },
    action: 'propose',
  },
];

/** The cross-field rules of one rule; each issue names rules[i] and the field at fault. */
function checkRule(r: Rule, i: number, ctx: z.RefinementCtx): void {
  const at = (field: string | null, message: string) =>
    ctx.addIssue({ code: 'custom', path: field ? ['rules', i, field] : ['rules', i], message });
  const name = `rules[${i}] (${r.id})`;
  if (new Set(r.kinds).size !== r.kinds.length) at('kinds', `${name}.kinds lists a kind twice`);
  if (!r.tolerance && !r.dateLag) at(null, `${name} needs a tolerance or a dateLag`);
  const missing = r.kinds.filter((k) => MISSING.includes(k));
  if (r.dateLag && missing.length !== r.kinds.length)
    at('dateLag', `${name}: a dateLag rule may only list missing_theirs / missing_ours`);
  // A missing_* rule without a lag would have no bound on how far away its counterpart may be.
  if (!r.dateLag && missing.length > 0)
    at('dateLag', `${name}: missing_theirs / missing_ours need a dateLag`);
  if (!r.tolerance && r.kinds.some((k) => !MISSING.includes(k)))
    at('tolerance', `${name}: amount_mismatch needs a tolerance`);
  if (r.action === 'write_off' && r.writeOffAccount === undefined)
    at('writeOffAccount', `${name}.writeOffAccount is required when the action is write_off`);
  if (r.action !== 'write_off' && r.writeOffAccount !== undefined)
    at('writeOffAccount', `${name}.writeOffAccount is only for the action write_off`);
}

export const reconciliationTermsSchema = z
  .object({
    rules: z
      .array(ruleSchema)
      .max(50, 'rules: at most 50')
      .prefault(() => DEFAULT_RULES),
    matching: z
      .object({
        weights: z
          .object({
            amount: int('matching.weights.amount', 0, 100).default(40),
            currency: int('matching.weights.currency', 0, 100).default(30),
            time: int('matching.weights.time', 0, 100).default(20),
            reference: int('matching.weights.reference', 0, 100).default(10),
          })
          .strict()
          .prefault({}),
        /**
         * Off unless the contract turns it on (a contract version approved by two people): a
         * contract written before the matcher existed settles as it did.
         */
        enabled: z.boolean().default(false),
        autoConfirmAt: int('matching.autoConfirmAt', 1, 100).default(90),
        suggestAt: int('matching.suggestAt', 0, 100).default(60),
        windowMinutes: int('matching.windowMinutes', 1, 1440).default(60),
        maxCandidatesPerRound: int('matching.maxCandidatesPerRound', 1, 500).default(50),
        maxCandidatesPerCycle: int('matching.maxCandidatesPerCycle', 1, 100_000).default(5000),
      })
      .strict()
      .prefault({}),
    expected: z
      .object({
        /** 0: a missing counterpart is never "expected" (still arriving), always an exception. */
        withinMinutesOfCutoff: int('expected.withinMinutesOfCutoff', 0, 1440).default(0),
        ageLimitHours: int('expected.ageLimitHours', 1, 720).default(72),
      })
      .strict()
      .prefault({}),
    /** A bulk resolution whose total |difference| is above this needs a second actor. */
    bulkApprovalThresholdMinor: minor.default('1000000'),
    /**
     * Minutes the cycle waits, when rules or the matcher decided something, for a resolver to
     * review and reverse those decisions before the fee is computed (0: it goes straight on
     * when nothing is left for people).
     */
    reviewMinutes: int('reviewMinutes', 0, 7 * 24 * 60).default(0),
  })
  .strict()
  .superRefine((t, ctx) => {
    const seen = new Map<string, number>();
    t.rules.forEach((r, i) => {
      const first = seen.get(r.id);
      if (first === undefined) seen.set(r.id, i);
      else
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'id'],
          message: `rules[${i}].id ${r.id} repeats rules[${first}].id: rule ids must be unique`,
        });
      checkRule(r, i, ctx);
    });
    const w = t.matching.weights;
    const sum = w.amount + w.currency + w.time + w.reference;
    if (sum !== 100)
      ctx.addIssue({
        code: 'custom',
        path: ['matching', 'weights'],
        message: `matching.weights must add up to 100 (they add up to ${sum})`,
      });
    if (t.matching.suggestAt > t.matching.autoConfirmAt)
      ctx.addIssue({
        code: 'custom',
        path: ['matching', 'suggestAt'],
        message: `matching.suggestAt (${t.matching.suggestAt}) must not be above matching.autoConfirmAt (${t.matching.autoConfirmAt})`,
      });
  });
export type ReconciliationTerms = z.output<typeof reconciliationTermsSchema>;
export type ReconciliationTermsJson = z.input<typeof reconciliationTermsSchema>;

// ---- Tolerance ----------------------------------------------------------------------------

const PERCENT_DEN = 100n * 10n ** 4n; // percent written with at most 4 decimals
const abs = (x: bigint) => (x < 0n ? -x : x);

/** num / den (num ≥ 0, den > 0) rounded to an integer by the named mode. */
function roundDiv(num: bigint, den: bigint, mode: RuleTolerance['rounding']): bigint {
  const q = num / den;
  const r = num % den;
  if (r === 0n || mode === 'down') return q;
  if (mode === 'up') return q + 1n;
  if (mode === 'half_even') return divideHalfEven(num, den).rounded; // the ledger's one definition
  return 2n * r >= den ? q + 1n : q;
}

/**
 * The largest |difference| a tolerance admits: the larger of its absolute amount and its
 * percentage of the base (in absolute value; a missing side counts as 0), the percentage
 * rounded to whole minor units by the tolerance's own mode.
 */
export function thresholdMinor(
  tol: RuleTolerance,
  oursMinor: bigint | null,
  theirsMinor: bigint | null,
): bigint {
  const o = abs(oursMinor ?? 0n);
  const t = abs(theirsMinor ?? 0n);
  const base = { ours: o, theirs: t, larger: o > t ? o : t, smaller: o < t ? o : t }[tol.base];
  const [whole, fraction = ''] = tol.percent.split('.');
  const pctUnits = BigInt(whole! + fraction.padEnd(4, '0'));
  const pct = roundDiv(base * pctUnits, PERCENT_DEN, tol.rounding);
  const absolute = BigInt(tol.absoluteMinor);
  return absolute > pct ? absolute : pct;
}

// ---- Decisions ----------------------------------------------------------------------------

export interface RuleFacts {
  exceptionId: string;
  kind: string;
  currency: string | null;
  oursMinor: bigint | null;
  theirsMinor: bigint | null;
  differenceMinor: bigint; // theirs − ours
  /** For missing_theirs / missing_ours: the other side's record of the same transaction id found outside this period (the provider dated it into the adjacent day, or we did), or null. */
  counterpart: {
    side: 'ours' | 'theirs';
    amountMinor: bigint;
    lagMs: number;
    businessDaysApart: number;
  } | null;
}

export interface RuleDecision {
  exceptionId: string;
  ruleId: string;
  action: RuleAction;
  /** The resolution it records: the action, or null for propose (left open, with the suggestion). */
  resolution: 'accept_ours' | 'accept_theirs' | 'write_off' | 'carry_forward' | null;
  writeOffAccount: string | null;
  evidence: {
    kind: string;
    differenceMinor: string;
    thresholdMinor: string | null;
    base: string | null;
    rounding: string | null;
    lagMs: number | null;
    lagLimit: string | null;
    counterpartSide: 'ours' | 'theirs' | null;
  };
}

type Evidence = RuleDecision['evidence'];

/** The evidence of a rule's conditions holding for the facts, or null when they do not. */
function evidenceOf(f: RuleFacts, r: Rule): Evidence | null {
  const tol = r.tolerance;
  const ev: Evidence = {
    kind: f.kind,
    differenceMinor: f.differenceMinor.toString(),
    thresholdMinor: null,
    base: tol?.base ?? null,
    rounding: tol?.rounding ?? null,
    lagMs: null,
    lagLimit: null,
    counterpartSide: null,
  };
  if (!MISSING.includes(f.kind)) {
    if (!tol) return null;
    const limit = thresholdMinor(tol, f.oursMinor, f.theirsMinor);
    return abs(f.differenceMinor) <= limit ? { ...ev, thresholdMinor: limit.toString() } : null;
  }
  // missing_theirs: we hold it, and the provider's record is dated outside the period (and
  // the reverse for missing_ours). Without that counterpart there is nothing to match.
  const c = f.counterpart;
  const otherSide = f.kind === 'missing_theirs' ? 'theirs' : 'ours';
  if (!r.dateLag || !c || c.side !== otherSide) return null;
  const within =
    'hours' in r.dateLag
      ? Math.abs(c.lagMs) <= r.dateLag.hours * 3_600_000
      : Math.abs(c.businessDaysApart) <= r.dateLag.businessDays;
  if (!within) return null;
  const [ours, theirs] =
    otherSide === 'theirs' ? [f.oursMinor, c.amountMinor] : [c.amountMinor, f.theirsMinor];
  // Without a tolerance the counterpart must carry the very same amount.
  const limit = tol ? thresholdMinor(tol, ours, theirs) : 0n;
  if (ours === null || theirs === null || abs(theirs - ours) > limit) return null;
  return {
    ...ev,
    thresholdMinor: tol ? limit.toString() : null,
    lagMs: c.lagMs,
    lagLimit: 'hours' in r.dateLag ? `${r.dateLag.hours}h` : `${r.dateLag.businessDays} business days`,
    counterpartSide: c.side,
  };
}

/**
 * The decision of the first rule (in the contract's order) that lists the exception's kind,
 * admits its currency and whose conditions hold; null when none does (a person decides).
 */
export function decideByRules(facts: RuleFacts, rules: Rule[]): RuleDecision | null {
  for (const r of rules) {
    if (!(r.kinds as readonly string[]).includes(facts.kind)) continue;
    if (r.currencies && (facts.currency === null || !r.currencies.includes(facts.currency))) continue;
    const evidence = evidenceOf(facts, r);
    if (!evidence) continue;
    return {
      exceptionId: facts.exceptionId,
      ruleId: r.id,
      action: r.action,
      resolution: r.action === 'propose' ? null : r.action,
      writeOffAccount: r.writeOffAccount ?? null,
      evidence,
    };
  }
  return null;
}

export interface DecisionTotals {
  count: number;
  differenceMinor: string;
  absoluteMinor: string;
}

/** What a dry run shows: counts and amounts per kind and action ('none': left to a person). */
export function summarizeDecisions(
  facts: RuleFacts[],
  decisions: (RuleDecision | null)[],
): {
  byKindAndAction: ({ kind: string; action: RuleAction | 'none' } & DecisionTotals)[];
  total: DecisionTotals;
} {
  if (facts.length !== decisions.length)
    throw new RangeError(
      `${facts.length} facts but ${decisions.length} decisions: one decision (or null) per fact`,
    );
  const groups = new Map<
    string,
    { kind: string; action: RuleAction | 'none'; n: number; diff: bigint; abs: bigint }
  >();
  const total = { n: 0, diff: 0n, abs: 0n };
  facts.forEach((f, i) => {
    const action = decisions[i]?.action ?? 'none';
    const key = `${f.kind}\u0000${action}`;
    const g = groups.get(key) ?? { kind: f.kind, action, n: 0, diff: 0n, abs: 0n };
    for (const acc of [g, total]) {
      acc.n += 1;
      acc.diff += f.differenceMinor;
      acc.abs += abs(f.differenceMinor);
    }
    groups.set(key, g);
  });
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const totals = (g: { n: number; diff: bigint; abs: bigint }): DecisionTotals => ({
    count: g.n,
    differenceMinor: g.diff.toString(),
    absoluteMinor: g.abs.toString(),
  });
  return {
    byKindAndAction: [...groups.values()]
      .sort((a, b) => cmp(a.kind, b.kind) || cmp(a.action, b.action))
      .map((g) => ({ kind: g.kind, action: g.action, ...totals(g) })),
    total: totals(total),
  };
}
