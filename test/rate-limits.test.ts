import { onboardPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// Limits per credential and per source address, in the one error format, before the
// credential is checked or the body read.
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

  it('slows down an address that keeps being refused, not one whose calls succeed', async () => {
    for (let i = 0; i < 5; i++)
      expect((await stack.api('/v1/settlements', { token: `wrong-token-${i}-0123456789` })).status).toBe(401);
    const limited = await stack.api('/v1/settlements', { token: 'wrong-token-again-0123456789' });
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({
      code: 'rate_limited',
      message: expect.stringMatching(/address/),
    });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
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
      const p = await onboardPartner(other); // one call with the operator's token
      const statuses: number[] = [];
      for (let i = 0; i < 9; i++)
        statuses.push((await other.api(`/v1/partners/${p.id}`, { token: p.apiKey })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429]);
      const limited = await other.api(`/v1/partners/${p.id}`, { token: p.apiKey });
      expect(limited.headers.get('ratelimit-policy')).toMatch(/q=8/);
      // The operator's own budget is untouched by the partner's.
      expect((await other.api(`/v1/partners/${p.id}`)).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});
