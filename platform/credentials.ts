import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Partner API keys look like `chk_<keyId>_<secret>`. The key id is a lookup handle; the
 * secret is 32 random bytes and only its SHA-256 is stored. A slow password hash is not
 * needed: the secret has 256 bits of entropy, so it cannot be brute-forced from its hash.
 */
const PREFIX = 'chk';
const KEY_ID_BYTES = 8;
const SECRET_BYTES = 32;

export interface IssuedApiKey {
  keyId: string;
  /** Shown to the operator exactly once; never logged, never stored. */
  plaintext: string;
  hash: Buffer;
}

/** A new key; `keyId` given when the caller must find it again on a retry (the onboarding activity). */
export function issueApiKey(keyId: string = newKeyId()): IssuedApiKey {
  if (!/^[0-9a-f]{16}$/.test(keyId)) throw new Error('a key id is 16 hex digits');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { keyId, plaintext: `${PREFIX}_${keyId}_${secret}`, hash: hashSecret(secret) };
}

export function newKeyId(): string {
  return randomBytes(KEY_ID_BYTES).toString('hex');
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function parseApiKey(presented: string): { keyId: string; secret: string } | null {
  const m = /^chk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(presented);
  return m ? { keyId: m[1]!, secret: m[2]! } : null;
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const presented = hashSecret(secret);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}

/** Constant-time comparison of two tokens of any length (operator bearer token). */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(hashSecret(presented), hashSecret(expected));
}
