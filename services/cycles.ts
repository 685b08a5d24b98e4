import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Db } from '../db/pool';
import { planCycle, recordCyclePlan, type CycleRequester } from '../db/settlement';
import type { CurrencyRegistry } from '../domain/money';
import type { SettlementInput } from '../domain/settlement';
import { settlementCycleStart } from '../workflows/cycle-start';
import type { settlementCycleV2 } from '../workflows/settlement';

/** What a caller may set of a cycle besides its plan: how the process runs, never the money. */
export type CycleProcessSettings = Partial<
  Pick<
    SettlementInput,
    'cutoffAt' | 'graceMs' | 'reminderIntervalMs' | 'reportFetchAttempts' | 'continueAsNewAtEvents'
  >
>;

/**
 * Starts a settlement cycle by hand (the API for an operator; scripts and tests too): its plan
 * from the contract in force, recorded in Postgres with who requested it (the workflow reads it
 * back and refuses a start without one), then its workflow. A Schedule's firing does the same
 * from its workflow (workflows/scheduled-settlement.ts, planScheduledCycle).
 */
export async function startPlannedCycle(
  deps: { db: Db; temporal: Client; currencies: CurrencyRegistry; taskQueue: string },
  p: {
    partnerId: string;
    periodStart: string;
    periodEnd?: string;
    requester: CycleRequester;
    process?: CycleProcessSettings;
    workflowIdReusePolicy?: 'REJECT_DUPLICATE' | 'ALLOW_DUPLICATE_FAILED_ONLY';
  },
): Promise<WorkflowHandle<typeof settlementCycleV2>> {
  const input = await planCycle(deps.db, deps.currencies, {
    partnerId: p.partnerId,
    periodStart: p.periodStart,
    ...(p.periodEnd ? { periodEnd: p.periodEnd } : {}),
  });
  const start = settlementCycleStart(input);
  await recordCyclePlan(deps.db, start.workflowId, input, p.requester);
  return deps.temporal.workflow.start<typeof settlementCycleV2>('settlementCycleV2', {
    ...start,
    args: [{ ...input, ...p.process }],
    taskQueue: deps.taskQueue,
    ...(p.workflowIdReusePolicy ? { workflowIdReusePolicy: p.workflowIdReusePolicy } : {}),
  });
}
