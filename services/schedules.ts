import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import { scheduleCalendar, type SettlementCadence } from '../domain/contract';
import type { Config } from '../platform/config';
import { taskQueue } from '../platform/temporal';
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
    await client.schedule.create({ scheduleId: settlementScheduleId(p.partnerId), ...options });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule
      .getHandle(settlementScheduleId(p.partnerId))
      .update((prev) => ({ ...prev, ...options, state: { ...prev.state, ...options.state } }));
  }
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
