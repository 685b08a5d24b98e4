import { PartnerId } from '../workflows/search-attributes';
import { onboardingWorkflowId } from '../workflows/ids';
import { uniqueId } from './support/env';
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
    const partner = {
      id: uniqueId('smoke'),
      name: 'Smoke Slots',
      kind: 'provider',
      timezone: 'Europe/Malta',
      settlementCurrency: 'EUR',
    };

    const created = await stack.api('/v1/partners', { body: partner });
    expect(created.status).toBe(201);
    expect(created.body.partner).toMatchObject({ ...partner, status: 'active' });
    expect(created.body.apiKey).toMatch(/^chk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(created.headers.get('location')).toBe(`/v1/partners/${partner.id}`);

    // The workflow really ran on Temporal, with the business id and a search attribute.
    const handle = stack.temporal.workflow.getHandle(onboardingWorkflowId(partner.id));
    const description = await handle.describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.typedSearchAttributes.get(PartnerId)).toBe(partner.id);

    // The activity wrote to Postgres: the row is there, and only a hash of the key.
    const { rows } = await stack.db.pool.query<{ status: string; keys: string; hash_len: number }>(
      `SELECT p.status, count(k.*)::text AS keys, max(length(k.key_hash)) AS hash_len
       FROM partners p LEFT JOIN partner_api_keys k ON k.partner_id = p.id WHERE p.id = $1 GROUP BY p.status`,
      [partner.id],
    );
    expect(rows).toEqual([{ status: 'active', keys: '1', hash_len: 32 }]);
    const secretInDb = await stack.db.pool.query(
      `SELECT 1 FROM partner_api_keys WHERE encode(key_hash, 'escape') LIKE '%' || $1 || '%'`,
      [String(created.body.apiKey).slice(-20)],
    );
    expect(secretInDb.rowCount).toBe(0);

    // The partner's own key reads it back through the API.
    const read = await stack.api(`/v1/partners/${partner.id}`, { token: created.body.apiKey });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: partner.id, status: 'active' });
  });

  it('treats a repeated onboarding as idempotent and a changed one as a conflict', async () => {
    const partner = {
      id: uniqueId('repeat'),
      name: 'Repeat Live',
      kind: 'provider',
      timezone: 'Europe/London',
      settlementCurrency: 'GBP',
    };
    expect((await stack.api('/v1/partners', { body: partner })).status).toBe(201);

    const again = await stack.api('/v1/partners', { body: partner });
    expect(again.status).toBe(200);
    expect(again.body.apiKey).toBeNull();

    const changed = await stack.api('/v1/partners', { body: { ...partner, settlementCurrency: 'EUR' } });
    expect(changed.status).toBe(409);
    expect(changed.body.error).toMatchObject({ code: 'conflict', details: [{ path: 'id' }] });

    const { rows } = await stack.db.pool.query('SELECT settlement_currency FROM partners WHERE id = $1', [
      partner.id,
    ]);
    expect(rows).toEqual([{ settlement_currency: 'GBP' }]);
    const keys = await stack.db.pool.query('SELECT 1 FROM partner_api_keys WHERE partner_id = $1', [
      partner.id,
    ]);
    expect(keys.rowCount).toBe(1);
  });
});
