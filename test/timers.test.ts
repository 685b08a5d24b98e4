import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { resolveException, settlementStatus } from '../workflows/settlement';
import { taskQueue } from '../platform/temporal';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { onboardingWorkflowId } from '../workflows/ids';
import { createApp } from '../api/app';
import { createLogger } from '../platform/logger';
import { application } from './support/partners';
import { createWorkers } from '../workers/create';
import { workflowBundlePath } from './support/env';
import { sendSealed } from './support/decisions';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// The timer paths on Temporal's time-skipping test server: hours of cut-off and grace and days
// of reminders pass in moments, with no wall-clock waits and no polling. The partner is set up
// on the suite's dev server (onboarding, ingest through the API); the cycle runs here, with the
// real activities on the same database.
describe('durable timers, on the time-skipping test server', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let env: TestWorkflowEnvironment;
  let workers: Worker[];
  let running: Promise<unknown>;
  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
    const server = process.env.CLEARHOUSE_TEST_TIME_SKIPPING_SERVER;
    env = await TestWorkflowEnvironment.createTimeSkipping(
      server ? { server: { executable: { type: 'existing-path', path: server } } } : {},
    );
    // The project's search attributes, as the dev server gets them (--search-attribute).
    const types = JSON.parse(
      readFileSync(join(__dirname, '..', 'platform', 'search-attributes.json'), 'utf8'),
    ) as Record<string, 'Keyword' | 'Int'>;
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        Object.entries(types).map(([k, t]) => [
          k,
          t === 'Int'
            ? temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT
            : temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        ]),
      ),
    });
    workers = await createWorkers({
      config: stack.config,
      db: stack.db.pool,
      connection: env.nativeConnection,
      workflowBundle: { codePath: workflowBundlePath() },
    });
    running = Promise.all(workers.map((w) => w.run()));
  }, 120_000);
  afterAll(async () => {
    for (const w of workers ?? []) w.shutdown();
    await running;
    await env?.teardown();
    await provider.close();
    await stack.close();
  });

  it('waits hours for the cut-off and grace, then reminds daily and escalates after three days', async () => {
    const DAY = '2026-11-25';
    const txs = dayOfTransactions('t', DAY, 6);
    const p = await settlingPartner(stack, provider, txs);
    provider.setTransactions(txs);
    provider.setFaults({ missing: [txs[0]!.id] }); // one exception for the operators
    const start = Date.now();
    const cutoffAt = new Date(start + 6 * 3_600_000).toISOString(); // six hours from now
    // Planned in Postgres, started on this server: a later cut-off and a longer grace than the plan's.
    const h = await startPlannedCycle(stack, p.id, DAY, {
      client: env.client,
      taskQueue: taskQueue(stack.config, 'settlement'),
      over: { cutoffAt, graceMs: 2 * 3_600_000, reminderIntervalMs: 86_400_000 },
    });
    expect((await h.query(settlementStatus)).status).toBe('WaitingForCutoff');

    // Eight hours of cut-off and grace, then the report; an hour more and the operators are asked.
    await env.sleep('9 hours');
    const waiting = await h.query(settlementStatus);
    expect(waiting.status).toBe('AwaitingResolution');
    expect(waiting.exceptions.map((e) => e.kind)).toEqual(['missing_theirs']);
    const frozen = await stack.db.pool.query<{ frozen_at: Date }>(
      'SELECT frozen_at FROM settlement_cycles WHERE id = $1',
      [h.workflowId],
    );
    expect(frozen.rows[0]!.frozen_at).toBeInstanceOf(Date);
    expect(waiting.remindersSent).toBe(0);

    // A reminder a day; escalated after the third.
    await env.sleep('2 days');
    const reminded = await h.query(settlementStatus);
    expect(reminded.remindersSent).toBe(2);
    expect(reminded.escalated).toBe(false);
    await env.sleep('1 day');
    const escalated = await h.query(settlementStatus);
    expect(escalated.remindersSent).toBe(3);
    expect(escalated.escalated).toBe(true);

    // Sealed now, at workflow time (days past the wall clock): a seal holds 10 minutes.
    await sendSealed(
      stack.config,
      h,
      resolveException,
      'ana',
      {
        exceptionId: waiting.exceptions[0]!.exceptionId,
        resolution: 'accept_ours',
        reason: 'in our logs',
      },
      { nowMs: await env.currentTimeMs() },
    );
    expect((await h.result()).status).toBe('Completed');
    // Three days and nine hours of workflow time, in far less wall time.
    const history = (await h.fetchHistory()).events!;
    const first = Number(history[0]!.eventTime!.seconds);
    const last = Number(history.at(-1)!.eventTime!.seconds);
    expect(last - first).toBeGreaterThanOrEqual(3 * 86_400 + 8 * 3_600);
    expect(Date.now() - start).toBeLessThan(60_000);
  }, 120_000);

  it('reminds daily while an application waits on operators, and closes it Expired after 30 days', async () => {
    // The API on this server's client: an application through the real route, the real workflow.
    const app = createApp({
      config: stack.config,
      db: stack.db.pool,
      temporal: env.client,
      logger: createLogger(stack.config, 'api-timers'),
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const body = application();
      const id = body.partnerId as string;
      const submitted = await fetch(`${url}/v1/partner-applications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.operatorToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(submitted.status).toBe(202);
      const h = env.client.workflow.getHandle(onboardingWorkflowId(id));
      const view = async () =>
        (await (
          await fetch(`${url}/v1/partner-applications/${id}`, {
            headers: { authorization: `Bearer ${stack.operatorToken}` },
          })
        ).json()) as { status: string; remindersSent: number; waitingFor: string };
      // The checks run, then it waits for a decision (reminders every day, the defaults).
      await env.sleep('1 hour');
      expect((await view()).status).toBe('AwaitingDecision');
      await env.sleep('3 days');
      const waiting = await view();
      expect(waiting.remindersSent).toBe(3);
      expect(waiting.waitingFor).toMatch(/decideApplication/);
      await env.sleep('27 days');
      await h.result();
      const expired = await view();
      expect(expired.status).toBe('Expired');
      expect(expired.remindersSent).toBeGreaterThanOrEqual(29);
      // Expired frees the id: the same partner may apply again.
      const again = await fetch(`${url}/v1/partner-applications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.operatorToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(again.status).toBe(202);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }, 120_000);
});
