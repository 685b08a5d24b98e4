import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import { scheduleCalendar, type SettlementCadence } from '../domain/contract';
import { ValidationError } from '../domain/errors';
import type { Config } from '../platform/config';
import { taskQueue, temporalInvalidArgument } from '../platform/temporal';
import type { scheduledSettlement } from '../workflows/scheduled-settlement';

export const settlementScheduleId = (partnerId: string): string => `settlement-schedule:${partnerId}`;

/**
 * One Temporal Schedule per partner, firing at `hourLocal` in the partner's timezone at the
 * contract's cadence; each firing settles the period that just ended (workflows/scheduled-settlement.ts).
 * Overlap ALLOW_ALL: a firing only plans and starts that day's cycle, and yesterday's cycle
 * still waiting for an approval must not hold back today's. Catch-up window 7 days: after an
 * outage the missed days are settled; older gaps are closed with an explicit backfill.
 */
export async function upsertSettlementSchedule(
  client: Client,
  config: Config,
  p: {
    partnerId: string;
    timezone: string;
    hourLocal: number;
    paused: boolean;
    cadence: SettlementCadence;
  },
): Promise<void> {
  // The contract's cadence decides when: every day, every Monday, or the 1st of the month.
  const calendar = scheduleCalendar(p.cadence, p.hourLocal);
  const options = {
    spec: { calendars: [calendar], timezone: p.timezone },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'scheduledSettlement',
      taskQueue: taskQueue(config, 'settlement'),
      workflowId: `scheduled-settlement:${p.partnerId}`,
      args: [{ partnerId: p.partnerId }] as Parameters<typeof scheduledSettlement>,
    },
    policies: { overlap: 'ALLOW_ALL' as const, catchupWindow: '7 days' },
    state: { paused: p.paused, note: p.paused ? 'paused by an operator' : 'active' },
  };
  try {
    try {
      await client.schedule.create({ scheduleId: settlementScheduleId(p.partnerId), ...options });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule
        .getHandle(settlementScheduleId(p.partnerId))
        .update((prev) => ({ ...prev, ...options, state: { ...prev.state, ...options.state } }));
    }
  } catch (err) {
    const refusal = scheduleRefusal(err);
    if (refusal === null) throw err;
    // The same schedule is refused every time: a 422 for the API, a non-retryable failure for
    // an activity (the onboarding ends Failed with the reason instead of retrying for ever).
    throw new ValidationError(`Temporal refused the settlement schedule: ${refusal}`, [
      { path: /time ?zone/i.test(refusal) ? 'timezone' : 'schedule', message: refusal },
    ]);
  }
}

/**
 * Temporal's refusal of a schedule as described, or null for any other failure. Over a
 * worker's native connection (activities) it is an INVALID_ARGUMENT; over grpc-js (the API's)
 * the SDK rewrites "3 INVALID_ARGUMENT: Invalid schedule spec: unknown time zone europe/malta"
 * into a bare TypeError holding the reason without the code, so a TypeError counts only when
 * it is that rewrite (any other is a bug, and stays a 500).
 */
function scheduleRefusal(err: unknown): string | null {
  if (err instanceof TypeError)
    return /invalid schedule spec|time ?zone/i.test(err.message)
      ? err.message.replace(/^(3 INVALID_ARGUMENT: )?(Invalid schedule spec: )?/, '')
      : null;
  return temporalInvalidArgument(err)?.replace(/^Invalid schedule spec: /, '') ?? null;
}

/** Pauses (or resumes) a partner's settlement Schedule, if it has one. */
export async function pauseSchedule(
  client: Client,
  partnerId: string,
  paused: boolean,
  note: string,
): Promise<void> {
  const handle = client.schedule.getHandle(settlementScheduleId(partnerId));
  try {
    if (paused) await handle.pause(note);
    else await handle.unpause(note);
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

/** The Schedule that sweeps Temporal for interventions no workflow code sees (workflows/temporal-sweep.ts). */
export const temporalSweepScheduleId = (config: Config): string =>
  `${config.temporal.taskQueuePrefix}temporal-sweep`;

/**
 * Creates (or updates) the sweep's Schedule: every `everySeconds`, one run at a time (a slow
 * sweep is not overlapped; the next one starts from where it left off).
 */
export async function upsertTemporalSweepSchedule(
  client: Client,
  config: Config,
  everySeconds: number,
): Promise<void> {
  const scheduleId = temporalSweepScheduleId(config);
  const options = {
    spec: { intervals: [{ every: `${everySeconds}s` as const }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'temporalSweep',
      taskQueue: taskQueue(config, 'settlement'),
      workflowId: scheduleId,
    },
    policies: { overlap: 'SKIP' as const, catchupWindow: '1 hour' },
  };
  try {
    await client.schedule.create({ scheduleId, ...options });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, ...options }));
  }
}

/** The Schedule that escalates overdue exceptions (workflows/exception-sla-sweep.ts). */
export const exceptionSlaSweepScheduleId = (config: Config): string =>
  `${config.temporal.taskQueuePrefix}exception-sla-sweep`;

/**
 * Creates (or updates) the SLA sweep's Schedule: every `everySeconds`
 * (EXCEPTION_SLA_SWEEP_SECONDS), one run at a time (overlap SKIP: a slow sweep is not doubled;
 * the next one takes what is still due). A short catch-up window: after an outage one sweep
 * takes everything that fell due, so missed firings need not all run.
 */
export async function upsertExceptionSlaSweepSchedule(
  client: Client,
  config: Config,
  everySeconds: number = config.exceptionQueue.sweepSeconds,
): Promise<void> {
  const scheduleId = exceptionSlaSweepScheduleId(config);
  const options = {
    spec: { intervals: [{ every: `${everySeconds}s` as const }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'exceptionSlaSweep',
      taskQueue: taskQueue(config, 'settlement'),
      workflowId: scheduleId,
    },
    policies: { overlap: 'SKIP' as const, catchupWindow: '10 minutes' },
  };
  try {
    await client.schedule.create({ scheduleId, ...options });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, ...options }));
  }
}
