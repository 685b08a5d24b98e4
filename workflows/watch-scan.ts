import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { scanWatch } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * Run by the `watch-scan` Schedule every WATCH_SCAN_SECONDS: one set-based scan of every signal
 * (RTP drift, volume, integrity signals, late reports, FX moves, big wins after payout) that keeps
 * one alert per crossing and notifies the operations webhook (activities/watch.ts). Never a
 * workflow or a timer per transaction, game or partner.
 */
export async function watchScan(
  opts: { now?: string } = {},
): Promise<Awaited<ReturnType<Activities['scanWatch']>>> {
  return scanWatch(opts);
}
