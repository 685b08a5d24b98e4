import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ApplicationFailure, patched, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { settlementCycleStart } from './cycle-start';
import { TemporalScheduledStartTime } from './search-attributes';
import { settlementCycle } from './legacy/settlement-cycle-v1';
import { settlementCycleV2 } from './settlement';

const { planScheduledCycle } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['NotFoundError', 'ValidationError'] },
});

/**
 * What a partner's Schedule starts: works out which business day the firing (or backfill)
 * stands for and starts that day's settlement cycle as an independent child. Starting the
 * same day twice is refused by the cycle's workflow id, so catch-ups and backfills are safe.
 */
export async function scheduledSettlement(args: {
  partnerId: string;
}): Promise<{ cycleId: string; started: boolean }> {
  // The nominal time of this firing: for a backfill, the past moment it stands for.
  const firedAt =
    workflowInfo().typedSearchAttributes.get(TemporalScheduledStartTime) ?? workflowInfo().runStartTime;
  const input = await planScheduledCycle({ partnerId: args.partnerId, firedAt: firedAt.toISOString() });
  const start = settlementCycleStart(input);
  const cycleId = start.workflowId;
  try {
    // Firings from before the cut-over started the legacy workflow type (their histories replay so).
    if (patched('settlement-cycle-v2'))
      await startChild(settlementCycleV2, { ...start, parentClosePolicy: 'ABANDON' });
    else await startChild(settlementCycle, { ...start, parentClosePolicy: 'ABANDON' });
    return { cycleId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { cycleId, started: false };
    throw ApplicationFailure.fromError(err);
  }
}
