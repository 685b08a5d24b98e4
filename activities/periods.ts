import { Context } from '@temporalio/activity';
import { createCurrencyRegistry } from '../domain/money';
import type { CloseBlocker } from '../domain/periods';
import { appendAudit } from '../db/audit';
import {
  abandonPeriodClose,
  beginPeriodClose,
  completePeriodClose,
  waitForEarlierTransactions,
} from '../db/periods';
import { withTransaction } from '../db/retry';
import type { ActivityDeps } from './index';

export interface PeriodCloseInput {
  partnerId: string;
  month: string;
}

export type BeginCloseResult =
  | { outcome: 'closing' | 'closed_already'; requestedBy: string }
  | { outcome: 'blocked'; blockers: CloseBlocker[]; requestedBy: string };

/** The period close's steps (workflows/period-close.ts). Each one is idempotent per partner and month. */
export function periodActivities(deps: ActivityDeps) {
  const { db } = deps;
  const currencies = deps.currencies ?? createCurrencyRegistry(deps.config?.currencies.extraAssets ?? {});
  const workflowId = () => Context.current().info.workflowExecution?.workflowId ?? 'unknown';
  const target = (i: PeriodCloseInput) => `period:${i.partnerId}:${i.month}`;
  return {
    /**
     * Checks the month's cycles and the earlier months; locks the month (closing) or records
     * what blocks it (the period stays open). Audits a blocked attempt.
     */
    async beginPeriodClose(input: PeriodCloseInput): Promise<BeginCloseResult> {
      return withTransaction(db, async (client) => {
        const r = await beginPeriodClose(client, input.partnerId, input.month);
        if (r.outcome === 'blocked') {
          const runId = Context.current().info.workflowExecution?.runId ?? 'unknown';
          await appendAudit(client, {
            idempotencyKey: `wf:${runId}:period.closeBlocked:${target(input)}`,
            actor: `workflow:${workflowId()}`,
            role: 'workflow',
            action: 'period.closeBlocked',
            target: target(input),
            source: 'workflow',
            workflowId: workflowId(),
            details: {
              blockers: r.blockers,
              requestedBy: r.requester.actor,
              requestedName: r.requester.name,
            },
          });
          return { outcome: 'blocked', blockers: r.blockers, requestedBy: r.requester.name };
        }
        return { outcome: r.outcome, requestedBy: r.requester.name };
      });
    },

    /** The report at the close instant, stored with its digest; the period closed and audited (one transaction). */
    async completePeriodClose(input: PeriodCloseInput): Promise<{ closedAt: string; digest: string }> {
      // Writers that posted into the month just before it locked finish first (db/periods.ts).
      await waitForEarlierTransactions(db);
      return withTransaction(db, (client) =>
        completePeriodClose(
          client,
          input.partnerId,
          input.month,
          (c) => currencies.requireScale(c),
          ({ closedAt, digest, closedBy }) => ({
            idempotencyKey: `period:close:${input.partnerId}:${input.month}`,
            // The approver who asked for the close (verified by the API, recorded before the start).
            actor: closedBy.actor,
            role: 'approver',
            action: 'period.close',
            target: target(input),
            source: 'api',
            workflowId: workflowId(),
            afterDigest: digest,
            details: { closedAt, month: input.month, partnerId: input.partnerId, actorName: closedBy.name },
          }),
        ),
      );
    },

    /** Unlocks a month whose close could not finish (back to open, the reason listed as its blocker). */
    async abandonPeriodClose(input: PeriodCloseInput & { reason: string }): Promise<void> {
      await abandonPeriodClose(db, input.partnerId, input.month, input.reason);
    },
  };
}
