import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { MAX_RESOLUTIONS_PER_UPDATE } from '../domain/exception-book';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { settlementStatus, type CycleView } from '../workflows/settlement';
import { uniqueId } from './support/env';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// The exception book at a real day's volume, on the real Temporal server and Postgres: a
// provider whose report lacks every one of 20,000 transactions gives 20,000 exceptions; the
// status query stays small (counts and the first open ones), the API pages through the book,
// operators resolve them through the API in lists (Updates of 1,000), each item applied or
// refused with why, and the cycle settles with its history far below Temporal's warning limits.
describe('the exception book', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
  });
  afterAll(async () => {
    await provider.close();
    await stack.close();
  });
  const DAY = '2026-11-24';

  async function waitFor(id: string, status: string): Promise<CycleView> {
    const h = stack.temporal.workflow.getHandle(id);
    for (let i = 0; ; i++) {
      const view = await h.query(settlementStatus).catch(() => null);
      if (view?.status === status) return view;
      if (i > 1200) throw new Error(`${id} never reached ${status} (last: ${view?.status})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Events and bytes of every run of a workflow id, newest first, as Temporal counts them. */
  async function historiesOf(
    workflowId: string,
  ): Promise<{ runId: string; events: number; bytes: number }[]> {
    const out: { runId: string; events: number; bytes: number }[] = [];
    let runId: string | undefined = (await stack.temporal.workflow.getHandle(workflowId).describe()).runId;
    while (runId) {
      const info = (await stack.temporal.workflow.getHandle(workflowId, runId).describe()).raw
        .workflowExecutionInfo!;
      out.push({ runId, events: Number(info.historyLength), bytes: Number(info.historySizeBytes) });
      // The run this one continued: its first event says so.
      const first: {
        history?: {
          events?:
            | {
                workflowExecutionStartedEventAttributes?: { continuedExecutionRunId?: string | null } | null;
              }[]
            | null;
        } | null;
      } = await stack.temporal.workflowService.getWorkflowExecutionHistory({
        namespace: stack.config.temporal.namespace,
        execution: { workflowId, runId },
        maximumPageSize: 1,
      });
      runId =
        first.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ||
        undefined;
    }
    return out;
  }

  it('settles a cycle with 20,000 exceptions resolved through the API in lists, its history bounded', async () => {
    const N = 20_000;
    const txs = dayOfTransactions(uniqueId('bk'), DAY, N);
    const p = await settlingPartner(stack, provider, txs);
    // The provider's report has none of them: 20,000 `missing_theirs`.
    provider.setTransactions([]);
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } });
    expect(started.status).toBe(202);
    const id = started.body.id as string;

    const waiting = await waitFor(id, 'AwaitingResolution');
    expect(waiting).toMatchObject({ exceptionsOpen: N, exceptionsTotal: N });
    // The status query lists the first open exceptions with their ids, never the book.
    expect(waiting.exceptions).toHaveLength(20);
    expect(JSON.stringify(waiting).length).toBeLessThan(16_000);

    // The API pages through the book.
    const ids: string[] = [];
    for (let cursor: string | null = null; ;) {
      const page = await stack.api(
        `/v1/exceptions?settlementId=${encodeURIComponent(id)}&status=open&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      ids.push(...(page.body.exceptions as { exceptionId: string }[]).map((e) => e.exceptionId));
      cursor = page.body.nextCursor as string | null;
      if (!cursor) break;
    }
    expect(ids).toHaveLength(N);
    expect(new Set(ids).size).toBe(N);

    const ana = await stack.tokenFor('ana', 'resolver');
    const base = `/v1/settlements/${encodeURIComponent(id)}/exceptions`;
    // One by the single form (as the UI guide shows it) ...
    const single = await stack.api(`${base}/${encodeURIComponent(ids[0]!)}/resolution`, {
      body: { resolution: 'accept_ours', reason: 'in our logs' },
      token: ana,
    });
    expect(single.status).toBe(200);
    expect(single.body).toMatchObject({ open: N - 1, applied: 1, refused: [] });
    // ... then all of them again, and one that does not exist, in lists of 5,000 (the API sends
    // Updates of 1,000): the one already resolved and the unknown one are refused with why,
    // every other item applied.
    const all = ['missing_theirs:nope', ...ids].map((exceptionId) => ({
      exceptionId,
      resolution: 'accept_ours',
      reason: 'provider report lags: in our logs',
    }));
    const results = [];
    for (let i = 0; i < all.length; i += 5_000) {
      const res = await stack.api(`${base}/resolutions`, {
        body: { items: all.slice(i, i + 5_000) },
        token: ana,
      });
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 200 });
      results.push(res.body);
    }
    expect(MAX_RESOLUTIONS_PER_UPDATE).toBe(1_000);
    expect(results.map((r) => r.updates)).toEqual([5, 5, 5, 5, 1]);
    expect(results[0]).toMatchObject({
      applied: 4_998,
      notSent: [],
      refused: [
        {
          exceptionId: 'missing_theirs:nope',
          reason: expect.stringMatching(
            /unknown exceptionId missing_theirs:nope; the first 10 of 1\d{4} open \(all: GET/,
          ),
        },
        { exceptionId: ids[0], reason: expect.stringMatching(/already resolved \(accept_ours\) by ana/) },
      ],
    });
    expect(results.at(-1)).toMatchObject({ open: 0, applied: 1, refused: [] });
    expect(results.reduce((n, r) => n + (r.applied as number), 0)).toBe(N - 1);

    const done = await waitFor(id, 'Completed');
    expect(done).toMatchObject({ exceptionsOpen: 0, exceptionsTotal: N });
    // Each exception's history names who resolved it and through which Update.
    const history = await stack.api(`${base}/${encodeURIComponent(ids[1]!)}/history`);
    expect(history.body.events).toEqual([
      expect.objectContaining({ event: 'found', actor: 'reconciliation' }),
      expect.objectContaining({
        event: 'resolved',
        resolution: 'accept_ours',
        actor: 'clearhouse#ana',
        actorName: 'ana',
        updateId: expect.stringMatching(/^api:/),
      }),
    ]);

    // Each run's history stays far below Temporal's warning limits (10,240 events, 10 MB): the
    // cycle continued as new while operators resolved, carrying counts, never the book.
    const runs = await historiesOf(id);
    expect(done.continuedRuns).toBe(runs.length - 1);
    expect(runs.length).toBeGreaterThan(1);
    for (const run of runs) {
      expect(run.events).toBeLessThan(2_500);
      expect(run.bytes).toBeLessThan(4 * 1024 * 1024);
    }
    // `CLEARHOUSE_MEASURE=<file>` writes the figures the README quotes.
    if (process.env.CLEARHOUSE_MEASURE)
      writeFileSync(
        path.resolve(process.env.CLEARHOUSE_MEASURE),
        `${JSON.stringify({ exceptions: N, updates: results.reduce((n, r) => n + (r.updates as number), 1), runs })}\n`,
      );
  }, 600_000);

  it('carries the makers, the spent seals and the counts across runs continued as new', async () => {
    const txs = dayOfTransactions(uniqueId('cn'), DAY, 30);
    const p = await settlingPartner(stack, provider, txs, {
      period: 'daily',
      cutoffGraceMinutes: 0,
      payoutApprovalThresholdMinor: '0',
    });
    provider.setTransactions([]);
    // A small history budget, so that a few resolution messages make the run continue as new.
    const h = await startPlannedCycle(stack, p.id, DAY, { over: { continueAsNewAtEvents: 40 } });
    const id = h.workflowId;
    const waiting = await waitFor(id, 'AwaitingResolution');
    expect(waiting.exceptionsOpen).toBe(30);
    const [rui, ana, bo] = await Promise.all([
      stack.tokenFor('rui', 'resolver', 'approver'),
      stack.tokenFor('ana', 'resolver', 'approver'),
      stack.tokenFor('bo', 'approver'),
    ]);
    const base = `/v1/settlements/${encodeURIComponent(id)}/exceptions`;
    const ids = (
      (await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(id)}&limit=500`)).body
        .exceptions as {
        exceptionId: string;
      }[]
    ).map((e) => e.exceptionId);
    // A list with a fault of its own is refused whole, before any part of it is sent.
    const faulty = [
      {
        items: [ids[1], ids[2], ids[1]].map((exceptionId) => ({
          exceptionId,
          resolution: 'write_off',
          reason: 'x',
        })),
      },
      {
        items: [
          { exceptionId: ids[1], resolution: 'write_off', reason: 'x' },
          { exceptionId: ids[2], resolution: 'adjust', amount: '1.001', reason: 'x' },
        ],
      },
    ];
    const refusedWhole = await Promise.all(
      faulty.map((body) => stack.api(`${base}/resolutions`, { body, token: ana })),
    );
    expect(refusedWhole.map((r) => [r.status, r.body.error.message])).toEqual([
      [422, expect.stringMatching(/items\[2\]\.exceptionId .* appears twice/)],
      [422, expect.stringMatching(/items\[1\]\.amount has more than 2 decimal places/)],
    ]);
    expect((await h.query(settlementStatus)).exceptionsOpen).toBe(30);

    // rui adjusts one in the first run: a maker of this payout, in every run after it too.
    const adjusted = await stack.api(`${base}/${encodeURIComponent(ids[0]!)}/resolution`, {
      body: { resolution: 'adjust', amount: '-1.00', reason: 'credit note 7731' },
      token: rui,
    });
    expect(adjusted.status).toBe(200);
    // ana resolves the rest three at a time: one Update each.
    for (let i = 1; i < ids.length; i += 3) {
      const res = await stack.api(`${base}/resolutions`, {
        body: {
          items: ids.slice(i, i + 3).map((exceptionId) => ({
            exceptionId,
            resolution: 'accept_ours',
            reason: 'in our logs',
          })),
        },
        token: ana,
      });
      expect(res.status).toBe(200);
      expect(res.body.refused).toEqual([]);
    }
    const approving = await waitFor(id, 'AwaitingPayoutApproval');
    expect(approving.continuedRuns).toBeGreaterThan(0);
    expect(approving).toMatchObject({
      exceptionsOpen: 0,
      exceptionsTotal: 30,
      requestedBy: { name: 'cycle-starter' },
    });
    const approve = (token: string) =>
      stack.api(`/v1/settlements/${encodeURIComponent(id)}/payout-approvals`, { body: {}, token });
    const byMaker = await approve(rui);
    expect(byMaker.status).toBe(403);
    expect(byMaker.body.error.message).toMatch(/rui adjusted exception .*maker-checker/);
    expect((await approve(ana)).status).toBe(200);
    expect((await approve(bo)).status).toBe(200);
    const done = await waitFor(id, 'Completed');
    const runs = await historiesOf(id);
    expect(runs).toHaveLength(done.continuedRuns + 1);
    // The book changed once per message, whichever run accepted it.
    expect(done.bookVersion).toBe(1 + 1 + Math.ceil(29 / 3));

    // `CLEARHOUSE_RECORD_HISTORIES=<dir>` keeps these runs' histories for `npm run replay`.
    const dir = process.env.CLEARHOUSE_RECORD_HISTORIES;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      const cli = process.env.TEMPORAL_CLI ?? path.join(__dirname, '..', '.tools/temporal/bin/temporal');
      for (const [i, run] of runs.reverse().entries()) {
        const { stdout } = await promisify(execFile)(
          cli,
          [
            'workflow',
            'show',
            '--address',
            stack.config.temporal.address,
            '-w',
            id,
            '-r',
            run.runId,
            '--output',
            'json',
          ],
          { maxBuffer: 64 * 1024 * 1024 },
        );
        writeFileSync(path.join(dir, `settlement-v2-continued-run${i + 1}.json`), stdout);
      }
    }
  }, 300_000);
  it("gives a cycle run again after it Failed a book of its own: the earlier run's decisions are voided, never reused", async () => {
    const txs = dayOfTransactions(uniqueId('rg'), DAY, 12);
    const p = await settlingPartner(stack, provider, txs);
    const [a, b] = [txs[0]!, txs[3]!];
    // First run: the provider lacks two transactions.
    provider.setTransactions(txs.filter((t) => t !== a && t !== b));
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } });
    const id = started.body.id as string;
    const first = await waitFor(id, 'AwaitingResolution');
    expect(first.exceptionsOpen).toBe(2);
    const rui = await stack.tokenFor('rui', 'resolver', 'approver');
    const base = `/v1/settlements/${encodeURIComponent(id)}/exceptions`;
    const adjusted = await stack.api(`${base}/${encodeURIComponent(`missing_theirs:${a.id}`)}/resolution`, {
      body: { resolution: 'adjust', amount: '-5.00', reason: 'credit note' },
      token: rui,
    });
    expect(adjusted.status).toBe(200);
    // The run stops as a data error would stop it (Failed, published), and is started again
    // once the provider's report is fixed: now only one transaction is missing.
    await stack.temporal.workflow.getHandle(id).terminate('test: as if a step met a data error');
    await stack.db.pool.query("UPDATE settlement_cycles SET status = 'Failed' WHERE id = $1", [id]);
    provider.setTransactions(txs.filter((t) => t !== b));
    const again = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } });
    expect(again.status).toBe(202);
    const second = await waitFor(id, 'AwaitingResolution');
    expect(second).toMatchObject({ exceptionsOpen: 1, exceptionsTotal: 1 });
    expect(second.exceptions.map((e) => e.exceptionId)).toEqual([`missing_theirs:${b.id}`]);
    // The earlier run's exception keeps its history, voided; the API lists only this run's.
    const history = await stack.api(`${base}/${encodeURIComponent(`missing_theirs:${a.id}`)}/history`);
    expect(history.body.events.map((e: { event: string }) => e.event)).toEqual([
      'found',
      'resolved',
      'voided',
    ]);
    const listed = await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(id)}`);
    expect(listed.body.exceptions.map((e: { exceptionId: string }) => e.exceptionId)).toEqual([
      `missing_theirs:${b.id}`,
    ]);
    // A stale id of the earlier run is unknown to this one.
    const stale = await stack.api(`${base}/${encodeURIComponent(`missing_theirs:${a.id}`)}/resolution`, {
      body: { resolution: 'write_off', reason: 'x' },
      token: rui,
    });
    expect(stale.status).toBe(404);
    await stack.api(`${base}/${encodeURIComponent(`missing_theirs:${b.id}`)}/resolution`, {
      body: { resolution: 'accept_ours', reason: 'in our logs' },
      token: rui,
    });
    await waitFor(id, 'Completed');
    // The statement knows this run's decision only: the earlier adjustment moved nothing.
    const statement = (await stack.api(`/v1/settlements/${encodeURIComponent(id)}/statement`)).body;
    expect(JSON.stringify(statement)).not.toMatch(/credit note/);
    expect(JSON.stringify(statement)).toMatch(/in our logs/);
  }, 180_000);
});
