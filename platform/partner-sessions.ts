import { createHash, hkdfSync, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';

/**
 * The console's partner users: their passwords, their invitations and their session tokens.
 *
 * - A password is stored as an scrypt hash (N = 2^15, r = 8, p = 1, a 16-byte salt per user) in
 *   a self-describing string `scrypt$N$r$p$salt$hash`, so that the cost can be raised later and
 *   older hashes still verify. Compared in constant time; never logged.
 * - An invitation is 32 random bytes (base64url) shown once; only its SHA-256 is stored. Single
 *   use, for INVITATION_TTL_MS.
 * - A session is an HS256 JWT (typ `clearhouse-console+jwt`, audience `clearhouse-console`)
 *   signed with a key derived by HKDF-SHA256 from SECRETS_KEY (info "clearhouse console
 *   session"): `sub` is the user's id and `sv` the user's session version. The API checks both
 *   against the database on every request, so raising the version (revocation, a new password,
 *   signing out) ends every session of that user at once.
 */
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1000;
export const INVITATION_TTL_MS = 72 * 3600 * 1000;
/** A working shift: a session is signed for at most this long. */
export const PARTNER_SESSION_TTL_SECONDS = 12 * 3600;

const SESSION_TYP = 'clearhouse-console+jwt';
const SESSION_AUDIENCE = 'clearhouse-console';
const HKDF_INFO = 'clearhouse console session';

const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 32, saltBytes: 16 } as const;

function scryptAsync(
  password: string,
  salt: Buffer,
  keyLength: number,
  options: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, keyLength, options, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}
/** 128·N·r bytes of working memory, with room above Node's 32 MiB default. */
const maxmem = (N: number, r: number) => 256 * N * r;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltBytes);
  const { N, r, p, keyLength } = SCRYPT;
  const key = await scryptAsync(password, salt, keyLength, { N, r, p, maxmem: maxmem(N, r) });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** A hash no password matches, verified when a login is unknown so that it takes as long as a known one. */
let decoy: Promise<string> | null = null;

/**
 * Whether a password matches a stored hash (constant-time); with a null hash, spends the same
 * time on a decoy and answers false, so an unknown login is not told apart by timing.
 */
export async function passwordMatches(password: string, stored: string | null): Promise<boolean> {
  const hash = stored ?? (await (decoy ??= hashPassword(randomBytes(24).toString('base64url'))));
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(hash);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const expected = Buffer.from(m[5]!, 'base64url');
  // Only costs this code could have written: a tampered row must not make a sign-in take minutes.
  if (N > 2 ** 20 || r > 32 || p > 16 || expected.length < 16 || expected.length > 64) return false;
  const key = await scryptAsync(password, Buffer.from(m[4]!, 'base64url'), expected.length, {
    N,
    r,
    p,
    maxmem: maxmem(N, r),
  });
  return timingSafeEqual(key, expected) && stored !== null;
}

/** A new invitation: the token to hand over once, the digest to store, when it expires. */
export function newInvitation(now = Date.now()): { token: string; hash: Buffer; expiresAt: Date } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: invitationHash(token), expiresAt: new Date(now + INVITATION_TTL_MS) };
}

export function invitationHash(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The shape of an invitation token (43 base64url characters): anything else is no invitation. */
export const INVITATION_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface PartnerSessionKeys {
  key: Uint8Array;
  /** `iss` of the sessions: the API's public URL. */
  issuer: string;
}

/** The session signing key, derived from SECRETS_KEY (never the key itself: it seals stored secrets). */
export function partnerSessionKeys(secretsKey: string, issuer: string): PartnerSessionKeys {
  return {
    key: new Uint8Array(hkdfSync('sha256', secretsKey, 'clearhouse', HKDF_INFO, 32)),
    issuer: issuer || 'clearhouse-console',
  };
}

export async function mintPartnerSession(
  keys: PartnerSessionKeys,
  session: { userId: string; sessionVersion: number; ttlSeconds?: number },
): Promise<{ token: string; expiresAt: Date }> {
  const ttl = Math.min(session.ttlSeconds ?? PARTNER_SESSION_TTL_SECONDS, PARTNER_SESSION_TTL_SECONDS);
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sv: session.sessionVersion })
    .setProtectedHeader({ alg: 'HS256', typ: SESSION_TYP })
    .setIssuer(keys.issuer)
    .setAudience(SESSION_AUDIENCE)
    .setSubject(session.userId)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(keys.key);
  return { token, expiresAt: new Date((now + ttl) * 1000) };
}

/** Whether a token claims to be a partner user's session (its header's typ); verify it to know. */
export function isPartnerSession(token: string): boolean {
  try {
    return decodeProtectedHeader(token).typ === SESSION_TYP;
  } catch {
    return false;
  }
}

/** A session's user and version when its signature, issuer, audience and lifetime hold; else null. */
export async function verifyPartnerSession(
  keys: PartnerSessionKeys,
  token: string,
): Promise<{ userId: string; sessionVersion: number } | null> {
  try {
    const { payload } = await jwtVerify(token, keys.key, {
      algorithms: ['HS256'],
      typ: SESSION_TYP,
      issuer: keys.issuer,
      audience: SESSION_AUDIENCE,
      requiredClaims: ['exp', 'iat', 'sub'],
      clockTolerance: 30,
    });
    if (payload.exp! - payload.iat! > PARTNER_SESSION_TTL_SECONDS) return null;
    if (typeof payload.sv !== 'number' || !Number.isSafeInteger(payload.sv)) return null;
    return { userId: payload.sub!, sessionVersion: payload.sv };
  } catch {
    return null;
  }
}

/**
 * The session keys of each API configuration. The API registers its own when it mounts the
 * console's sign-in (api/console-session.ts), and authentication reads them at request time:
 * routes build their auth dependencies from the API settings alone, and SECRETS_KEY is not one.
 */
const registered = new WeakMap<object, PartnerSessionKeys>();

export function registerPartnerSessions(api: object, keys: PartnerSessionKeys): void {
  registered.set(api, keys);
}

export function partnerSessionsOf(api: object): PartnerSessionKeys | null {
  return registered.get(api) ?? null;
}
