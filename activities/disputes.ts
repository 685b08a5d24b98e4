import { Context } from '@temporalio/activity';
import { appendAudit } from '../db/audit';
import {
  applyDisputeChange,
  disputeFacts,
  getDispute,
  releaseDisputeHold,
  setDisputeRestatement,
  type DisputeChangeRecord,
} from '../db/disputes';
import { webhookOf } from '../db/partners';
import { withTransaction } from '../db/retry';
import { requestRestatement } from '../services/restatements';
import type { DisputeFacts } from '../domain/disputes';
import { ConflictError, NotFoundError } from '../domain/errors';
import { formatAmount } from '../domain/money';
import { workflowAuditEvent, type WorkflowAuditInput } from './audit';
import { deliverSignedWebhook } from './failures';
import type { ActivityDeps } from './index';

/** Webhook event types a dispute sends its partner. */
export type DisputeEventType =
  | 'dispute.opened'
  | 'dispute.evidence_requested'
  | 'dispute.reopened'
  | 'dispute.decided'
  | 'dispute.expired';

const DECIDED: readonly string[] = ['accepted', 'partly_accepted', 'rejected', 'expired'];

export function disputeActivities({ db, secrets, config }: ActivityDeps) {
  return {
    /** The dispute as the API stored it: a workflow started for an id never stored fails here. */
    async loadDispute(disputeId: string): Promise<DisputeFacts & { now: string }> {
      const facts = await disputeFacts(db, disputeId);
      if (!facts)
        throw new NotFoundError(`dispute ${disputeId} is not stored: disputes start through the API`);
      return { ...facts, now: new Date().toISOString() };
    },

    /**
     * One change of a dispute: its state, its history row and the audit event, in one
     * transaction; once per key (a retry finds its event and changes nothing).
     */
    async recordDisputeChange(
      c: DisputeChangeRecord & { audit: WorkflowAuditInput | null },
    ): Promise<{ applied: boolean }> {
      // Read before the transaction: who sent the Update, from the workflow's history.
      const event = c.audit ? await workflowAuditEvent(c.audit) : null;
      const { audit: _audit, ...change } = c;
      void _audit;
      return withTransaction(db, async (client) => {
        const r = await applyDisputeChange(client, change);
        if (r.conflict)
          throw new ConflictError(`dispute ${c.disputeId} is ${r.conflict}: ${c.kind} cannot be recorded`);
        if (r.applied && event) await appendAudit(client, event);
        if (r.applied && c.to !== null && DECIDED.includes(c.to)) {
          const d = await getDispute(client, c.disputeId);
          if (d) await releaseDisputeHold(client, d.settlementId);
        }
        return { applied: r.applied };
      });
    },

    /** A signed webhook to the partner (retried by the workflow's policy); its id is stable per change. */
    async notifyDisputePartner(
      disputeId: string,
      type: DisputeEventType,
      key: string,
    ): Promise<'sent' | 'no-webhook'> {
      const d = await getDispute(db, disputeId);
      if (!d) throw new NotFoundError(`dispute ${disputeId} is not stored`);
      const hook = await webhookOf(db, d.partnerId);
      if (!hook) return 'no-webhook';
      if (!secrets) throw new Error('no SecretBox configured for webhook signing');
      const body = JSON.stringify({
        type,
        id: `${disputeId}:${key}`,
        dispute: {
          id: d.id,
          reference: d.reference,
          settlementId: d.settlementId,
          statementVersion: d.statementVersion,
          line: d.line,
          currency: d.currency,
          statedAmount: formatAmount(d.statedMinor, d.scale),
          amountClaimed: formatAmount(d.claimedMinor, d.scale),
          state: d.state,
          deadline: d.deadline,
          decision: d.decision
            ? {
                outcome: d.decision.outcome,
                amount:
                  d.decision.amountMinor === null ? null : formatAmount(d.decision.amountMinor, d.scale),
                reason: d.decision.reason,
                at: d.decision.at,
              }
            : null,
        },
      });
      await deliverSignedWebhook(hook.url, secrets.open(hook.secretSealed), body);
      return 'sent';
    },

    /**
     * An accepted dispute's restatement (services/restatements.ts): the fee change decided, on
     * the disputed line, requested by the decider; once per dispute (changeKey dispute:<id>).
     */
    async requestDisputeRestatement(
      disputeId: string,
    ): Promise<{ restatementId: string; workflowId: string }> {
      const d = await getDispute(db, disputeId);
      if (!d?.decision || d.decision.amountMinor === null)
        throw new ConflictError(`dispute ${disputeId} was not accepted: nothing to restate`);
      if (!config) throw new Error('no config: a restatement cannot be requested');
      const amount = formatAmount(d.decision.amountMinor, d.scale);
      const r = await requestRestatement(
        { db, temporal: Context.current().client, config },
        {
          partnerId: d.partnerId,
          cycleId: d.settlementId,
          reason: {
            kind: 'dispute',
            disputeId: d.id,
            line: d.line,
            amountMinor: d.decision.amountMinor.toString(),
            note: `dispute ${d.id} (${d.reference}) ${d.decision.outcome}: ${amount} ${d.currency} on ${d.line} — ${d.decision.reason}`,
          },
          requestedBy: {
            actor: d.decision.decidedBy.actor ?? d.decision.decidedBy.name,
            name: d.decision.decidedBy.name,
          },
          changeKey: `dispute:${d.id}`,
        },
      );
      await setDisputeRestatement(db, d.id, r.restatementId);
      return { restatementId: r.restatementId, workflowId: r.workflowId };
    },
  };
}
