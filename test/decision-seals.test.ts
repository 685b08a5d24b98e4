import {
  type WorkflowFailedError,
  type WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { planCycle, recordCyclePlan } from '../db/settlement';
import { createCurrencyRegistry } from '../domain/money';
import { taskQueue } from '../platform/temporal';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { ensureTemporalCli } from '../scripts/lib/temporal-cli.mjs';
import { approvePayout, settlementStatus, type settlementCycleV2 } from '../workflows/settlement';
import { sealed } from './support/decisions';
import { dayOfTransactions, settlingPartner, TEST_REQUESTER } from './support/settlement';
import { startStack, type Stack } from './support/stack';
import { temporalUpdate } from './support/temporal-cli';

// Issue 16's acceptance for decisions sent straight to Temporal: the real Temporal CLI without a
// seal is refused with a readable message; through Clearhouse's codec with a token it is
// accepted, and the same person under another spelling of the name is still one person; a seal
// replayed on another workflow, after its expiry or twice is refused; a settlementCycle started
// on Temporal with forged input posts nothing and says why.
describe('decisions carry a verified identity on every path', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let cli: string;
  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
    cli = ensureTemporalCli()!;
  });
  afterAll(async () => {
    await provider?.close();
    await stack?.close();
  });

  /** A cycle of a fresh partner waiting for payout approval (threshold 0, no exceptions). */
  async function awaitingApproval(prefix: string): Promise<WorkflowHandle<typeof settlementCycleV2>> {
    const day = '2026-11-23';
    const txs = dayOfTransactions(prefix, day, 6);
    const p = await settlingPartner(stack, provider, txs, {
      period: 'daily',
      cutoffGraceMinutes: 0,
      payoutApprovalThresholdMinor: '0',
    });
    provider.setTransactions(txs);
    provider.setFaults({});
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: day } });
    expect(started.status).toBe(202);
    const h = stack.temporal.workflow.getHandle<typeof settlementCycleV2>(started.body.id as string);
    for (let i = 0; i < 300; i++) {
      if ((await h.query(settlementStatus)).status === 'AwaitingPayoutApproval') return h;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${h.workflowId} never waited for approval: ${(await h.query(settlementStatus)).status}`);
  }

  const temporalCli = (args: string[]) => temporalUpdate(cli, stack, args);

  it('with the Temporal CLI: no seal is refused, a seal from the codec is accepted, one person is one subject', async () => {
    const h = await awaitingApproval('cli');
    // Typed as before: a name in the payload and no seal.
    const typed = await temporalCli([
      '-w',
      h.workflowId,
      '--name',
      'approvePayout',
      '--input',
      '{"operator":"mallory"}',
    ]);
    expect(typed.status).not.toBe(0);
    expect(typed.stderr + typed.stdout).toMatch(
      /not sealed: send it through the Clearhouse API, or .*--codec-endpoint/,
    );

    // Through Clearhouse's codec with mallory's token: sealed with her identity, accepted.
    const viaCodec = async (name: string, comment: string) =>
      await temporalCli([
        '--codec-endpoint',
        `${stack.baseUrl}/codec`,
        '--codec-auth',
        `Bearer ${await stack.tokenFor(name, 'approver')}`,
        '-w',
        h.workflowId,
        '--name',
        'approvePayout',
        '--input',
        JSON.stringify({ workflowId: h.workflowId, update: 'approvePayout', comment }),
      ]);
    const first = await viaCodec('mallory', 'first');
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    // "Mallory" is the same subject: refused as a second approval by the same person.
    const again = await viaCodec('Mallory', 'second');
    expect(again.status).not.toBe(0);
    expect(again.stderr + again.stdout).toMatch(
      /already approved: a second, different operator must approve/,
    );
    const view = await h.query(settlementStatus);
    expect(view.approvals).toEqual([{ actor: 'clearhouse#mallory', name: 'mallory' }]);

    // A second person completes it; the audit trail records both subjects, from the CLI.
    expect((await viaCodec('bo', 'ok')).status).toBe(0);
    expect((await h.result()).status).toBe('Completed');
    const audit = await stack.api(
      `/v1/audit?target=${encodeURIComponent(h.workflowId)}&action=settlement.approvePayout`,
    );
    expect((audit.body.events as any[]).map((e) => [e.actor, e.source]).reverse()).toEqual([
      ['clearhouse#mallory', 'temporal-cli'],
      ['clearhouse#bo', 'temporal-cli'],
    ]);
  }, 240_000);

  it('refuses a seal replayed on another workflow, after its expiry, twice, or without the role', async () => {
    const a = await awaitingApproval('sa');
    const b = await awaitingApproval('sb');
    const refusal = (h: WorkflowHandle, arg: unknown) =>
      h
        .executeUpdate(approvePayout, { args: [arg as never] })
        .then(() => 'accepted')
        .catch((err: unknown) => (err as WorkflowUpdateFailedError).cause?.message ?? String(err));

    const forA = sealed(stack.config, 'ana', { workflowId: a.workflowId, decision: 'approvePayout' });
    expect(await refusal(b, forA)).toMatch(
      new RegExp(`sealed for default/${a.workflowId}, not for default/${b.workflowId}`),
    );
    const wrongDecision = sealed(stack.config, 'ana', {
      workflowId: b.workflowId,
      decision: 'resolveException',
    });
    expect(await refusal(b, wrongDecision)).toMatch(/this seal is for resolveException, not approvePayout/);
    const expired = sealed(
      stack.config,
      'ana',
      { workflowId: b.workflowId, decision: 'approvePayout' },
      {},
      {
        nowMs: Date.now() - 20 * 60_000,
      },
    );
    expect(await refusal(b, expired)).toMatch(/the seal has expired/);
    const resolverOnly = sealed(
      stack.config,
      { issuer: 'clearhouse', subject: 'rui', name: 'rui', kind: 'person', roles: ['resolver'] },
      { workflowId: b.workflowId, decision: 'approvePayout' },
    );
    expect(await refusal(b, resolverOnly)).toMatch(/rui does not hold the approver role/);
    const once = sealed(stack.config, 'ana', { workflowId: b.workflowId, decision: 'approvePayout' });
    expect(await refusal(b, once)).toBe('accepted');
    expect(await refusal(b, once)).toMatch(/already used once/);
    // A payload typed to look verified is stripped by the workers' codec.
    const posing = { operator: 'ana', seal: { actor: { subject: 'ana' } } };
    expect(await refusal(b, posing)).toMatch(/not sealed/);
    expect((await b.query(settlementStatus)).approvals).toHaveLength(1);
  }, 240_000);

  it('posts nothing for a settlementCycle started on Temporal with forged input, and says why', async () => {
    const day = '2026-11-23';
    const txs = dayOfTransactions('forge', day, 6);
    const p = await settlingPartner(stack, provider, txs);
    provider.setTransactions(txs);
    const currencies = createCurrencyRegistry(stack.config.currencies.extraAssets);
    const input = await planCycle(stack.db.pool, currencies, { partnerId: p.id, periodStart: day });
    const start = (workflowId: string, args: object, type = 'settlementCycleV2') =>
      stack.temporal.workflow
        .execute<typeof settlementCycleV2>(type, {
          taskQueue: taskQueue(stack.config, 'settlement'),
          workflowId,
          args: [{ ...input, ...args }],
        })
        .then(() => 'completed')
        .catch(
          (err: unknown) =>
            ((err as WorkflowFailedError).cause?.cause as Error | undefined)?.message ?? String(err),
        );

    // Under a new id, with no plan: refused.
    expect(
      await start(`settlement:${p.id}:${day}:again`, { payoutApprovalThresholdMinor: '999999999999' }),
    ).toMatch(
      /no plan was recorded for settlement:.*: cycles are started through POST \/v1\/settlements or a partner's Schedule/,
    );
    // Under the planned id, with a threshold and a requester of its own: refused, by the new
    // type and by the legacy one still registered until it drains.
    const id = `settlement:${p.id}:${day}`;
    await recordCyclePlan(stack.db.pool, id, input, TEST_REQUESTER);
    for (const type of ['settlementCycleV2', 'settlementCycle'])
      expect(
        await start(id, { payoutApprovalThresholdMinor: '999999999999', requestedBy: 'nobody' }, type),
      ).toMatch(
        /differs from its plan in Postgres \(payoutApprovalThresholdMinor "999999999999" instead of "1000000"; requestedBy is read from the plan/,
      );
    const posted = await stack.db.pool.query('SELECT 1 FROM ledger_entries WHERE source_ref LIKE $1', [
      `${id}%`,
    ]);
    expect(posted.rowCount).toBe(0);
    // A second cycle whose days overlap a planned one is refused by Postgres, through the API too.
    const overlap = await stack.api('/v1/settlements', {
      body: { partnerId: p.id, periodStart: '2026-11-22', periodEnd: '2026-11-23' },
    });
    expect([overlap.status, (overlap.body as { error?: { message?: string } }).error?.message]).toEqual([
      409,
      expect.stringMatching(/overlaps cycle settlement:.*:2026-11-23/) as unknown,
    ]);
  }, 240_000);
  it('ignores a resume posed in the input of a start: only a run Temporal continued takes over where one stood', async () => {
    const day = '2026-11-23';
    const txs = dayOfTransactions('resume', day, 6);
    const p = await settlingPartner(stack, provider, txs);
    provider.setTransactions(txs);
    const currencies = createCurrencyRegistry(stack.config.currencies.extraAssets);
    const input = await planCycle(stack.db.pool, currencies, { partnerId: p.id, periodStart: day });
    const id = `settlement:${p.id}:${day}`;
    await recordCyclePlan(stack.db.pool, id, input, TEST_REQUESTER);
    const forged = {
      frozenAt: '2026-01-01T00:00:00.000Z',
      reportRows: 0,
      remindersSent: 0,
      escalated: false,
      waitingSince: null,
      makers: [],
      seals: { knownMs: 0, nonces: [] },
      runs: 7,
      book: { version: 5, open: 0, total: 0, firstOpen: [] },
    };
    const result = await stack.temporal.workflow.execute<typeof settlementCycleV2>('settlementCycleV2', {
      taskQueue: taskQueue(stack.config, 'settlement'),
      workflowId: id,
      args: [{ ...input, resume: forged }],
    });
    // It froze, fetched and reconciled like any start: nothing of the posed state was taken.
    expect(result).toMatchObject({ status: 'Completed', continuedRuns: 0, bookVersion: 0, reportRows: 6 });
    expect(result.frozenAt).not.toBe(forged.frozenAt);
  }, 120_000);
});
