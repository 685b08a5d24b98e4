import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { verifyWebhook } from '../platform/webhooks';
import { settlementScheduleId } from '../services/schedules';
import { WorkflowFailedError } from '@temporalio/client';
import { decideApplication, onboardingStatus } from '../workflows/onboarding';
import { onboardingWorkflowId } from '../workflows/ids';
import { application, onboardPartner, tx, waitForApplication } from './support/partners';
import { startStoredApplication } from './support/applications';
import { sendSealed } from './support/decisions';
import { startStack, type Stack } from './support/stack';

// Partner onboarding as a durable process with a human decision: checks against the
// (simulated) registry and sanctions service, a risk score with reasons, operators' decisions
// with maker-checker, activation with a connectivity test and a Schedule, timers, typed
// failures, and the partner lifecycle afterwards.
describe('partner onboarding with manual approval', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let receiver: Server;
  let hookUrl: string;
  const received: { body: string; timestamp: string; signature: string }[] = [];
  let hookStatus = 204;
  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({
          body,
          timestamp: String(req.headers['clearhouse-timestamp']),
          signature: String(req.headers['clearhouse-signature']),
        });
        res.writeHead(hookStatus).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => receiver?.close(() => r()));
    await provider?.close();
    await stack?.close();
  });

  const submit = async (overrides: Record<string, unknown> = {}, token?: string) => {
    const body = application(overrides);
    const res = await stack.api('/v1/partner-applications', { body, ...(token ? { token } : {}) });
    expect(res.status).toBe(202);
    return body.partnerId as string;
  };
  const decide = async (id: string, decision: string, token: string, reason = 'reviewed') =>
    stack.api(`/v1/partner-applications/${id}/decisions`, { body: { decision, reason }, token });

  it('checks, scores, waits for an approver, then sets the partner up end to end', async () => {
    const ana = await stack.tokenFor('ana', 'approver');
    const id = await submit({
      webhookUrl: hookUrl,
      providerConnection: { format: 'json-cursor', baseUrl: provider.url },
      contract: {
        effectiveFrom: '2026-01-01',
        terms: {
          base: 'ggr',
          tiers: [{ upToMinor: null, rate: '0.1' }],
          tierMode: 'marginal',
          negativeBase: 'floor',
          jackpots: 'exclude',
          settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '0' },
        },
      },
    });
    const waiting = await waitForApplication(stack, id, 'AwaitingDecision');
    expect(waiting).toMatchObject({
      submittedBy: 'bootstrap-admin',
      approvalsNeeded: 1,
      risk: { level: 'low', score: 10 },
      checks: {
        registry: { outcome: 'checked', found: true, status: 'active' },
        licences: { outcome: 'checked', results: [{ status: 'valid' }] },
        sanctions: { outcome: 'checked', matches: [] },
      },
      waitingFor: expect.stringMatching(/1 more approval.*decideApplication/),
    });
    // Nothing exists yet: no partner, no key.
    expect((await stack.api(`/v1/partners/${id}`)).status).toBe(404);
    // The application is on its way: its credentials are not ready yet (409), not unknown (404).
    expect((await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {} })).status).toBe(409);
    // A viewer cannot decide; an approver can.
    expect((await decide(id, 'approve', await stack.tokenFor('vera', 'viewer'))).status).toBe(403);
    expect((await decide(id, 'approve', ana)).status).toBe(200);
    const active = await waitForApplication(stack, id, 'Active');
    expect(active.connectivity).toEqual({ report: 'ok', webhook: 'ok' });

    // The signed test webhook arrived, verifiable with the secret handed out with the key.
    const credentials = await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {} });
    expect(credentials.status).toBe(201);
    const test = received.find((r) => r.body.includes(`onboarding:${id}:test`))!;
    const headers = { timestamp: test.timestamp, signature: test.signature };
    expect(verifyWebhook(credentials.body.webhookSecret, headers, test.body, Date.now() / 1000)).toBe(true);
    // Contract version 1, the ledger accounts and the settlement Schedule.
    const accounts = await stack.api(`/v1/ledger/accounts?partnerId=${id}`);
    expect((accounts.body.accounts as { code: string }[]).map((a) => a.code)).toEqual(
      expect.arrayContaining([`partner:${id}:fees_payable:EUR`, `partner:${id}:game_activity:EUR`]),
    );
    const schedule = await stack.temporal.schedule.getHandle(settlementScheduleId(id)).describe();
    expect(schedule.state.paused).toBe(false);
    const started = await stack.api('/v1/settlements', {
      body: { partnerId: id, periodStart: '2026-11-20' },
    });
    expect(started.status).toBe(202); // the contract is in force

    // The decision is in the audit trail with who made it (the actor key of ana's token).
    const audit = await stack.api(`/v1/audit?target=${encodeURIComponent(`onboarding:${id}`)}`);
    expect(audit.body.events).toEqual([
      expect.objectContaining({
        action: 'onboarding.decideApplication',
        actor: 'clearhouse#ana',
        source: 'api',
      }),
    ]);

    // Lifecycle: listed and searchable; suspended partners cannot push; the Schedule pauses.
    const listed = await stack.api(`/v1/partners?q=${id.slice(-6)}&status=active`);
    expect(listed.body.partners.map((p: { id: string }) => p.id)).toEqual([id]);
    const key = credentials.body.apiKey as string;
    const push = () =>
      stack.api('/v1/transactions', {
        body: { batchId: `b-${Date.now()}`, transactions: [tx({ occurredAt: '2026-11-20T12:00:00Z' })] },
        token: key,
      });
    expect((await push()).status).toBe(200);
    const suspended = await stack.api(`/v1/partners/${id}/suspend`, {
      body: { reason: 'compliance review' },
    });
    expect(suspended).toMatchObject({ status: 200, body: { status: 'suspended' } });
    expect((await push()).status).toBe(403);
    expect((await stack.api(`/v1/partners/${id}`, { token: key })).status).toBe(200);
    expect((await stack.temporal.schedule.getHandle(settlementScheduleId(id)).describe()).state.paused).toBe(
      true,
    );
    expect((await stack.api(`/v1/partners/${id}/reactivate`, { body: { reason: 'cleared' } })).status).toBe(
      200,
    );
    expect((await push()).status).toBe(200);
    expect((await stack.temporal.schedule.getHandle(settlementScheduleId(id)).describe()).state.paused).toBe(
      false,
    );
  });

  it('high risk needs two different approvers, never the submitter; a sanctions match cannot be approved', async () => {
    const maria = await stack.tokenFor('maria', 'admin', 'approver');
    const ana = await stack.tokenFor('ana', 'approver');
    const carla = await stack.tokenFor('carla', 'approver');
    const id = await submit(
      {
        licences: [{ jurisdiction: 'MT', number: 'EXP-2019-1' }],
        contacts: [{ name: 'A Similar Name', email: 'a@p.example', role: 'finance' }],
      },
      maria,
    );
    const waiting = await waitForApplication(stack, id, 'AwaitingDecision');
    expect(waiting.risk).toMatchObject({
      level: 'high',
      reasons: expect.arrayContaining([
        expect.stringMatching(/licence MT EXP-2019-1 is expired/),
        expect.stringMatching(/possible sanctions match: A Similar Name/),
      ]),
    });
    expect(waiting.approvalsNeeded).toBe(2);
    const bySubmitter = await decide(id, 'approve', maria);
    expect(bySubmitter.status).toBe(403);
    expect(bySubmitter.body.error.message).toMatch(
      /maria submitted this application: a maker cannot approve/,
    );
    expect((await decide(id, 'approve', ana)).body).toMatchObject({ approvals: 1, needed: 2 });
    expect((await decide(id, 'approve', ana)).body.error.message).toMatch(/ana already approved/);
    expect((await stack.api(`/v1/partner-applications/${id}`)).body.status).toBe('AwaitingDecision');
    expect((await decide(id, 'approve', carla)).status).toBe(200);
    await waitForApplication(stack, id, 'Active');

    // The same rule holds for a sealed Update sent straight to Temporal (the UI's path).
    const blocked = await submit({
      company: { legalName: 'Sanctioned Holdings', registrationNumber: 'C 9', country: 'MT' },
    });
    await waitForApplication(stack, blocked, 'AwaitingDecision');
    const handle = stack.temporal.workflow.getHandle(onboardingWorkflowId(blocked));
    await expect(
      sendSealed(stack.config, handle, decideApplication, 'ana', { decision: 'approve', reason: 'ok' }),
    ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/confirmed sanctions match/) } });
    const refused = await decide(blocked, 'approve', ana);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/confirmed sanctions match/);
    expect((await decide(blocked, 'reject', ana, 'sanctions')).status).toBe(200);
    await waitForApplication(stack, blocked, 'Rejected');
    expect((await stack.api(`/v1/partners/${blocked}`)).status).toBe(404);
    // A rejected applicant may apply again (same id), with corrected details.
    expect(
      (
        await stack.api('/v1/partner-applications', {
          body: application({ partnerId: blocked }),
        })
      ).status,
    ).toBe(202);
    await waitForApplication(stack, blocked, 'AwaitingDecision');
  });

  it('asks for information, re-checks the answer; retries a flaky service', async () => {
    const ana = await stack.tokenFor('ana', 'approver');
    stack.dueDiligence.failNext(2); // the registry answers 503 twice: retried with backoff
    const id = await submit({
      company: { legalName: 'Gone Ltd', registrationNumber: 'DISS-1', country: 'MT' },
    });
    const first = await waitForApplication(stack, id, 'AwaitingDecision');
    expect(first.checks.registry).toMatchObject({ outcome: 'checked', status: 'dissolved' });
    expect(first.risk.level).toBe('high');
    expect((await decide(id, 'request_info', ana, 'send the current registration')).status).toBe(200);
    const asked = await waitForApplication(stack, id, 'AwaitingInformation');
    expect(asked.waitingFor).toMatch(/send the current registration/);
    // A decision is a person's, signed in with their own token: an administrator answers.
    const answered = await stack.api(`/v1/partner-applications/${id}/information`, {
      body: {
        details: { company: { legalName: 'Gone Ltd', registrationNumber: 'C 777', country: 'MT' } },
        note: 'new registration',
      },
      token: await stack.tokenFor('ada', 'admin', 'viewer'),
    });
    expect(answered.status).toBe(200);
    const rechecked = await waitForApplication(stack, id, 'AwaitingDecision');
    expect(rechecked.risk.level).toBe('low');
    expect(rechecked.information).toEqual([{ note: 'new registration', operator: 'ada' }]);

    // Nobody deciding (reminders, then Expired) runs on the time-skipping server: test/timers.test.ts.
  });

  it('sends a persistent connectivity failure back to the operators, and tests again after the fix', async () => {
    const ana = await stack.tokenFor('ana', 'approver');
    hookStatus = 500;
    const id = await submit({ webhookUrl: hookUrl });
    await waitForApplication(stack, id, 'AwaitingDecision');
    await decide(id, 'approve', ana);
    const failed = await waitForApplication(stack, id, 'ConnectivityFailed');
    expect(failed.connectivity).toEqual({ error: 'partner webhook answered 500' });
    expect(failed.waitingFor).toMatch(/fix the connection or webhook and approve again/);
    expect((await stack.api(`/v1/partners/${id}`)).body.status).toBe('onboarding');
    hookStatus = 204;
    expect((await decide(id, 'approve', ana, 'receiver fixed')).status).toBe(200);
    await waitForApplication(stack, id, 'Active');
  });

  it('ends an onboarding that meets a data error as Failed, with its id free again', async () => {
    // Past the API's validation (straight on Temporal): a partner id the database refuses.
    const body = application();
    const { name, kind, timezone, settlementCurrency, company, licences, contacts } = body as any;
    const id = `Bad_Id_${Date.now()}`;
    const start = () =>
      startStoredApplication(stack, {
        partner: { id, name, kind, timezone, settlementCurrency },
        details: { company, licences, contacts },
        webhookUrl: null,
        contract: null,
      });
    const handle = await start();
    for (let i = 0; i < 200 && (await handle.query(onboardingStatus)).status !== 'AwaitingDecision'; i++)
      await new Promise((r) => setTimeout(r, 50));
    await sendSealed(stack.config, handle, decideApplication, 'ana', { decision: 'approve', reason: 'ok' });
    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    const failed = await handle.query(onboardingStatus);
    expect(failed).toMatchObject({
      status: 'Failed',
      failure: expect.stringMatching(/data error 23514.*partners_id_check/),
    });
    // No partner, no key, and the id can be used again.
    const partners = await stack.db.pool.query('SELECT 1 FROM partners WHERE id = $1', [id]);
    expect(partners.rowCount).toBe(0);
    const again = await start();
    await again.terminate('test done');
  });

  it('lets a partner left half-onboarded (rejected after registration) apply again, with one live key', async () => {
    const ana = await stack.tokenFor('ana', 'approver');
    hookStatus = 500;
    const id = await submit({ webhookUrl: hookUrl });
    await waitForApplication(stack, id, 'AwaitingDecision');
    await decide(id, 'approve', ana);
    await waitForApplication(stack, id, 'ConnectivityFailed');
    await decide(id, 'reject', ana, 'their receiver stays down');
    await waitForApplication(stack, id, 'Rejected');
    expect((await stack.api(`/v1/partners/${id}`)).body.status).toBe('onboarding');
    hookStatus = 204;
    const again = await stack.api('/v1/partner-applications', {
      body: application({ partnerId: id, name: 'Renamed Partner', webhookUrl: hookUrl }),
    });
    expect(again.status).toBe(202);
    await waitForApplication(stack, id, 'AwaitingDecision');
    await decide(id, 'approve', ana);
    await waitForApplication(stack, id, 'Active');
    expect((await stack.api(`/v1/partners/${id}`)).body).toMatchObject({
      status: 'active',
      name: 'Renamed Partner',
    });
    const key = (await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {} })).body
      .apiKey as string;
    expect((await stack.api(`/v1/partners/${id}`, { token: key })).status).toBe(200);
    const live = await stack.db.pool.query(
      'SELECT count(*)::int AS n FROM partner_api_keys WHERE partner_id = $1 AND revoked_at IS NULL',
      [id],
    );
    expect(live.rows[0].n).toBe(1);
  });

  it('never lets an onboarding started straight on Temporal take over an active partner', async () => {
    const p = await onboardPartner(stack);
    const before = await stack.api(`/v1/partners/${p.id}`);
    const handle = await startStoredApplication(
      stack,
      {
        partner: {
          id: p.id,
          name: before.body.name,
          kind: 'provider',
          timezone: p.timezone,
          settlementCurrency: 'EUR',
        },
        details: {
          company: { legalName: 'X Ltd', registrationNumber: 'C 1', country: 'MT' },
          licences: [{ jurisdiction: 'MT', number: 'L-1' }],
          contacts: [{ name: 'X', email: 'x@x.example', role: 'finance' as const }],
        },
        webhookUrl: 'http://127.0.0.1:9/attacker',
        contract: null,
      },
      { workflowId: `${onboardingWorkflowId(p.id)}-takeover`, submittedBy: 'mallory' },
    );
    for (let i = 0; i < 200 && (await handle.query(onboardingStatus)).status !== 'AwaitingDecision'; i++)
      await new Promise((r) => setTimeout(r, 50));
    await sendSealed(stack.config, handle, decideApplication, 'eve', { decision: 'approve', reason: 'x' });
    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    expect((await handle.query(onboardingStatus)).failure).toMatch(
      /already active: an onboarding cannot take it over/,
    );
    const hooks = await stack.db.pool.query('SELECT url FROM partner_webhooks WHERE partner_id = $1', [p.id]);
    expect(hooks.rowCount).toBe(0);
  });

  it('validates an application, naming each field, and writes nothing', async () => {
    const bad = application({
      company: { legalName: '', registrationNumber: '???', country: 'Malta' },
      contacts: [],
      contract: {
        effectiveFrom: '2026-01-01',
        terms: { base: 'ggr', tiers: [{ upToMinor: null, rate: '1.5' }] },
      },
    });
    const res = await stack.api('/v1/partner-applications', { body: bad });
    expect(res.status).toBe(422);
    const paths = (res.body.error.details as { path: string }[]).map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'company.legalName',
        'company.registrationNumber',
        'company.country',
        'contacts',
      ]),
    );
    const exists = await stack.api(`/v1/partner-applications/${bad.partnerId as string}`);
    expect(exists.status).toBe(404);
    // An existing partner cannot apply again.
    const p = await onboardPartner(stack);
    const again = await stack.api('/v1/partner-applications', { body: application({ partnerId: p.id }) });
    expect(again).toMatchObject({ status: 409, body: { error: { details: [{ path: 'partnerId' }] } } });
  });
});
