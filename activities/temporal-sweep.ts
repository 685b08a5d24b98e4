import { Context } from '@temporalio/activity';
import type { temporal } from '@temporalio/proto';
import { appendAudit } from '../db/audit';
import type { Db } from '../db/pool';
import { markSwept, sweptUntil } from '../db/temporal-sweeps';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** How far back a first sweep looks. */
const FIRST_SWEEP_LOOKBACK_MS = 7 * 86_400_000;
/** Visibility is eventually consistent: a run closed this recently is left for the next sweep. */
const VISIBILITY_LAG_MS = 10_000;
/** A start refused for its input (domain/settlement, activities/onboarding): one not planned. */
const UNPLANNED_START =
  /no plan was recorded|differs from its plan|not an application|forged|never submitted/i;

/** What Temporal recorded of one intervention on a run, as the audit trail keeps it. */
interface Intervention {
  action: 'temporal.terminated' | 'temporal.reset' | 'temporal.canceled' | 'temporal.unplannedStart';
  identity: string;
  reason: string;
}

/**
 * The sweep of what happens to workflows on Temporal with no workflow code running — a
 * termination, a reset (found through the run it terminated), a cancellation, a start refused
 * because nothing planned it — audited with the identity and
 * reason Temporal recorded (claimed by the client that asked: Temporal does not verify them).
 * Idempotent per run; the mark in Postgres moves forward only once a window is audited.
 */
export function temporalSweepActivities({ db }: { db: Db }) {
  return {
    async sweepTemporalInterventions(
      opts: { visibilityLagMs?: number } = {},
    ): Promise<{ from: string; until: string; audited: number }> {
      const { client, info } = Context.current();
      const namespace = info.workflowNamespace ?? 'default';
      const until = new Date(Date.now() - (opts.visibilityLagMs ?? VISIBILITY_LAG_MS));
      const from = (await sweptUntil(db, namespace)) ?? new Date(until.getTime() - FIRST_SWEEP_LOOKBACK_MS);
      const query =
        `CloseTime >= '${from.toISOString()}' AND CloseTime < '${until.toISOString()}' AND ` +
        `ExecutionStatus IN ('Terminated', 'Canceled', 'Failed')`;
      let audited = 0;
      for await (const run of client.workflow.list({ query })) {
        Context.current().heartbeat(run.workflowId);
        const events = await closingEvents(namespace, run.workflowId, run.runId);
        let found = interventionIn(events, run.status.name);
        if (!found) continue;
        // Temporal terminates the run a reset replaces as `history-resetter`: who asked for the
        // reset, and why, is in the new run.
        if (found.action === 'temporal.terminated' && found.identity === RESETTER)
          found = (await resetOf(namespace, run.workflowId, run.runId)) ?? {
            ...found,
            action: 'temporal.reset',
          };
        const started = found.action === 'temporal.unplannedStart' ? await startEvent(namespace, run) : null;
        await appendAudit(db, {
          idempotencyKey: `temporal:${found.action}:${run.runId}`,
          actor: `temporal-client:${started?.identity || found.identity || 'unknown'}`,
          role: 'temporal',
          action: found.action,
          target: run.workflowId,
          source: 'temporal',
          workflowId: run.workflowId,
          details: {
            runId: run.runId,
            workflowType: run.type,
            reason: found.reason,
            identity: started?.identity || found.identity || null,
            closedAt: run.closeTime?.toISOString() ?? null,
          },
        });
        audited++;
      }
      await markSwept(db, namespace, until);
      return { from: from.toISOString(), until: until.toISOString(), audited };
    },
  };
}

/** The last events of a run, newest first: where its termination or cancellation is recorded. */
async function closingEvents(namespace: string, workflowId: string, runId: string): Promise<HistoryEvent[]> {
  const res = await Context.current().client.workflowService.getWorkflowExecutionHistoryReverse({
    namespace,
    execution: { workflowId, runId },
    maximumPageSize: 50,
  });
  return res.history?.events ?? [];
}

/** The identity Temporal terminates a reset's base run with. */
const RESETTER = 'history-resetter';

/** The reset that replaced `baseRunId`: its requester's identity and reason, from the new run. */
async function resetOf(
  namespace: string,
  workflowId: string,
  baseRunId: string,
): Promise<Intervention | null> {
  if (/['\\]/.test(workflowId)) return null;
  const { client } = Context.current();
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    if (run.runId === baseRunId) continue;
    let nextPageToken: Uint8Array | undefined;
    for (let page = 0; page < 20; page++) {
      const res = await client.workflowService.getWorkflowExecutionHistory({
        namespace,
        execution: { workflowId, runId: run.runId },
        maximumPageSize: 500,
        ...(nextPageToken ? { nextPageToken } : {}),
      });
      for (const e of res.history?.events ?? []) {
        const failed = e.workflowTaskFailedEventAttributes;
        if (failed?.baseRunId === baseRunId)
          return {
            action: 'temporal.reset',
            identity: failed.identity ?? '',
            reason: failed.failure?.message ?? '',
          };
      }
      if (!res.nextPageToken?.length) break;
      nextPageToken = res.nextPageToken;
    }
  }
  return null;
}

/** The identity that started a run (its first event). */
async function startEvent(
  namespace: string,
  run: { workflowId: string; runId: string },
): Promise<{ identity: string } | null> {
  const res = await Context.current().client.workflowService.getWorkflowExecutionHistory({
    namespace,
    execution: { workflowId: run.workflowId, runId: run.runId },
    maximumPageSize: 1,
  });
  const started = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  return started ? { identity: started.identity ?? '' } : null;
}

/** What of a closed run is an intervention, from its last events (newest first). */
export function interventionIn(events: HistoryEvent[], status: string): Intervention | null {
  if (status === 'TERMINATED') {
    const t = events.find(
      (e) => e.workflowExecutionTerminatedEventAttributes,
    )?.workflowExecutionTerminatedEventAttributes;
    return { action: 'temporal.terminated', identity: t?.identity ?? '', reason: t?.reason ?? '' };
  }
  if (status === 'CANCELLED') {
    const c = events.find(
      (e) => e.workflowExecutionCancelRequestedEventAttributes,
    )?.workflowExecutionCancelRequestedEventAttributes;
    return { action: 'temporal.canceled', identity: c?.identity ?? '', reason: c?.cause ?? '' };
  }
  if (status === 'FAILED') {
    const f = events.find(
      (e) => e.workflowExecutionFailedEventAttributes,
    )?.workflowExecutionFailedEventAttributes;
    const messages = [f?.failure?.message, f?.failure?.cause?.message, f?.failure?.cause?.cause?.message];
    const reason = messages.find((m) => m && UNPLANNED_START.test(m));
    return reason ? { action: 'temporal.unplannedStart', identity: '', reason } : null;
  }
  return null;
}
