import { localDay, localToUtcMs } from '../timezone';
import type { Faults, SimulatedTx } from './json-cursor-server';

// Volume faults: the ways a real provider's report differs from ours at volume without anyone
// having lost money — wins rounded its own way, rounds played just before midnight dated the
// next day, a win paid out in several rows, a round's bets reported as one total. Which of our
// transactions each fault touches is chosen by a stable hash of the transaction id (or round
// id), never at random, so the provider serving the report (reportedRows, faults.ts) and the
// test naming what must be found (volumeFaultEffects, below) always agree, whatever window is
// asked for and whatever else the list holds.
//
// Precedence, so that each of our transactions has at most one amount/id effect:
//   1. A transaction named by the explicit faults (missing, altered, duplicated) is served as
//      those say and left out of every volume fault.
//   2. aggregateRounds: the members of an aggregated (round, type) are reported only through
//      the aggregate row (no rounding, split or shift of their own).
//   3. splitWins, else roundOwnWay (a win chosen by both is split, not rounded).
//   4. lateRoundsAfterMidnight moves the time of whatever is reported for a transaction that
//      is not aggregated (its own row, its rounded row or all its split parts).

/** A win the provider rounded its own way. */
export interface RoundedWin {
  txId: string;
  oursMinor: bigint;
  theirsMinor: bigint;
  /** theirs − ours: never 0, at most `roundOwnWay.deltaMinor` either way. */
  deltaMinor: bigint;
}

/** A transaction of ours dated later by the provider (past the end of our business day). */
export interface ShiftedTx {
  txId: string;
  oursAtMs: number;
  reportedAtMs: number;
  /** Business days (YYYY-MM-DD in the fault's timezone) of ours and of theirs. */
  oursDay: string;
  reportedDay: string;
}

/** A win of ours the provider reports as several rows. */
export interface SplitWin {
  txId: string;
  oursMinor: bigint;
  /** `<txId>#1` … `<txId>#parts`, in order; they sum to oursMinor (remainder on the last). */
  parts: { id: string; amountMinor: bigint }[];
  /** The time all parts carry (ours, or ours shifted when the win was late). */
  reportedAtMs: number;
}

/** Several transactions of ours (one round, one type) the provider reports as one row. */
export interface AggregatedRound {
  /** `<roundId>:<type>`. */
  id: string;
  roundId: string;
  type: string;
  /** Our ids summed into it, by time then id. */
  txIds: string[];
  amountMinor: bigint;
  /** The time of the latest member (no shift applies to aggregates). */
  reportedAtMs: number;
}

/** What each volume fault did to the partner's transactions: the oracle for tests. */
export interface VolumeFaultEffects {
  rounded: RoundedWin[];
  shifted: ShiftedTx[];
  split: SplitWin[];
  aggregated: AggregatedRound[];
}

type VolumeFaults = Pick<Faults, 'roundOwnWay' | 'lateRoundsAfterMidnight' | 'splitWins' | 'aggregateRounds'>;

/** FNV-1a with a final avalanche: the stable hash that chooses which rows a fault touches. */
export function stableHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** About one in `everyNth` ids, the same ones every time (1: every one). */
const chosen = (salt: string, id: string, everyNth: number) => stableHash(`${salt}:${id}`) % everyNth === 0;

const isWholeAtLeast = (n: unknown, min: number) =>
  typeof n === 'number' && Number.isSafeInteger(n) && n >= min;

/** Throws when a volume fault is configured in a way it cannot be served. */
export function checkVolumeFaults(f: VolumeFaults): void {
  const bad = (what: string) => {
    throw new Error(`simulated provider faults: ${what}`);
  };
  if (f.roundOwnWay) {
    if (!isWholeAtLeast(f.roundOwnWay.everyNth, 1)) bad('roundOwnWay.everyNth must be a whole number ≥ 1');
    if (typeof f.roundOwnWay.deltaMinor !== 'bigint' || f.roundOwnWay.deltaMinor < 1n)
      bad('roundOwnWay.deltaMinor must be a bigint ≥ 1');
  }
  if (f.splitWins) {
    if (!isWholeAtLeast(f.splitWins.everyNth, 1)) bad('splitWins.everyNth must be a whole number ≥ 1');
    if (!isWholeAtLeast(f.splitWins.parts, 2)) bad('splitWins.parts must be a whole number ≥ 2');
  }
  if (f.aggregateRounds && !isWholeAtLeast(f.aggregateRounds.everyNth, 1))
    bad('aggregateRounds.everyNth must be a whole number ≥ 1');
  if (f.lateRoundsAfterMidnight) {
    const { withinMinutes, shiftMinutes, timezone } = f.lateRoundsAfterMidnight;
    if (!(Number.isFinite(withinMinutes) && withinMinutes > 0))
      bad('lateRoundsAfterMidnight.withinMinutes must be > 0');
    if (!(Number.isFinite(shiftMinutes) && shiftMinutes > 0))
      bad('lateRoundsAfterMidnight.shiftMinutes must be > 0');
    if (timezone !== undefined) {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: timezone });
      } catch {
        bad(`lateRoundsAfterMidnight.timezone ${timezone} is not an IANA timezone`);
      }
    }
  }
}

const hasVolumeFaults = (f: VolumeFaults) =>
  Boolean(f.roundOwnWay || f.lateRoundsAfterMidnight || f.splitWins || f.aggregateRounds);

const nextDay = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

const byTimeThenId = (a: SimulatedTx, b: SimulatedTx) =>
  a.occurredAtMs - b.occurredAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The rows the provider reports in place of each of our transactions (by position in `txs`;
 * undefined: reported as it is, subject to the explicit faults), and the effects. Null when no
 * volume fault is set.
 */
export function volumeFaultPlan(
  txs: readonly SimulatedTx[],
  faults: Faults,
): { replacements: (SimulatedTx[] | undefined)[]; effects: VolumeFaultEffects } | null {
  if (!hasVolumeFaults(faults)) return null;
  checkVolumeFaults(faults);
  const effects: VolumeFaultEffects = { rounded: [], shifted: [], split: [], aggregated: [] };
  const replacements: (SimulatedTx[] | undefined)[] = new Array<SimulatedTx[] | undefined>(txs.length);
  const explicit = new Set<string>([
    ...(faults.missing ?? []),
    ...Object.keys(faults.altered ?? {}),
    ...(faults.duplicated ?? []),
  ]);

  // 2. Aggregated rounds: (round, type) groups of at least two in a chosen round, one game
  // and one currency.
  const aggregatedAt = new Set<number>();
  if (faults.aggregateRounds) {
    const { everyNth } = faults.aggregateRounds;
    const groups = new Map<string, number[]>();
    txs.forEach((t, i) => {
      if (explicit.has(t.id) || !chosen('aggregate', t.roundId, everyNth)) return;
      const key = `${t.roundId}\u0000${t.type}`;
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    });
    for (const members of groups.values()) {
      if (members.length < 2) continue;
      const rows = members.map((i) => txs[i]!).sort(byTimeThenId);
      const first = rows[0]!;
      if (rows.some((r) => r.gameId !== first.gameId || r.currency !== first.currency)) continue;
      const last = rows[rows.length - 1]!;
      const row: SimulatedTx = {
        ...first,
        id: `${first.roundId}:${first.type}`,
        amountMinor: rows.reduce((s, r) => s + r.amountMinor, 0n),
        occurredAtMs: last.occurredAtMs,
      };
      // The aggregate stands in for its first member (by position); the others report nothing.
      const [head, ...rest] = [...members].sort((a, b) => a - b);
      replacements[head!] = [row];
      for (const i of rest) replacements[i] = [];
      for (const i of members) aggregatedAt.add(i);
      effects.aggregated.push({
        id: row.id,
        roundId: first.roundId,
        type: first.type,
        txIds: rows.map((r) => r.id),
        amountMinor: row.amountMinor,
        reportedAtMs: row.occurredAtMs,
      });
    }
    effects.aggregated.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // 4. Late rounds: the end of the business day each instant belongs to, remembered per day.
  const late = faults.lateRoundsAfterMidnight;
  const zone = late?.timezone ?? 'UTC';
  const endOfDay = new Map<string, number>();
  const shiftOf = (t: SimulatedTx): number => {
    if (!late) return t.occurredAtMs;
    const day = localDay(t.occurredAtMs, zone);
    let end = endOfDay.get(day);
    if (end === undefined) {
      end = localToUtcMs(`${nextDay(day)} 00:00:00`, zone);
      endOfDay.set(day, end);
    }
    return end - t.occurredAtMs <= late.withinMinutes * 60_000
      ? t.occurredAtMs + Math.round(late.shiftMinutes * 60_000)
      : t.occurredAtMs;
  };

  txs.forEach((t, i) => {
    if (explicit.has(t.id) || aggregatedAt.has(i)) return;
    const at = shiftOf(t);
    let rows: SimulatedTx[] | undefined;
    const win = t.type === 'win';
    if (win && faults.splitWins && chosen('split', t.id, faults.splitWins.everyNth)) {
      const { parts } = faults.splitWins;
      if (t.amountMinor >= BigInt(parts)) {
        const base = t.amountMinor / BigInt(parts);
        const split = Array.from({ length: parts }, (_, k) => ({
          id: `${t.id}#${k + 1}`,
          amountMinor: k === parts - 1 ? t.amountMinor - base * BigInt(parts - 1) : base,
        }));
        rows = split.map((p) => ({ ...t, id: p.id, amountMinor: p.amountMinor, occurredAtMs: at }));
        effects.split.push({ txId: t.id, oursMinor: t.amountMinor, parts: split, reportedAtMs: at });
      }
    }
    if (!rows && win && faults.roundOwnWay && chosen('round', t.id, faults.roundOwnWay.everyNth)) {
      if (t.amountMinor > 0n) {
        const h = stableHash(`round-delta:${t.id}`);
        const size = (BigInt(h >>> 1) % faults.roundOwnWay.deltaMinor) + 1n;
        // Down on odd hashes, unless that would take the win below zero.
        const delta = (h & 1) === 1 && t.amountMinor >= size ? -size : size;
        rows = [{ ...t, amountMinor: t.amountMinor + delta, occurredAtMs: at }];
        effects.rounded.push({
          txId: t.id,
          oursMinor: t.amountMinor,
          theirsMinor: t.amountMinor + delta,
          deltaMinor: delta,
        });
      }
    }
    if (at !== t.occurredAtMs) {
      rows ??= [{ ...t, occurredAtMs: at }];
      effects.shifted.push({
        txId: t.id,
        oursAtMs: t.occurredAtMs,
        reportedAtMs: at,
        oursDay: localDay(t.occurredAtMs, zone),
        reportedDay: localDay(at, zone),
      });
    }
    if (rows) replacements[i] = rows;
  });
  return { replacements, effects };
}

/**
 * The oracle: what the volume faults in `faults` make the provider report differently for the
 * partner's transactions `txs` — which wins were rounded and by how much, which transactions
 * were dated later and to when, which wins were split into which ids, which were summed into
 * which aggregate. Empty lists when no volume fault is set. Effects do not depend on the
 * report window: a window sees a row when the row's reported time falls in it.
 */
export function volumeFaultEffects(txs: readonly SimulatedTx[], faults: Faults): VolumeFaultEffects {
  return volumeFaultPlan(txs, faults)?.effects ?? { rounded: [], shifted: [], split: [], aggregated: [] };
}
