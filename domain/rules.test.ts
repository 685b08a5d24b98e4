import fc from 'fast-check';
import {
  DEFAULT_RULES,
  decideByRules,
  reconciliationTermsSchema,
  summarizeDecisions,
  thresholdMinor,
  type Rule,
  type RuleAction,
  type RuleFacts,
  type RuleTolerance,
} from './rules';

const roundings = ['half_up', 'half_even', 'up', 'down'] as const;
const bases = ['ours', 'theirs', 'larger', 'smaller'] as const;
const actions: RuleAction[] = ['accept_ours', 'accept_theirs', 'write_off', 'carry_forward', 'propose'];

// ---- An independent oracle: exact fractions, rounding by comparing distances -------------

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
const absB = (x: bigint) => (x < 0n ? -x : x);

/** A percentage string as the parser never sees it: k decimals, not padded. */
interface Pct {
  text: string;
  units: bigint; // value × 10^k
  k: number;
}
const pctArb: fc.Arbitrary<Pct> = fc
  .tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 4 }), fc.nat())
  .map(([whole, k, seed]) => {
    const frac = whole === 100 || k === 0 ? 0 : seed % 10 ** k;
    const fracText = k === 0 ? '' : `.${String(frac).padStart(k, '0')}`;
    return { text: `${whole}${fracText}`, units: BigInt(whole) * 10n ** BigInt(k) + BigInt(frac), k };
  });

/** Rounds the non-negative fraction num/den to an integer by looking at both neighbours. */
function oracleRound(num: bigint, den: bigint, mode: RuleTolerance['rounding']): bigint {
  const g = gcd(num, den) || 1n;
  const [n, d] = [num / g, den / g];
  const lo = n / d;
  if (lo * d === n) return lo;
  const hi = lo + 1n;
  // Distances as fractions over d: value − lo and hi − value.
  const toLo = n - lo * d;
  const toHi = hi * d - n;
  if (mode === 'down') return lo;
  if (mode === 'up') return hi;
  if (toLo !== toHi) return toLo < toHi ? lo : hi;
  return mode === 'half_up' ? hi : lo % 2n === 0n ? lo : hi;
}

function oracleThreshold(absolute: bigint, pct: Pct, base: bigint, mode: RuleTolerance['rounding']): bigint {
  const rounded = oracleRound(base * pct.units, 100n * 10n ** BigInt(pct.k), mode);
  return absolute > rounded ? absolute : rounded;
}

function oracleBase(which: RuleTolerance['base'], ours: bigint | null, theirs: bigint | null): bigint {
  const o = absB(ours ?? 0n);
  const t = absB(theirs ?? 0n);
  if (which === 'ours') return o;
  if (which === 'theirs') return t;
  return which === 'larger' ? (o > t ? o : t) : o < t ? o : t;
}

const amountArb = fc.oneof(
  fc.bigInt({ min: -2_000n, max: 2_000n }),
  fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
);

const amountFacts = (
  ours: bigint | null,
  theirs: bigint | null,
  over: Partial<RuleFacts> = {},
): RuleFacts => ({
  exceptionId: 'amount_mismatch:t1',
  kind: 'amount_mismatch',
  currency: 'EUR',
  oursMinor: ours,
  theirsMinor: theirs,
  differenceMinor: (theirs ?? 0n) - (ours ?? 0n),
  counterpart: null,
  ...over,
});

describe('tolerance: the larger of an absolute amount and a rounded percentage of a base', () => {
  it('worked ties: 1 % of 250 is 2.5', () => {
    const tol = (rounding: RuleTolerance['rounding']): RuleTolerance => ({
      absoluteMinor: '0',
      percent: '1',
      base: 'larger',
      rounding,
    });
    expect(roundings.map((m) => thresholdMinor(tol(m), 250n, -100n))).toEqual([3n, 2n, 3n, 2n]);
    expect(thresholdMinor(tol('half_even'), 350n, null)).toBe(4n); // 3.5 → 4, the even neighbour
    expect(thresholdMinor({ ...tol('down'), absoluteMinor: '7' }, 250n, 0n)).toBe(7n);
  });

  it('thresholdMinor equals the rational oracle for every base and rounding mode', () => {
    fc.assert(
      fc.property(
        fc.option(amountArb),
        fc.option(amountArb),
        fc.bigInt({ min: 0n, max: 10n ** 6n }),
        pctArb,
        fc.constantFrom(...bases),
        fc.constantFrom(...roundings),
        (ours, theirs, absolute, pct, base, rounding) => {
          const tol = { absoluteMinor: absolute.toString(), percent: pct.text, base, rounding };
          expect(thresholdMinor(tol, ours, theirs)).toBe(
            oracleThreshold(absolute, pct, oracleBase(base, ours, theirs), rounding),
          );
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('(a) an amount_mismatch is resolved iff |difference| <= the oracle threshold', () => {
    fc.assert(
      fc.property(
        amountArb,
        fc.bigInt({ min: -3_000n, max: 3_000n }),
        fc.oneof(fc.bigInt({ min: 0n, max: 3_000n }), fc.constant(0n)),
        pctArb,
        fc.constantFrom(...bases),
        fc.constantFrom(...roundings),
        fc.integer({ min: -1, max: 1 }),
        (ours, diff, absolute, pct, base, rounding, nudge) => {
          const tol = { absoluteMinor: absolute.toString(), percent: pct.text, base, rounding };
          // Land on the boundary often: move the difference to the threshold ± 1.
          let theirs = ours + diff;
          const limit = oracleThreshold(absolute, pct, oracleBase(base, ours, theirs), rounding);
          if (nudge !== 0 || diff % 3n === 0n) {
            const target = limit + BigInt(nudge);
            if (target >= 0n) theirs = ours + (diff < 0n ? -target : target);
          }
          const expected = oracleThreshold(absolute, pct, oracleBase(base, ours, theirs), rounding);
          const rule: Rule = {
            id: 'tol',
            kinds: ['amount_mismatch'],
            tolerance: tol,
            action: 'write_off',
            writeOffAccount: 'fx_rounding',
          };
          const d = decideByRules(amountFacts(ours, theirs), [rule]);
          expect(d !== null).toBe(absB(theirs - ours) <= expected);
          if (d) {
            expect(d).toMatchObject({
              ruleId: 'tol',
              resolution: 'write_off',
              writeOffAccount: 'fx_rounding',
            });
            expect(d.evidence).toMatchObject({ thresholdMinor: expected.toString(), base, rounding });
            expect(JSON.parse(JSON.stringify(d))).toEqual(d); // JSON-safe: no bigint
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('(b) date lag: a counterpart dated into the adjacent day', () => {
  const HOUR = 3_600_000;
  /** A missing_* exception, its counterpart often on the rule's hours limit or 1 ms either side. */
  const factArb = (limitHours: number) =>
    fc
      .record({
        kind: fc.constantFrom('missing_theirs', 'missing_ours'),
        amount: fc.bigInt({ min: 1n, max: 10n ** 9n }),
        planted: fc.boolean(),
        wrongSide: fc.boolean(),
        skew: fc.constantFrom(0n, 0n, 1n, -1n, 50n),
        lagMs: fc.oneof(
          fc.integer({ min: -200 * HOUR, max: 200 * HOUR }),
          fc
            .tuple(fc.constantFrom(-1, 1), fc.constantFrom(-1, 0, 1))
            .map(([sign, ms]) => sign * (limitHours * HOUR + ms)),
        ),
        businessDaysApart: fc.integer({ min: 0, max: 12 }),
      })
      .map((g): { facts: RuleFacts; g: typeof g } => {
        const other = g.kind === 'missing_theirs' ? 'theirs' : 'ours';
        const side = g.wrongSide ? (other === 'theirs' ? 'ours' : 'theirs') : other;
        return {
          g,
          facts: {
            exceptionId: `${g.kind}:x`,
            kind: g.kind,
            currency: 'EUR',
            oursMinor: g.kind === 'missing_theirs' ? g.amount : null,
            theirsMinor: g.kind === 'missing_ours' ? g.amount : null,
            differenceMinor: g.kind === 'missing_theirs' ? -g.amount : g.amount,
            counterpart: g.planted
              ? {
                  side,
                  amountMinor: g.amount + g.skew,
                  lagMs: g.lagMs,
                  businessDaysApart: g.businessDaysApart,
                }
              : null,
          },
        };
      });
  const lagArb = fc.oneof(
    fc.integer({ min: 1, max: 168 }).map((hours) => ({ hours })),
    fc.integer({ min: 1, max: 10 }).map((businessDays) => ({ businessDays })),
  );

  it('resolves exactly the planted counterparts within the lag (and, without tolerance, of the same amount)', () => {
    fc.assert(
      fc.property(
        lagArb.chain((lag) =>
          fc.tuple(fc.constant(lag), fc.array(factArb('hours' in lag ? lag.hours : 24), { maxLength: 30 })),
        ),
        fc.boolean(),
        ([dateLag, cases], tolerant) => {
          const rule: Rule = {
            id: 'late-report',
            kinds: ['missing_theirs', 'missing_ours'],
            dateLag,
            ...(tolerant
              ? {
                  tolerance: {
                    absoluteMinor: '1',
                    percent: '0',
                    base: 'larger' as const,
                    rounding: 'half_up' as const,
                  },
                }
              : {}),
            action: 'accept_theirs',
          };
          for (const { facts, g } of cases) {
            const within =
              'hours' in dateLag
                ? Math.abs(g.lagMs) <= dateLag.hours * HOUR
                : g.businessDaysApart <= dateLag.businessDays;
            const amountOk = g.skew === 0n || (tolerant && absB(g.skew) <= 1n);
            const d = decideByRules(facts, [rule]);
            expect(d !== null).toBe(g.planted && !g.wrongSide && within && amountOk);
            if (d)
              expect(d.evidence).toMatchObject({ lagMs: g.lagMs, counterpartSide: facts.counterpart!.side });
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

const ruleArb: fc.Arbitrary<Rule> = fc
  .record({
    n: fc.nat(),
    kinds: fc.constant<Rule['kinds']>(['amount_mismatch']),
    currencies: fc.option(fc.subarray(['EUR', 'USD', 'GBP']), { nil: undefined }),
    absolute: fc.bigInt({ min: 0n, max: 100n }),
    action: fc.constantFrom(...actions),
  })
  .map(({ n, kinds, currencies, absolute, action }) => ({
    id: `r${n}`,
    kinds,
    ...(currencies ? { currencies } : {}),
    tolerance: { absoluteMinor: absolute.toString(), percent: '0', base: 'larger', rounding: 'half_up' },
    action,
    ...(action === 'write_off' ? { writeOffAccount: 'suspense' } : {}),
  }));

const factsArb: fc.Arbitrary<RuleFacts> = fc
  .record({
    i: fc.nat(),
    kind: fc.constantFrom('amount_mismatch', 'currency_mismatch', 'duplicate'),
    currency: fc.constantFrom('EUR', 'USD', 'JPY', null),
    ours: fc.bigInt({ min: -1000n, max: 1000n }),
    diff: fc.bigInt({ min: -150n, max: 150n }),
  })
  .map(({ i, kind, currency, ours, diff }) =>
    amountFacts(ours, ours + diff, { exceptionId: `${kind}:${i}`, kind, currency }),
  );

describe('(c) the first rule that applies wins', () => {
  it('agrees with a linear scan of the rules in order', () => {
    fc.assert(
      fc.property(factsArb, fc.array(ruleArb, { maxLength: 8 }), (facts, rules) => {
        const first = rules.find(
          (r) =>
            (r.kinds as string[]).includes(facts.kind) &&
            (!r.currencies || (facts.currency !== null && r.currencies.includes(facts.currency))) &&
            absB(facts.differenceMinor) <= BigInt(r.tolerance!.absoluteMinor),
        );
        const d = decideByRules(facts, rules);
        expect(d?.ruleId ?? null).toBe(first?.id ?? null);
        if (d) {
          expect(d.action).toBe(first!.action);
          expect(d.resolution).toBe(first!.action === 'propose' ? null : first!.action);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('DEFAULT_RULES propose a 1-minor-unit difference and nothing more', () => {
    expect(decideByRules(amountFacts(1000n, 1001n), DEFAULT_RULES)).toMatchObject({
      ruleId: 'rounding',
      action: 'propose',
      resolution: null,
      writeOffAccount: null,
    });
    expect(decideByRules(amountFacts(1000n, 1002n), DEFAULT_RULES)).toBeNull();
  });
});

describe('(d) a dry run adds up', () => {
  it('counts add up to the facts, amounts to Σ differences, rows sorted by kind then action', () => {
    fc.assert(
      fc.property(
        fc.array(factsArb, { maxLength: 40 }),
        fc.array(ruleArb, { maxLength: 5 }),
        (facts, rules) => {
          const decisions = facts.map((f) => decideByRules(f, rules));
          const s = summarizeDecisions(facts, decisions);
          const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
          expect(s.byKindAndAction.reduce((n, r) => n + r.count, 0)).toBe(facts.length);
          expect(s.total.count).toBe(facts.length);
          expect(s.total.differenceMinor).toBe(sum(facts.map((f) => f.differenceMinor)).toString());
          expect(s.total.absoluteMinor).toBe(sum(facts.map((f) => absB(f.differenceMinor))).toString());
          expect(sum(s.byKindAndAction.map((r) => BigInt(r.differenceMinor))).toString()).toBe(
            s.total.differenceMinor,
          );
          const keys = s.byKindAndAction.map((r) => `${r.kind} ${r.action}`);
          expect(keys).toEqual([...keys].sort());
          expect(new Set(keys).size).toBe(keys.length);
          for (const r of s.byKindAndAction)
            expect(r.count).toBe(
              facts.filter((f, i) => f.kind === r.kind && (decisions[i]?.action ?? 'none') === r.action)
                .length,
            );
        },
      ),
    );
  });

  it('refuses facts and decisions of different lengths', () => {
    expect(() => summarizeDecisions([amountFacts(1n, 2n)], [])).toThrow(RangeError);
  });
});

describe('(e) reconciliation terms: defaults and refusals naming the field', () => {
  const issuesOf = (input: unknown) => {
    const r = reconciliationTermsSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  };
  const rule = (over: Record<string, unknown>) => ({
    id: 'r',
    kinds: ['amount_mismatch'],
    tolerance: {},
    action: 'propose',
    ...over,
  });

  it('fills an empty object with the defaults, and DEFAULT_RULES parse', () => {
    expect(reconciliationTermsSchema.parse({})).toEqual({
      rules: DEFAULT_RULES,
      matching: {
        weights: { amount: 40, currency: 30, time: 20, reference: 10 },
        enabled: false,
        autoConfirmAt: 90,
        suggestAt: 60,
        windowMinutes: 60,
        maxCandidatesPerRound: 50,
        maxCandidatesPerCycle: 5000,
      },
      expected: { withinMinutesOfCutoff: 0, ageLimitHours: 72 },
      bulkApprovalThresholdMinor: '1000000',
      reviewMinutes: 0,
    });
    expect(reconciliationTermsSchema.parse({ rules: DEFAULT_RULES }).rules).toEqual(DEFAULT_RULES);
    expect(reconciliationTermsSchema.parse({ rules: [rule({})] }).rules[0]!.tolerance).toEqual({
      absoluteMinor: '0',
      percent: '0',
      base: 'larger',
      rounding: 'half_up',
    });
  });

  it.each([
    ['rules.0.writeOffAccount', { rules: [rule({ action: 'write_off' })] }, /rules\[0\].*writeOffAccount/],
    ['rules.0.writeOffAccount', { rules: [rule({ writeOffAccount: 'suspense' })] }, /writeOffAccount/],
    ['rules.1.id', { rules: [rule({}), rule({})] }, /rules\[1\]\.id r repeats rules\[0\]\.id/],
    ['rules.0', { rules: [rule({ tolerance: undefined })] }, /rules\[0\]/],
    ['rules.0.dateLag', { rules: [rule({ dateLag: { hours: 2 } })] }, /rules\[0\].*missing/],
    ['rules.0.dateLag', { rules: [rule({ kinds: ['missing_ours'] })] }, /rules\[0\].*dateLag/],
    [
      'rules.0.dateLag',
      { rules: [rule({ kinds: ['missing_ours'], dateLag: { hours: 1, businessDays: 1 } })] },
      /hours|businessDays/,
    ],
    [
      'rules.0.dateLag.hours',
      { rules: [rule({ kinds: ['missing_ours'], dateLag: { hours: 169 } })] },
      /dateLag\.hours/,
    ],
    ['rules.0.kinds', { rules: [rule({ kinds: ['amount_mismatch', 'amount_mismatch'] })] }, /kinds/],
    ['rules.0.kinds', { rules: [rule({ kinds: [] })] }, /kind/],
    ['rules.0.tolerance.percent', { rules: [rule({ tolerance: { percent: '100.5' } })] }, /percentage/],
    ['rules.0.tolerance.percent', { rules: [rule({ tolerance: { percent: '0.12345' } })] }, /percentage/],
    ['rules.0.id', { rules: [rule({ id: 'Rounding' })] }, /rule id/],
    ['rules.0.currencies.0', { rules: [rule({ currencies: ['eur'] })] }, /ISO 4217/],
    [
      'matching.weights',
      { matching: { weights: { amount: 50 } } },
      /matching\.weights must add up to 100 \(they add up to 110\)/,
    ],
    ['matching.weights', { matching: { weights: { reference: 0 } } }, /add up to 90/],
    ['matching.suggestAt', { matching: { suggestAt: 95 } }, /matching\.suggestAt/],
    ['matching.autoConfirmAt', { matching: { autoConfirmAt: 0 } }, /matching\.autoConfirmAt/],
    ['expected.ageLimitHours', { expected: { ageLimitHours: 721 } }, /expected\.ageLimitHours/],
    ['bulkApprovalThresholdMinor', { bulkApprovalThresholdMinor: 5 }, /minor units/],
    ['', { extra: true }, /extra/],
  ])('refuses at %s', (path, input, message) => {
    const issues = issuesOf(input);
    // On failure the received value is every issue there was.
    expect(issues.some((i) => i.path === path && message.test(i.message)) ? 'found' : issues).toBe('found');
  });

  it('refuses more than 50 rules', () => {
    const rules = Array.from({ length: 51 }, (_, i) => rule({ id: `r${i}` }));
    expect(issuesOf({ rules })).toContainEqual({ path: 'rules', message: 'rules: at most 50' });
    expect(issuesOf({ rules: rules.slice(0, 50) })).toEqual([]);
  });

  it('every generated rule the engine is tested with is a valid rule', () => {
    fc.assert(
      fc.property(fc.uniqueArray(ruleArb, { selector: (r) => r.id, maxLength: 10 }), (rules) => {
        expect(issuesOf({ rules })).toEqual([]);
      }),
    );
  });
});
