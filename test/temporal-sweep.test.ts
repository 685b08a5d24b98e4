import { WorkflowFailedError } from '@temporalio/client';
import { planCycle } from '../db/settlement';
import { createCurrencyRegistry } from '../domain/money';
import { taskQueue } from '../platform/temporal';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import type { temporalSweep } from '../workflows/temporal-sweep';
import { settlementStatus, type settlementCycleV2 } from '../workflows/settlement';
import { uniqueId } from './support/env';
import { dayOfTransactions, settlingPartner } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// What is done to workflows on Temporal with no workflow code running — a termination, a reset
// (which terminates the run it replaces), a start nothing planned — is audited by the
// Schedule's sweep, with the identity and reason Temporal recorded, once per run.
describe('the sweep of interventions on Temporal', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
  });
  afterAll(async () => {
    await provider?.close();
    await stack?.close();
  });

  const sweep = () =>
    stack.temporal.workflow.execute<typeof temporalSweep>('temporalSweep', {
      taskQueue: taskQueue(stack.config, 'settlement'),
      workflowId: uniqueId('sweep'),
      args: [{ visibilityLagMs: 0 }],
    });
  const trail = async (action: string, target: string) =>
    (
      (await stack.api(`/v1/audit?action=${action}&target=${encodeURIComponent(target)}`)).body
        .events as any[]
    ).map((e) => ({ actor: e.actor, source: e.source, reason: e.details.reason }));

  it('audits a termination, a reset and an unplanned start once each, with who and why', async () => {
    const day = '2026-11-23';
    const txs = dayOfTransactions('sweep', day, 6);
    const p = await settlingPartner(stack, provider, txs, {
      period: 'daily',
      cutoffGraceMinutes: 0,
      payoutApprovalThresholdMinor: '0',
    });
    provider.setTransactions(txs);
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: day } });
    const h = stack.temporal.workflow.getHandle<typeof settlementCycleV2>(started.body.id as string);
    for (let i = 0; i < 300 && (await h.query(settlementStatus)).status !== 'AwaitingPayoutApproval'; i++)
      await new Promise((r) => setTimeout(r, 100));

    // A reset to the first workflow task: Temporal terminates the running run it replaces.
    const { history } = await stack.temporal.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId: h.workflowId },
    });
    const firstTask = history!.events!.find((e) => e.workflowTaskCompletedEventAttributes)!.eventId!;
    const reset = await stack.temporal.workflowService.resetWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: h.workflowId },
      reason: 'reset by hand to replay the cycle',
      workflowTaskFinishEventId: firstTask,
      requestId: uniqueId('reset'),
      identity: 'eve@ops-laptop',
    });
    // The new run then stopped by hand.
    await stack.temporal.workflow.getHandle(h.workflowId, reset.runId).terminate('stopped by hand');

    // A cycle started straight on Temporal, with no plan: refused, and audited as unplanned.
    const currencies = createCurrencyRegistry(stack.config.currencies.extraAssets);
    const input = await planCycle(stack.db.pool, currencies, { partnerId: p.id, periodStart: day });
    const forgedId = `settlement:${p.id}:${day}:forged`;
    await expect(
      stack.temporal.workflow.execute<typeof settlementCycleV2>('settlementCycle', {
        taskQueue: taskQueue(stack.config, 'settlement'),
        workflowId: forgedId,
        args: [input],
      }),
    ).rejects.toBeInstanceOf(WorkflowFailedError);

    const first = await sweep();
    expect(first.audited).toBeGreaterThanOrEqual(3);
    // Temporal's history keeps a reset's reason, not who asked for it (identity `history-service`):
    // only a proxy in front of the frontend could tell (SECURITY.md).
    expect(await trail('temporal.reset', h.workflowId)).toEqual([
      {
        actor: 'temporal-client:history-service',
        source: 'temporal',
        reason: 'reset by hand to replay the cycle',
      },
    ]);
    const terminations = await trail('temporal.terminated', h.workflowId);
    expect(terminations).toEqual([
      expect.objectContaining({ source: 'temporal', reason: 'stopped by hand' }),
    ]);
    expect(terminations[0]!.actor).toMatch(/^temporal-client:\S+/);
    const unplanned = await trail('temporal.unplannedStart', forgedId);
    expect(unplanned).toEqual([
      expect.objectContaining({ source: 'temporal', reason: expect.stringMatching(/no plan was recorded/) }),
    ]);
    expect(unplanned[0]!.actor).toMatch(/^temporal-client:\S+/);

    // A second sweep over the same runs records nothing twice.
    await sweep();
    expect(await trail('temporal.reset', h.workflowId)).toHaveLength(1);
    expect(await trail('temporal.terminated', h.workflowId)).toHaveLength(1);
    expect(await trail('temporal.unplannedStart', forgedId)).toHaveLength(1);
  }, 180_000);
});
