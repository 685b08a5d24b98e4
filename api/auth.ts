import type { Request } from 'express';
import { findActiveApiKey } from '../db/partners';
import { sessionUser, type PartnerUserRole } from '../db/partner-users';
import type { Db } from '../db/pool';
import { actorKey } from '../domain/actors';
import { ForbiddenError, UnauthorizedError } from '../domain/errors';
import { parseApiKey, secretMatches, tokenMatches } from '../platform/credentials';
import { isPartnerSession, partnerSessionsOf, verifyPartnerSession } from '../platform/partner-sessions';
import {
  BOOTSTRAP_OPERATOR,
  createOperatorVerifier,
  hasRole,
  looksLikeJwt,
  operatorActor,
  type OperatorIdentity,
  type OperatorRole,
  type OperatorTokenSettings,
} from '../platform/operators';

/**
 * Who is calling. A partner's identity always comes from its credential, never from the
 * request body; every partner-facing query is scoped by `partnerId` from here. A partner is
 * its API key (an integration), or one of its people signed in to the console (`user`): both
 * read the same partner views and the same scope; only the key pushes and changes data.
 */
export type Principal =
  | { kind: 'anonymous' }
  | ({ kind: 'operator' } & OperatorIdentity)
  | { kind: 'partner'; partnerId: string; suspended?: boolean; user?: PartnerUserIdentity };

/** A partner's person signed in to the console (db/partner-users.ts). */
export interface PartnerUserIdentity {
  id: string;
  /** Unique across partners, lower case. */
  login: string;
  /** How the person is shown (their display name). */
  name: string;
  roles: PartnerUserRole[];
}

/** The console's session cookie: an operator's token, or a partner user's session (platform/partner-sessions.ts). */
export const CONSOLE_COOKIE = 'clearhouse_console';
/** The header the console sends with every call; a cookie-borne write without it is refused (CSRF). */
export const CONSOLE_HEADER = 'x-clearhouse-console';

/**
 * Who did it, as the audit trail and the users' `created_by` record it: an operator's actor
 * key, `partner:<id>` for a partner's API key, `partner:<id>#user:<login>` for a partner's
 * person (the partner vouches for its people as an issuer does for its subjects).
 */
export function principalActor(principal: Principal): string {
  if (principal.kind === 'operator') return actorKey(operatorActor(principal));
  if (principal.kind === 'partner')
    return principal.user
      ? `partner:${principal.partnerId}#user:${principal.user.login}`
      : `partner:${principal.partnerId}`;
  return 'anonymous';
}

/** The roles recorded beside the actor: an operator's, a partner user's, or `partner` for the API key. */
export function principalRoles(principal: Principal): string {
  if (principal.kind === 'operator') return principal.roles.join(' ');
  if (principal.kind === 'partner') return principal.user ? principal.user.roles.join(' ') : 'partner';
  return 'none';
}

/**
 * What a route needs, declared once in its route table entry (and shown in the OpenAPI spec):
 * 'none'; 'partner' (a partner's API key); 'any' (a partner, scoped to itself by the handler,
 * or an operator with any role); or an operator role. A partner's people signed in to the
 * console count as the partner for reading ('partner' and 'any' GETs) and write only where a
 * route says so (RouteAccess).
 */
export type AuthRequirement = 'none' | 'partner' | 'any' | OperatorRole;

export interface AuthDeps {
  db: Db;
  /** The largest JSON body a route reads (API_BODY_LIMIT_BYTES), once its sender is authenticated. */
  bodyLimitBytes: number;
  /** The bootstrap administrator's token, when configured. */
  operatorToken: string | null;
  operatorTokens: OperatorTokenSettings;
  /**
   * The API settings these came from: the key of the partner users' session keys, registered
   * when the console's sign-in is mounted (platform/partner-sessions.ts). None: no partner
   * user signs in.
   */
  api?: object;
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
    api,
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

/** Who besides `need` may call a route (RouteSpec.partnerUserRole). */
export interface RouteAccess {
  /**
   * A partner user (console) holding this role may call the route, whatever operator role it
   * needs and though it may not be a GET; a partner's API key may not.
   */
  partnerUserRole?: 'admin';
}

/** A cookie's value from the request's Cookie header, or null. */
export function readCookie(req: Request, name: string): string | null {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

const reads = (method: string) => method === 'GET' || method === 'HEAD';

export async function authenticate(
  deps: AuthDeps,
  req: Request,
  need: AuthRequirement,
  access: RouteAccess = {},
): Promise<Principal> {
  if (need === 'none') return { kind: 'anonymous' };
  // A header decides when one is sent; the console's cookie only when none is.
  const session =
    req.get('authorization') === undefined && req.get('x-api-key') === undefined
      ? readCookie(req, CONSOLE_COOKIE)
      : null;
  if (session) {
    if (!reads(req.method)) consoleWriteCheck(req);
    const principal = await resolveSession(deps, session);
    if (!principal)
      throw new UnauthorizedError('your console session has ended: sign in again at /console/sign-in', [
        { path: `cookies.${CONSOLE_COOKIE}`, message: 'expired, revoked or not recognised' },
      ]);
    return allowed(principal, need, req.method, access);
  }
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
  return allowed(principal, need, req.method, access);
}

/**
 * A write that the browser authenticated with the session cookie comes from the console's own
 * script: it sends `X-Clearhouse-Console: 1` (a header no form and no cross-site request
 * without a CORS preflight can set, and this API answers no preflight), and a browser that
 * says where the request comes from says `same-origin`. The cookie is SameSite=Strict besides.
 */
function consoleWriteCheck(req: Request): void {
  if (req.get(CONSOLE_HEADER) !== '1')
    throw new ForbiddenError(
      'a write with the console session needs the header X-Clearhouse-Console: 1 (the console sends it)',
      [{ path: `headers.${CONSOLE_HEADER}`, message: 'required: 1' }],
    );
  const site = req.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin')
    throw new ForbiddenError(
      `a write with the console session comes from the console's own origin, not ${site}`,
      [{ path: 'headers.sec-fetch-site', message: 'must be same-origin' }],
    );
}

/**
 * The console's session: a partner user's session (checked against the database: the user is
 * active, the session's version is the user's, the partner is onboarded), else an operator's
 * verified token (never the bootstrap token: the sign-in refuses to store it).
 */
async function resolveSession(deps: AuthDeps, token: string): Promise<Principal | null> {
  if (isPartnerSession(token)) {
    const keys = deps.api ? partnerSessionsOf(deps.api) : null;
    const session = keys ? await verifyPartnerSession(keys, token) : null;
    const user = session ? await sessionUser(deps.db, session.userId, session.sessionVersion) : null;
    return user
      ? {
          kind: 'partner',
          partnerId: user.partnerId,
          suspended: user.partnerSuspended,
          user: { id: user.id, login: user.login, name: user.displayName, roles: user.roles },
        }
      : null;
  }
  const identity = await verifyOperatorToken(deps, token);
  return identity ? { kind: 'operator', ...identity } : null;
}

function allowed(
  principal: Principal,
  need: AuthRequirement,
  method: string,
  access: RouteAccess,
): Principal {
  // A suspended partner still reads its own data, but changes nothing (no transactions).
  if (principal.kind === 'partner' && principal.suspended && !reads(method))
    throw new ForbiddenError(
      `partner ${principal.partnerId} is suspended: it cannot push or change anything`,
    );
  // A partner's people read what the partner reads; they change nothing but what a route lets
  // them (its admin users manage the partner's own users; the handler scopes them to it).
  // Pushing data is the integration's, with the API key.
  if (principal.kind === 'partner' && principal.user) {
    const role = access.partnerUserRole;
    if (role === undefined && !reads(method))
      throw new ForbiddenError('partner users read; integrations use the API key');
    if (role !== undefined) {
      if (!principal.user.roles.includes(role))
        throw new ForbiddenError(`this operation needs a partner user with the ${role} role`);
      return principal;
    }
  }
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
