import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { sweepExceptionSla } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * Run by the `exception-sla-sweep` Schedule every EXCEPTION_SLA_SWEEP_SECONDS: escalates
 * overdue exceptions in one set-based activity. One sweep for every exception, never a timer
 * per exception (millions of open exceptions would be millions of timers).
 */
export async function exceptionSlaSweep(
  opts: { limit?: number } = {},
): Promise<{ escalated: number; byTier: Record<string, number>; limited: boolean }> {
  return sweepExceptionSla(opts);
}
