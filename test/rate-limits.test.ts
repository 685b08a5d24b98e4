import { application, onboardPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// Limits per credential and per source address, in the one error format, before the
// credential is checked or the body read. Every call here comes from one address (loopback),
// as the partners behind one NAT would.
describe('rate limits', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workers: false,
      overrides: {
        RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE: '8',
        RATE_LIMIT_FAILURES_PER_ADDRESS_PER_MINUTE: '5',
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const statusesOf = async (times: number, path: string, init: Parameters<Stack['api']>[1]) => {
    const statuses: number[] = [];
    for (let i = 0; i < times; i++) statuses.push((await stack.api(path, init)).status);
    return statuses;
  };
  const repeat = (status: number, times: number) => Array<number>(times).fill(status);

  it('slows down an address guessing credentials, and nothing else its callers are refused for', async () => {
    const admin = await stack.tokenFor('ada', 'admin');
    const viewer = await stack.tokenFor('vic', 'viewer');
    const reader = await stack.tokenFor('rex', 'viewer');
    // Many more refusals than the 5 failures the address is allowed, none of them a 401:
    // validation refusals, then this credential's own limit (429s) ...
    expect(
      await statusesOf(11, '/v1/partner-applications', { method: 'POST', body: {}, token: admin }),
    ).toEqual([...repeat(422, 8), ...repeat(429, 3)]);
    // ... a role the operation does not grant ...
    expect(
      await statusesOf(6, '/v1/partner-applications', { method: 'POST', body: application(), token: viewer }),
    ).toEqual(repeat(403, 6));
    // ... and missing resources and routes.
    expect(await statusesOf(6, '/v1/partners/no-such-partner', { token: reader })).toEqual(repeat(404, 6));
    expect(await statusesOf(6, '/v1/no-such-route', { token: null })).toEqual(repeat(404, 6));
    expect((await stack.api('/v1/partners')).status).toBe(200);

    // Failed authentication counts: five wrong or missing credentials, then the address waits.
    const guesses: number[] = [];
    for (let i = 0; i < 4; i++)
      guesses.push((await stack.api('/v1/settlements', { token: `wrong-token-${i}-0123456789` })).status);
    guesses.push((await stack.api('/v1/settlements', { token: null })).status);
    expect(guesses).toEqual(repeat(401, 5));
    const limited = await stack.api('/v1/settlements', { token: 'wrong-token-again-0123456789' });
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({
      code: 'rate_limited',
      message: expect.stringMatching(/failed authentications from this address/),
    });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Even a good credential from that address waits: the address is what guessed.
    expect((await stack.api('/v1/settlements')).status).toBe(429);
  });

  it('limits each credential on its own', async () => {
    const other = await startStack({
      workers: true,
      overrides: {
        RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE: '8',
        RATE_LIMIT_FAILURES_PER_ADDRESS_PER_MINUTE: '0',
      },
    });
    try {
      // A second operator, who makes no call while the partner is onboarded.
      const operator = await other.tokenFor('olga', 'viewer');
      const p = await onboardPartner(other);
      const statuses: number[] = [];
      for (let i = 0; i < 9; i++)
        statuses.push((await other.api(`/v1/partners/${p.id}`, { token: p.apiKey })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429]);
      const limited = await other.api(`/v1/partners/${p.id}`, { token: p.apiKey });
      expect(limited.headers.get('ratelimit-policy')).toMatch(/q=8/);
      // An operator's own budget is untouched by the partner's.
      const asOperator = await other.api(`/v1/partners/${p.id}`, { token: operator });
      expect(asOperator.status).toBe(200);
      expect(asOperator.headers.get('ratelimit-policy')).toMatch(/q=8/);
    } finally {
      await other.close();
    }
  });
});
