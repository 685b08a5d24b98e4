import { MAX_RETRY_AFTER_MS, retryAfterMs } from '../platform/outbound-http';

// Retry-After as RFC 9110 defines it: delay-seconds or an HTTP-date, capped so a hostile
// provider cannot park a cycle for days on one retry.
describe('retryAfterMs', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');
  it('reads delay-seconds', () => {
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs(' 120 ', now)).toBe(120_000);
  });
  it('reads an HTTP-date, relative to now', () => {
    expect(retryAfterMs('Tue, 01 Dec 2026 10:00:30 GMT', now)).toBe(30_000);
  });
  it('caps what it is asked to wait', () => {
    expect(retryAfterMs('86400', now)).toBe(MAX_RETRY_AFTER_MS);
  });
  it('ignores what it cannot use: absent, unreadable, negative, zero or past', () => {
    for (const v of [null, 'soon', '-5', '1.5', '0', 'Tue, 01 Dec 2026 09:59:00 GMT'])
      expect(retryAfterMs(v, now)).toBeUndefined();
  });
});
