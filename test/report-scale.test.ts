import { registerPartner } from '../db/partners';
import type { WorkflowHandle } from '@temporalio/client';
import {
  applyReportRetention,
  partitionsPastRetention,
  reportPartitions,
  retentionCutoff,
  storeReportPage,
} from '../db/reports';
import { startCsvDailyProvider } from '../providers/simulated/csv-daily-server';
import { generateDay, toIngestItem } from '../providers/simulated/generator';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { differenceKey, plantDifferences } from '../providers/simulated/planted';
import { settlingPartner, startPlannedCycle } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// Transaction-level reconciliation as bench:settle -- --report json-cursor|csv-daily runs it, at
// test size: each provider reports the partner's transactions one row each with altered,
// missing and extra rows planted; the real workers (connected as the application's role, which
// must be able to create and fill the month's report partition) page through the report in
// several pages (a CSV day streamed in pages within its file), and the cycle names exactly the
// planted differences. Then the retention rule on the month partitions.
const DAY = '2026-11-20';
const TXS = 3_000;
const PAGE_ROWS = 1_000;

describe('transaction-level reconciliation of per-transaction reports', () => {
  let stack: Stack;
  const providers: SimulatedProvider[] = [];
  const handles: WorkflowHandle[] = [];
  beforeAll(async () => {
    stack = await startStack({
      overrides: { REPORT_PAGE_ROWS: String(PAGE_ROWS), REPORT_FETCH_CONCURRENCY: '2' },
    });
  });
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.terminate('test done').catch(() => undefined)));
    for (const p of providers) await p.close();
    await stack.close();
  });

  it('names exactly the planted differences, json-cursor and csv-daily side by side', async () => {
    const formats = ['json-cursor', 'csv-daily'] as const;
    const cycles = await Promise.all(
      formats.map(async (format) => {
        const provider =
          format === 'json-cursor'
            ? await startJsonCursorProvider({ maxPageSize: PAGE_ROWS })
            : await startCsvDailyProvider({ timezone: 'UTC' });
        providers.push(provider);
        // The partner's id is known once onboarded: its transactions are generated afterwards.
        const p = await settlingPartner(stack, provider, []);
        const txs = generateDay(p.id, DAY, TXS);
        const { faults, expected } = plantDifferences(p.id, txs, 0.001);
        for (let i = 0; i < txs.length; i += 1000) {
          const res = await stack.api('/v1/transactions', {
            body: { batchId: `b${i}`, transactions: txs.slice(i, i + 1000).map((t) => toIngestItem(t)) },
            token: p.apiKey,
          });
          expect(res.status).toBe(200);
        }
        provider.setTransactions(txs);
        provider.setFaults(faults);
        if (format === 'csv-daily')
          await stack.db.pool.query(
            `UPDATE partner_providers SET format = 'csv-daily', options = '{"timezone": "UTC"}' WHERE partner_id = $1`,
            [p.id],
          );
        const h = await startPlannedCycle(stack, p.id, DAY, { over: { reminderIntervalMs: 3_600_000 } });
        handles.push(h);
        return { format, partnerId: p.id, cycleId: h.workflowId, expected, provider };
      }),
    );

    const status = async (id: string) =>
      (
        await stack.db.pool.query<{ status: string }>('SELECT status FROM settlement_cycles WHERE id = $1', [
          id,
        ])
      ).rows[0]?.status;
    for (const c of cycles)
      for (let i = 0; (await status(c.cycleId)) !== 'AwaitingResolution'; i++) {
        if (i > 600) throw new Error(`${c.format} cycle stuck in ${await status(c.cycleId)}`);
        await new Promise((r) => setTimeout(r, 100));
      }

    for (const c of cycles) {
      const { rows } = await stack.db.pool.query<{ tx_id: string | null; kind: string }>(
        'SELECT tx_id, kind FROM settlement_exceptions WHERE cycle_id = $1',
        [c.cycleId],
      );
      const found = rows
        .map((r) => differenceKey({ partnerId: c.partnerId, txId: r.tx_id, kind: r.kind }))
        .sort();
      expect([c.format, found]).toEqual([c.format, c.expected.map(differenceKey).sort()]);
      expect(c.expected).toHaveLength(9); // 3 altered, 3 missing, 3 extra
      // Every reported row stored once, in several pages (a CSV day cut within its file).
      const stored = await stack.db.pool.query<{ n: number; ids: number; lo: number; hi: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT tx_id)::int AS ids, min(ord) AS lo, max(ord) AS hi
           FROM provider_report_rows WHERE cycle_id = $1`,
        [c.cycleId],
      );
      expect(stored.rows[0]).toEqual({ n: TXS, ids: TXS, lo: 1, hi: TXS });
      const progress = await stack.db.pool.query<{ pages: number }>(
        `SELECT (state->>'pages')::int AS pages FROM provider_report_progress WHERE cycle_id = $1`,
        [c.cycleId],
      );
      expect(progress.rows[0]!.pages).toBeGreaterThanOrEqual(3);
    }
    expect((await reportPartitions(stack.db.pool)).map((p) => p.name)).toContain(
      'provider_report_rows_202611',
    );
  }, 180_000);

  it('stores a page once: a repeated page (an attempt that outlived its heartbeat) writes nothing', async () => {
    const { rows } = await stack.db.pool.query<{ cycle_id: string; run_id: string; pages: number }>(
      `SELECT g.cycle_id, g.run_id, (g.state->>'pages')::int AS pages FROM provider_report_progress g LIMIT 1`,
    );
    const at = rows[0]!;
    const count = async () =>
      (
        await stack.db.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM provider_report_rows WHERE cycle_id = $1',
          [at.cycle_id],
        )
      ).rows[0]!.n;
    const before = await count();
    const outcome = await storeReportPage(
      stack.db.appPool,
      {
        cycleId: at.cycle_id,
        partnerId: 'unused',
        periodStart: DAY,
        periodEnd: DAY,
        currency: 'EUR',
        runId: at.run_id,
        businessDate: () => DAY,
      },
      {
        pageNumber: at.pages,
        firstOrd: 1,
        rows: [
          {
            txId: 'again',
            type: 'bet',
            roundId: 'r',
            gameId: 'g',
            currency: 'EUR',
            amountMinor: 1n,
            occurredAt: `${DAY}T10:00:00.000Z`,
          },
        ],
        aggregates: [],
      },
      { pages: at.pages },
    );
    expect(outcome.stored).toBe(false);
    expect(await count()).toBe(before);
  });
});

describe('report retention', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
  });
  afterAll(async () => {
    await stack.close();
  });

  it('keeps N whole months before the current one; 0 keeps everything', () => {
    expect(retentionCutoff('2026-12-06', 13)).toBe('2025-11-01');
    expect(retentionCutoff('2026-01-31', 1)).toBe('2025-12-01');
    expect(retentionCutoff('2026-12-06', 0)).toBeNull();
    const p = (from: string, to: string) => ({ name: from, from, to, bytes: 0, rowsEstimate: 0 });
    const all = [p('2025-10-01', '2025-11-01'), p('2025-11-01', '2025-12-01'), p('2024-01-01', '2024-02-01')];
    expect(partitionsPastRetention(all, '2026-12-06', 13).map((x) => x.name)).toEqual([
      '2024-01-01',
      '2025-10-01',
    ]);
    expect(partitionsPastRetention(all, '2026-12-06', 0)).toEqual([]);
  });

  it('creates month partitions as the application, lists them dry, drops only as the owner', async () => {
    const app = stack.db.appPool;
    // The application creates months on first use and writes into them (its grants follow).
    for (const day of ['2024-01-15', '2025-10-03', '2025-11-01', '2026-11-20'])
      await app.query('SELECT ensure_report_rows_partition($1::date)', [day]);
    await app.query(
      `INSERT INTO provider_report_rows (cycle_id, period_start, ord, tx_id, type, round_id, game_id, currency, amount_minor, occurred_at, business_date)
       VALUES ('old-cycle', '2025-10-03', 1, 't1', 'bet', 'r1', 'g1', 'EUR', 100, '2025-10-03T10:00:00Z', '2025-10-03'),
              ('new-cycle', '2026-11-20', 1, 't1', 'bet', 'r1', 'g1', 'EUR', 100, '2026-11-20T10:00:00Z', '2026-11-20')`,
    );

    // A cycle of January 2024 that has not finished holds its month back, past retention or not.
    await registerPartner(stack.db.pool, {
      id: 'retention-hold',
      name: 'retention-hold',
      kind: 'provider',
      timezone: 'UTC',
      settlementCurrency: 'EUR',
    });
    await stack.db.pool.query(
      `INSERT INTO settlement_cycles (id, partner_id, period_start, period_end, status)
       VALUES ('settlement:retention-hold:2024-01-15', 'retention-hold', '2024-01-15', '2024-01-15', 'AwaitingResolution')`,
    );
    const dry = await applyReportRetention(stack.db.pool, { today: '2026-12-06', months: 13, apply: false });
    expect(dry.cutoff).toBe('2025-11-01');
    expect(dry.past.map((p) => p.name)).toEqual(['provider_report_rows_202510']);
    expect(dry.held).toEqual([{ name: 'provider_report_rows_202401', unfinishedCycles: 1 }]);
    await stack.db.pool.query(
      "UPDATE settlement_cycles SET status = 'Completed' WHERE id = 'settlement:retention-hold:2024-01-15'",
    );
    expect(dry.dropped).toEqual([]);
    expect(dry.past[0]!.bytes).toBeGreaterThan(0);
    expect((await reportPartitions(stack.db.pool)).length).toBe(4);

    // The application may not drop history: only the owner applies retention.
    await expect(
      applyReportRetention(app, { today: '2026-12-06', months: 13, apply: true }),
    ).rejects.toMatchObject({ code: '42501' });

    const applied = await applyReportRetention(stack.db.pool, {
      today: '2026-12-06',
      months: 13,
      apply: true,
    });
    expect(applied.dropped).toEqual(['provider_report_rows_202401', 'provider_report_rows_202510']);
    expect((await reportPartitions(stack.db.pool)).map((p) => p.name)).toEqual([
      'provider_report_rows_202511',
      'provider_report_rows_202611',
    ]);
    const left = await stack.db.pool.query<{ cycle_id: string }>('SELECT cycle_id FROM provider_report_rows');
    expect(left.rows).toEqual([{ cycle_id: 'new-cycle' }]);
    // Forever: nothing is past retention.
    const forever = await applyReportRetention(stack.db.pool, {
      today: '2099-01-01',
      months: 0,
      apply: true,
    });
    expect(forever.dropped).toEqual([]);
  });
});
