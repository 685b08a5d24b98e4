import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { sweepTemporalInterventions } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * Run by the `temporal-sweep` Schedule: audits what was done to workflows on Temporal with no
 * workflow code running (terminations, resets, cancellations, starts refused as unplanned).
 */
export async function temporalSweep(
  opts: { visibilityLagMs?: number } = {},
): Promise<{ from: string; until: string; audited: number }> {
  return sweepTemporalInterventions(opts);
}
