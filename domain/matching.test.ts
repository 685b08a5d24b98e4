import fc from 'fast-check';
import {
  DEFAULT_MATCH_SETTINGS,
  matchGroupId,
  matchWithinRounds,
  MAX_UNREFERENCED_MEMBERS,
  SEARCH_STEPS_PER_ROUND,
  type MatchGroup,
  type MatchSettings,
  type Unmatched,
} from './matching';

const T0 = Date.parse('2026-11-23T10:00:00.000Z');
const MIN = 60_000;
const S = DEFAULT_MATCH_SETTINGS;

const item = (
  side: 'ours' | 'theirs',
  txId: string,
  amountMinor: bigint,
  over: Partial<Unmatched> = {},
): Unmatched => ({
  exceptionId: `${side === 'ours' ? 'missing_theirs' : 'missing_ours'}:${txId}`,
  side,
  txId,
  roundId: 'R',
  gameId: 'g1',
  type: 'win',
  currency: 'EUR',
  amountMinor,
  occurredAtMs: T0,
  ...over,
});
const ours = (txId: string, amount: bigint, over: Partial<Unmatched> = {}) =>
  item('ours', txId, amount, over);
const theirs = (txId: string, amount: bigint, over: Partial<Unmatched> = {}) =>
  item('theirs', txId, amount, over);
const members = (g: MatchGroup) => ({ ours: g.ours, theirs: g.theirs });

describe('matching within rounds: examples', () => {
  it('a split win (1:N), with its evidence and a deterministic id', () => {
    const items = [
      ours('W', 10_000n),
      theirs('W#1', 6_000n),
      theirs('W#2', 4_000n, { occurredAtMs: T0 + MIN }),
    ];
    const { groups, truncated } = matchWithinRounds(items, S);
    expect(truncated).toEqual({ rounds: 0, candidates: 0 });
    expect(groups).toEqual([
      {
        groupId: matchGroupId(['missing_theirs:W'], ['missing_ours:W#1', 'missing_ours:W#2']),
        shape: '1:N',
        ours: ['missing_theirs:W'],
        theirs: ['missing_ours:W#1', 'missing_ours:W#2'],
        confidence: 100,
        decision: 'confirmed',
        evidence: {
          roundId: 'R',
          fieldsAgreed: ['amount', 'currency', 'time', 'reference'],
          amountOursMinor: '10000',
          amountTheirsMinor: '10000',
          amountDriftMinor: '0',
          timeWindowMs: MIN,
          referenceAgreement: 'split',
        },
      },
    ]);
    expect(groups[0]!.groupId).toMatch(/^mg_[0-9a-f]{32}$/);
  });

  it('a round aggregated by the provider (N:1), bets only with bets', () => {
    const items = [
      ours('B1', 300n, { type: 'bet' }),
      ours('B2', 700n, { type: 'bet' }),
      ours('W1', 1_000n), // a win of the same amount: another class
      theirs('R:bet', 1_000n, { type: 'bet' }),
    ];
    const { groups } = matchWithinRounds(items, S);
    expect(groups.map(members)).toEqual([
      { ours: ['missing_theirs:B1', 'missing_theirs:B2'], theirs: ['missing_ours:R:bet'] },
    ]);
    expect(groups[0]).toMatchObject({ shape: 'N:1', confidence: 100, decision: 'confirmed' });
    expect(groups[0]!.evidence.referenceAgreement).toBe('round');
  });

  it('a partial rollback counts as the negative of its type', () => {
    const items = [ours('W', 10_000n), ours('RB', 3_000n, { type: 'rollback:win' }), theirs('W#net', 7_000n)];
    const { groups } = matchWithinRounds(items, S);
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({
      shape: 'N:1',
      confidence: 100,
      evidence: { amountOursMinor: '7000', amountTheirsMinor: '7000', referenceAgreement: 'split' },
    });
  });

  it('N:M across the round', () => {
    const items = [
      ours('B1', 301n, { type: 'bet' }),
      ours('B2', 699n, { type: 'bet' }),
      theirs('R:bet#1', 500n, { type: 'bet' }),
      theirs('R:bet#2', 500n, { type: 'bet' }),
    ];
    const { groups } = matchWithinRounds(items, S);
    expect(groups.map((g) => [g.shape, g.confidence, g.ours.length, g.theirs.length])).toEqual([
      ['N:M', 100, 2, 2],
    ]);
  });

  it('the amount score falls linearly with drift; 1 % and beyond is no group', () => {
    // 0.5 % drift: ⌊40 · (10050 − 5000) / 10050⌋ = 20 → 80, suggested.
    const half = matchWithinRounds([ours('W', 10_000n), theirs('W#1', 6_050n), theirs('W#2', 4_000n)], S);
    expect(half.groups).toHaveLength(1);
    expect(half.groups[0]).toMatchObject({ confidence: 80, decision: 'suggested' });
    expect(half.groups[0]!.evidence).toMatchObject({
      amountDriftMinor: '50',
      fieldsAgreed: ['currency', 'time', 'reference'],
    });
    // 0.1 % drift: ⌊40 · (10010 − 1000) / 10010⌋ = 36 → 96, confirmed.
    const tenth = matchWithinRounds([ours('W', 10_000n), theirs('W#1', 6_010n), theirs('W#2', 4_000n)], S);
    expect(tenth.groups[0]).toMatchObject({ confidence: 96, decision: 'confirmed' });
    // 1 % of the larger side or more: refused by the gate, though currency, time and reference give 60.
    expect(matchWithinRounds([ours('W', 10_000n), theirs('W#1', 10_102n)], S).groups).toEqual([]);
    // Just under: ⌊40 · (10101 − 10100) / 10101⌋ = 0 → 60, still suggested.
    const edge = matchWithinRounds([ours('W', 10_000n), theirs('W#1', 10_101n)], S);
    expect(edge.groups[0]).toMatchObject({ confidence: 60, decision: 'suggested' });
  });

  it('currency and time scores', () => {
    const usd = matchWithinRounds([ours('W', 500n), theirs('W#1', 500n, { currency: 'USD' })], S);
    expect(usd.groups[0]).toMatchObject({ confidence: 70, decision: 'suggested' });
    // 90 minutes apart with a 60-minute window: ⌊20 · (120 − 90) / 60⌋ = 10.
    const late = matchWithinRounds(
      [ours('W', 500n), theirs('W#1', 500n, { occurredAtMs: T0 + 90 * MIN })],
      S,
    );
    expect(late.groups[0]).toMatchObject({ confidence: 90, evidence: { timeWindowMs: 90 * MIN } });
    const later = matchWithinRounds(
      [ours('W', 500n), theirs('W#1', 500n, { occurredAtMs: T0 + 120 * MIN })],
      S,
    );
    expect(later.groups[0]).toMatchObject({ confidence: 80 });
  });

  it('finds groups by amount alone (no reference: 90) and never across games or rounds', () => {
    const items = [
      ours('a1', 1_000n),
      ours('a2', 2_500n),
      theirs('x1', 600n),
      theirs('x2', 400n),
      theirs('x3', 2_500n),
      // Same amounts in another game of the same round and in another round of the game.
      theirs('y1', 1_000n, { gameId: 'g2' }),
      theirs('y2', 1_000n, { roundId: 'R2' }),
    ];
    const { groups } = matchWithinRounds(items, S);
    expect(groups.map(members).sort((a, b) => (a.ours[0]! < b.ours[0]! ? -1 : 1))).toEqual([
      { ours: ['missing_theirs:a1'], theirs: ['missing_ours:x1', 'missing_ours:x2'] },
      { ours: ['missing_theirs:a2'], theirs: ['missing_ours:x3'] },
    ]);
    expect(groups.every((g) => g.confidence === 90 && g.decision === 'confirmed')).toBe(true);
  });

  it('prefers the higher confidence, then the smaller group', () => {
    // W matches W#1 + W#2 (split: 100) and X (no reference: 90).
    const items = [ours('W', 1_000n), theirs('W#1', 600n), theirs('W#2', 400n), theirs('X', 1_000n)];
    const { groups } = matchWithinRounds(items, S);
    expect(groups.map(members)).toEqual([
      { ours: ['missing_theirs:W'], theirs: ['missing_ours:W#1', 'missing_ours:W#2'] },
    ]);
  });

  it('tx ids that merely begin with the round id do not name the round', () => {
    const r = { roundId: 'r7' };
    const items = [
      ours('r7-w0', 1_007n, r),
      theirs('r7-w0#1', 212n, r),
      theirs('r7-w0#2', 286n, r),
      theirs('r7-w0#3', 509n, r),
      ours('r7-w1', 2_007n, r),
      theirs('r7-w1#1', 721n, r),
      theirs('r7-w1#2', 1_286n, r),
    ];
    // {r7-w0} : {r7-w0#2, r7-w1#1} also adds up (286 + 721), with no reference agreement (90).
    const { groups } = matchWithinRounds(items, S);
    expect(groups.map((g) => [g.ours, g.theirs.length, g.evidence.referenceAgreement]).sort()).toEqual([
      [['missing_theirs:r7-w0'], 3, 'split'],
      [['missing_theirs:r7-w1'], 2, 'split'],
    ]);
  });

  it('a separator is needed for a split: B1 is no split of B', () => {
    const { groups } = matchWithinRounds([ours('B', 100n), theirs('B1', 100n)], S);
    expect(groups[0]).toMatchObject({ confidence: 90, evidence: { referenceAgreement: 'none' } });
  });

  it('reports truncation instead of dropping: per round and per cycle', () => {
    const items = [
      ours('W', 100n),
      theirs('W#1', 100n),
      theirs('W#2', 1n), // beyond 2 candidates per round
      ours('V', 100n, { roundId: 'R2' }),
      theirs('V#1', 100n, { roundId: 'R2' }),
    ];
    const perRound = matchWithinRounds(items, { ...S, maxCandidatesPerRound: 2 });
    expect(perRound.truncated).toEqual({ rounds: 1, candidates: 1 });
    expect(perRound.groups).toHaveLength(2);
    const perCycle = matchWithinRounds(items, { ...S, maxCandidatesPerCycle: 3 });
    expect(perCycle.truncated).toEqual({ rounds: 1, candidates: 2 });
    expect(perCycle.groups.map((g) => g.evidence.roundId)).toEqual(['R']);
  });

  it('bounds the search of a pathological round and says so', () => {
    // 50 equal amounts on each side: every subset of one side matches a subset of the other.
    const items = [
      ...Array.from({ length: 25 }, (_, i) => ours(`o${i}`, 100n + BigInt(i % 3))),
      ...Array.from({ length: 25 }, (_, i) => theirs(`t${i}`, 100n + BigInt((i + 1) % 3))),
    ];
    const started = Date.now();
    const { groups, truncated } = matchWithinRounds(items, S);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(SEARCH_STEPS_PER_ROUND).toBeGreaterThan(0);
    const seen = groups.flatMap((g) => [...g.ours, ...g.theirs]);
    expect(new Set(seen).size).toBe(seen.length);
    expect(truncated.rounds).toBeLessThanOrEqual(1);
  });

  it('a busy round of unrelated rows: amounts alone pair at most 3 rows, whatever the ids look like', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.bigInt({ min: 1n, max: 100_000n })), {
          minLength: 20,
          maxLength: 50,
        }),
        (rows) => {
          // Transaction ids that begin with the round id, as some providers write them.
          const items = rows.map(([mine, amount], i) =>
            mine ? ours(`R-o${i}`, amount, { type: 'bet' }) : theirs(`R-t${i}`, amount, { type: 'bet' }),
          );
          const { groups, truncated } = matchWithinRounds(items, S);
          checkInvariants(items, groups, S);
          expect(truncated).toEqual({ rounds: 0, candidates: 0 });
          for (const g of groups) expect(g.evidence.referenceAgreement).toBe('none');
        },
      ),
      { numRuns: 50 },
    );
  });

  it('refuses weights that do not add up to 100', () => {
    expect(() =>
      matchWithinRounds([], { ...S, weights: { amount: 50, currency: 30, time: 20, reference: 10 } }),
    ).toThrow(/adding up to 100/);
    expect(() => matchWithinRounds([], { ...S, suggestAt: 95 })).toThrow(/suggestAt/);
  });
});

// ---- properties --------------------------------------------------------------------------

interface Planted {
  ours: string[];
  theirs: string[];
  /** What the documented scoring gives the planted group. */
  confidence: number;
}

/** Positive parts of a total, each at least ~4.7 % of it (so that no proper subset is within 1 %). */
function split(total: bigint, weights: number[]): bigint[] {
  const sum = BigInt(weights.reduce((a, b) => a + b, 0));
  const parts = weights.map((w) => (total * BigInt(w)) / sum);
  parts[parts.length - 1]! += total - parts.reduce((a, b) => a + b, 0n);
  return parts;
}

/** The documented amount score for ours sum o and theirs sum t (within the gate). */
function amountScore(o: bigint, t: bigint, weight: number): number {
  const d = o > t ? o - t : t - o;
  if (d === 0n) return weight;
  const base = o > t ? o : t;
  return Number((BigInt(weight) * (base - 100n * d)) / base);
}

const weightsArb = fc.array(fc.integer({ min: 20, max: 100 }), { minLength: 2, maxLength: 5 });
const scenarioArb = fc.record({
  // Per round: a bet part, a win part (at least one), optional drift in basis points (0: none).
  rounds: fc.array(
    fc.record({
      bet: fc.constantFrom('none', 'aggregate', 'nm', 'one'),
      win: fc.constantFrom('none', 'split', 'two-splits'),
      total: fc.bigInt({ min: 1_000n, max: 10_000_000n }),
      weights: weightsArb,
      weights2: weightsArb,
      driftBp: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 99 })),
      game: fc.constantFrom('g1', 'g2'),
      offsets: fc.array(fc.integer({ min: 0, max: 30 * MIN }), { minLength: 12, maxLength: 12 }),
    }),
    { minLength: 1, maxLength: 12 },
  ),
  noise: fc.array(
    fc.record({
      side: fc.constantFrom('ours' as const, 'theirs' as const),
      amount: fc.bigInt({ min: 1n, max: 10_000_000n }),
      sameRoundOtherGame: fc.boolean(),
      type: fc.constantFrom('bet', 'win'),
    }),
    { maxLength: 20 },
  ),
  seed: fc.integer(),
});

function build(sc: Scenario): {
  items: Unmatched[];
  planted: Planted[];
} {
  const items: Unmatched[] = [];
  const planted: Planted[] = [];
  sc.rounds.forEach((r, ri) => {
    const roundId = `r${ri}`;
    let k = 0;
    const at = () => T0 + ri * 1000 * MIN + r.offsets[k++ % r.offsets.length]!;
    const add = (side: 'ours' | 'theirs', txId: string, amount: bigint, type: string) => {
      const u = item(side, txId, amount, { roundId, gameId: r.game, type, occurredAtMs: at() });
      items.push(u);
      return u.exceptionId;
    };
    const drift = (base: bigint) => (base * BigInt(r.driftBp)) / 10_000n;
    const plant = (o: string[], t: string[], sumO: bigint, sumT: bigint) =>
      planted.push({ ours: o.sort(), theirs: t.sort(), confidence: 60 + amountScore(sumO, sumT, 40) });
    const bet = r.win === 'none' && r.bet === 'none' ? 'aggregate' : r.bet;
    if (bet === 'aggregate') {
      const parts = split(r.total, r.weights);
      const d = drift(r.total);
      const o = parts.map((p, i) => add('ours', `${roundId}-b${i}`, p, 'bet'));
      plant(o, [add('theirs', `${roundId}:bet`, r.total + d, 'bet')], r.total, r.total + d);
    } else if (bet === 'one') {
      plant(
        [add('ours', `${roundId}-b0`, r.total, 'bet')],
        [add('theirs', `${roundId}:bet`, r.total, 'bet')],
        r.total,
        r.total,
      );
    } else if (bet === 'nm') {
      // N:M whose only exact subsets are the whole group: theirs are multiples of Q, ours are
      // ≡ 1 (mod Q) but the last, which takes −(n−1): a proper subset of ours is never ≡ 0.
      const Q = 1_000n;
      const m = Math.min(4, r.weights.length);
      const n = Math.min(4, r.weights2.length);
      const t = split(r.total, r.weights.slice(0, m)).map((x) => x * Q);
      const sum = t.reduce((a, b) => a + b, 0n);
      const o = split(sum / Q, r.weights2.slice(0, n)).map((x, i) =>
        i < n - 1 ? x * Q + 1n : x * Q - BigInt(n - 1),
      );
      plant(
        o.map((x, i) => add('ours', `${roundId}-b${i}`, x, 'bet')),
        t.map((x, i) => add('theirs', `${roundId}:bet#${i}`, x, 'bet')),
        sum,
        sum,
      );
    }
    const wins = r.win === 'split' ? 1 : r.win === 'two-splits' ? 2 : 0;
    for (let w = 0; w < wins; w++) {
      const total = r.total * BigInt(w + 1) + 7n;
      const parts = split(total, w === 0 ? r.weights : r.weights2);
      const d = w === 0 ? drift(total) : 0n;
      parts[0]! += d;
      const win = `${roundId}-w${w}`;
      plant(
        [add('ours', win, total, 'win')],
        parts.map((p, i) => add('theirs', `${win}#${i + 1}`, p, 'win')),
        total,
        total + d,
      );
    }
  });
  sc.noise.forEach((n, i) => {
    // Alone in its (game, round): never groupable with anything.
    const roundId = n.sameRoundOtherGame ? 'r0' : `noise${i}`;
    const gameId = n.sameRoundOtherGame ? `g9-${i}` : 'g1';
    items.push(item(n.side, `noise-${i}`, n.amount, { roundId, gameId, type: n.type }));
  });
  return { items, planted };
}
type Scenario = {
  rounds: {
    bet: string;
    win: string;
    total: bigint;
    weights: number[];
    weights2: number[];
    driftBp: number;
    game: string;
    offsets: number[];
  }[];
  noise: { side: 'ours' | 'theirs'; amount: bigint; sameRoundOtherGame: boolean; type: string }[];
  seed: number;
};

/** A deterministic shuffle (the matcher must not depend on input order). */
function shuffled<T>(list: T[], seed: number): T[] {
  const out = [...list];
  let x = seed | 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = Math.abs(x) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function checkInvariants(items: Unmatched[], groups: MatchGroup[], s: MatchSettings): void {
  const byId = new Map(items.map((i) => [i.exceptionId, i]));
  const seen = new Set<string>();
  for (const g of groups) {
    expect(g.ours.length).toBeGreaterThan(0);
    expect(g.theirs.length).toBeGreaterThan(0);
    const all = [...g.ours, ...g.theirs].map((id) => byId.get(id)!);
    // Never across rounds or games; each side as named.
    expect(new Set(all.map((u) => `${u.gameId}|${u.roundId}`)).size).toBe(1);
    expect(g.ours.every((id) => byId.get(id)!.side === 'ours')).toBe(true);
    expect(g.theirs.every((id) => byId.get(id)!.side === 'theirs')).toBe(true);
    // One member, one group.
    for (const id of [...g.ours, ...g.theirs]) {
      expect(seen.has(id)).toBe(false);
      seen.add(id);
    }
    expect(Number.isInteger(g.confidence)).toBe(true);
    expect(g.confidence).toBeGreaterThanOrEqual(s.suggestAt);
    expect(g.confidence).toBeLessThanOrEqual(100);
    expect(g.decision).toBe(g.confidence >= s.autoConfirmAt ? 'confirmed' : 'suggested');
    expect(g.groupId).toBe(matchGroupId(g.ours, g.theirs));
    if (g.evidence.referenceAgreement === 'none')
      expect(g.ours.length + g.theirs.length).toBeLessThanOrEqual(MAX_UNREFERENCED_MEMBERS);
    expect([...g.ours].sort()).toEqual(g.ours);
  }
}

describe('matching within rounds: properties', () => {
  it('finds every planted group with the documented confidence, and nothing across rounds or games', () => {
    fc.assert(
      fc.property(scenarioArb, (sc) => {
        const { items, planted } = build(sc);
        const result = matchWithinRounds(shuffled(items, sc.seed), S);
        checkInvariants(items, result.groups, S);
        expect(result.truncated).toEqual({ rounds: 0, candidates: 0 });
        const found = new Map(result.groups.map((g) => [`${g.ours.join(',')}|${g.theirs.join(',')}`, g]));
        for (const p of planted) {
          const g = found.get(`${p.ours.join(',')}|${p.theirs.join(',')}`);
          expect(g).toBeDefined();
          expect(g!.confidence).toBe(p.confidence);
          expect(g!.decision).toBe(p.confidence >= 90 ? 'confirmed' : 'suggested');
          if (p.confidence === 100) expect(g!.evidence.amountDriftMinor).toBe('0');
        }
        // Nothing else: noise is alone in its round.
        expect(result.groups).toHaveLength(planted.length);
        // Replayed on the same items (in another order): the same groups and ids.
        expect(matchWithinRounds([...items].reverse(), S)).toEqual(result);
      }),
      { numRuns: 200 },
    );
  });

  it('stays within its limits and reports what it did not search', () => {
    fc.assert(
      fc.property(
        scenarioArb,
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 60 }),
        (sc, perRound, perCycle) => {
          const { items } = build(sc);
          const s = { ...S, maxCandidatesPerRound: perRound, maxCandidatesPerCycle: perCycle };
          const { groups, truncated } = matchWithinRounds(items, s);
          checkInvariants(items, groups, s);
          const grouped = groups.flatMap((g) => [...g.ours, ...g.theirs]);
          expect(grouped.length).toBeLessThanOrEqual(perCycle);
          const rounds = new Map<string, number>();
          for (const u of items)
            rounds.set(`${u.gameId}|${u.roundId}`, (rounds.get(`${u.gameId}|${u.roundId}`) ?? 0) + 1);
          const byId = new Map(items.map((i) => [i.exceptionId, i]));
          const perGroupRound = new Map<string, number>();
          for (const id of grouped) {
            const k = `${byId.get(id)!.gameId}|${byId.get(id)!.roundId}`;
            perGroupRound.set(k, (perGroupRound.get(k) ?? 0) + 1);
          }
          for (const n of perGroupRound.values()) expect(n).toBeLessThanOrEqual(perRound);
          // Never silently dropped: what exceeds a limit is counted.
          const overRound = [...rounds.values()].reduce((a, n) => a + Math.max(0, n - perRound), 0);
          expect(truncated.candidates).toBeGreaterThanOrEqual(overRound);
          expect(truncated.candidates).toBeGreaterThanOrEqual(items.length - perCycle);
          const fits = overRound === 0 && items.length <= perCycle;
          expect(truncated.rounds === 0).toBe(fits);
          expect(truncated.candidates === 0).toBe(fits);
        },
      ),
      { numRuns: 200 },
    );
  });
});
