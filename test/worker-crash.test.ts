import type { WorkflowHandle } from '@temporalio/client';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import type { settlementCycleV2 } from '../workflows/settlement';
import { startChildWorker, type ChildWorker } from './support/processes';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// The worker is a real process here (workers/main.ts), killed with SIGKILL in the middle of a
// multi-page provider report fetch: its replacement resumes after the last stored page.
describe('a worker killed in the middle of a report fetch', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let worker: ChildWorker | undefined;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
    provider = await startJsonCursorProvider();
  });
  afterAll(async () => {
    await worker?.kill();
    await provider.close();
    await stack.close();
  });

  const DAY = '2026-11-20';
  const PAGE_ROWS = 500;
  const PAGES = 12;

  it('resumes after the last stored page: at most one page fetched again, every row stored once', async () => {
    worker = await startChildWorker(stack.env);
    const txs = dayOfTransactions('k', DAY, PAGE_ROWS * PAGES);
    const p = await settlingPartner(stack, provider, txs);
    provider.setTransactions(txs);
    provider.setFaults({ latencyMs: 250 }); // a slow provider: the kill lands between pages
    const before = provider.requests;
    // Planned in Postgres first, then started (test/support/settlement.ts).
    const h: WorkflowHandle<typeof settlementCycleV2> = await startPlannedCycle(stack, p.id, DAY, {
      over: { reminderIntervalMs: 60_000 },
    });

    const stored = async () =>
      (
        await stack.db.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM provider_report_rows WHERE cycle_id = $1',
          [h.workflowId],
        )
      ).rows[0]!.n;
    // Kill it once about half of the pages are stored.
    for (let i = 0; (await stored()) < (PAGES / 2) * PAGE_ROWS; i++) {
      if (i > 600) throw new Error(`the fetch never got half-way:\n${worker.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await worker.kill();
    const storedAtKill = await stored();
    expect(storedAtKill).toBeLessThan(txs.length);

    worker = await startChildWorker(stack.env);
    const result = await h.result();
    expect(result.status).toBe('Completed');
    expect(result.exceptions).toEqual([]);
    expect(result.reportRows).toBe(txs.length);

    // The fetch ran twice (the second attempt after the heartbeat timeout) and the second
    // one did not start over: the pages before the kill were not asked for again.
    const events = (await h.fetchHistory()).events!;
    const fetchScheduled = events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'fetchReport',
    )!;
    const fetchStarted = events.find(
      (e) =>
        String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(fetchScheduled.eventId),
    )!;
    expect(fetchStarted.activityTaskStartedEventAttributes!.attempt).toBe(2);
    const requests = provider.requests - before;
    expect(requests).toBeGreaterThanOrEqual(PAGES);
    expect(requests).toBeLessThanOrEqual(PAGES + 1);

    // Every row once, in order, and the same rows the partner pushed.
    const rows = await stack.db.pool.query<{ n: number; ids: number; lo: number; hi: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT tx_id)::int AS ids, min(ord) AS lo, max(ord) AS hi
         FROM provider_report_rows WHERE cycle_id = $1`,
      [h.workflowId],
    );
    expect(rows.rows[0]).toEqual({ n: txs.length, ids: txs.length, lo: 1, hi: txs.length });
  });
});
