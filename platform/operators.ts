import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { CLEARHOUSE_ISSUER, subjectForName, type Actor } from '../domain/actors';
import { operatorDuration } from '../domain/settlement';

/**
 * Operators are named identities with roles. A role is a duty, not a rank: `viewer` reads,
 * `resolver` resolves reconciliation exceptions, `approver` approves payouts and partner
 * applications, `admin` manages partners, contracts and schedules. One token may carry
 * several roles; any role lets its holder read (viewer). Segregation of duties (who may
 * approve what someone else made) is enforced by the workflows, not by the roles.
 */
export const operatorRoles = ['viewer', 'resolver', 'approver', 'admin'] as const;
export type OperatorRole = (typeof operatorRoles)[number];
export const operatorRoleSchema = z.enum(operatorRoles);

/** The name an operator is known by in the audit trail and in maker-checker (e-mail or login). */
export const operatorNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._@+-]+$/, 'letters, digits and . _ @ + - only');

export interface OperatorIdentity {
  /** The token's issuer (`iss`) and subject (`sub`): who the person is (domain/actors.ts). */
  issuer: string;
  subject: string;
  /** How the person is shown (the name claim, else the subject); never compared. */
  name: string;
  roles: OperatorRole[];
  /** How the caller proved it: a signed token, or the bootstrap administrator's token. */
  via: 'token' | 'bootstrap';
}

/** The bootstrap administrator (OPERATOR_TOKEN): sets the house up; cannot approve payouts. */
export const BOOTSTRAP_OPERATOR: OperatorIdentity = {
  issuer: CLEARHOUSE_ISSUER,
  subject: 'bootstrap-admin',
  name: 'bootstrap-admin',
  roles: ['admin', 'resolver', 'viewer'],
  via: 'bootstrap',
};

/** The actor an operator's verified credential stands for. */
export function operatorActor(identity: OperatorIdentity): Actor {
  return {
    issuer: identity.issuer,
    subject: identity.subject,
    name: identity.name,
    kind: identity.via === 'bootstrap' ? 'system' : 'person',
    roles: [...identity.roles],
  };
}

export function hasRole(identity: OperatorIdentity, role: OperatorRole): boolean {
  return role === 'viewer' ? identity.roles.length > 0 : identity.roles.includes(role);
}

export interface OperatorTokenSettings {
  /** HS256 key of tokens Clearhouse mints itself (npm run cli -- operator:token). */
  secret: string | null;
  /** An external OIDC issuer's key set, instead of (or besides) the secret. */
  jwksUrl: string | null;
  issuer: string;
  audience: string;
  /** The claim that lists the roles (an array of strings, or one space-separated string). */
  rolesClaim: string;
  /** The claim that names the operator. */
  nameClaim: string;
  /**
   * The longest a token may live (OPERATOR_TOKEN_MAX_TTL_SECONDS): no token is minted for
   * longer, and none is accepted whose exp is further than this from its iat or from now.
   */
  maxTtlSeconds: number;
}

/**
 * How long a minted token lives when no lifetime is asked for (a working shift, or less if
 * capped), and the cap unless configured (OPERATOR_TOKEN_MAX_TTL_SECONDS).
 */
export const DEFAULT_TOKEN_TTL_SECONDS = 12 * 3600;
/** Tolerated skew between the issuer's clock and ours (also for nbf and exp). */
const CLOCK_TOLERANCE_SECONDS = 30;

/** `8h`, `90 min`, `45 s`: a lifetime as an operator reads it in a refusal. */
const lifetime = (seconds: number): string => operatorDuration(seconds * 1000);

/** Mints a token for the embedded default issuer. Only the holder of the secret can. */
export async function mintOperatorToken(
  settings: OperatorTokenSettings,
  who: { name: string; subject?: string; roles: OperatorRole[]; ttlSeconds?: number },
): Promise<string> {
  if (!settings.secret) throw new Error('OPERATOR_JWT_SECRET is not set: tokens come from the OIDC issuer');
  const name = operatorNameSchema.parse(who.name);
  const roles = z.array(operatorRoleSchema).min(1).parse(who.roles);
  const ttl = who.ttlSeconds ?? Math.min(DEFAULT_TOKEN_TTL_SECONDS, settings.maxTtlSeconds);
  if (!Number.isSafeInteger(ttl) || ttl <= 0)
    throw new Error('a token lifetime is a whole number of seconds');
  if (ttl > settings.maxTtlSeconds)
    throw new Error(
      `operator tokens live at most ${lifetime(settings.maxTtlSeconds)} (OPERATOR_TOKEN_MAX_TTL_SECONDS=${settings.maxTtlSeconds}): ` +
        `${lifetime(ttl)} was asked for; mint a shorter one (--ttl), or raise the maximum`,
    );
  const now = Math.floor(Date.now() / 1000);
  return (
    new SignJWT({ [settings.rolesClaim]: roles, [settings.nameClaim]: name })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      // One person is one subject: the name's lower-case form unless a subject is given.
      .setSubject(who.subject ?? subjectForName(name))
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .sign(new TextEncoder().encode(settings.secret))
  );
}

/**
 * Why a verified token's lifetime is refused, or null. `iat` is required of every issuer: OIDC
 * ID tokens must carry it and JWT access tokens (RFC 9068) do, so an issuer without it is one
 * whose tokens' lifetime cannot be checked. exp − iat bounds what the issuer granted; exp − now
 * also bounds a token whose iat is set in the future (or back-dated with a far exp).
 */
export function tokenLifetimeProblem(
  payload: Pick<JWTPayload, 'iat' | 'exp'>,
  maxTtlSeconds: number,
  nowSeconds = Math.floor(Date.now() / 1000),
): string | null {
  if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number')
    return 'the token carries no iat and exp';
  if (payload.exp - payload.iat > maxTtlSeconds)
    return `the token lives ${lifetime(payload.exp - payload.iat)}, longer than ${lifetime(maxTtlSeconds)}`;
  if (payload.exp - nowSeconds > maxTtlSeconds + CLOCK_TOLERANCE_SECONDS)
    return `the token expires more than ${lifetime(maxTtlSeconds)} from now`;
  return null;
}

/** True when a credential has the shape of a JWT (three base64url parts). */
export function looksLikeJwt(credential: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(credential);
}

/**
 * Verifies operator tokens: signature (HS256 with our secret, or the issuer's JWKS),
 * issuer, audience, expiry and lifetime (tokenLifetimeProblem), then reads the name and roles.
 * Unknown roles are ignored; a token without a known role is no operator.
 */
export function createOperatorVerifier(settings: OperatorTokenSettings) {
  const secret = settings.secret ? new TextEncoder().encode(settings.secret) : null;
  const jwks: JWTVerifyGetKey | null = settings.jwksUrl
    ? createRemoteJWKSet(new URL(settings.jwksUrl))
    : null;
  return async (token: string): Promise<OperatorIdentity | null> => {
    let payload: JWTPayload;
    try {
      // A token without an expiry would be valid forever, and one without iat of any length.
      const options = {
        issuer: settings.issuer,
        audience: settings.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'iat'],
      };
      if (secret && (!jwks || headerAlg(token) === 'HS256')) {
        payload = (await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })).payload;
      } else if (jwks) {
        payload = (
          await jwtVerify(token, jwks, { ...options, algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'] })
        ).payload;
      } else return null;
    } catch {
      return null;
    }
    if (tokenLifetimeProblem(payload, settings.maxTtlSeconds)) return null;
    // The subject is who the person is; a token without one names no one.
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) return null;
    if (typeof payload.iss !== 'string') return null;
    const name = operatorNameSchema.safeParse(payload[settings.nameClaim] ?? payload.sub);
    if (!name.success) return null;
    const claimed = payload[settings.rolesClaim];
    const list = Array.isArray(claimed) ? claimed : typeof claimed === 'string' ? claimed.split(' ') : [];
    const roles = operatorRoles.filter((r) => list.includes(r));
    return roles.length > 0
      ? { issuer: payload.iss, subject: payload.sub, name: name.data, roles, via: 'token' }
      : null;
  };
}

function headerAlg(token: string): string | null {
  try {
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as {
      alg?: unknown;
    };
    return typeof header.alg === 'string' ? header.alg : null;
  } catch {
    return null;
  }
}
