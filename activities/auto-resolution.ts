import type { AuditEvent } from '../db/audit';
import * as book from '../db/exception-book';
import type { Db } from '../db/pool';
import * as rulesDb from '../db/reconciliation-rules';
import * as q from '../db/settlement';
import { NotFoundError } from '../domain/errors';
import type { Discrepancy } from '../domain/reconciliation';
import type { RuleDecision } from '../domain/rules';
import { matchWithinRounds } from '../domain/matching';
import { applyMatchGroups, unmatchedForMatching } from '../db/matching';
import { planRules } from '../services/reconciliation-rules';

// Rules before people: once reconciliation has put a cycle's differences in its book, what the
// contract version in force for the period decides is decided, each decision recorded exactly
// like a person's (the rule version as the actor, with its evidence and an audit event), and
// what Clearhouse knows is still arriving is *expected*, not mismatched. What is left waits for
// people. Every step is idempotent: a retried activity finds its decisions made.

/** A rule version as the system principal that decides (domain/actors.ts: a plain subject). */
export const ruleActor = (partnerId: string, contractVersion: number, ruleId: string) => ({
  actor: `rule:${partnerId}:v${contractVersion}:${ruleId}`,
  name: `rule ${ruleId} (contract v${contractVersion})`,
});
const RECONCILIATION = { actor: 'reconciliation', name: 'reconciliation' };

export interface AutoResolution {
  contractVersion: number;
  /** Resolved by rules (by rule id), proposed only, settled as expected, arrivals and expiries handled. */
  resolvedByRule: Record<string, number>;
  proposed: number;
  expected: number;
  arrived: number;
  expired: number;
  /** Members of confirmed match groups resolved, suggested_match exceptions recorded. */
  matched: number;
  suggested: number;
  /** Rounds and candidates the bounded search left out (never silently). */
  matchTruncated: { rounds: number; candidates: number };
  /** The contract's review window for these decisions before the fee (minutes; 0: none). */
  reviewMinutes: number;
}

const auditOf = (
  cycleId: string,
  runId: string,
  who: { actor: string; name: string },
  action: string,
  key: string,
  details: Record<string, unknown>,
): AuditEvent => ({
  idempotencyKey: `wf:${runId}:${action}:${key}`,
  actor: who.actor,
  role: 'system',
  action,
  target: `${cycleId}/exceptions`,
  source: 'workflow',
  workflowId: cycleId,
  details: { actorName: who.name, ...details },
});

/**
 * Applies the contract's rules to a cycle's open exceptions after reconciliation: expected items
 * of earlier cycles that arrived or expired first (they may add exceptions here), then each rule
 * in order, then what is still arriving. Returns counts only (they enter history).
 */
export async function resolveBeforePeople(
  db: Db,
  c: { cycleId: string; partnerId: string; periodStart: string; periodEnd: string; frozenAt: string },
  runId: string,
): Promise<AutoResolution> {
  const contract = await q.contractInForce(db, c.partnerId, c.periodStart);
  if (!contract) throw new NotFoundError(`no contract in force for ${c.partnerId} on ${c.periodStart}`);
  const terms = contract.terms.reconciliation;
  const out: AutoResolution = {
    contractVersion: contract.version,
    resolvedByRule: {},
    proposed: 0,
    expected: 0,
    arrived: 0,
    expired: 0,
    matched: 0,
    suggested: 0,
    matchTruncated: { rounds: 0, candidates: 0 },
    reviewMinutes: terms.reviewMinutes,
  };
  out.arrived = await settleArrivals(db, c, runId);
  out.expired = await bookExpiries(db, c);
  // Many-to-many within rounds (split wins, aggregated rounds) before the rules.
  const unmatched = terms.matching.enabled ? await unmatchedForMatching(db, c.cycleId, terms.matching) : [];
  if (unmatched.length > 0) {
    const { groups, truncated } = matchWithinRounds(unmatched, terms.matching);
    const applied = await applyMatchGroups(db, c.cycleId, groups);
    out.matched = applied.resolved;
    out.suggested = applied.suggestions;
    out.matchTruncated = truncated;
  }

  const { decided, expected, expectedUntil } = await planRules(db, c, terms);
  const byRule = new Map<string, RuleDecision[]>();
  for (const d of decided) if (d?.resolution) byRule.set(d.ruleId, [...(byRule.get(d.ruleId) ?? []), d]);
  for (const [ruleId, ds] of [...byRule].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const who = ruleActor(c.partnerId, contract.version, ruleId);
    const result = await book.resolveInBook(db, c.cycleId, {
      items: ds.map((d) => ({
        exceptionId: d.exceptionId,
        resolution: d.resolution!,
        amountMinor: null,
        reason: ruleReason(d, contract.version),
        group: `rule:${ruleId}`,
        evidence: { ...d.evidence, ruleId, contractVersion: contract.version },
        ...(d.writeOffAccount ? { writeOffAccount: d.writeOffAccount } : {}),
      })),
      ...who,
      updateId: `rules:${runId}:${ruleId}`,
      audit: auditOf(c.cycleId, runId, who, 'settlement.autoResolve', ruleId, {
        ruleId,
        contractVersion: contract.version,
        items: ds.length,
      }),
    });
    out.resolvedByRule[ruleId] = result.applied;
  }
  const proposals = decided.filter((d): d is RuleDecision => d !== null && d.resolution === null);
  await rulesDb.recordSuggestions(
    db,
    c.cycleId,
    proposals.map((d) => ({ ...d, actor: ruleActor(c.partnerId, contract.version, d.ruleId).actor })),
  );
  out.proposed = proposals.length;
  out.expected = await rulesDb.markExpected(
    db,
    c,
    expected,
    expectedUntil,
    `expected: recorded within ${terms.expected.withinMinutesOfCutoff} min of the cut-off and not reported yet; settled at our figure until ${expectedUntil} (then mismatched in a later cycle)`,
  );
  return out;
}

function ruleReason(d: RuleDecision, contractVersion: number): string {
  const e = d.evidence;
  const why =
    e.lagLimit !== null
      ? `counterpart dated ${Math.round((e.lagMs ?? 0) / 60_000)} min apart (limit ${e.lagLimit})`
      : `difference ${e.differenceMinor} within ${e.thresholdMinor} (${e.base ?? 'absolute'}, ${e.rounding ?? 'exact'})`;
  return `rule ${d.ruleId} of contract v${contractVersion}: ${why}`;
}

/**
 * Earlier cycles' expected items this report answers: the missing_ours here is the same
 * transaction, settled there at our figure (accept_ours here, no second count); a different
 * amount becomes an amount_mismatch of this period for the difference.
 */
async function settleArrivals(
  db: Db,
  c: { cycleId: string; partnerId: string },
  runId: string,
): Promise<number> {
  const arrivals = await rulesDb.claimArrivals(db, c.cycleId);
  if (arrivals.length === 0) return 0;
  const differing: Discrepancy[] = arrivals
    .filter((a) => a.theirsMinor !== a.oursMinor)
    .map((a) => ({
      id: `amount_mismatch:${a.txId}:after:${a.fromCycle}`,
      kind: 'amount_mismatch',
      key:
        a.businessDate && a.gameId && a.currency
          ? { businessDate: a.businessDate, gameId: a.gameId, currency: a.currency }
          : null,
      txId: a.txId,
      oursMinor: a.oursMinor,
      theirsMinor: a.theirsMinor,
      differenceMinor: a.theirsMinor - a.oursMinor,
      detail: `reported after ${a.fromCycle} settled it as expected at our ${a.oursMinor}; the provider says ${a.theirsMinor}: the difference belongs to this period`,
    }));
  await book.recordFound(db, c.cycleId, differing);
  await book.resolveInBook(db, c.cycleId, {
    items: arrivals.map((a) => ({
      exceptionId: a.exceptionId,
      resolution: 'accept_ours',
      amountMinor: null,
      reason: `arrived: the counterpart of ${a.fromException}, settled in ${a.fromCycle} at our figure`,
      evidence: { arrivedFor: a.fromCycle, exceptionId: a.fromException },
    })),
    ...RECONCILIATION,
    updateId: `arrivals:${runId}`,
    audit: auditOf(c.cycleId, runId, RECONCILIATION, 'settlement.expectedArrived', 'arrivals', {
      items: arrivals.length,
    }),
  });
  await rulesDb.recordExpectedOutcome(
    db,
    c.cycleId,
    'arrived',
    arrivals.map((a) => ({
      fromCycle: a.fromCycle,
      fromException: a.fromException,
      fromGeneration: a.fromGeneration,
      note:
        a.theirsMinor === a.oursMinor
          ? `arrived in ${c.cycleId}'s report with the same amount`
          : `arrived in ${c.cycleId}'s report as ${a.theirsMinor}: the difference is settled there`,
    })),
  );
  return arrivals.length;
}

/** Earlier cycles' expected items past their age limit: mismatched now, in this (open) period. */
async function bookExpiries(
  db: Db,
  c: { cycleId: string; partnerId: string; frozenAt: string },
): Promise<number> {
  const expired = await rulesDb.claimExpiries(db, c, c.frozenAt);
  if (expired.length === 0) return 0;
  await book.recordFound(
    db,
    c.cycleId,
    expired.map((x) => ({
      id: `missing_theirs:${x.txId}:expected-in:${x.fromCycle}`,
      kind: 'missing_theirs',
      key:
        x.businessDate && x.gameId
          ? { businessDate: x.businessDate, gameId: x.gameId, currency: x.currency }
          : null,
      txId: x.txId,
      oursMinor: x.oursMinor,
      theirsMinor: null,
      differenceMinor: -x.oursMinor,
      detail: `expected since ${x.fromCycle} (settled there at our figure) and still not reported at its age limit ${x.expectedUntil}: mismatched, settled in this period`,
    })),
  );
  await rulesDb.recordExpectedOutcome(
    db,
    c.cycleId,
    'expired',
    expired.map((x) => ({
      fromCycle: x.fromCycle,
      fromException: x.fromException,
      fromGeneration: x.fromGeneration,
      note: `not reported by its age limit ${x.expectedUntil}: mismatched in ${c.cycleId}`,
    })),
  );
  return expired.length;
}
