// Reconciliation: compare what we recorded with what the provider reports, first per
// (business date, game, currency), then transaction by transaction where totals differ, and
// name every discrepancy as DOMAIN.md does. Pure and deterministic: the same inputs give
// the same discrepancies with the same ids, so a replayed workflow step finds its exceptions.
import { formatAmount } from './money';
import { thresholdMinor, type RuleTolerance } from './rules';
import { statementLineKeys, type StatementLineKey } from './statement';

export type DiscrepancyKind =
  | 'missing_ours'
  | 'missing_theirs'
  | 'amount_mismatch'
  | 'duplicate'
  | 'conflicting_duplicate'
  | 'currency_mismatch'
  /** Recorded by reconciliation before tolerances became contract rules; no longer produced. */
  | 'fx_rounding'
  /** A many-to-many match group between the lower and upper confidence: a person confirms it. */
  | 'suggested_match'
  | 'open_round'
  | 'late_transaction'
  | 'fee_variance'
  | 'control_total_mismatch'
  /** The provider's report could not be fetched after every retry (a persistent fault). */
  | 'report_unavailable'
  /** A win held for review at ingest (above the amount and the multiple of its round's bets). */
  | 'big_win'
  /** A volume spike of the partner in the period: extra checks before payout. */
  | 'volume_anomaly';

export interface AggregateKey {
  businessDate: string;
  gameId: string;
  currency: string;
}

export interface AggregateRow extends AggregateKey {
  betCount: bigint;
  betMinor: bigint;
  winMinor: bigint;
}

export interface ReportedTx {
  id: string;
  type: string;
  roundId: string;
  gameId: string;
  currency: string;
  amountMinor: bigint;
  occurredAt: string;
  businessDate: string;
  /** Providers that report round state: 'open' means not settled at the cut-off. */
  roundStatus?: 'completed' | 'open' | 'cancelled';
}

export interface OurTx extends ReportedTx {
  /** When we received it; after the period froze it is a late transaction. */
  receivedAt: string;
}

/**
 * Exceptions the watch opens (a held big win, a volume spike) carry integrity signals: a partner
 * reads only that its payout waits for a review, never the kind, figures or alert behind it
 * (api/partner-view.ts applies this to every exception a partner can read).
 */
export const REVIEW_HOLD_KINDS: ReadonlySet<string> = new Set(['big_win', 'volume_anomaly']);
export const REVIEW_HOLD_FOR_PARTNERS = {
  kind: 'review_hold',
  detail: 'held for a review before payout',
} as const;

export function asPartnerSees<T extends { kind: string; detail: string }>(e: T): T {
  return REVIEW_HOLD_KINDS.has(e.kind) ? { ...e, ...REVIEW_HOLD_FOR_PARTNERS } : e;
}

export interface Discrepancy {
  /** Deterministic: kind plus the transaction id or the aggregate key. */
  id: string;
  kind: DiscrepancyKind;
  key: AggregateKey | null;
  txId: string | null;
  oursMinor: bigint | null;
  theirsMinor: bigint | null;
  /** theirs − ours, in minor units of the row's currency (0 when not an amount question). */
  differenceMinor: bigint;
  detail: string;
}

const keyOf = (k: AggregateKey) => `${k.businessDate}|${k.gameId}|${k.currency}`;

/** Keys whose totals differ (bet count, bets or wins), and keys only one side has. */
export function differingKeys(ours: AggregateRow[], theirs: AggregateRow[]): AggregateKey[] {
  const mine = new Map(ours.map((r) => [keyOf(r), r]));
  const their = new Map(theirs.map((r) => [keyOf(r), r]));
  const out: AggregateKey[] = [];
  for (const k of [...new Set([...mine.keys(), ...their.keys()])].sort()) {
    const a = mine.get(k);
    const b = their.get(k);
    if (!a || !b || a.betCount !== b.betCount || a.betMinor !== b.betMinor || a.winMinor !== b.winMinor) {
      const [businessDate, gameId, currency] = k.split('|') as [string, string, string];
      out.push({ businessDate, gameId, currency });
    }
  }
  return out;
}

/**
 * For aggregate-only reports: one discrepancy per differing key, named by what differs
 * (missing on one side, or the GGR of the key), with theirs − ours as the difference.
 */
export function aggregateDiscrepancies(
  ours: AggregateRow[],
  theirs: AggregateRow[],
  keys: AggregateKey[],
): Discrepancy[] {
  const mine = new Map(ours.map((r) => [keyOf(r), r]));
  const their = new Map(theirs.map((r) => [keyOf(r), r]));
  return keys.map((k) => {
    const a = mine.get(keyOf(k));
    const b = their.get(keyOf(k));
    const ggr = (r: AggregateRow | undefined) => (r ? r.betMinor - r.winMinor : 0n);
    const kind: DiscrepancyKind = !a ? 'missing_ours' : !b ? 'missing_theirs' : 'amount_mismatch';
    return {
      id: `${kind}:${keyOf(k)}`,
      kind,
      key: k,
      txId: null,
      oursMinor: a ? ggr(a) : null,
      theirsMinor: b ? ggr(b) : null,
      differenceMinor: ggr(b) - ggr(a),
      detail: `totals for ${k.gameId} on ${k.businessDate} in ${k.currency}: ours ${describeTotals(a)}; theirs ${describeTotals(b)}`,
    };
  });
}

const sameContent = (a: ReportedTx, b: ReportedTx) =>
  a.type === b.type &&
  a.roundId === b.roundId &&
  a.gameId === b.gameId &&
  a.currency === b.currency &&
  a.amountMinor === b.amountMinor &&
  a.occurredAt === b.occurredAt;

export interface TxReconcileOptions {
  /** When the period froze (ISO instant); ours received after it are late. */
  frozenAt: string;
}

/** Transaction-level comparison for the keys whose totals differ (or everything, if asked). */
export function reconcileTransactions(
  ours: OurTx[],
  theirs: ReportedTx[],
  opts: TxReconcileOptions,
): Discrepancy[] {
  const out: Discrepancy[] = [];
  const add = (d: Omit<Discrepancy, 'id'>) =>
    out.push({ id: `${d.kind}:${d.txId ?? (d.key ? keyOf(d.key) : '')}`, ...d });
  const keyFor = (t: ReportedTx): AggregateKey => ({
    businessDate: t.businessDate,
    gameId: t.gameId,
    currency: t.currency,
  });

  const theirById = new Map<string, ReportedTx>();
  for (const t of theirs) {
    const seen = theirById.get(t.id);
    if (!seen) {
      theirById.set(t.id, t);
      continue;
    }
    add({
      kind: sameContent(seen, t) ? 'duplicate' : 'conflicting_duplicate',
      key: keyFor(t),
      txId: t.id,
      oursMinor: null,
      theirsMinor: t.amountMinor,
      differenceMinor: 0n,
      detail: sameContent(seen, t)
        ? 'reported twice with the same content'
        : 'reported twice with different content',
    });
  }
  // Ours received after the period froze are not in the frozen period (its sources were frozen
  // with it): each is named late, carrying what accepting the provider's figure would add.
  const isLate = (o: OurTx) => Date.parse(o.receivedAt) > Date.parse(opts.frozenAt);
  const late = new Set(ours.filter(isLate).map((o) => o.id));
  const ourById = new Map(ours.filter((o) => !late.has(o.id)).map((t) => [t.id, t]));

  for (const o of ours) {
    if (late.has(o.id)) {
      const t = theirById.get(o.id);
      add({
        kind: 'late_transaction',
        key: keyFor(o),
        txId: o.id,
        oursMinor: o.amountMinor,
        theirsMinor: t?.amountMinor ?? null,
        differenceMinor: t?.amountMinor ?? 0n,
        detail: t
          ? `received ${o.receivedAt}, after the period froze at ${opts.frozenAt}: not in the frozen period; accept_theirs settles the provider's figure in it`
          : `received ${o.receivedAt}, after the period froze at ${opts.frozenAt}; the provider did not report it either`,
      });
      continue;
    }
    const t = theirById.get(o.id);
    if (!t) {
      add({
        kind: 'missing_theirs',
        key: keyFor(o),
        txId: o.id,
        oursMinor: o.amountMinor,
        theirsMinor: null,
        differenceMinor: -o.amountMinor,
        detail: 'we recorded it; the provider did not report it',
      });
      continue;
    }
    if (t.currency !== o.currency) {
      add({
        kind: 'currency_mismatch',
        key: keyFor(o),
        txId: o.id,
        oursMinor: o.amountMinor,
        theirsMinor: t.amountMinor,
        differenceMinor: 0n,
        detail: `ours in ${o.currency}, theirs in ${t.currency}`,
      });
    } else if (t.amountMinor !== o.amountMinor) {
      // Every amount difference is named a mismatch here: whether it is a rounding difference
      // within tolerance is the contract's rules' to say (domain/rules.ts), with their evidence.
      add({
        kind: 'amount_mismatch',
        key: keyFor(o),
        txId: o.id,
        oursMinor: o.amountMinor,
        theirsMinor: t.amountMinor,
        differenceMinor: t.amountMinor - o.amountMinor,
        detail: `ours ${o.amountMinor}, theirs ${t.amountMinor}`,
      });
    }
  }
  for (const t of theirById.values()) {
    if (!ourById.has(t.id) && !late.has(t.id)) {
      add({
        kind: 'missing_ours',
        key: keyFor(t),
        txId: t.id,
        oursMinor: null,
        theirsMinor: t.amountMinor,
        differenceMinor: t.amountMinor,
        detail: 'the provider reported it; we never received it',
      });
    }
    if (t.roundStatus === 'open') {
      add({
        kind: 'open_round',
        key: keyFor(t),
        txId: t.id,
        oursMinor: ourById.get(t.id)?.amountMinor ?? null,
        theirsMinor: t.amountMinor,
        differenceMinor: 0n,
        detail: `round ${t.roundId} still open at the cut-off`,
      });
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface ControlTotals {
  recordCount: number;
  sumMinor: bigint;
}

/** A report whose rows do not add up to its own trailer was truncated or altered in transit. */
export function checkControlTotals(
  rows: { amountMinor: bigint }[],
  declared: ControlTotals,
): Discrepancy | null {
  return controlTotalsDiscrepancy(
    { recordCount: rows.length, sumMinor: rows.reduce((s, r) => s + r.amountMinor, 0n) },
    declared,
  );
}

export function controlTotalsDiscrepancy(actual: ControlTotals, declared: ControlTotals): Discrepancy | null {
  if (actual.recordCount === declared.recordCount && actual.sumMinor === declared.sumMinor) return null;
  return {
    id: 'control_total_mismatch:report',
    kind: 'control_total_mismatch',
    key: null,
    txId: null,
    oursMinor: actual.sumMinor,
    theirsMinor: declared.sumMinor,
    differenceMinor: declared.sumMinor - actual.sumMinor,
    detail: `report declares ${declared.recordCount} records summing ${declared.sumMinor}; it contains ${actual.recordCount} summing ${actual.sumMinor}`,
  };
}

/** One line of a partner's invoice compared with our statements, beyond the contract's tolerance. */
export interface FeeVariance extends Discrepancy {
  kind: 'fee_variance';
  /** The statement line key (domain/statement.ts statementLineKeys). */
  line: StatementLineKey;
  /** The invoice's currency (that of the statements compared). */
  currency: string;
  oursMinor: bigint;
  theirsMinor: bigint;
  /** The largest |theirs − ours| the tolerance admits for this line (domain/rules.ts thresholdMinor). */
  thresholdMinor: bigint;
}

export interface FeeVarianceInput {
  invoiceId: string;
  currency: string;
  /** The currency's scale (how the detail writes the amounts). */
  scale: number;
  /** Our totals per line key over the statements of the invoice's period (absent keys are 0). */
  ours: Partial<Record<StatementLineKey, bigint>>;
  /** The invoice's amount per line key (a key it does not state is 0 on its side). */
  theirs: Partial<Record<StatementLineKey, bigint>>;
  /** The contract's `invoices.tolerance`, of the version in force at the invoice period's start. */
  tolerance: RuleTolerance;
}

/**
 * A partner's invoice against our statements, line by line: one fee_variance per line key whose
 * |theirs − ours| is above the threshold the contract's tolerance gives for that line (the larger
 * of its absolute amount and its percentage of the stated base, rounded by its mode). A line only
 * one side states counts 0 on the other. Ids are deterministic (`fee_variance:<invoiceId>:<line>`):
 * comparing again finds the same exceptions. Sorted in statement line order.
 */
export function feeVariance(input: FeeVarianceInput): FeeVariance[] {
  const out: FeeVariance[] = [];
  const fmt = (minor: bigint) => formatAmount(minor, input.scale);
  for (const line of statementLineKeys) {
    const ours = input.ours[line] ?? 0n;
    const theirs = input.theirs[line] ?? 0n;
    const diff = theirs - ours;
    const limit = thresholdMinor(input.tolerance, ours, theirs);
    if ((diff < 0n ? -diff : diff) <= limit) continue;
    out.push({
      id: `fee_variance:${input.invoiceId}:${line}`,
      kind: 'fee_variance',
      key: null,
      txId: null,
      line,
      currency: input.currency,
      oursMinor: ours,
      theirsMinor: theirs,
      differenceMinor: diff,
      thresholdMinor: limit,
      detail: `invoice ${input.invoiceId}, ${line}: invoiced ${fmt(theirs)}, our statements ${fmt(ours)}, difference ${fmt(diff)} ${input.currency} (tolerance ${fmt(limit)})`,
    });
  }
  return out;
}

function describeTotals(t: AggregateRow | undefined): string {
  return t ? `${t.betCount} bets, ${t.betMinor} bet, ${t.winMinor} won` : 'none';
}
