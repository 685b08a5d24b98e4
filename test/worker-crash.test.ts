import type { WorkflowHandle } from '@temporalio/client';
import type { SettlementInput } from '../domain/settlement';
import { taskQueue } from '../platform/temporal';
import { toIngestItem } from '../providers/simulated/generator';
import {
  startJsonCursorProvider,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { settlementWorkflowId } from '../workflows/ids';
import type { settlementCycle } from '../workflows/settlement';
import { uniqueId } from './support/env';
import { onboardPartner } from './support/partners';
import { startChildWorker, type ChildWorker } from './support/processes';
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
    const p = await onboardPartner(stack, { timezone: 'UTC' });
    const txs: SimulatedTx[] = Array.from({ length: PAGE_ROWS * PAGES }, (_, i) => ({
      id: `k-${i}`,
      type: i % 3 === 2 ? 'win' : 'bet',
      roundId: `kr-${i >> 1}`,
      gameId: `game-${i % 4}`,
      currency: 'EUR',
      amountMinor: BigInt(100 + ((i * 37) % 900)),
      occurredAtMs: Date.parse(`${DAY}T08:00:00Z`) + i * 1000,
    }));
    for (let i = 0; i < txs.length; i += 1000) {
      const body = {
        batchId: uniqueId('b'),
        transactions: txs.slice(i, i + 1000).map((t) => toIngestItem(t)),
      };
      expect((await stack.api('/v1/transactions', { body, token: p.apiKey })).status).toBe(200);
    }
    await stack.db.pool.query(
      `INSERT INTO partner_providers (partner_id, format, base_url) VALUES ($1, 'json-cursor', $2)`,
      [p.id, provider.url],
    );
    await stack.db.pool.query(
      `INSERT INTO partner_contracts (partner_id, version, effective_from, terms) VALUES ($1, 1, '2026-01-01', $2)`,
      [
        p.id,
        JSON.stringify({
          base: 'ggr',
          tiers: [{ upToMinor: null, rate: '0.10' }],
          tierMode: 'marginal',
          minimumGuaranteeMinor: '0',
          fixedFeeMinor: '0',
          categoryRates: {},
          negativeBase: 'carry_forward',
          jackpots: 'exclude',
          taxWithholdingRate: '0',
        }),
      ],
    );
    provider.setTransactions(txs);
    provider.setFaults({ latencyMs: 250 }); // a slow provider: the kill lands between pages
    const before = provider.requests;

    const input: SettlementInput = {
      partnerId: p.id,
      periodStart: DAY,
      periodEnd: DAY,
      currency: 'EUR',
      currencyScale: 2,
      cutoffAt: '2026-11-21T00:00:00Z',
      graceMs: 0,
      payoutApprovalThresholdMinor: '100000000',
      reminderIntervalMs: 60_000,
    };
    const h: WorkflowHandle<typeof settlementCycle> = await stack.temporal.workflow.start<
      typeof settlementCycle
    >('settlementCycle', {
      taskQueue: taskQueue(stack.config, 'settlement'),
      workflowId: settlementWorkflowId(p.id, DAY),
      args: [input],
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
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'fetchProviderReport',
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
