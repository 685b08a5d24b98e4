import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';

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
  name: string;
  roles: OperatorRole[];
  /** How the caller proved it: a signed token, or the bootstrap administrator's token. */
  via: 'token' | 'bootstrap';
}

/** The bootstrap administrator (OPERATOR_TOKEN): sets the house up; cannot approve payouts. */
export const BOOTSTRAP_OPERATOR: OperatorIdentity = {
  name: 'bootstrap-admin',
  roles: ['admin', 'resolver', 'viewer'],
  via: 'bootstrap',
};

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
}

/** Mints a token for the embedded default issuer. Only the holder of the secret can. */
export async function mintOperatorToken(
  settings: OperatorTokenSettings,
  who: { name: string; roles: OperatorRole[]; ttlSeconds?: number },
): Promise<string> {
  if (!settings.secret) throw new Error('OPERATOR_JWT_SECRET is not set: tokens come from the OIDC issuer');
  const name = operatorNameSchema.parse(who.name);
  const roles = z.array(operatorRoleSchema).min(1).parse(who.roles);
  return new SignJWT({ [settings.rolesClaim]: roles, [settings.nameClaim]: name })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(name)
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setIssuedAt()
    .setExpirationTime(`${who.ttlSeconds ?? 12 * 3600}s`)
    .sign(new TextEncoder().encode(settings.secret));
}

/** True when a credential has the shape of a JWT (three base64url parts). */
export function looksLikeJwt(credential: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(credential);
}

/**
 * Verifies operator tokens: signature (HS256 with our secret, or the issuer's JWKS),
 * issuer, audience, expiry, then reads the name and roles. Unknown roles are ignored; a
 * token without a known role is no operator.
 */
export function createOperatorVerifier(settings: OperatorTokenSettings) {
  const secret = settings.secret ? new TextEncoder().encode(settings.secret) : null;
  const jwks: JWTVerifyGetKey | null = settings.jwksUrl
    ? createRemoteJWKSet(new URL(settings.jwksUrl))
    : null;
  return async (token: string): Promise<OperatorIdentity | null> => {
    let payload: JWTPayload;
    try {
      // A token without an expiry would be valid forever: `exp` is required.
      const options = {
        issuer: settings.issuer,
        audience: settings.audience,
        clockTolerance: 30,
        requiredClaims: ['exp'],
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
    const name = operatorNameSchema.safeParse(payload[settings.nameClaim] ?? payload.sub);
    if (!name.success) return null;
    const claimed = payload[settings.rolesClaim];
    const list = Array.isArray(claimed) ? claimed : typeof claimed === 'string' ? claimed.split(' ') : [];
    const roles = operatorRoles.filter((r) => list.includes(r));
    return roles.length > 0 ? { name: name.data, roles, via: 'token' } : null;
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
