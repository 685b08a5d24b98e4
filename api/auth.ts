import type { Request } from 'express';
import { findActiveApiKey } from '../db/partners';
import type { Db } from '../db/pool';
import { ForbiddenError, UnauthorizedError } from '../domain/errors';
import { parseApiKey, secretMatches, tokenMatches } from '../platform/credentials';
import {
  BOOTSTRAP_OPERATOR,
  createOperatorVerifier,
  hasRole,
  looksLikeJwt,
  type OperatorIdentity,
  type OperatorRole,
  type OperatorTokenSettings,
} from '../platform/operators';

/**
 * Who is calling. A partner's identity always comes from its credential, never from the
 * request body; every partner-facing query is scoped by `partnerId` from here.
 */
export type Principal =
  | { kind: 'anonymous' }
  | ({ kind: 'operator' } & OperatorIdentity)
  | { kind: 'partner'; partnerId: string; suspended?: boolean };

/**
 * What a route needs, declared once in its route table entry (and shown in the OpenAPI spec):
 * 'none'; 'partner' (a partner's API key); 'any' (a partner, scoped to itself by the handler,
 * or an operator with any role); or an operator role.
 */
export type AuthRequirement = 'none' | 'partner' | 'any' | OperatorRole;

export interface AuthDeps {
  db: Db;
  /** The largest JSON body a route reads (API_BODY_LIMIT_BYTES), once its sender is authenticated. */
  bodyLimitBytes: number;
  /** The bootstrap administrator's token, when configured. */
  operatorToken: string | null;
  operatorTokens: OperatorTokenSettings;
}

/** The API's auth dependencies from its config (one verifier per process: it caches the JWKS). */
export function authDeps(
  db: Db,
  api: { operatorToken: string | null; operatorTokens: OperatorTokenSettings; bodyLimitBytes: number },
): AuthDeps {
  return {
    db,
    operatorToken: api.operatorToken,
    operatorTokens: api.operatorTokens,
    bodyLimitBytes: api.bodyLimitBytes,
  };
}

const verifiers = new WeakMap<OperatorTokenSettings, ReturnType<typeof createOperatorVerifier>>();
function verifierFor(settings: OperatorTokenSettings) {
  let v = verifiers.get(settings);
  if (!v) verifiers.set(settings, (v = createOperatorVerifier(settings)));
  return v;
}

function presentedCredential(req: Request): string | null {
  const header = req.get('authorization');
  if (header) {
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    return m ? m[1]! : null;
  }
  return req.get('x-api-key') ?? null;
}

export async function authenticate(deps: AuthDeps, req: Request, need: AuthRequirement): Promise<Principal> {
  if (need === 'none') return { kind: 'anonymous' };
  const credential = presentedCredential(req);
  if (!credential) {
    throw new UnauthorizedError('missing credentials: send Authorization: Bearer <token>', [
      { path: 'headers.authorization', message: 'required' },
    ]);
  }
  const principal = await resolve(deps, credential);
  if (!principal) {
    throw new UnauthorizedError('invalid credentials', [
      { path: 'headers.authorization', message: 'not recognised' },
    ]);
  }
  return allowed(principal, need, req.method);
}

function allowed(principal: Principal, need: AuthRequirement, method: string): Principal {
  // A suspended partner still reads its own data, but changes nothing (no transactions).
  if (principal.kind === 'partner' && principal.suspended && method !== 'GET' && method !== 'HEAD')
    throw new ForbiddenError(
      `partner ${principal.partnerId} is suspended: it cannot push or change anything`,
    );
  if (need === 'none' || need === 'any') return principal;
  if (need === 'partner') {
    if (principal.kind !== 'partner') throw new ForbiddenError('this operation needs partner credentials');
    return principal;
  }
  if (principal.kind !== 'operator' || !hasRole(principal, need))
    throw new ForbiddenError(`this operation needs an operator with the ${need} role`);
  return principal;
}

async function resolve(deps: AuthDeps, credential: string): Promise<Principal | null> {
  const key = parseApiKey(credential);
  if (key) {
    const stored = await findActiveApiKey(deps.db, key.keyId);
    return stored && secretMatches(key.secret, stored.keyHash)
      ? { kind: 'partner', partnerId: stored.partnerId, suspended: stored.suspended }
      : null;
  }
  if (looksLikeJwt(credential)) {
    const identity = await verifierFor(deps.operatorTokens)(credential);
    return identity ? { kind: 'operator', ...identity } : null;
  }
  return deps.operatorToken !== null && tokenMatches(credential, deps.operatorToken)
    ? { kind: 'operator', ...BOOTSTRAP_OPERATOR }
    : null;
}

/** An operator's signed token (not the bootstrap token, not a partner key), verified; or null. */
export async function verifyOperatorToken(deps: AuthDeps, token: string): Promise<OperatorIdentity | null> {
  return looksLikeJwt(token) ? verifierFor(deps.operatorTokens)(token) : null;
}
