// Many-to-many matching after reconciliation by transaction id (DOMAIN.md, "Exceptions at
// volume"): a split win (ours W 100.00; theirs W#1 60.00 + W#2 40.00), a partial rollback, or
// a provider aggregating a round (ours B1 + B2; theirs one row R:bet) leaves open `missing_theirs`
// exceptions (ours only) and `missing_ours` exceptions (theirs only) in the same round. The
// matcher groups them within a round and scores each group's evidence. Pure and deterministic:
// the same items give the same groups with the same ids (a replayed activity finds them again);
// money is bigint throughout and scores are integer arithmetic.
import { createHash } from 'node:crypto';
import { ValidationError } from './errors';

export interface MatchSettings {
  /** Integers summing to 100. */
  weights: { amount: number; currency: number; time: number; reference: number };
  autoConfirmAt: number;
  suggestAt: number;
  windowMinutes: number;
  /** Items (unmatched exceptions) considered per (game, round); the rest are reported truncated. */
  maxCandidatesPerRound: number;
  /** Items considered per run over all rounds; rounds beyond it are reported truncated. */
  maxCandidatesPerCycle: number;
}

export const DEFAULT_MATCH_SETTINGS: MatchSettings = {
  weights: { amount: 40, currency: 30, time: 20, reference: 10 },
  autoConfirmAt: 90,
  suggestAt: 60,
  windowMinutes: 60,
  maxCandidatesPerRound: 50,
  maxCandidatesPerCycle: 5000,
};

/** An open missing_ours / missing_theirs exception with the transaction it is about. */
export interface Unmatched {
  exceptionId: string;
  /** 'ours': we hold the transaction (a missing_theirs); 'theirs': only the provider reported it. */
  side: 'ours' | 'theirs';
  txId: string;
  roundId: string;
  gameId: string;
  /**
   * The transaction's type. A rollback is written `rollback:<type it cancels>` (e.g.
   * `rollback:win`) and counts as the negative of that type; a bare `rollback` (orphan) only
   * groups with other bare rollbacks.
   */
  type: string;
  currency: string;
  /** As stored (non-negative but for adjustments); a rollback's sign comes from its type. */
  amountMinor: bigint;
  occurredAtMs: number;
}

export type MatchShape = '1:1' | '1:N' | 'N:1' | 'N:M';
export type ReferenceAgreement = 'equal' | 'split' | 'round' | 'none';

export interface MatchGroup {
  /** Deterministic from the member exception ids: `mg_` + 32 hex digits of their sha256. */
  groupId: string;
  shape: MatchShape;
  /** Exception ids, sorted. */
  ours: string[];
  theirs: string[];
  /** 0..100, an integer. */
  confidence: number;
  decision: 'confirmed' | 'suggested';
  evidence: {
    roundId: string;
    /** The fields in full agreement, in the order amount, currency, time, reference. */
    fieldsAgreed: string[];
    /** Signed sums (rollbacks negative), minor units, as text. */
    amountOursMinor: string;
    amountTheirsMinor: string;
    /** theirs − ours (as a Discrepancy's difference). */
    amountDriftMinor: string;
    /** Latest minus earliest occurredAt of the members. */
    timeWindowMs: number;
    referenceAgreement: ReferenceAgreement;
  };
}

export interface MatchResult {
  groups: MatchGroup[];
  /**
   * What was not fully searched, never silently dropped: `rounds` counts (game, round) pairs
   * cut by maxCandidatesPerRound, skipped by maxCandidatesPerCycle or whose search ran out of
   * SEARCH_STEPS_PER_ROUND; `candidates` counts the items of those rounds never considered
   * (beyond the round's limit, in skipped rounds, or left ungrouped by an exhausted search).
   */
  truncated: { rounds: number; candidates: number };
}

/**
 * Amount drift at which the amount score reaches 0, in percent of the larger side. A candidate
 * drifting by this much or more is not a group at all, whatever its other fields say (60 points
 * of currency, time and reference alone would otherwise propose any subset of a round).
 */
export const MAX_DRIFT_PERCENT = 1n;
/** Subset-search steps per (game, round): bounds the work of a pathological round. */
export const SEARCH_STEPS_PER_ROUND = 20_000;
/**
 * The most members of a group whose ids say nothing of each other (reference 'none'): an exact
 * sum over many unrelated rows of a busy round is a coincidence (subset sums), not evidence.
 */
export const MAX_UNREFERENCED_MEMBERS = 3;
/** Subsets of one side used as anchors of an N:M search (1 gives 1:1, 1:N and N:1). */
const MAX_ANCHOR = 3;
/** Solutions kept per anchor. */
const SOLUTIONS_PER_ANCHOR = 8;

/**
 * Groups unmatched exceptions within rounds.
 *
 * Candidates: items of the same game, the same round and compatible types — bet with bet, win
 * with win, any type with itself; a `rollback:<t>` counts as the negative of type t (so a win
 * W with its partial rollback RB on our side groups with the provider's net row W' = W − RB).
 * Each group has at least one member on each side.
 *
 * Scoring (weights w from the settings; integer arithmetic, results floored):
 *  - amount: Σo, Σt the signed sums of the ours and theirs members, drift d = |Σt − Σo|,
 *    base b = max(|Σo|, |Σt|). d = 0: w.amount. Otherwise ⌊w.amount · (b − 100·d) / b⌋, i.e.
 *    linear in the relative drift, 0 at MAX_DRIFT_PERCENT (1 %) — and a candidate at or beyond
 *    1 % drift is no group at all (the amount gate).
 *  - currency: w.currency if every member has the same currency, else 0.
 *  - time: span s = latest − earliest occurredAt of the members, window W = windowMinutes:
 *    s ≤ W: w.time; s ≥ 2W: 0; between, ⌊w.time · (2W − s) / W⌋.
 *  - reference: w.reference if every theirs tx id equals an ours tx id of the group ('equal'),
 *    or every theirs tx id is an ours tx id followed by a separator (a character other than a
 *    letter or digit: `W#1`, `W-2`) ('split'), or every theirs tx id names the round: the round
 *    id, or the round id, a separator and the row's type, optionally followed by a separator
 *    and more (`R:bet`, `R-win`, `R:bet#2`; compared case-insensitively) ('round'); else 0
 *    ('none'). A tx id that merely begins with the round id (`R-17`) does not name the round.
 *  - confidence = the sum (0..100). Below suggestAt: not returned; at or above autoConfirmAt:
 *    confirmed; between: suggested.
 *  - a candidate with reference 'none' and more than MAX_UNREFERENCED_MEMBERS (3) members is no
 *    group at all (the coincidence gate): amounts alone may pair 1:1, 1:2 or 2:1, no more.
 *
 * Search, per (game, round) in (game, round) order: maxCandidatesPerRound items are considered,
 * ours and theirs alternately, each side in exception id order (the rest reported truncated);
 * rounds are taken while the items considered stay within maxCandidatesPerCycle, and the first
 * round that would exceed it and every later round are reported truncated. Within a round and type class, candidates are: the
 * whole class (all ours against all theirs), each ours tx with the theirs rows that split it,
 * all ours against the theirs rows that reference the round, and — for every anchor subset of
 * up to 3 items of one side (singles first) — the subsets of the other side whose sum passes
 * the amount gate (a pruned depth-first search, at most SEARCH_STEPS_PER_ROUND steps per round,
 * no deeper than the coincidence gate allows when no theirs id of the class can agree on a
 * reference).
 * Groups are then chosen greedily: highest confidence first, then the more specific reference
 * (equal, split, round, none), then fewer members, then the sorted member ids; a member belongs
 * to at most one group; finally what is left of the class (all remaining ours against all
 * remaining theirs) is scored as one more candidate. Output in groupId order.
 */
export function matchWithinRounds(items: Unmatched[], s: MatchSettings): MatchResult {
  checkSettings(s);
  const byId = new Map<string, Unmatched>();
  for (const it of [...items].sort((a, b) => cmp(a.exceptionId, b.exceptionId)))
    if (!byId.has(it.exceptionId)) byId.set(it.exceptionId, it);
  const rounds = new Map<string, Unmatched[]>();
  for (const it of byId.values()) {
    const key = `${it.gameId}\u0000${it.roundId}`;
    const list = rounds.get(key);
    if (list) list.push(it);
    else rounds.set(key, [it]);
  }
  const groups: MatchGroup[] = [];
  const truncated = { rounds: 0, candidates: 0 };
  let used = 0;
  let stopped = false;
  for (const key of [...rounds.keys()].sort(cmp)) {
    const all = rounds.get(key)!;
    const considered = interleave(all).slice(0, s.maxCandidatesPerRound);
    if (stopped || used + considered.length > s.maxCandidatesPerCycle) {
      stopped = true;
      truncated.rounds += 1;
      truncated.candidates += all.length;
      continue;
    }
    used += considered.length;
    const budget = { left: SEARCH_STEPS_PER_ROUND, exhausted: false };
    const classes = new Map<string, Item[]>();
    for (const u of considered) {
      const item = toItem(u);
      const list = classes.get(item.cls);
      if (list) list.push(item);
      else classes.set(item.cls, [item]);
    }
    let grouped = 0;
    for (const cls of [...classes.keys()].sort(cmp)) {
      const found = matchClass(classes.get(cls)!, s, budget);
      for (const g of found) grouped += g.ours.length + g.theirs.length;
      groups.push(...found);
    }
    const cut = all.length - considered.length + (budget.exhausted ? considered.length - grouped : 0);
    if (cut > 0 || budget.exhausted) {
      truncated.rounds += 1;
      truncated.candidates += cut;
    }
  }
  return { groups: groups.sort((a, b) => cmp(a.groupId, b.groupId)), truncated };
}

/**
 * A round's items as they are considered: ours and theirs alternately, each side in exception id
 * order (missing_ours ids all sort before missing_theirs ids: a plain cut would keep one side).
 */
function interleave(items: Unmatched[]): Unmatched[] {
  const o = items.filter((i) => i.side === 'ours');
  const t = items.filter((i) => i.side === 'theirs');
  const out: Unmatched[] = [];
  for (let i = 0; i < Math.max(o.length, t.length); i++) {
    if (i < o.length) out.push(o[i]!);
    if (i < t.length) out.push(t[i]!);
  }
  return out;
}

/** The group id of a set of members (what matchWithinRounds assigns): sorted ids, hashed. */
export function matchGroupId(ours: string[], theirs: string[]): string {
  const canonical = `${[...ours].sort(cmp).join('\n')}\n|\n${[...theirs].sort(cmp).join('\n')}`;
  return `mg_${createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 32)}`;
}

// ---- internals ---------------------------------------------------------------------------

interface Item {
  u: Unmatched;
  cls: string;
  /** amountMinor, negative for a rollback. */
  signed: bigint;
}

interface Scored {
  ours: Item[];
  theirs: Item[];
  key: string;
  confidence: number;
  evidence: MatchGroup['evidence'];
}

interface Budget {
  left: number;
  exhausted: boolean;
}

/** At equal confidence, the more specific reference wins: a tx id names more than a round id. */
const REFERENCE_RANK: Record<ReferenceAgreement, number> = { equal: 0, split: 1, round: 2, none: 3 };

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const abs = (x: bigint): bigint => (x < 0n ? -x : x);
const byExceptionId = (a: Item, b: Item) => cmp(a.u.exceptionId, b.u.exceptionId);

function toItem(u: Unmatched): Item {
  if (u.type.startsWith('rollback:'))
    return { u, cls: u.type.slice('rollback:'.length), signed: -u.amountMinor };
  return { u, cls: u.type, signed: u.amountMinor };
}

function checkSettings(s: MatchSettings): void {
  const w = [s.weights.amount, s.weights.currency, s.weights.time, s.weights.reference];
  const int = (n: number, min: number) => Number.isInteger(n) && n >= min;
  if (!w.every((x) => int(x, 0)) || w.reduce((a, b) => a + b, 0) !== 100)
    throw new ValidationError(
      `matching weights must be non-negative integers adding up to 100 (${w.join('/')})`,
    );
  if (
    !int(s.suggestAt, 0) ||
    !int(s.autoConfirmAt, 0) ||
    s.suggestAt > s.autoConfirmAt ||
    s.autoConfirmAt > 100
  )
    throw new ValidationError(
      `matching thresholds: 0 ≤ suggestAt (${s.suggestAt}) ≤ autoConfirmAt (${s.autoConfirmAt}) ≤ 100, integers`,
    );
  if (!int(s.windowMinutes, 1) || !int(s.maxCandidatesPerRound, 1) || !int(s.maxCandidatesPerCycle, 1))
    throw new ValidationError('matching windowMinutes and candidate limits must be positive integers');
}

/** Within tolerance of the amount gate: no drift, or less than MAX_DRIFT_PERCENT of the larger side. */
function passesGate(a: bigint, b: bigint): boolean {
  const d = abs(a - b);
  if (d === 0n) return true;
  const base = abs(a) > abs(b) ? abs(a) : abs(b);
  return 100n * d < MAX_DRIFT_PERCENT * base;
}

function isSeparator(ch: string | undefined): boolean {
  return ch !== undefined && !/^[A-Za-z0-9]$/.test(ch);
}

/** `id` is `prefix` or `prefix` followed by a separator. */
function refersTo(id: string, prefix: string): boolean {
  return (
    id === prefix || (id.length > prefix.length && id.startsWith(prefix) && isSeparator(id[prefix.length]))
  );
}

/**
 * A row named after its round: the round id itself, or the round id, a separator and the row's
 * type (`R:bet`, `R-win`, `R:bet#2`). A bare prefix is not enough: providers whose transaction
 * ids merely begin with the round id (`R-17`) would otherwise agree with every subset of a round.
 */
function namesRound(t: Item, roundId: string): boolean {
  const id = t.u.txId.toLowerCase();
  const type = t.u.type.toLowerCase();
  const round = roundId.toLowerCase();
  if (id === round) return true;
  if (!id.startsWith(round) || !isSeparator(id[round.length])) return false;
  return refersTo(id.slice(round.length + 1), type);
}

function referenceOf(ours: Item[], theirs: Item[], roundId: string): ReferenceAgreement {
  const ourIds = ours.map((o) => o.u.txId);
  const set = new Set(ourIds);
  if (theirs.every((t) => set.has(t.u.txId))) return 'equal';
  if (theirs.every((t) => ourIds.some((o) => refersTo(t.u.txId, o)))) return 'split';
  if (theirs.every((t) => namesRound(t, roundId))) return 'round';
  return 'none';
}

/**
 * Scores a candidate by the rules of matchWithinRounds' comment; null if the amount gate refuses
 * it, or it has more than MAX_UNREFERENCED_MEMBERS members and no reference agreement.
 */
function score(ours: Item[], theirs: Item[], s: MatchSettings): Scored | null {
  const sumO = ours.reduce((a, i) => a + i.signed, 0n);
  const sumT = theirs.reduce((a, i) => a + i.signed, 0n);
  if (!passesGate(sumO, sumT)) return null;
  const w = s.weights;
  const drift = abs(sumT - sumO);
  const base = abs(sumO) > abs(sumT) ? abs(sumO) : abs(sumT);
  const amount = drift === 0n ? BigInt(w.amount) : (BigInt(w.amount) * (base - 100n * drift)) / base;

  const members = [...ours, ...theirs];
  const oneCurrency = members.every((m) => m.u.currency === members[0]!.u.currency);
  const currency = oneCurrency ? BigInt(w.currency) : 0n;

  const times = members.map((m) => m.u.occurredAtMs);
  const span = Math.max(...times) - Math.min(...times);
  const windowMs = BigInt(s.windowMinutes) * 60_000n;
  const spanMs = BigInt(span);
  const time =
    spanMs <= windowMs
      ? BigInt(w.time)
      : spanMs >= 2n * windowMs
        ? 0n
        : (BigInt(w.time) * (2n * windowMs - spanMs)) / windowMs;

  const roundId = ours[0]!.u.roundId;
  const ref = referenceOf(ours, theirs, roundId);
  if (ref === 'none' && ours.length + theirs.length > MAX_UNREFERENCED_MEMBERS) return null;
  const reference = ref === 'none' ? 0n : BigInt(w.reference);

  const total = Number(amount + currency + time + reference);
  const fieldsAgreed = [
    ...(drift === 0n ? ['amount'] : []),
    ...(oneCurrency ? ['currency'] : []),
    ...(spanMs <= windowMs ? ['time'] : []),
    ...(ref !== 'none' ? ['reference'] : []),
  ];
  const o = [...ours].sort(byExceptionId);
  const t = [...theirs].sort(byExceptionId);
  return {
    ours: o,
    theirs: t,
    key: `${o.map((i) => i.u.exceptionId).join('\n')}\n|\n${t.map((i) => i.u.exceptionId).join('\n')}`,
    confidence: Math.min(100, Math.max(0, total)),
    evidence: {
      roundId,
      fieldsAgreed,
      amountOursMinor: sumO.toString(),
      amountTheirsMinor: sumT.toString(),
      amountDriftMinor: (sumT - sumO).toString(),
      timeWindowMs: span,
      referenceAgreement: ref,
    },
  };
}

function toGroup(c: Scored, s: MatchSettings): MatchGroup {
  const ours = c.ours.map((i) => i.u.exceptionId);
  const theirs = c.theirs.map((i) => i.u.exceptionId);
  const shape: MatchShape =
    ours.length === 1 ? (theirs.length === 1 ? '1:1' : '1:N') : theirs.length === 1 ? 'N:1' : 'N:M';
  return {
    groupId: matchGroupId(ours, theirs),
    shape,
    ours,
    theirs,
    confidence: c.confidence,
    decision: c.confidence >= s.autoConfirmAt ? 'confirmed' : 'suggested',
    evidence: c.evidence,
  };
}

/** One type class of one round: its candidates, chosen greedily. */
function matchClass(items: Item[], s: MatchSettings, budget: Budget): MatchGroup[] {
  const ours = items.filter((i) => i.u.side === 'ours').sort(byExceptionId);
  const theirs = items.filter((i) => i.u.side === 'theirs').sort(byExceptionId);
  if (ours.length === 0 || theirs.length === 0) return [];
  const roundId = ours[0]!.u.roundId;
  const candidates = new Map<string, Scored>();
  const consider = (o: Item[], t: Item[]) => {
    if (o.length === 0 || t.length === 0) return;
    const c = score(o, t, s);
    if (c && c.confidence >= s.suggestAt && !candidates.has(c.key)) candidates.set(c.key, c);
  };
  // Structural candidates: the whole class, each split, the round's aggregate rows.
  consider(ours, theirs);
  for (const o of ours)
    consider(
      [o],
      theirs.filter((t) => refersTo(t.u.txId, o.u.txId)),
    );
  consider(
    ours,
    theirs.filter((t) => namesRound(t, roundId)),
  );
  // Amount-driven candidates: anchors of one side, subsets of the other near their sum. When no
  // theirs id of the class can agree on a reference, only groups of up to
  // MAX_UNREFERENCED_MEMBERS members are admissible: the search goes no deeper.
  const referable = theirs.some(
    (t) => namesRound(t, roundId) || ours.some((o) => refersTo(t.u.txId, o.u.txId)),
  );
  for (let size = 1; size <= MAX_ANCHOR && !budget.exhausted; size++) {
    const maxDepth = referable ? Infinity : MAX_UNREFERENCED_MEMBERS - size;
    if (maxDepth < 1) break;
    for (const [anchorSide, other, oursIsAnchor] of [
      [ours, theirs, true],
      [theirs, ours, false],
    ] as const) {
      if (size > anchorSide.length) continue;
      for (const anchor of combinations(anchorSide, size)) {
        if (budget.exhausted) break;
        const target = anchor.reduce((a, i) => a + i.signed, 0n);
        for (const sub of subsetsNear(other, target, budget, maxDepth))
          if (oursIsAnchor) consider(anchor, sub);
          else consider(sub, anchor);
      }
    }
  }
  const ranked = [...candidates.values()].sort(
    (a, b) =>
      b.confidence - a.confidence ||
      REFERENCE_RANK[a.evidence.referenceAgreement] - REFERENCE_RANK[b.evidence.referenceAgreement] ||
      a.ours.length + a.theirs.length - (b.ours.length + b.theirs.length) ||
      cmp(a.key, b.key),
  );
  const taken = new Set<string>();
  const chosen: Scored[] = [];
  const free = (c: Scored) => [...c.ours, ...c.theirs].every((i) => !taken.has(i.u.exceptionId));
  const take = (c: Scored) => {
    chosen.push(c);
    for (const i of [...c.ours, ...c.theirs]) taken.add(i.u.exceptionId);
  };
  for (const c of ranked) if (free(c)) take(c);
  // What is left of the class, as one group.
  const restO = ours.filter((i) => !taken.has(i.u.exceptionId));
  const restT = theirs.filter((i) => !taken.has(i.u.exceptionId));
  if (restO.length > 0 && restT.length > 0) {
    const c = score(restO, restT, s);
    if (c && c.confidence >= s.suggestAt) take(c);
  }
  return chosen.map((c) => toGroup(c, s));
}

/** The size-k subsets of a list, in lexicographic order of positions. */
function* combinations<T>(list: T[], k: number): Generator<T[]> {
  const idx = Array.from({ length: k }, (_, i) => i);
  const n = list.length;
  if (k > n || k === 0) return;
  for (;;) {
    yield idx.map((i) => list[i]!);
    let i = k - 1;
    while (i >= 0 && idx[i] === n - k + i) i--;
    if (i < 0) return;
    idx[i]! += 1;
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1]! + 1;
  }
}

/**
 * Non-empty subsets of `pool` whose signed sum passes the amount gate against `target` (at most
 * SOLUTIONS_PER_ANCHOR), by a depth-first search over the pool sorted by size. When every
 * value has the target's sign (no rollback against a bet, say) branches that overshoot or can
 * no longer reach the target within the gate are cut; otherwise only the step budget bounds it.
 */
function subsetsNear(pool: Item[], target: bigint, budget: Budget, maxDepth: number): Item[][] {
  const out: Item[][] = [];
  const sign = target < 0n ? -1n : 1n;
  const sameSign = pool.every((p) => p.signed * sign >= 0n);
  const sorted = [...pool].sort((a, b) => {
    const d = abs(b.signed) - abs(a.signed);
    return d > 0n ? 1 : d < 0n ? -1 : byExceptionId(a, b);
  });
  const vals = sorted.map((p) => (sameSign ? p.signed * sign : p.signed));
  const goal = sameSign ? target * sign : target;
  // suffix[i] = Σ vals[i..]
  const suffix: bigint[] = new Array<bigint>(vals.length + 1).fill(0n);
  for (let i = vals.length - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! + vals[i]!;
  const chosen: number[] = [];
  const dfs = (start: number, sum: bigint): void => {
    for (let j = start; j < vals.length; j++) {
      if (out.length >= SOLUTIONS_PER_ANCHOR) return;
      if (budget.left <= 0) {
        budget.exhausted = true;
        return;
      }
      budget.left -= 1;
      if (sameSign) {
        // Even taking everything from j on cannot come within the gate below the goal.
        const reach = sum + suffix[j]!;
        if (reach < goal && 100n * (goal - reach) >= MAX_DRIFT_PERCENT * goal) return;
      }
      const next = sum + vals[j]!;
      // Overshot beyond the gate: a smaller value further on may still fit.
      if (sameSign && next > goal && 100n * (next - goal) >= MAX_DRIFT_PERCENT * next) continue;
      chosen.push(j);
      if (passesGate(next, goal)) out.push(chosen.map((i) => sorted[i]!));
      if (chosen.length < maxDepth) dfs(j + 1, next);
      chosen.pop();
    }
  };
  dfs(0, 0n);
  return out;
}
