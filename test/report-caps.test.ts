import type { WorkflowHandle } from '@temporalio/client';
import { startCsvDailyProvider } from '../providers/simulated/csv-daily-server';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { resolveException, settlementStatus, type settlementCycleV2 } from '../workflows/settlement';
import type { TestPartner } from './support/partners';
import { startChildWorker, type ChildWorker } from './support/processes';
import { sendSealed } from './support/decisions';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// A partner's report server cannot fill Postgres: one cycle's report stores at most its caps
// (rows, and bytes of the provider's answers; here a provider connection's own, lower ones).
// Beyond one the fetch stops before storing the page that crosses it, and the cycle waits on
// an exception naming the cap, its figure and the setting. The worker is the product's own
// process, so one test can kill it mid-fetch: the count resumes from what the stored pages
// brought.
describe('report caps, end to end through a settlement cycle', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let worker: ChildWorker | undefined;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
    provider = await startJsonCursorProvider();
    worker = await startChildWorker(stack.env);
  });
  afterAll(async () => {
    await worker?.kill();
    await provider?.close();
    await stack?.close();
  });

  const window = (day: string) => ({
    from: Date.parse(`${day}T00:00:00Z`),
    to: Date.parse(`${day}T00:00:00Z`) + 86_400_000,
  });

  const connect = async (p: TestPartner, body: Record<string, unknown>) => {
    const res = await stack.api(`/v1/partners/${p.id}/provider-connection`, { method: 'PUT', body });
    if (res.status !== 200) throw new Error(`connection refused: ${JSON.stringify(res.body)}`);
    return res.body as { limits: unknown; limitsInForce: unknown };
  };

  /** A cycle for `day`, its plan recorded in Postgres first (test/support/settlement.ts). */
  const start = (p: TestPartner, day: string): Promise<WorkflowHandle<typeof settlementCycleV2>> =>
    startPlannedCycle(stack, p.id, day, { over: { reminderIntervalMs: 60_000 } });

  /** The cycle's view once reconciliation is behind it (where a report over its cap leaves it). */
  const awaitingResolution = async (h: WorkflowHandle<typeof settlementCycleV2>) => {
    for (let i = 0; i < 600; i++) {
      const view = await h.query(settlementStatus);
      if (view.status !== 'WaitingForCutoff' && view.status !== 'Reconciling') {
        expect(view.status).toBe('AwaitingResolution');
        return view;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${h.workflowId} never got past reconciliation:\n${worker?.output() ?? ''}`);
  };

  const storedRows = async (cycleId: string) =>
    (
      await stack.db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM provider_report_rows WHERE cycle_id = $1',
        [cycleId],
      )
    ).rows[0]!.n;

  /** The type of each failure of the cycle's report fetch, in order. */
  const fetchFailures = async (h: WorkflowHandle<typeof settlementCycleV2>) =>
    ((await h.fetchHistory()).events ?? []).flatMap((e) => {
      const failure = e.activityTaskFailedEventAttributes?.failure;
      return failure ? [failure.applicationFailureInfo?.type ?? failure.message] : [];
    });

  /** The bytes of each page the simulated provider serves for `day`, following its cursor. */
  const pageBytes = async (day: string): Promise<number[]> => {
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const url = new URL('report', `${provider.url}/`);
      url.searchParams.set('from_ms', String(window(day).from));
      url.searchParams.set('to_ms', String(window(day).to));
      if (cursor) url.searchParams.set('cursor', cursor);
      const text = await (await fetch(url)).text();
      sizes.push(Buffer.byteLength(text));
      cursor = (JSON.parse(text) as { next_cursor: string | null }).next_cursor;
    } while (cursor);
    return sizes;
  };

  it("stops at the connection's row cap: the page that crosses it is not stored, and the exception names the cap", async () => {
    const day = '2026-11-16';
    const txs = dayOfTransactions('rows', day, 1200); // pages of 500, 500 and 200
    const p = await settlingPartner(stack, provider, txs);
    provider.setTransactions(txs);
    provider.setFaults({});
    const shown = await connect(p, {
      format: 'json-cursor',
      baseUrl: provider.url,
      limits: { maxRows: 800 },
    });
    expect(shown).toMatchObject({
      limits: { maxRows: 800, maxBytes: null },
      limitsInForce: { maxRows: 800, maxBytes: stack.config.reportCaps.maxBytes },
    });

    const h = await start(p, day);
    const waiting = await awaitingResolution(h);
    expect(waiting.reportRows).toBeNull();
    expect(waiting.exceptions).toEqual([
      expect.objectContaining({
        kind: 'report_unavailable',
        detail:
          'provider report unavailable: report row cap exceeded: the report has more than 800 rows ' +
          '(500 in the pages stored, the next page brings 500); the cap is set by the provider ' +
          "connection's limits.maxRows; nothing beyond it was stored",
      }),
    ]);
    // One page stored, the second fetched but not stored; the fetch failed once, by name.
    expect(await storedRows(h.workflowId)).toBe(500);
    expect(await fetchFailures(h)).toEqual(['ReportCapExceededError']);

    // Operators settle on our figures, as for any report that cannot be had.
    await sendSealed(stack.config, h, resolveException, 'ana', {
      exceptionId: waiting.exceptions[0]!.exceptionId,
      resolution: 'accept_ours',
      reason: 'report over its cap; settled on our figures',
    });
    expect((await h.result()).status).toBe('Completed');
  });

  it("stops at the connection's byte cap on a one-file report: nothing stored at all", async () => {
    const day = '2026-11-17';
    const txs = dayOfTransactions('bytes', day, 40);
    const csv = await startCsvDailyProvider({ timezone: 'UTC', transactions: txs });
    try {
      const p = await settlingPartner(stack, provider, txs);
      const file = Buffer.byteLength(await (await fetch(`${csv.url}/reports/${day}.csv`)).text());
      await connect(p, {
        format: 'csv-daily',
        baseUrl: csv.url,
        options: { timezone: 'UTC' },
        limits: { maxBytes: file - 1 },
      });
      const h = await start(p, day);
      const waiting = await awaitingResolution(h);
      expect(waiting.exceptions.map((e) => e.detail)).toEqual([
        `provider report unavailable: report byte cap exceeded: the report has more than ${file - 1} bytes ` +
          `(0 in the pages stored, the next page brings ${file}); the cap is set by the provider ` +
          "connection's limits.maxBytes; nothing beyond it was stored",
      ]);
      expect(await storedRows(h.workflowId)).toBe(0);
      await h.terminate('test done');
    } finally {
      await csv.close();
    }
  });

  it('keeps counting bytes across a worker killed mid-fetch: the resumed fetch stops where one fetch would', async () => {
    const day = '2026-11-18';
    const txs = dayOfTransactions('crash', day, 3000); // six pages of 500
    const p = await settlingPartner(stack, provider, txs);
    provider.setTransactions(txs);
    provider.setFaults({});
    const pages = await pageBytes(day);
    expect(pages).toHaveLength(6);
    // Room for four pages and half of the fifth: however the kill splits the fetch, the two
    // attempts together store four pages; a resumed count starting from zero would store all six.
    const four = pages.slice(0, 4).reduce((a, b) => a + b, 0);
    const cap = four + Math.floor(pages[4]! / 2);
    await connect(p, { format: 'json-cursor', baseUrl: provider.url, limits: { maxBytes: cap } });
    provider.setFaults({ latencyMs: 400 }); // a slow provider: the kill lands between pages

    const h = await start(p, day);
    for (let i = 0; (await storedRows(h.workflowId)) < 1000; i++) {
      if (i > 600) throw new Error(`the fetch never stored two pages:\n${worker!.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await worker!.kill();
    expect(await storedRows(h.workflowId)).toBeLessThan(2000);
    worker = await startChildWorker(stack.env);

    const waiting = await awaitingResolution(h);
    expect(waiting.exceptions.map((e) => e.detail)).toEqual([
      `provider report unavailable: report byte cap exceeded: the report has more than ${cap} bytes ` +
        `(${four} in the pages stored, the next page brings ${pages[4]}); the cap is set by the provider ` +
        "connection's limits.maxBytes; nothing beyond it was stored",
    ]);
    expect(await storedRows(h.workflowId)).toBe(2000);
    // The second attempt (after the heartbeat timeout) is the one that stopped at the cap.
    const events = (await h.fetchHistory()).events!;
    const scheduled = events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'fetchReport',
    )!;
    const started = events.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled.eventId),
    )!;
    expect(started.activityTaskStartedEventAttributes!.attempt).toBe(2);
    expect(await fetchFailures(h)).toEqual(['ReportCapExceededError']);
    await h.terminate('test done');
    provider.setFaults({});
  }, 120_000);
});
