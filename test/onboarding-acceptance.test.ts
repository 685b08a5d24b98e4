import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureTemporalCli } from '../scripts/lib/temporal-cli.mjs';
import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import { toIngestItem } from '../providers/simulated/generator';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { application, onboardPartner, waitForApplication } from './support/partners';
import { uniqueId } from './support/env';
import { startStack, type Stack } from './support/stack';

const run = promisify(execFile);
const DAY = '2026-11-18';

// Acceptance, as a new user would try it, with nothing but the API and the Temporal CLI (no
// SQL): a partner applies, is checked and approved from the CLI, its provider connection tested,
// its first cycle settled with two named approvers; then every endpoint is tried as another
// tenant, and the audit trail shows every step with its actor.
describe('onboarding to a first settlement, through the API and the Temporal CLI only', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let fx: SimulatedFx;
  let temporalCli: string;
  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    provider = await startJsonCursorProvider();
    temporalCli = ensureTemporalCli(() => {}) ?? 'temporal';
  });
  afterAll(async () => {
    await provider?.close();
    await fx?.close();
    await stack?.close();
  });

  const cli = async (args: string[]) =>
    (
      await run(temporalCli, [
        ...args,
        '--address',
        stack.config.temporal.address,
        '--namespace',
        stack.config.temporal.namespace,
      ])
    ).stdout;

  it('applies, is approved from the CLI, tested, settled; other tenants see nothing; every step audited', async () => {
    const body = application({
      kind: 'provider',
      providerConnection: { format: 'json-cursor', baseUrl: provider.url },
      contract: {
        effectiveFrom: '2026-01-01',
        terms: {
          base: 'ggr',
          tiers: [{ upToMinor: null, rate: '0.10' }],
          tierMode: 'marginal',
          negativeBase: 'floor',
          jackpots: 'exclude',
          settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '0' },
        },
      },
    });
    const id = body.partnerId as string;
    const admin = await stack.tokenFor('maria', 'admin');
    expect((await stack.api('/v1/partner-applications', { body, token: admin })).status).toBe(202);
    await waitForApplication(stack, id, 'AwaitingDecision');

    // The approver decides from the Temporal CLI (the UI sends the same Update), through
    // Clearhouse's codec, which seals the decision with the identity of the caller's token.
    const decideFromCli = async (token: string, reason: string) =>
      cli([
        'workflow',
        'update',
        'execute',
        '--codec-endpoint',
        `${stack.baseUrl}/codec`,
        '--codec-auth',
        `Bearer ${token}`,
        '--workflow-id',
        `onboarding:${id}`,
        '--name',
        'decideApplication',
        '--input',
        JSON.stringify({
          workflowId: `onboarding:${id}`,
          update: 'decideApplication',
          decision: 'approve',
          reason,
        }),
      ]);
    // The submitter, even holding the approver role, is refused: a maker cannot check.
    const refused = await decideFromCli(await stack.tokenFor('maria', 'approver'), 'mine').catch(
      (err: { stderr?: string; message?: string }) => err.stderr ?? err.message ?? 'failed',
    );
    expect(refused).toMatch(/maria submitted this application: a maker cannot approve/);
    await decideFromCli(await stack.tokenFor('ana', 'approver'), 'registry, licence and screening clear');
    const active = await waitForApplication(stack, id, 'Active');
    expect(active.connectivity).toEqual({ report: 'ok', webhook: 'not-configured' });
    const key = (await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {}, token: admin }))
      .body.apiKey as string;

    // Its first cycle: transactions in, the provider agrees, two named approvers pay it out.
    const txs = Array.from({ length: 4 }, (_, i) => ({
      id: `${id}-t${i}`,
      type: i === 3 ? ('win' as const) : ('bet' as const),
      roundId: `${id}-r${i}`,
      gameId: 'game-1',
      currency: 'EUR',
      amountMinor: 10_000n,
      occurredAtMs: Date.parse(`${DAY}T10:00:00Z`) + i,
    }));
    provider.setTransactions(txs);
    const batch = { batchId: uniqueId('b'), transactions: txs.map((t) => toIngestItem(t, 'pl-1')) };
    expect((await stack.api('/v1/transactions', { body: batch, token: key })).status).toBe(200);
    const started = await stack.api('/v1/settlements', {
      body: { partnerId: id, periodStart: DAY },
      token: admin,
    });
    expect(started.status).toBe(202);
    const cycleId = started.body.id as string;
    const base = `/v1/settlements/${encodeURIComponent(cycleId)}`;
    for (let i = 0; i < 300; i++) {
      if ((await stack.api(base)).body.status === 'AwaitingPayoutApproval') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const who of ['ana', 'carla'])
      expect(
        (
          await stack.api(`${base}/payout-approvals`, {
            body: {},
            token: await stack.tokenFor(who, 'approver'),
          })
        ).status,
      ).toBe(200);
    for (let i = 0; i < 300 && (await stack.api(base)).body.status !== 'Completed'; i++)
      await new Promise((r) => setTimeout(r, 100));
    const settled = await stack.api(base, { token: key });
    expect(settled.body).toMatchObject({ status: 'Completed' });
    expect((await stack.api(`${base}/statement`, { token: key })).body.netPayable).toBe('20.00');

    // Another tenant sees none of it: every partner-readable route answers as if it did not exist.
    const other = await onboardPartner(stack);
    const asOther = async (path: string) => (await stack.api(path, { token: other.apiKey })).status;
    expect(await asOther(`/v1/partners/${id}`)).toBe(404);
    expect(await asOther(base)).toBe(404);
    expect(await asOther(`${base}/statement`)).toBe(404);
    expect(await asOther(`${base}/statement?format=csv`)).toBe(404);
    expect(await asOther(`/v1/transactions/${txs[0]!.id}`)).toBe(404);
    expect(
      await asOther(`/v1/ledger/accounts/${encodeURIComponent(`partner:${id}:fees_payable:EUR`)}/balance`),
    ).toBe(404);
    expect(await asOther(`/v1/partners/${id}/games`)).toBe(404);
    const lists = [
      await stack.api('/v1/settlements', { token: other.apiKey }),
      await stack.api('/v1/exceptions', { token: other.apiKey }),
      await stack.api('/v1/ledger/accounts', { token: other.apiKey }),
      await stack.api(`/v1/positions?from=${DAY}&to=${DAY}`, { token: other.apiKey }),
    ];
    for (const list of lists) expect(JSON.stringify(list.body)).not.toContain(id);
    for (const [method, path] of [
      ['PUT', `/v1/partners/${id}/webhook`],
      ['POST', `/v1/partners/${id}/api-keys`],
      ['POST', `${base}/payout-approvals`],
      ['PUT', `/v1/partners/${id}/provider-connection`],
    ])
      expect({
        path,
        status: (await stack.api(path!, { method, body: {}, token: other.apiKey })).status,
      }).toEqual({
        path,
        status: 403,
      });

    // The audit trail: every step, with its actor (operators by actor key) and where it came from.
    const trail = async (query: string) =>
      ((await stack.api(`/v1/audit?${query}&limit=200`)).body.events as any[]).map(
        (e) => `${e.source} ${e.actor} ${e.action}`,
      );
    expect(await trail(`actor=${encodeURIComponent('clearhouse#maria')}`)).toEqual(
      expect.arrayContaining([
        'api clearhouse#maria POST /v1/partner-applications',
        'api clearhouse#maria POST /v1/partner-applications/{partnerId}/credentials',
        'api clearhouse#maria POST /v1/settlements',
      ]),
    );
    expect(await trail(`target=${encodeURIComponent(`onboarding:${id}`)}`)).toEqual([
      'temporal-cli clearhouse#ana onboarding.decideApplication',
    ]);
    // Newest first: the payout recorded, paid, approved by two; the statement issued once posted.
    expect(await trail(`target=${encodeURIComponent(cycleId)}`)).toEqual([
      `workflow workflow:${cycleId} payout.approved`,
      `workflow workflow:${cycleId} settlement.payout`,
      'api clearhouse#carla settlement.approvePayout',
      'api clearhouse#ana settlement.approvePayout',
      `workflow workflow:${cycleId} statement.issued`,
      `workflow workflow:${cycleId} settlement.post`,
    ]);
    expect(await trail(`actor=${encodeURIComponent(`partner:${id}`)}`)).toEqual([
      'api partner:' + id + ' POST /v1/transactions',
    ]);
  });
});
