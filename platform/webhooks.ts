import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", sent as
//   Clearhouse-Timestamp: <unix seconds>
//   Clearhouse-Signature: v1=<hex>
// A receiver recomputes the HMAC with its secret, compares in constant time, and refuses
// timestamps outside its tolerance (replays).
export const SIGNATURE_HEADER = 'clearhouse-signature';
export const TIMESTAMP_HEADER = 'clearhouse-timestamp';
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

export function signWebhook(secret: string, timestampSeconds: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestampSeconds}.${body}`, 'utf8').digest('hex')}`;
}

/** What a partner's receiver does (and what our tests do). */
export function verifyWebhook(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
  nowSeconds: number,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): boolean {
  const ts = Number(headers.timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowSeconds - ts) > toleranceSeconds || !headers.signature)
    return false;
  const expected = Buffer.from(signWebhook(secret, ts, body));
  const given = Buffer.from(headers.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
