import { PartnerId } from '../workflows/search-attributes';
import { onboardingWorkflowId } from '../workflows/ids';
import { application, waitForApplication } from './support/partners';
import { startStack, type Stack } from './support/stack';

// The real path end to end: the API starts a workflow through the Temporal client, the
// worker runs activities that write to Postgres, and the API reads the result back.
describe('smoke: API → Temporal workflow → activities → Postgres → API', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('onboards a partner through the partnerOnboarding workflow and serves it back', async () => {
    const body = application({ name: 'Smoke Slots' });
    const id = body.partnerId as string;
    const submitted = await stack.api('/v1/partner-applications', { body });
    expect(submitted).toMatchObject({ status: 202, body: { id, workflowId: onboardingWorkflowId(id) } });
    expect(submitted.headers.get('location')).toBe(`/v1/partner-applications/${id}`);
    const waiting = await waitForApplication(stack, id, 'AwaitingDecision');
    expect(waiting.risk).toMatchObject({ level: 'low', reasons: [expect.stringMatching(/all clear/)] });
    const decided = await stack.api(`/v1/partner-applications/${id}/decisions`, {
      body: { decision: 'approve', reason: 'clear' },
      token: await stack.tokenFor('ana', 'approver'),
    });
    expect(decided).toMatchObject({ status: 200, body: { approvals: 1, needed: 1 } });
    await waitForApplication(stack, id, 'Active');

    // The workflow really ran on Temporal, with the business id and a search attribute.
    const handle = stack.temporal.workflow.getHandle(onboardingWorkflowId(id));
    const description = await handle.describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.typedSearchAttributes.get(PartnerId)).toBe(id);

    // The activities wrote to Postgres: the row is there, and only a hash of the key.
    const credentials = await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {} });
    expect(credentials.status).toBe(201);
    const apiKey = credentials.body.apiKey as string;
    expect(apiKey).toMatch(/^chk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const { rows } = await stack.db.pool.query<{ status: string; keys: string; hash_len: number }>(
      `SELECT p.status, count(k.*)::text AS keys, max(length(k.key_hash)) AS hash_len
       FROM partners p LEFT JOIN partner_api_keys k ON k.partner_id = p.id WHERE p.id = $1 GROUP BY p.status`,
      [id],
    );
    expect(rows).toEqual([{ status: 'active', keys: '1', hash_len: 32 }]);

    // The partner's own key reads it back through the API; the key is handed out once.
    const read = await stack.api(`/v1/partners/${id}`, { token: apiKey });
    expect(read).toMatchObject({ status: 200, body: { id, status: 'active', name: 'Smoke Slots' } });
    expect((await stack.api(`/v1/partner-applications/${id}/credentials`, { body: {} })).status).toBe(409);
  });
});
