import { createActivities } from '../activities';
import { issueApiKey } from '../platform/credentials';
import { SecretBox } from '../platform/secrets';
import { taskQueue } from '../platform/temporal';
import { onboardingWorkflowId } from '../workflows/ids';
import { uniqueId } from './support/env';
import { onboardPartner } from './support/partners';
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

  const partnerBody = () => ({
    id: uniqueId('cred'),
    name: 'Cred Partner',
    kind: 'provider',
    timezone: 'UTC',
    settlementCurrency: 'EUR',
  });

  it('mints the key in the activity: the input carries none, the API shows it once, a repeat shows nothing', async () => {
    const body = partnerBody();
    const created = await stack.api('/v1/partners', { body });
    expect(created.status).toBe(201);
    const key = created.body.apiKey as string;
    expect(key).toMatch(/^chk_[0-9a-f]{16}_/);
    expect((await stack.api(`/v1/partners/${body.id}`, { token: key })).status).toBe(200);

    const history = await stack.temporal.workflow.getHandle(onboardingWorkflowId(body.id)).fetchHistory();
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    const input = JSON.parse(Buffer.from(started.input!.payloads![0]!.data!).toString('utf8'));
    expect(Object.keys(input)).toEqual(['partner']);
    const everything = JSON.stringify(history);
    expect(everything).not.toContain(key.split('_')[2]);

    const again = await stack.api('/v1/partners', { body });
    expect(again).toMatchObject({ status: 200, body: { apiKey: null } });
    const pickups = await stack.db.pool.query(
      'SELECT 1 FROM partner_credential_pickups WHERE partner_id = $1',
      [body.id],
    );
    expect(pickups.rowCount).toBe(0);
  });

  it('ignores a key smuggled into a workflow started straight on Temporal', async () => {
    const body = partnerBody();
    const chosen = issueApiKey();
    const handle = await stack.temporal.workflow.start('partnerOnboarding', {
      taskQueue: taskQueue(stack.config, 'onboarding'),
      workflowId: onboardingWorkflowId(body.id),
      args: [{ partner: body, apiKey: { keyId: chosen.keyId, keyHashHex: chosen.hash.toString('hex') } }],
    });
    await handle.result();
    expect((await stack.api(`/v1/partners/${body.id}`, { token: chosen.plaintext })).status).toBe(401);
    const keys = await stack.db.pool.query('SELECT key_id FROM partner_api_keys WHERE partner_id = $1', [
      body.id,
    ]);
    expect(keys.rows.map((r) => r.key_id)).not.toContain(chosen.keyId);
    expect(keys.rowCount).toBe(1);
  });

  it('a retried mint stores one key', async () => {
    const p = await onboardPartner(stack);
    const acts = createActivities({ db: stack.db.pool, secrets: new SecretBox(stack.config.secretsKey) });
    const keyId = 'ab'.repeat(8);
    await acts.issuePartnerApiKey({ partnerId: p.id, keyId });
    await acts.issuePartnerApiKey({ partnerId: p.id, keyId });
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
