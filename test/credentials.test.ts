import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import { issueApiKey } from '../platform/credentials';
import { SecretBox } from '../platform/secrets';
import { onboardingWorkflowId } from '../workflows/ids';
import { application, onboardPartner, waitForApplication } from './support/partners';
import { startStoredApplication } from './support/applications';
import { startStack, type Stack } from './support/stack';

// Partner credentials are minted inside the onboarding's activity once the partner exists,
// never taken from a workflow's input (whoever can start a workflow must not choose a key),
// shown once by the API, and rotated with an overlap in which both keys work.
describe('partner credentials', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const approve = async (id: string) => {
    await waitForApplication(stack, id, 'AwaitingDecision');
    const decided = await stack.api(`/v1/partner-applications/${id}/decisions`, {
      body: { decision: 'approve', reason: 'clear' },
      token: await stack.tokenFor('ana', 'approver'),
    });
    expect(decided.status).toBe(200);
    await waitForApplication(stack, id, 'Active');
  };

  it('mints the key in the activity: the input carries none, the API shows it once', async () => {
    const body = application();
    const id = body.partnerId as string;
    expect((await stack.api('/v1/partner-applications', { body })).status).toBe(202);
    // No key before the partner is active: the application is there, not ready (409).
    const early = await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {} });
    expect(early.status).toBe(409);
    await approve(id);
    const collected = await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {} });
    expect(collected.status).toBe(201);
    const key = collected.body.apiKey as string;
    expect(key).toMatch(/^chk_[0-9a-f]{16}_/);
    expect((await stack.api(`/v1/partners/${id}`, { token: key })).status).toBe(200);

    const history = await stack.temporal.workflow.getHandle(onboardingWorkflowId(id)).fetchHistory();
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    const input = JSON.parse(Buffer.from(started.input!.payloads![0]!.data!).toString('utf8'));
    expect(Object.keys(input).sort()).toEqual([
      'applicationId',
      'expiresAfterMs',
      'partnerId',
      'reminderIntervalMs',
      'submittedBy',
    ]);
    expect(JSON.stringify(history)).not.toContain(key.slice('chk_'.length + 16 + 1));

    const again = await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {} });
    expect(again.status).toBe(409);
    const pickups = await stack.db.pool.query(
      'SELECT 1 FROM partner_credential_pickups WHERE partner_id = $1',
      [id],
    );
    expect(pickups.rowCount).toBe(0);
  });

  it('ignores a key smuggled into a workflow started straight on Temporal', async () => {
    const body = application();
    const id = body.partnerId as string;
    const chosen = issueApiKey();
    const { partnerId, name, kind, timezone, settlementCurrency, company, licences, contacts } = body as any;
    // Stored as the API stores it; the input adds a key of the starter's choosing.
    await startStoredApplication(
      stack,
      {
        partner: { id: partnerId, name, kind, timezone, settlementCurrency },
        details: { company, licences, contacts },
        webhookUrl: null,
        contract: null,
      },
      {
        submittedBy: 'mallory',
        extra: { apiKey: { keyId: chosen.keyId, keyHashHex: chosen.hash.toString('hex') } },
      },
    );
    await approve(id);
    expect((await stack.api(`/v1/partners/${id}`, { token: chosen.plaintext })).status).toBe(401);
    const keys = await stack.db.pool.query('SELECT key_id FROM partner_api_keys WHERE partner_id = $1', [id]);
    expect(keys.rows.map((r) => r.key_id)).not.toContain(chosen.keyId);
    expect(keys.rowCount).toBe(1);
  });

  it('a retried mint stores one key', async () => {
    const p = await onboardPartner(stack);
    const acts = createActivities({ db: stack.db.pool, secrets: new SecretBox(stack.config.secretKeys) });
    const keyId = 'ab'.repeat(8);
    // As the onboarding's activity runs it: for a workflow run (its audit event is per run).
    const env = new MockActivityEnvironment({
      workflowExecution: { workflowId: `onboarding:${p.id}`, runId: 'retried-mint' },
    });
    await env.run(() => acts.issuePartnerApiKey({ partnerId: p.id, keyId }));
    await env.run(() => acts.issuePartnerApiKey({ partnerId: p.id, keyId }));
    const keys = await stack.db.pool.query(
      'SELECT count(*)::int AS n FROM partner_api_keys WHERE key_id = $1',
      [keyId],
    );
    expect(keys.rows[0].n).toBe(1);
  });

  it('rotates with an overlap: both keys work until the old one expires; 0 ends it now', async () => {
    const p = await onboardPartner(stack);
    const path = `/v1/partners/${p.id}/api-keys`;
    expect((await stack.api(path, { body: {}, token: await stack.tokenFor('vera', 'viewer') })).status).toBe(
      403,
    );
    expect((await stack.api(path, { body: {}, token: p.apiKey })).status).toBe(403);
    expect((await stack.api('/v1/partners/no-such-partner/api-keys', { body: {} })).status).toBe(404);
    expect((await stack.api(path, { body: { overlapHours: 500 } })).body.error.details[0].path).toBe(
      'overlapHours',
    );

    const rotated = await stack.api(path, { body: { overlapHours: 24 } });
    expect(rotated.status).toBe(201);
    const second = rotated.body.apiKey as string;
    expect(Date.parse(rotated.body.previousKeysExpireAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect((await stack.api(`/v1/partners/${p.id}`, { token: p.apiKey })).status).toBe(200);
    expect((await stack.api(`/v1/partners/${p.id}`, { token: second })).status).toBe(200);

    const third = await stack.api(path, { body: { overlapHours: 0 } });
    expect(third.status).toBe(201);
    expect((await stack.api(`/v1/partners/${p.id}`, { token: p.apiKey })).status).toBe(401);
    expect((await stack.api(`/v1/partners/${p.id}`, { token: second })).status).toBe(401);
    expect((await stack.api(`/v1/partners/${p.id}`, { token: third.body.apiKey })).status).toBe(200);
  });
});
