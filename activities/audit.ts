import { Context } from '@temporalio/activity';
import { appendAudit, type AuditEvent, type AuditSource } from '../db/audit';
import type { Db } from '../db/pool';
import { actorKey, type Actor } from '../domain/actors';
import type { SealSource } from '../domain/decisions';
import { API_UPDATE_PREFIX } from '../workflows/ids';

/** What a workflow records of an action it took or an Update it accepted. */
export interface WorkflowAuditInput {
  action: string;
  target: string;
  /** The decider's display name, or omitted for the workflow itself. */
  operator?: string;
  /** The actor the decision's seal verified, and the path that sealed it (domain/decisions.ts). */
  actor?: Actor;
  sealSource?: SealSource;
  /** The role the action needs (`resolver`, `approver`); `workflow` for the workflow's own steps. */
  role: string;
  /** The Update that carried the decision, to tell API from UI and find the sender's identity. */
  updateId?: string;
  /** Started by a Schedule rather than a person or the API. */
  scheduled?: boolean;
  afterDigest?: string;
  details?: Record<string, unknown>;
}

/**
 * Records, in the caller's transaction, a step the running workflow took (posting, payout):
 * the step and its audit event commit together or not at all. Once per workflow id and action,
 * like the ledger entries the step posts.
 */
export async function auditWorkflowStep(
  client: Parameters<typeof appendAudit>[0],
  step: { action: string; target: string; details?: Record<string, unknown> },
): Promise<void> {
  const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
  await appendAudit(client, {
    idempotencyKey: `wf:${workflowId}:${step.action}`,
    actor: `workflow:${workflowId}`,
    role: 'workflow',
    action: step.action,
    target: step.target,
    source: 'workflow',
    workflowId,
    ...(step.details ? { details: step.details } : {}),
  });
}

export function auditActivities({ db }: { db: Db }) {
  return {
    /**
     * Appends one audit event for the running workflow. Idempotent per (workflow run, action,
     * update id or target): an activity retry records nothing twice. For an Update, the
     * Temporal client identity that sent it is read from the history (who the UI or CLI says
     * it was), besides the name in the payload.
     */
    async recordAudit(e: WorkflowAuditInput): Promise<void> {
      await appendAudit(db, await workflowAuditEvent(e));
    },
  };
}

/**
 * The audit event of a workflow's action or accepted Update, as recordAudit appends it, for a
 * step that appends it in its own transaction (a batch of resolutions and the book's change
 * commit together). Idempotent per (workflow run, action, update id or target).
 */
export async function workflowAuditEvent(e: WorkflowAuditInput): Promise<AuditEvent> {
  const info = Context.current().info;
  const workflowId = info.workflowExecution?.workflowId ?? 'unknown';
  const runId = info.workflowExecution?.runId ?? 'unknown';
  const namespace = info.workflowNamespace ?? 'default';
  const fromApi = e.updateId?.startsWith(API_UPDATE_PREFIX) ?? false;
  const source: AuditSource = e.sealSource
    ? e.sealSource
    : e.updateId
      ? fromApi
        ? 'api'
        : 'temporal-ui'
      : e.scheduled
        ? 'schedule'
        : 'workflow';
  const clientIdentity = e.updateId ? await updateSenderIdentity(namespace, workflowId, e.updateId) : null;
  return {
    idempotencyKey: `wf:${runId}:${e.action}:${e.updateId ?? e.target}`,
    actor: e.actor
      ? actorKey(e.actor)
      : (e.operator ?? (e.scheduled ? `schedule:${workflowId}` : `workflow:${workflowId}`)),
    role: e.role,
    action: e.action,
    target: e.target,
    source,
    requestId: e.updateId ?? null,
    workflowId,
    afterDigest: e.afterDigest ?? null,
    details: {
      ...e.details,
      ...(e.actor ? { actorName: e.actor.name, issuer: e.actor.issuer, subject: e.actor.subject } : {}),
      ...(e.updateId ? { updateId: e.updateId, clientIdentity } : {}),
    },
  };
}

/** The identity of the client that sent an Update, from its acceptance in the history (newest first). */
async function updateSenderIdentity(
  namespace: string,
  workflowId: string,
  updateId: string,
): Promise<string | null> {
  try {
    const service = Context.current().client.workflowService;
    let nextPageToken: Uint8Array | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const res = await service.getWorkflowExecutionHistoryReverse({
        namespace,
        execution: { workflowId },
        maximumPageSize: 200,
        ...(nextPageToken ? { nextPageToken } : {}),
      });
      for (const event of res.history?.events ?? []) {
        const accepted = event.workflowExecutionUpdateAcceptedEventAttributes;
        if (accepted?.acceptedRequest?.meta?.updateId === updateId)
          return accepted.acceptedRequest.meta.identity ?? null;
      }
      if (!res.nextPageToken?.length) return null;
      nextPageToken = res.nextPageToken;
    }
  } catch {
    // The history is a second witness; the payload's name is recorded either way.
  }
  return null;
}
