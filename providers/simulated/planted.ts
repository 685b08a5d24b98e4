import type { Faults, SimulatedTx } from './json-cursor-server';

// Planted differences between what a partner pushed and what its provider reports, for the
// transaction-level benchmark and its test: a fixed share of rows altered (another amount),
// missing (not in their report) and extra (in their report, not ours), chosen by position so
// the same (partner, day, transactions) always plant the same rows. Both sides (the provider
// serving the report and the checker naming what must be found) compute them here.

/** One difference reconciliation must name: whose, which transaction, and which kind. */
export interface PlantedDifference {
  partnerId: string;
  txId: string;
  kind: 'amount_mismatch' | 'missing_theirs' | 'missing_ours';
}

/** 0.01 % of each kind (at least one each), as the benchmark plants them. */
export const PLANTED_SHARE = 0.0001;

/** What the provider of `partnerId` reports differently, and what must be found for it. */
export function plantDifferences(
  partnerId: string,
  txs: SimulatedTx[],
  share = PLANTED_SHARE,
): { faults: Pick<Faults, 'altered' | 'missing' | 'extra'>; expected: PlantedDifference[] } {
  const n = txs.length;
  const count = n === 0 ? 0 : Math.max(1, Math.round(n * share));
  const altered: Record<string, bigint> = {};
  const missing: string[] = [];
  const extra: SimulatedTx[] = [];
  const expected: PlantedDifference[] = [];
  for (let k = 0; k < count; k++) {
    // Spread over the day's rows, never the same row twice (altered at a quarter of each
    // stretch, missing at three quarters).
    const a = txs[Math.floor(((k + 0.25) * n) / count)]!;
    const m = txs[Math.floor(((k + 0.75) * n) / count)]!;
    // Far beyond any rounding tolerance: an amount mismatch, never an FX/rounding difference.
    altered[a.id] = a.amountMinor + 12_345n;
    expected.push({ partnerId, txId: a.id, kind: 'amount_mismatch' });
    missing.push(m.id);
    expected.push({ partnerId, txId: m.id, kind: 'missing_theirs' });
    // An extra row: a bet in the same day, game and currency as a real one, 7 s later.
    const like = txs[Math.floor(((k + 0.5) * n) / count)]!;
    const x: SimulatedTx = {
      ...like,
      id: `${like.id}-extra`,
      type: 'bet',
      amountMinor: 777n + BigInt(k),
      occurredAtMs: like.occurredAtMs + 7_000,
    };
    extra.push(x);
    expected.push({ partnerId, txId: x.id, kind: 'missing_ours' });
  }
  return { faults: { altered, missing, extra }, expected };
}

/** A difference as one comparable string (sets of them are compared exactly). */
export const differenceKey = (
  d: PlantedDifference | { partnerId: string; txId: string | null; kind: string },
) => `${d.partnerId}|${d.txId ?? ''}|${d.kind}`;

// The volume faults' oracle lives with them; re-exported for the tests that plant differences.
export {
  volumeFaultEffects,
  type VolumeFaultEffects,
  type RoundedWin,
  type ShiftedTx,
  type SplitWin,
  type AggregatedRound,
} from './volume-faults';
