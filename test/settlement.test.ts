import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../platform/webhooks';
import { settlementStatuses, type SettlementInput } from '../domain/settlement';
import { registerCycle, setCycleStatus } from '../db/settlement';
import { convert, createCurrencyRegistry, divideHalfEven, formatAmount, parseAmount } from '../domain/money';
import { startAggregatorProvider } from '../providers/simulated/aggregator-server';
import { startCsvDailyProvider } from '../providers/simulated/csv-daily-server';
import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import {
  startJsonCursorProvider,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { taskQueue } from '../platform/temporal';
import { settlementWorkflowId } from '../workflows/ids';
import { sealed, sendSealed } from './support/decisions';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { OpenExceptions, SettlementStatus } from '../workflows/search-attributes';
import {
  approvePayout,
  resolveException,
  settlementStatus,
  type settlementCycleV2,
  type CycleView,
} from '../workflows/settlement';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { workerDataConverter } from '../workers/create';
import { partnerAccount } from '../domain/accounts';
import { SecretBox } from '../platform/secrets';
import { workflowBundlePath } from './support/env';
import { onboardPartner, recordContract, type TestPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// The settlement cycle end to end: transactions pushed through the API, a real HTTP provider
// (simulated, with injected faults) serving the same transactions, the workflow on a real
// Temporal server, operators acting through Updates, money posted in the ledger.
describe('settlementCycle workflow', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let fx: SimulatedFx;
  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    provider = await startJsonCursorProvider();
  });
  afterAll(async () => {
    await provider.close();
    await fx.close();
    await stack.close();
  });

  const DAY = '2026-11-23';
  let seq = 0;
  function generate(n: number): SimulatedTx[] {
    return Array.from({ length: n }, (_, i) => ({
      id: `s-${++seq}`,
      type: i % 3 === 2 ? 'win' : 'bet',
      roundId: `r-${seq >> 1}`,
      gameId: `game-${i % 3}`,
      currency: 'EUR',
      amountMinor: BigInt(1000 + ((i * 37) % 900)) * 100n,
      occurredAtMs: Date.parse(`${DAY}T10:00:00Z`) + i * 1000,
    }));
  }

  const setUpPartner = (txs: SimulatedTx[]): Promise<TestPartner> => settlingPartner(stack, provider, txs);

  /** A cycle for DAY, planned in Postgres then started (test/support/settlement.ts). */
  function start(
    p: TestPartner,
    over: Partial<
      Pick<SettlementInput, 'cutoffAt' | 'graceMs' | 'reminderIntervalMs' | 'reportFetchAttempts'>
    > = {},
    queue = taskQueue(stack.config, 'settlement'),
  ): Promise<WorkflowHandle<typeof settlementCycleV2>> {
    return startPlannedCycle(stack, p.id, DAY, {
      taskQueue: queue,
      // The plan's grace (the contract's, 1 h by default) stands: a start may not freeze earlier.
      over: { cutoffAt: '2026-11-24T00:00:00Z', reminderIntervalMs: 60_000, ...over },
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  }

  async function waitForStatus(h: WorkflowHandle, status: CycleView['status']): Promise<CycleView> {
    for (let i = 0; i < 200; i++) {
      const view = await h.query(settlementStatus);
      if (view.status === status) return view;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`status never became ${status}`);
  }

  const ledgerEntries = async (cycleId: string) =>
    (
      await stack.db.pool.query<{ idempotency_key: string }>(
        'SELECT idempotency_key FROM ledger_entries WHERE source_ref = $1 ORDER BY idempotency_key',
        [cycleId],
      )
    ).rows.map((r) => r.idempotency_key);

  it('settles a clean period without stopping, posting the fee and the payout once, and notifies the partner with a signed webhook', async () => {
    const txs = generate(30);
    const p = await setUpPartner(txs);
    // The partner's receiver: refuses the first delivery, then verifies the signature.
    const received: { verified: boolean; body: any }[] = [];
    let calls = 0;
    const receiver = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        calls++;
        if (calls === 1) return void res.writeHead(500).end();
        const verified = verifyWebhook(
          secret,
          {
            timestamp: req.headers[TIMESTAMP_HEADER] as string,
            signature: req.headers[SIGNATURE_HEADER] as string,
          },
          raw,
          Math.floor(Date.now() / 1000),
        );
        received.push({ verified, body: JSON.parse(raw) });
        res.writeHead(verified ? 204 : 401).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = await stack.api(`/v1/partners/${p.id}/webhook`, {
      method: 'PUT',
      body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` },
    });
    expect(hook.status).toBe(200);
    const secret = hook.body.secret as string;
    const stored = await stack.db.pool.query<{ secret_sealed: string }>(
      'SELECT secret_sealed FROM partner_webhooks WHERE partner_id = $1',
      [p.id],
    );
    expect(stored.rows[0]!.secret_sealed).not.toContain(secret.slice(6));
    provider.setTransactions(txs);
    provider.setFaults({ failNext: 2 }); // transient: retried, then fine
    const h = await start(p);
    const result = await h.result();
    expect(result.status).toBe('Completed');
    expect(result.exceptions).toEqual([]);
    const ggr = txs.reduce((s, t) => s + (t.type === 'bet' ? t.amountMinor : -t.amountMinor), 0n);
    const expectedFee = (ggr * 10n) / 100n; // 10 %, exact here (amounts are whole euros)
    expect(result.fees?.netPayable).toBe(
      `${expectedFee / 100n}.${String(expectedFee % 100n).padStart(2, '0')}`,
    );
    expect(await ledgerEntries(h.workflowId)).toEqual([`${h.workflowId}:fees`, `${h.workflowId}:payout`]);
    expect(result.notification).toBe('sent');
    expect(calls).toBe(3); // statement.issued refused once, retried; then settlement.completed
    expect(received.map((r) => r.body.type)).toEqual(['statement.issued', 'settlement.completed']);
    expect(received.slice(1)).toEqual([
      {
        verified: true,
        body: expect.objectContaining({
          type: 'settlement.completed',
          settlementId: h.workflowId,
          netPayable: result.fees?.netPayable,
        }),
      },
    ]);
    await new Promise((r) => receiver.close(r));
    // A second start for the same partner and period is refused.
    await expect(start(p)).rejects.toThrow(/already started/i);
  });

  it("waits as long as the provider's Retry-After asks before fetching its report again", async () => {
    const txs = generate(6);
    const p = await setUpPartner(txs);
    provider.setTransactions(txs);
    // Our own backoff would retry after 1 s; the provider asks for 3.
    provider.setFaults({ rateLimitNext: 1, retryAfter: '3' });
    const startedAt = Date.now();
    const h = await start(p);
    const result = await h.result();
    expect(result.status).toBe('Completed');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(3000);
    const failures = (await h.fetchHistory()).events!.filter(
      (e) => e.activityTaskStartedEventAttributes?.attempt === 2,
    );
    expect(failures).toHaveLength(1); // one 429, one retry: honoured, not hammered
  });

  it('names the discrepancies, waits for operators, validates their Updates, and needs two approvers above the threshold', async () => {
    const txs = generate(30);
    // The contract asks for two approvals above 1.00: the threshold comes from the plan, not the start.
    const p = await settlingPartner(stack, provider, txs, {
      period: 'daily',
      cutoffGraceMinutes: 0,
      payoutApprovalThresholdMinor: '100',
    });
    const [missing, altered] = [txs[0]!, txs[2]!];
    const extra: SimulatedTx = { ...txs[3]!, id: 'only-theirs' };
    provider.setTransactions(txs);
    provider.setFaults({
      missing: [missing.id],
      altered: { [altered.id]: altered.amountMinor + 500n },
      extra: [extra],
    });
    const h = await start(p);
    const waiting = await waitForStatus(h, 'AwaitingResolution');
    expect(waiting.input.payoutApprovalThresholdMinor).toBe('100');
    const byKind = Object.fromEntries(waiting.exceptions.map((e) => [e.kind, e]));
    expect(Object.keys(byKind).sort()).toEqual(['amount_mismatch', 'missing_ours', 'missing_theirs']);
    expect(byKind.amount_mismatch!.txId).toBe(altered.id);
    expect(byKind.missing_theirs!.txId).toBe(missing.id);
    expect(byKind.missing_ours!.txId).toBe('only-theirs');
    const desc = await h.describe();
    expect(desc.typedSearchAttributes.get(OpenExceptions)).toBe(3);
    expect(desc.typedSearchAttributes.get(SettlementStatus)).toBe('AwaitingResolution');

    // Decisions sealed by Clearhouse for this workflow, as the API or the CLI through the codec send them.
    const resolve = (who: string, fields: Record<string, unknown>) =>
      sealed(stack.config, who, { workflowId: h.workflowId, decision: 'resolveException' }, fields) as never;
    const approve = (who: string) =>
      sealed(stack.config, who, { workflowId: h.workflowId, decision: 'approvePayout' }) as never;
    const reject = async (arg: unknown, message: RegExp) => {
      const err = await h.executeUpdate(resolveException, { args: [arg as never] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(String((err as WorkflowUpdateFailedError).cause?.message)).toMatch(message);
    };
    // Sealed, so each reaches the field checks.
    await reject(
      resolve('ana', { exceptionId: 'nope', resolution: 'write_off', reason: 'x' }),
      /unknown exceptionId nope; open ones: /,
    );
    await reject(
      resolve('ana', { exceptionId: byKind.missing_ours!.exceptionId, resolution: 'write_off', reason: ' ' }),
      /reason is required/,
    );
    await reject(
      resolve('ana', {
        exceptionId: byKind.missing_ours!.exceptionId,
        resolution: 'adjust',
        amount: '1.234',
        reason: 'x',
      }),
      /amount has more than 2/,
    );
    await reject(
      resolve('ana', { exceptionId: byKind.missing_ours!.exceptionId, resolution: 'split', reason: 'x' }),
      /resolution must be one of/,
    );
    // A typed name is no identity: unsealed, the decision is refused whatever it says.
    await reject(
      {
        exceptionId: byKind.missing_ours!.exceptionId,
        resolution: 'write_off',
        reason: 'x',
        operator: 'ana',
      },
      /not sealed/,
    );
    // Nor does a sealed decision carry a name of its own.
    await reject(
      resolve('ana', {
        exceptionId: byKind.missing_ours!.exceptionId,
        resolution: 'write_off',
        reason: 'x',
        operator: 'bo',
      }),
      /"operator" is no longer part of a decision/,
    );
    expect((await h.query(settlementStatus)).exceptionsOpen).toBe(3);

    await h.executeUpdate(resolveException, {
      args: [
        resolve('ana', {
          exceptionId: byKind.missing_theirs!.exceptionId,
          resolution: 'accept_ours',
          reason: 'in our logs',
        }),
      ],
    });
    await reject(
      resolve('bo', {
        exceptionId: byKind.missing_theirs!.exceptionId,
        resolution: 'write_off',
        reason: 'again',
      }),
      /already resolved \(accept_ours\) by ana/,
    );
    await h.executeUpdate(resolveException, {
      args: [
        resolve('ana', {
          exceptionId: byKind.amount_mismatch!.exceptionId,
          resolution: 'accept_theirs',
          reason: 'provider is right',
        }),
      ],
    });
    const last = await h.executeUpdate(resolveException, {
      args: [
        resolve('bo', {
          exceptionId: byKind.missing_ours!.exceptionId,
          resolution: 'write_off',
          reason: 'test round',
        }),
      ],
    });
    expect(last.open).toBe(0);

    await waitForStatus(h, 'AwaitingPayoutApproval');
    // Who resolved is the seal's actor (issuer#subject), with the name people read: in the
    // exception book, with each exception's history.
    const book = await stack.db.pool.query<{ kind: string; operator: string; actor: string }>(
      'SELECT kind, operator, actor FROM settlement_exceptions WHERE cycle_id = $1',
      [h.workflowId],
    );
    expect(Object.fromEntries(book.rows.map((e) => [e.kind, [e.operator, e.actor]]))).toEqual({
      missing_theirs: ['ana', 'clearhouse#ana'],
      amount_mismatch: ['ana', 'clearhouse#ana'],
      missing_ours: ['bo', 'clearhouse#bo'],
    });
    const refusal = async (arg: unknown) =>
      String(
        (
          (await h
            .executeUpdate(approvePayout, { args: [arg as never] })
            .catch((e: unknown) => e)) as WorkflowUpdateFailedError
        ).cause?.message,
      );
    // ana's accept_theirs moved the GGR the fee is computed on: she made this payout. bo's
    // write_off moved nothing: he may check it.
    expect(await refusal(approve('ana'))).toBe(
      `ana resolved exception ${byKind.amount_mismatch!.exceptionId} with accept_theirs, which moved the GGR ` +
        '(and so the fee): a maker cannot approve the payout (maker-checker)',
    );
    // Nor may whoever requested the cycle (the plan's requester).
    expect(await refusal(approve('cycle-starter'))).toMatch(
      /cycle-starter requested this payout \(started the cycle\): a maker cannot approve/,
    );
    // An unsealed approval naming an operator is no approval.
    expect(await refusal({ operator: 'carla' })).toMatch(/not sealed/);
    await h.executeUpdate(approvePayout, { args: [approve('carla')] });
    // A fresh seal (new nonce) by the same person is still the same approver.
    expect(await refusal(approve('carla'))).toMatch(/second, different operator/);
    await h.executeUpdate(approvePayout, { args: [approve('bo')] });

    const result = await h.result();
    expect(result.status).toBe('Completed');
    expect(result.approvals).toEqual([
      { actor: 'clearhouse#carla', name: 'carla' },
      { actor: 'clearhouse#bo', name: 'bo' },
    ]);
    // accept_theirs on a win 5.00 higher lowers GGR by 5.00: the fee base includes it.
    expect(altered.type).toBe('win');
    const ggr = txs.reduce((s, t) => s + (t.type === 'bet' ? t.amountMinor : -t.amountMinor), 0n) - 500n;
    const fee = (ggr * 10n) / 100n;
    expect(result.fees?.netPayable).toBe(`${fee / 100n}.${String(fee % 100n).padStart(2, '0')}`);
    const stored = await stack.db.pool.query(
      'SELECT count(*)::int AS n FROM settlement_exceptions WHERE cycle_id = $1 AND resolved_at IS NOT NULL',
      [h.workflowId],
    );
    expect(stored.rows[0].n).toBe(3);

    // Determinism guard: the recorded history (timers, sealed Updates, activities) replays against
    // the current workflow code, through the workers' codec, without a non-determinism error.
    await Worker.runReplayHistory(
      {
        workflowBundle: { codePath: workflowBundlePath() },
        dataConverter: workerDataConverter(stack.config),
      },
      await h.fetchHistory(),
      h.workflowId,
    );
  });

  it('is driven through the API: start, read, list exceptions, resolve, statement as JSON and CSV', async () => {
    const txs = generate(9);
    const p = await setUpPartner(txs);
    const other = await onboardPartner(stack);
    provider.setTransactions(txs);
    provider.setFaults({ missing: [txs[0]!.id] });
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    expect(id).toBe(`settlement:${p.id}:${DAY}`);
    expect((await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } })).status).toBe(
      409,
    );

    const h = stack.temporal.workflow.getHandle(id);
    const waiting = await waitForStatus(h, 'AwaitingResolution');
    const live = await stack.api(`/v1/settlements/${encodeURIComponent(id)}`, { token: p.apiKey });
    expect(live.body).toMatchObject({
      status: 'AwaitingResolution',
      input: { partnerId: p.id, currency: 'EUR' },
    });
    expect(
      (await stack.api(`/v1/settlements/${encodeURIComponent(id)}`, { token: other.apiKey })).status,
    ).toBe(404);
    const open = await stack.api(`/v1/exceptions?status=open&partnerId=${p.id}`);
    expect(open.body.exceptions).toEqual([
      expect.objectContaining({ settlementId: id, kind: 'missing_theirs', txId: txs[0]!.id }),
    ]);

    const exceptionId = waiting.exceptions[0]!.exceptionId;
    const path = `/v1/settlements/${encodeURIComponent(id)}/exceptions/${encodeURIComponent(exceptionId)}/resolution`;
    // Decisions are a person's: sealed by the API with the actor of the caller's token.
    const resolver = await stack.tokenFor('ana', 'resolver');
    const bad = await stack.api(path, {
      body: { resolution: 'adjust', amount: '1.001', reason: 'x' },
      token: resolver,
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toMatch(/amount has more than 2 decimal places/);
    expect(
      (
        await stack.api(path, {
          body: { resolution: 'accept_ours', reason: 'in our logs' },
          token: p.apiKey,
        })
      ).status,
    ).toBe(403);
    const ok = await stack.api(path, {
      body: { resolution: 'accept_ours', reason: 'in our logs' },
      token: resolver,
    });
    expect(ok).toMatchObject({ status: 200, body: { open: 0 } });
    expect((await h.result()).status).toBe('Completed');

    const statement = await stack.api(`/v1/settlements/${encodeURIComponent(id)}/statement`, {
      token: p.apiKey,
    });
    expect(statement.body).toMatchObject({ settlementId: id, currency: 'EUR', contractVersion: 1 });
    // Traceable: the source aggregates add up to the GGR the fee was computed on, and the entries exist.
    const minor = (v: string) => {
      const r = parseAmount(v, 2, { allowNegative: true });
      if (!r.ok) throw new Error(r.message);
      return r.minor;
    };
    const sourceGgr = (statement.body.sources as { ggr: string }[]).reduce((s, a) => s + minor(a.ggr), 0n);
    expect(formatAmount(sourceGgr, 2)).toBe(statement.body.revenue.ggr);
    const entries = await stack.db.pool.query(
      'SELECT idempotency_key FROM ledger_entries WHERE idempotency_key = ANY($1::text[])',
      [statement.body.ledgerEntries],
    );
    expect(statement.body.ledgerEntries).toEqual([`${id}:fees`, `${id}:payout`]);
    expect(entries.rowCount).toBe(2);
    const csv = await fetch(`${stack.baseUrl}/v1/settlements/${encodeURIComponent(id)}/statement`, {
      headers: { accept: 'text/csv', authorization: `Bearer ${p.apiKey}` },
    });
    const text = await csv.text();
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="settlement_.+\.csv"$/);
    expect(text.split('\n')[0]).toBe('section,item,description,amount,currency');
    expect(text).toContain(`net_payable,`);
    const list = await stack.api(`/v1/settlements?partnerId=${p.id}&status=Completed`);
    expect(list.body.settlements).toEqual([expect.objectContaining({ id, status: 'Completed' })]);
  });

  it('computes the fee from what operators decided, even while the last resolution is still being recorded', async () => {
    // A worker of this test's own whose resolveExceptions (the real one) takes 2 s, as a slow
    // database would: the cycle must not compute its fee before the last resolution counts.
    const queue = `${taskQueue(stack.config, 'settlement')}-slow-resolution`;
    const real = createActivities({
      db: stack.db.pool,
      currencies: createCurrencyRegistry(stack.config.currencies.extraAssets),
      secrets: new SecretBox(stack.config.secretsKey),
      fxRatesUrl: stack.config.fxRatesUrl,
    });
    const connection = await NativeConnection.connect({ address: stack.config.temporal.address });
    const worker = await Worker.create({
      connection,
      namespace: stack.config.temporal.namespace,
      taskQueue: queue,
      workflowBundle: { codePath: workflowBundlePath() },
      // The workers' codec: it verifies the decisions' seals.
      dataConverter: workerDataConverter(stack.config),
      activities: {
        ...real,
        resolveExceptions: async (...args: Parameters<typeof real.resolveExceptions>) => {
          await new Promise((r) => setTimeout(r, 2000));
          return real.resolveExceptions(...args);
        },
      },
    });
    await worker.runUntil(async () => {
      const txs = generate(12);
      const p = await setUpPartner(txs);
      provider.setTransactions(txs);
      const bet = txs.find((t) => t.type === 'bet')!;
      provider.setFaults({ altered: { [bet.id]: bet.amountMinor + 700n } });
      const h = await start(p, {}, queue);
      const waiting = await waitForStatus(h, 'AwaitingResolution');
      expect(waiting.exceptions.map((e) => e.kind)).toEqual(['amount_mismatch']);
      await sendSealed(stack.config, h, resolveException, 'ana', {
        exceptionId: waiting.exceptions[0]!.exceptionId,
        resolution: 'adjust',
        amount: '-50.00',
        reason: 'goodwill credit agreed with the provider',
      });
      const result = await h.result();
      const ggr = txs.reduce((s, t) => s + (t.type === 'bet' ? t.amountMinor : -t.amountMinor), 0n) - 5000n;
      const fee = (ggr * 10n) / 100n; // 10 % of GGR less the 50.00 adjustment
      expect(result.fees?.netPayable).toBe(`${fee / 100n}.${String(fee % 100n).padStart(2, '0')}`);
      // And the resolution is on record, with who and why, before the cycle completed.
      const stored = await stack.db.pool.query(
        'SELECT resolution, operator FROM settlement_exceptions WHERE cycle_id = $1 AND resolved_at IS NOT NULL',
        [h.workflowId],
      );
      expect(stored.rows).toEqual([{ resolution: 'adjust', operator: 'ana' }]);
      // The adjustment moved money in the ledger too: its entry, keyed by cycle and exception,
      // and the partner's gaming revenue for the period is the statement's GGR.
      const exceptionId = waiting.exceptions[0]!.exceptionId;
      expect(await ledgerEntries(h.workflowId)).toEqual([
        `${h.workflowId}:fees`,
        `${h.workflowId}:payout`,
        `${h.workflowId}:resolution:${exceptionId}`,
      ]);
      const revenue = await stack.db.pool.query<{ ggr: string }>(
        `SELECT (coalesce(sum(p.amount_minor) FILTER (WHERE p.credit_account_id = a.id), 0)
               - coalesce(sum(p.amount_minor) FILTER (WHERE p.debit_account_id = a.id), 0))::text AS ggr
           FROM ledger_accounts a JOIN ledger_postings p ON a.id IN (p.debit_account_id, p.credit_account_id)
          WHERE a.code = $1`,
        // The account the SQL ingest accrued to is the one domain/accounts.ts names.
        [partnerAccount(p.id, 'gaming_revenue', 'EUR').code],
      );
      expect(BigInt(revenue.rows[0]!.ggr)).toBe(ggr);
      const listed = await stack.db.pool.query<{ ggr: string }>(
        "SELECT fees->>'ggr' AS ggr FROM settlement_cycles WHERE id = $1",
        [h.workflowId],
      );
      expect(listed.rows[0]!.ggr).toBe(formatAmount(ggr, 2));
    });
    await connection.close();
  });

  it('survives its worker going away mid-cycle: a new worker finishes it, with no duplicate posting', async () => {
    const txs = generate(12);
    const p = await setUpPartner(txs);
    provider.setTransactions(txs);
    provider.setFaults({ missing: [txs[1]!.id] });
    const h = await start(p);
    const waiting = await waitForStatus(h, 'AwaitingResolution');
    await stack.restartWorkers(); // the old worker is gone; its state lives in Temporal
    await sendSealed(stack.config, h, resolveException, 'ana', {
      exceptionId: waiting.exceptions[0]!.exceptionId,
      resolution: 'accept_ours',
      reason: 'ours is right',
    });
    expect((await h.result()).status).toBe('Completed');
    expect(await ledgerEntries(h.workflowId)).toEqual([`${h.workflowId}:fees`, `${h.workflowId}:payout`]);
    const postings = await stack.db.pool.query(
      'SELECT count(*)::int AS n FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id WHERE e.source_ref = $1',
      [h.workflowId],
    );
    expect(postings.rows[0].n).toBe(2);
  });

  it("runs from the partner's Schedule: a backfill settles the missed business day", async () => {
    const p = await setUpPartner(generate(3));
    provider.setTransactions([]);
    provider.setFaults({});
    const put = await stack.api(`/v1/partners/${p.id}/settlement-schedule`, {
      method: 'PUT',
      body: { hourLocal: 2 },
    });
    expect(put.body).toMatchObject({
      scheduleId: `settlement-schedule:${p.id}`,
      timezone: 'UTC',
      hourLocal: 2,
    });
    const described = await stack.temporal.schedule.getHandle(`settlement-schedule:${p.id}`).describe();
    expect(described.spec.timezone).toBe('UTC');
    expect(described.policies.overlap).toBe('ALLOW_ALL');
    expect(
      (await stack.api(`/v1/partners/${p.id}/settlement-schedule`, { method: 'PUT', body: { hourLocal: 3 } }))
        .status,
    ).toBe(200); // an update

    expect(
      (
        await stack.api(`/v1/partners/${p.id}/settlement-schedule/backfill`, {
          body: { from: '2026-11-20', to: '2026-11-20' },
        })
      ).status,
    ).toBe(202);
    const h = stack.temporal.workflow.getHandle(settlementWorkflowId(p.id, '2026-11-20'));
    for (let i = 0; ; i++) {
      const found = await h.describe().then(
        () => true,
        () => false,
      );
      if (found) break;
      if (i > 100) throw new Error('the backfill started no cycle for 2026-11-20');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await h.result()).input).toMatchObject({
      periodStart: '2026-11-20',
      periodEnd: '2026-11-20',
      cutoffAt: '2026-11-21T00:00:00.000Z',
    });
    await stack.temporal.schedule.getHandle(`settlement-schedule:${p.id}`).delete();
  });

  it('lists a cycle its Schedule started before the period freezes, with the same summary as the API path', async () => {
    const p = await setUpPartner(generate(1));
    // A week of grace: yesterday's cycle waits for its cut-off well past this test.
    const contract = await recordContract(stack, p.id, 2, {
      effectiveFrom: '2026-01-02',
      terms: {
        base: 'ggr',
        tiers: [{ upToMinor: null, rate: '0.10' }],
        tierMode: 'marginal',
        negativeBase: 'carry_forward',
        jackpots: 'exclude',
        settlement: { period: 'daily', cutoffGraceMinutes: 7 * 24 * 60, payoutApprovalThresholdMinor: '0' },
      },
    });
    expect(contract.status).toBe(200);
    expect(
      (await stack.api(`/v1/partners/${p.id}/settlement-schedule`, { method: 'PUT', body: { hourLocal: 2 } }))
        .status,
    ).toBe(200);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const backfill = await stack.api(`/v1/partners/${p.id}/settlement-schedule/backfill`, {
      body: { from: yesterday, to: yesterday },
    });
    expect(backfill.status).toBe(202);
    let listed: any[] = [];
    for (let i = 0; i < 100 && listed.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      listed = (await stack.api(`/v1/settlements?partnerId=${p.id}`)).body.settlements;
    }
    const id = settlementWorkflowId(p.id, yesterday);
    expect(listed).toEqual([
      expect.objectContaining({ id, periodStart: yesterday, status: 'WaitingForCutoff', frozenAt: null }),
    ]);
    // The plan is listed from the moment the Schedule's firing records it, just before it
    // starts the cycle's workflow.
    const h = stack.temporal.workflow.getHandle(id);
    const described = async () => {
      for (let i = 0; ; i++) {
        try {
          return await h.describe();
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError) || i >= 100) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    expect(await (await described()).staticSummary()).toBe(
      `Settle Test Partner (${p.id}) for ${yesterday} in EUR`,
    );
    await h.terminate('test done');
    await stack.temporal.schedule.getHandle(`settlement-schedule:${p.id}`).delete();
  });

  it("stores only the statuses a cycle has: the domain's union and the database's CHECK agree", async () => {
    const p = await onboardPartner(stack);
    const ref = { cycleId: `settlement:${p.id}:${DAY}`, partnerId: p.id, periodStart: DAY, periodEnd: DAY };
    await registerCycle(stack.db.pool, { ...ref, currency: 'EUR' });
    for (const status of settlementStatuses) await setCycleStatus(stack.db.pool, ref.cycleId, status);
    await expect(
      stack.db.pool.query(`UPDATE settlement_cycles SET status = 'Statement' WHERE id = $1`, [ref.cycleId]),
    ).rejects.toMatchObject({ code: '23514' });
  });

  it('locks the FX rate of every other currency once, with source and time, and settles in the partner currency', async () => {
    const txs = generate(12).map((t, i) => (i % 2 ? { ...t, currency: 'GBP' } : t));
    const p = await setUpPartner(txs);
    provider.setTransactions(txs);
    provider.setFaults({});
    fx.setRate('GBP', 'EUR', '1.1625');
    const result = await (await start(p)).result();
    expect(result.fxRates).toEqual([
      expect.objectContaining({
        from: 'GBP',
        to: 'EUR',
        rate: '1.1625',
        source: 'clearhouse-simulated-reference-rates',
      }),
    ]);
    const ggr = (ccy: string) =>
      txs
        .filter((t) => t.currency === ccy)
        .reduce((s, t) => s + (t.type === 'bet' ? t.amountMinor : -t.amountMinor), 0n);
    const bets = (ccy: string, type: string) =>
      txs.filter((t) => t.currency === ccy && t.type === type).reduce((s, t) => s + t.amountMinor, 0n);
    // Bets and wins are converted separately, each rounded half-even, as the statement shows.
    const gbpInEur =
      convert(bets('GBP', 'bet'), 2, { units: 11625n, scale: 4 }, 2).rounded -
      convert(bets('GBP', 'win'), 2, { units: 11625n, scale: 4 }, 2).rounded;
    const fee = divideHalfEven((ggr('EUR') + gbpInEur) * 10n, 100n).rounded;
    expect(result.fees?.netPayable).toBe(formatAmount(fee, 2));
    // The rate stays locked: a later change at the source does not alter this cycle.
    fx.setRate('GBP', 'EUR', '2.0000');
    const locked = await stack.db.pool.query(
      'SELECT rate::text FROM settlement_fx_rates WHERE cycle_id = $1',
      [settlementWorkflowId(p.id, DAY)],
    );
    expect(locked.rows).toEqual([{ rate: '1.1625' }]);
  });

  it('reads a daily CSV report in the provider timezone (format b), checks each file against its trailer', async () => {
    const csv = await startCsvDailyProvider({ timezone: 'Asia/Manila' });
    try {
      const useCsv = async (p: TestPartner) =>
        stack.db.pool.query(
          `UPDATE partner_providers SET format = 'csv-daily', base_url = $2, options = '{"timezone": "Asia/Manila"}' WHERE partner_id = $1`,
          [p.id, csv.url],
        );
      // Our UTC day spans two Manila files (23rd 08:00 – 24th 08:00 local); both are read.
      const txs = generate(20).map((t, i) => ({
        ...t,
        occurredAtMs: Date.parse(`${DAY}T00:00:00Z`) + i * 3_600_000,
      }));
      const clean = await setUpPartner(txs);
      await useCsv(clean);
      csv.setTransactions(txs);
      csv.setFaults({});
      const ok = await (await start(clean)).result();
      expect(ok).toMatchObject({ status: 'Completed', exceptions: [], reportRows: 20 });
      expect(csv.requests).toBe(2);

      const txs2 = generate(20).map((t, i) => ({
        ...t,
        occurredAtMs: Date.parse(`${DAY}T00:00:00Z`) + i * 3_600_000,
      }));
      const broken = await setUpPartner(txs2);
      await useCsv(broken);
      csv.setTransactions(txs2);
      csv.setFaults({ wrongControlTotals: true, missing: [txs2[4]!.id] });
      const h = await start(broken);
      const waiting = await waitForStatus(h, 'AwaitingResolution');
      expect(waiting.exceptions.map((e) => e.kind).sort()).toEqual([
        'control_total_mismatch',
        'missing_theirs',
      ]);
      await h.terminate('test done');
    } finally {
      await csv.close();
    }
  });

  it('reconciles an aggregator (format c) by totals, through page numbers and a rate limit', async () => {
    const agg = await startAggregatorProvider({ timezone: 'UTC' });
    try {
      const txs = generate(40).map((t, i) => ({ ...t, gameId: `game-${i % 12}` })); // 12 keys → 2 pages
      const p = await setUpPartner(txs);
      await stack.db.pool.query(
        `UPDATE partner_providers SET format = 'aggregator-totals', base_url = $2, options = '{"timezone": "UTC"}' WHERE partner_id = $1`,
        [p.id, agg.url],
      );
      agg.setTransactions(txs);
      agg.setFaults({ rateLimitNext: 1, altered: { [txs[0]!.id]: txs[0]!.amountMinor + 700n } });
      const h = await start(p);
      const waiting = await waitForStatus(h, 'AwaitingResolution');
      expect(waiting.exceptions).toEqual([
        expect.objectContaining({
          kind: 'amount_mismatch',
          txId: null,
          exceptionId: `amount_mismatch:${DAY}|${txs[0]!.gameId}|EUR`,
          differenceMinor: txs[0]!.type === 'bet' ? '700' : '-700',
        }),
      ]);
      expect(agg.requests).toBe(3); // 429, then pages 1 and 2
      await sendSealed(stack.config, h, resolveException, 'ana', {
        exceptionId: waiting.exceptions[0]!.exceptionId,
        resolution: 'accept_theirs',
        reason: 'aggregator statement is binding',
      });
      const result = await h.result();
      const ggr =
        txs.reduce((s, t) => s + (t.type === 'bet' ? t.amountMinor : -t.amountMinor), 0n) +
        (txs[0]!.type === 'bet' ? 700n : -700n);
      expect(result.fees?.netPayable).toBe(formatAmount(divideHalfEven(ggr * 10n, 100n).rounded, 2));
    } finally {
      await agg.close();
    }
  });

  it('records contract versions through the API: validated, immutable, the latest in force applies', async () => {
    const p = await onboardPartner(stack, { timezone: 'UTC' });
    const terms = {
      base: 'ggr',
      tiers: [{ upToMinor: null, rate: '0.08' }],
      tierMode: 'marginal',
      negativeBase: 'floor',
      jackpots: 'exclude',
      settlement: { period: 'weekly' },
    };
    const put = (version: number, body: unknown) =>
      stack.api(`/v1/partners/${p.id}/contracts/${version}`, { method: 'PUT', body });
    // Proposed (202, not in force), approved by a second operator; the same content again: idempotent.
    expect((await put(1, { effectiveFrom: '2026-01-01', terms })).status).toBe(202);
    expect((await put(1, { effectiveFrom: '2026-01-01', terms })).status).toBe(202);
    expect((await recordContract(stack, p.id, 1, { effectiveFrom: '2026-01-01', terms })).status).toBe(200);
    expect((await put(1, { effectiveFrom: '2026-01-01', terms })).status).toBe(200);
    expect(
      (
        await put(1, {
          effectiveFrom: '2026-01-01',
          terms: { ...terms, tiers: [{ upToMinor: null, rate: '0.09' }] },
        })
      ).status,
    ).toBe(409);
    const bad = await put(2, {
      effectiveFrom: '2026-06-01',
      terms: { ...terms, tiers: [{ upToMinor: '100', rate: '0.1' }] },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details[0].path).toBe('terms.tiers.0.upToMinor');
    const badRate = await put(2, {
      effectiveFrom: '2026-06-01',
      terms: { ...terms, tiers: [{ upToMinor: null, rate: 0.1 }] },
    });
    expect(badRate.status).toBe(422);
    expect(badRate.body.error.details.map((d: { path: string }) => d.path)).toContain('terms.tiers.0.rate');
    expect(
      (
        await recordContract(stack, p.id, 2, {
          effectiveFrom: '2026-06-01',
          terms: { ...terms, settlement: { period: 'monthly' } },
        })
      ).status,
    ).toBe(200);
    expect(
      (await stack.api(`/v1/partners/${p.id}/settlement-schedule`, { method: 'PUT', body: {} })).body.cadence,
    ).toBe('monthly');
    await stack.temporal.schedule.getHandle(`settlement-schedule:${p.id}`).delete();
  });

  it('follows a weekly contract: the schedule fires on Mondays and settles the ISO week that ended', async () => {
    const p = await setUpPartner(generate(2));
    await stack.db.pool.query(
      `UPDATE partner_contracts SET terms = jsonb_set(terms, '{settlement}', '{"period": "weekly"}') WHERE partner_id = $1`,
      [p.id],
    );
    provider.setTransactions([]);
    provider.setFaults({});
    const put = await stack.api(`/v1/partners/${p.id}/settlement-schedule`, {
      method: 'PUT',
      body: { hourLocal: 4 },
    });
    expect(put.body).toMatchObject({ cadence: 'weekly' });
    const described = await stack.temporal.schedule.getHandle(`settlement-schedule:${p.id}`).describe();
    expect(described.spec.calendars?.[0]).toMatchObject({
      dayOfWeek: [expect.objectContaining({ start: 'MONDAY' })],
    });
    expect(
      (
        await stack.api(`/v1/partners/${p.id}/settlement-schedule/backfill`, {
          body: { from: '2026-11-16', to: '2026-11-22' },
        })
      ).status,
    ).toBe(202);
    const h = stack.temporal.workflow.getHandle(settlementWorkflowId(p.id, '2026-11-16'));
    for (
      let i = 0;
      !(await h.describe().then(
        () => true,
        () => false,
      ));
      i++
    ) {
      if (i > 100) throw new Error('no weekly cycle started');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await h.result()).input).toMatchObject({
      periodStart: '2026-11-16',
      periodEnd: '2026-11-22',
      cutoffAt: '2026-11-23T00:00:00.000Z',
    });
    await stack.temporal.schedule.getHandle(`settlement-schedule:${p.id}`).delete();
  });

  it("computes a month's fees in period order: a later day waits while an earlier one is open", async () => {
    const [d1, d2] = ['2026-11-23', '2026-11-24'];
    const first = dayOfTransactions('ord1', d1, 6);
    const second = dayOfTransactions('ord2', d2, 6);
    const p = await setUpPartner([...first, ...second]);
    provider.setTransactions([...first, ...second]);
    provider.setFaults({ missing: [first[0]!.id] }); // the first day waits for an operator
    const h1 = await start(p);
    const open = await waitForStatus(h1, 'AwaitingResolution');
    const h2 = await startPlannedCycle(stack, p.id, d2, { over: { cutoffAt: '2026-11-25T00:00:00Z' } });
    // The second day is reconciled and clean, but its fee follows the first day's.
    await waitForStatus(h2, 'WaitingForEarlierPeriods');
    expect((await h2.describe()).typedSearchAttributes.get(SettlementStatus)).toBe(
      'WaitingForEarlierPeriods',
    );
    await sendSealed(stack.config, h1, resolveException, 'ana', {
      exceptionId: open.exceptions[0]!.exceptionId,
      resolution: 'accept_ours',
      reason: 'in our logs',
    });
    expect((await h1.result()).status).toBe('Completed');
    expect((await h2.result()).status).toBe('Completed');
    const statement = async (id: string) =>
      (await stack.api(`/v1/settlements/${encodeURIComponent(id)}/statement`)).body as {
        month: { volumeBefore: string; volumeAfter: string };
      };
    const [s1, s2] = [await statement(h1.workflowId), await statement(h2.workflowId)];
    // The month's volume runs on in period order, whichever day was ready first.
    expect(s1.month.volumeBefore).toBe('0.00');
    expect(s2.month.volumeBefore).toBe(s1.month.volumeAfter);
  }, 90_000);

  // The cut-off, grace and reminder timers run on the time-skipping server: test/timers.test.ts.

  it('turns a provider that stays down into an exception instead of guessing', async () => {
    const txs = generate(6);
    const p = await setUpPartner(txs);
    provider.setTransactions(txs);
    provider.setFaults({ down: true });
    const h = await start(p, { reportFetchAttempts: 2 });
    const waiting = await waitForStatus(h, 'AwaitingResolution');
    expect(waiting.exceptions.map((e) => e.kind)).toEqual(['report_unavailable']);
    provider.setFaults({});
    await sendSealed(stack.config, h, resolveException, 'ana', {
      exceptionId: waiting.exceptions[0]!.exceptionId,
      resolution: 'accept_ours',
      reason: 'settle on our figures',
    });
    expect((await h.result()).status).toBe('Completed');
  }, 120_000);
});
