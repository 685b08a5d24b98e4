import type { Db } from '../db/pool';
import * as rulesDb from '../db/reconciliation-rules';
import { periodWindowMs } from '../db/reports';
import * as q from '../db/settlement';
import { NotFoundError } from '../domain/errors';
import { decideByRules, type ReconciliationTerms, type Rule, type RuleDecision } from '../domain/rules';

// How the contract's reconciliation rules read a cycle: what they decide and what is expected.
// One reading for the cycle that applies them (activities/auto-resolution.ts) and for a dry run
// over settled periods (the API), so the two cannot disagree.

/** How many days around the period a date-lag rule may look for a counterpart. */
export function lagDaysOf(rules: Rule[]): number {
  let days = 0;
  for (const r of rules) {
    if (!r.dateLag) continue;
    days = Math.max(days, 'hours' in r.dateLag ? Math.ceil(r.dateLag.hours / 24) : r.dateLag.businessDays);
  }
  return days + 1;
}

/**
 * What the rules decide for a cycle's exceptions, and which are expected: the one reading both
 * the cycle (which then applies it) and a dry run (which only counts it) make. `includeResolved`
 * (a dry run over settled periods): every exception as reconciliation found it.
 */
export async function planRules(
  db: Db,
  c: { cycleId: string; partnerId: string; periodStart: string; periodEnd: string },
  terms: ReconciliationTerms,
  opts: { includeResolved?: boolean } = {},
): Promise<{
  facts: rulesDb.OpenFacts[];
  decided: (RuleDecision | null)[];
  expected: rulesDb.ExpectedItem[];
  expectedUntil: string;
}> {
  const facts = await rulesDb.openRuleFacts(db, c.cycleId, {
    lagDays: lagDaysOf(terms.rules),
    includeResolved: opts.includeResolved === true,
  });
  const decided = facts.map((f) => decideByRules(f, terms.rules));
  // The period's cut-off: the end of its last business day in the partner's timezone.
  const cutoffMs = (await periodWindowMs(db, c)).toMs;
  return {
    facts,
    decided,
    expected: expectedItems(terms, facts, decided, cutoffMs),
    expectedUntil: new Date(cutoffMs + terms.expected.ageLimitHours * 3_600_000).toISOString(),
  };
}

/**
 * Open missing_theirs that our side recorded within the contract's window before the cut-off
 * (a round that closed late, a report that lags) and no rule decided: expected, settled at our
 * figure until the age limit (counted from the cut-off). They do not hold the cycle.
 */
export function expectedItems(
  terms: ReconciliationTerms,
  facts: rulesDb.OpenFacts[],
  decided: (RuleDecision | null)[],
  cutoffMs: number,
): rulesDb.ExpectedItem[] {
  const windowMs = terms.expected.withinMinutesOfCutoff * 60_000;
  if (windowMs === 0) return [];
  return facts.flatMap((f, i): rulesDb.ExpectedItem[] =>
    f.kind === 'missing_theirs' &&
    !decided[i]?.resolution &&
    // An expired expected item booked here is mismatched: never expected again.
    !f.exceptionId.includes(':expected-in:') &&
    f.oursAtMs !== null &&
    f.txId !== null &&
    f.oursMinor !== null &&
    f.currency !== null &&
    f.oursAtMs >= cutoffMs - windowMs &&
    f.oursAtMs < cutoffMs
      ? [
          {
            exceptionId: f.exceptionId,
            txId: f.txId,
            txType: f.txType,
            currency: f.currency,
            oursMinor: f.oursMinor,
            occurredAtMs: f.oursAtMs,
          },
        ]
      : [],
  );
}

/** The contract's bulk-resolution threshold for a cycle (the version in force for its period). */
export async function bulkThresholdOf(
  db: Db,
  c: { partnerId: string; periodStart: string },
): Promise<string> {
  const contract = await q.contractInForce(db, c.partnerId, c.periodStart);
  if (!contract) throw new NotFoundError(`no contract in force for ${c.partnerId} on ${c.periodStart}`);
  return contract.terms.reconciliation.bulkApprovalThresholdMinor;
}
