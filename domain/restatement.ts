// Restatement by delta, pure: a settled period recomputed from its frozen inputs plus a change,
// the later periods that depended on it (the month's tiers, guarantee and gaming tax to date,
// carries) recomputed in the same pass, and what to post: only the difference of each
// period's journal between its latest version and the new one. No I/O, no clock: the
// restatement's activity loads the chain and stores what this returns.
import type { StoredContractTerms } from './contract';
import type { MonthToDate } from './fees';
import { diffJournals, type Journal, type JournalEntry, type JsonValue } from './journal';
import { partnerAccount } from './accounts';
import { formatAmount } from './money';
import {
  renderStatement,
  settle,
  statementDigest,
  statementLineKeys,
  StatementInputError,
  type Settled,
  type Statement,
  type StatementInputs,
  type StatementLineKey,
} from './statement';

/** Why a period is restated. Amounts are signed minor units of the settlement currency, as digit strings. */
export type RestatementReason =
  | { kind: 'contract_version'; contractVersion: number; note: string }
  | { kind: 'provider_correction'; amountMinor: string; reference: string; note: string }
  | { kind: 'dispute'; disputeId: string; line: StatementLineKey; amountMinor: string; note: string }
  | { kind: 'invoice'; invoiceId: string; line: StatementLineKey; amountMinor: string; note: string }
  | { kind: 'manual'; line: StatementLineKey | 'ggr'; amountMinor: string; note: string };

/**
 * A change a version carries on top of the frozen inputs. `ggr` moves the period's GGR (as an
 * accepted provider figure would: a resolution entry game activity ↔ gaming revenue, and the
 * fee follows); a fee line key moves the net payable by that amount (an `adjustment` line,
 * not subject to withholding: it corrects what was owed).
 */
export interface RestatementAdjustment {
  key: string;
  line: StatementLineKey | 'ggr';
  amountMinor: string;
  reason: string;
  restatementId: string;
}

/** What a version was computed with beyond the frozen inputs (version 1: nothing). */
export interface VersionOverrides {
  contract: { version: number; terms: StoredContractTerms };
  adjustments: RestatementAdjustment[];
  monthToDate: MonthToDate;
  carriedIn: { fromSettlementId: string; amountMinor: bigint }[];
}

/** One period of the chain: its frozen inputs and its latest version. */
export interface ChainPeriod {
  /** The frozen inputs with the latest version's overrides applied (what the latest was computed from). */
  inputs: StatementInputs;
  adjustments: RestatementAdjustment[];
  latest: { version: number; text: string };
  /** The contract in force now for its period (a retroactive amendment restates with it). */
  contractNow: { version: number; terms: StoredContractTerms };
}

export interface SettledVersion {
  statement: Statement;
  text: string;
  journal: Journal;
  settled: Settled;
  netPayableMinor: bigint;
}

const isFeeLine = (l: string): l is StatementLineKey => (statementLineKeys as readonly string[]).includes(l);

/** Adjustment keys end up in ledger keys and exception ids: kept to a safe alphabet. */
const ADJ_KEY = /^[A-Za-z0-9:_.-]{1,120}$/;

/**
 * One version of a period: the statement settle() computes from the inputs with the GGR
 * adjustments as resolved exceptions, then the fee adjustments as `adjustment` lines, each
 * with its own journal entry (provider fees → fees payable). Version 1 (no adjustments) is
 * byte for byte what the cycle's fee step stored.
 */
export function settleVersion(
  inputs: StatementInputs,
  adjustments: RestatementAdjustment[],
  restated?: { version: number; previousDigest: string; restatementId: string; reason: string },
): SettledVersion {
  const scale = inputs.currencyScale;
  for (const a of adjustments) {
    if (!ADJ_KEY.test(a.key)) throw new StatementInputError(`adjustment key ${a.key}`);
    if (!/^-?\d{1,18}$/.test(a.amountMinor)) throw new StatementInputError(`adjustment ${a.key} amount`);
  }
  const ggr = adjustments.filter((a) => a.line === 'ggr');
  const fee = adjustments.filter((a) => a.line !== 'ggr' && isFeeLine(a.line));
  const settled = settle({
    ...inputs,
    exceptions: [
      ...inputs.exceptions,
      ...ggr.map((a) => ({
        exceptionId: `adj-${a.key}`,
        kind: 'restatement',
        txId: null,
        differenceMinor: a.amountMinor,
        lateAccruedMinor: null,
        detail: a.reason,
        currency: inputs.currency,
        txType: null,
        isAggregate: true,
        resolution: {
          resolution: 'adjust' as const,
          amount: formatAmount(BigInt(a.amountMinor), scale),
          reason: a.reason,
          operator: `restatement ${a.restatementId}`,
        },
      })),
    ],
  });
  let net = settled.fees.netPayableMinor;
  let statement = settled.statement;
  let journal = settled.journal;
  if (fee.length > 0) {
    const feeMinor = fee.reduce((s, a) => s + BigInt(a.amountMinor), 0n);
    net += feeMinor;
    const fmt = (m: bigint) => formatAmount(m, scale);
    const entries: JournalEntry[] = fee
      .filter((a) => BigInt(a.amountMinor) !== 0n)
      .map((a) => {
        const m = BigInt(a.amountMinor);
        const fees = partnerAccount(inputs.partnerId, 'provider_fees', inputs.currency);
        const payable = partnerAccount(inputs.partnerId, 'fees_payable', inputs.currency);
        return {
          key: `${inputs.cycleId}:adjustment:${a.key}`,
          effectiveDate: inputs.periodEnd,
          sourceKind: 'adjustment',
          metadata: {
            partnerId: inputs.partnerId,
            line: 'lines.adjustment',
            statementLine: a.line,
            restatementId: a.restatementId,
            amount: fmt(m),
          },
          postings: [
            m > 0n
              ? { debit: fees, credit: payable, currency: inputs.currency, amountMinor: m }
              : { debit: payable, credit: fees, currency: inputs.currency, amountMinor: -m },
          ],
        };
      });
    statement = {
      ...statement,
      lines: [
        ...statement.lines,
        ...fee.map((a) => ({
          code: 'adjustment',
          description: `${a.line}: ${a.reason}`,
          base: fmt(0n),
          rate: null,
          amount: fmt(BigInt(a.amountMinor)),
        })),
      ],
      grossFee: fmt(settled.fees.grossFeeMinor + feeMinor),
      netPayable: fmt(net),
      ledgerEntries: [
        ...statement.ledgerEntries.filter((k) => k !== `${inputs.cycleId}:payout`),
        ...entries.map((e) => e.key),
        ...statement.ledgerEntries.filter((k) => k === `${inputs.cycleId}:payout`),
      ],
    };
    journal = {
      ...journal,
      entries: [...journal.entries, ...entries],
      summary: { ...journal.summary, netPayable: fmt(net) },
    };
  }
  if (restated) statement = { ...statement, restatement: restated };
  return { statement, text: renderStatement(statement), journal, settled, netPayableMinor: net };
}

const MTD_FIELDS = [
  'taxBaseMinor',
  'gamingTaxMinor',
  'volumeMinor',
  'tierFeeMinor',
  'variableFeeMinor',
  'topUpMinor',
] as const;

export interface ChainResult {
  restatementId: string;
  periods: {
    cycleId: string;
    fromVersion: number;
    /** Null when the period's figures do not change (no new version). */
    toVersion: number | null;
    before: SettledVersion;
    after: SettledVersion;
    overrides: VersionOverrides;
    /** The difference, line by line, as the statement shows it (settlement currency, minor). */
    netPayableDeltaMinor: bigint;
  }[];
  /** The adjusting entries to post, keyed `<restatementId>:<key>` and dated `postingDate`. */
  delta: JournalEntry[];
}

/**
 * Recomputes the chain (the restated period, then every later settled period whose figures
 * depended on it, in order) with the change applied, and the delta to post. Each later period
 * keeps its own frozen inputs; only what it took from earlier ones moves with them: the
 * month-to-date (tiers, guarantee, gaming tax; within the same month) and the carries it
 * claimed from a chain period. A carry a chain period newly leaves is claimed by the next
 * chain period, as the fee step would have. The latest version of every period must recompute
 * to its stored bytes, or nothing is restated (a DataError for the caller).
 */
export function restateChain(
  chain: ChainPeriod[],
  change: RestatementReason,
  restatementId: string,
  postingDate: string,
): ChainResult {
  if (chain.length === 0) throw new StatementInputError('nothing to restate');
  const mtdShift = new Map<string, Record<(typeof MTD_FIELDS)[number], bigint>>();
  const newCarryOut = new Map<string, bigint>();
  const oldCarryOut = new Map<string, bigint>();
  const periods: ChainResult['periods'] = [];
  const delta: JournalEntry[] = [];
  let pendingNewCarries: { fromSettlementId: string; amountMinor: bigint }[] = [];
  for (const [i, p] of chain.entries()) {
    const before = settleVersion(p.inputs, p.adjustments, undefined);
    if (before.text !== withoutRestatement(p.latest.text))
      throw new StatementInputError(
        `${p.inputs.cycleId} version ${p.latest.version} does not recompute to its stored bytes`,
      );
    oldCarryOut.set(p.inputs.cycleId, before.settled.fees.carriedOutMinor);
    // The change itself applies to the restated period (the first); a contract version to all.
    const adjustments = [...p.adjustments];
    if (i === 0 && change.kind !== 'contract_version' && BigInt(change.amountMinor) !== 0n)
      adjustments.push({
        key: `${change.kind}-${restatementId}`,
        line: change.kind === 'provider_correction' ? 'ggr' : change.line,
        amountMinor: change.amountMinor,
        reason: change.note,
        restatementId,
      });
    // A contract version restates with the version in force now for each period; the restated
    // period's must be the one named (an unknown, unapproved or later version restates nothing).
    if (i === 0 && change.kind === 'contract_version' && p.contractNow.version !== change.contractVersion)
      throw new StatementInputError(
        `contract version ${change.contractVersion} is not the one in force for ${p.inputs.periodStart} (${p.contractNow.version} is): approve it with an effectiveFrom on or before the period (retroactive) first`,
      );
    const contract = change.kind === 'contract_version' ? p.contractNow : p.inputs.contract;
    const shift = mtdShift.get(p.inputs.month);
    const monthToDate: MonthToDate = { ...p.inputs.monthToDate };
    if (shift) for (const f of MTD_FIELDS) monthToDate[f] += shift[f];
    const carriedIn = [
      ...p.inputs.carriedIn
        .map((c) => ({
          fromSettlementId: c.fromSettlementId,
          amountMinor: newCarryOut.get(c.fromSettlementId) ?? c.amountMinor,
        }))
        .filter((c) => c.amountMinor !== 0n),
      ...pendingNewCarries,
    ].sort((a, b) => (a.fromSettlementId < b.fromSettlementId ? -1 : 1));
    pendingNewCarries = [];
    const inputs: StatementInputs = { ...p.inputs, contract, monthToDate, carriedIn };
    const after = settleVersion(inputs, adjustments);
    const changed = after.text !== before.text;
    const toVersion = changed ? p.latest.version + 1 : null;
    const paid = (JSON.parse(p.latest.text) as Statement).payout;
    const restatedAs = changed
      ? settleVersion(inputs, adjustments, {
          version: toVersion!,
          previousDigest: statementDigest(p.latest.text),
          restatementId,
          reason: change.note,
        })
      : after;
    // What the statement paid stays as it was; the difference is brought forward.
    const final: SettledVersion =
      changed && paid
        ? {
            ...restatedAs,
            statement: { ...restatedAs.statement, payout: paid },
            text: renderStatement({ ...restatedAs.statement, payout: paid }),
          }
        : restatedAs;
    // What later periods of the month now start from.
    const s = mtdShift.get(p.inputs.month) ?? {
      taxBaseMinor: 0n,
      gamingTaxMinor: 0n,
      volumeMinor: 0n,
      tierFeeMinor: 0n,
      variableFeeMinor: 0n,
      topUpMinor: 0n,
    };
    for (const f of MTD_FIELDS) s[f] += after.settled.fees.accrual[f] - before.settled.fees.accrual[f];
    mtdShift.set(p.inputs.month, s);
    const out = after.settled.fees.carriedOutMinor;
    newCarryOut.set(p.inputs.cycleId, out);
    const claimedBefore = chain.some((q) =>
      q.inputs.carriedIn.some((c) => c.fromSettlementId === p.inputs.cycleId),
    );
    if (!claimedBefore && out !== 0n && before.settled.fees.carriedOutMinor === 0n && i + 1 < chain.length)
      pendingNewCarries.push({ fromSettlementId: p.inputs.cycleId, amountMinor: out });
    periods.push({
      cycleId: p.inputs.cycleId,
      fromVersion: p.latest.version,
      toVersion,
      before,
      after: final,
      overrides: { contract, adjustments, monthToDate, carriedIn },
      netPayableDeltaMinor: after.netPayableMinor - before.netPayableMinor,
    });
    for (const e of diffJournals(before.journal, after.journal))
      delta.push(adjusting(e, restatementId, postingDate, p.inputs.cycleId, p.latest.version, toVersion));
  }
  return { restatementId, periods, delta };
}

/**
 * A stored version's bytes as settleVersion renders them: its restatement note and its payout
 * section (what that statement paid, a fact a later version keeps as it was) set aside.
 */
function withoutRestatement(text: string): string {
  const { restatement: _r, payout: _p, ...rest } = JSON.parse(text) as Statement;
  return renderStatement(rest);
}

/** An entry of the delta: its own key, dated in the open period, naming what it restates. */
function adjusting(
  e: JournalEntry,
  restatementId: string,
  postingDate: string,
  cycleId: string,
  fromVersion: number,
  toVersion: number | null,
): JournalEntry {
  const metadata: Record<string, JsonValue> = {
    ...e.metadata,
    restatementId,
    restatedSettlementId: cycleId,
    restatedEffectiveDate: e.effectiveDate,
    fromVersion,
    toVersion,
  };
  return { ...e, key: `${restatementId}:${e.key}`, effectiveDate: postingDate, metadata };
}

/** The journal a restatement posts: its delta, one stored journal like any other. */
export function restatementJournal(restatementId: string, delta: JournalEntry[]): Journal {
  return {
    id: `${restatementId}:delta`,
    kind: 'restatement',
    sourceRef: restatementId,
    entries: delta,
    summary: { entries: delta.length },
  };
}

/** Statement lines side by side (minor units): what the console and the API show as the delta. */
export function lineDelta(
  before: Statement,
  after: Statement,
): { field: string; before: string; after: string }[] {
  const fields: [string, (s: Statement) => string][] = [
    ['revenue.ggr', (s) => s.revenue.ggr],
    ['revenue.ngr', (s) => s.revenue.ngr],
    ['revenue.gamingTax', (s) => s.revenue.gamingTax?.amount ?? '0'],
    ['base.feeBase', (s) => s.base.feeBase],
    ['base.carriedOut', (s) => s.base.carriedOut.total],
    ['grossFee', (s) => s.grossFee],
    ['taxWithheld', (s) => s.taxWithheld],
    ['netPayable', (s) => s.netPayable],
  ];
  return fields
    .map(([field, get]) => ({ field, before: get(before), after: get(after) }))
    .filter((d) => d.before !== d.after);
}
