import { activatePartner, registerPartner, setPartnerStatus, storeApiKeyHash } from '../db/partners';
import { issueApiKey } from '../platform/credentials';
import {
  hashPassword,
  mintPartnerSession,
  partnerSessionKeys,
  passwordMatches,
} from '../platform/partner-sessions';
import { uniqueId } from './support/env';
import { startStack, type Stack } from './support/stack';

// The partner's people in the console: invited by an operator or the partner's admin user,
// activated by setting a password with the invitation, signed in with a session cookie that
// reads what the partner's API key reads — its own data only — and writes nothing but, for
// its admin users, the partner's own users. Revocation ends a session with its next request.

const DAY = '2026-11-23';
const PASSWORD = 'a long enough passphrase';

let stack: Stack;
let admin: string;
const partners: Record<'a' | 'b', { id: string; apiKey: string }> = {} as never;

async function newPartner(): Promise<{ id: string; apiKey: string }> {
  const id = uniqueId('pu');
  await registerPartner(stack.db.pool, {
    id,
    name: `Partner ${id}`,
    kind: 'provider',
    timezone: 'Europe/Malta',
    settlementCurrency: 'EUR',
  });
  await activatePartner(stack.db.pool, id);
  const key = issueApiKey();
  await storeApiKeyHash(stack.db.pool, id, key.keyId, key.hash);
  return { id, apiKey: key.plaintext };
}

/** Signs in with the console's form: the session cookie, or the status of the refusal. */
async function signIn(
  login: string,
  password: string,
): Promise<{ status: number; cookie: string | null; text: string }> {
  const res = await fetch(`${stack.baseUrl}/console/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login, password }).toString(),
    redirect: 'manual',
  });
  return { status: res.status, cookie: sessionCookie(res), text: await res.text() };
}

function sessionCookie(res: Response): string | null {
  for (const c of res.headers.getSetCookie()) {
    const m = /^clearhouse_console=([^;]*)/.exec(c);
    if (m) return m[1]!;
  }
  return null;
}

/** A call with the console's cookie (and, for a write, the console's header unless told otherwise). */
function asConsole(
  cookie: string,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; consoleHeader?: boolean } = {},
) {
  const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
  return stack.api(path, {
    method,
    token: null,
    ...(init.body === undefined ? {} : { body: init.body }),
    headers: {
      cookie: `clearhouse_console=${cookie}`,
      ...(method !== 'GET' && init.consoleHeader !== false ? { 'x-clearhouse-console': '1' } : {}),
      ...init.headers,
    },
  });
}

async function invite(
  partnerId: string,
  user: { login: string; displayName?: string; roles: string[] },
  by: { token?: string; cookie?: string } = {},
) {
  const body = { displayName: user.login.split('@')[0], ...user };
  return by.cookie
    ? asConsole(by.cookie, `/v1/partners/${partnerId}/users`, { body })
    : stack.api(`/v1/partners/${partnerId}/users`, { body, token: by.token ?? admin });
}

/** Invites, accepts and signs in: the user's id and session cookie. */
async function activeUser(
  partnerId: string,
  login: string,
  roles: string[],
  by: { token?: string; cookie?: string } = {},
): Promise<{ id: string; cookie: string }> {
  const invited = await invite(partnerId, { login, roles }, by);
  expect(invited.status).toBe(201);
  const accepted = await stack.api('/v1/console/invitations', {
    body: { token: invited.body.invitation.token, password: PASSWORD },
    token: null,
  });
  expect(accepted.status).toBe(200);
  const session = await signIn(login, PASSWORD);
  expect(session.status).toBe(303);
  return { id: invited.body.user.id as string, cookie: session.cookie! };
}

beforeAll(async () => {
  stack = await startStack({ workers: false });
  admin = await stack.tokenFor('olga-admin', 'admin');
  partners.a = await newPartner();
  partners.b = await newPartner();
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('passwords and sessions', () => {
  it('hashes passwords with scrypt and a salt per password, and verifies them', async () => {
    const [one, two] = [await hashPassword(PASSWORD), await hashPassword(PASSWORD)];
    expect(one).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(one).not.toBe(two);
    expect(await passwordMatches(PASSWORD, one)).toBe(true);
    expect(await passwordMatches(`${PASSWORD}!`, one)).toBe(false);
    expect(await passwordMatches(PASSWORD, null)).toBe(false);
    expect(await passwordMatches(PASSWORD, 'scrypt$4194304$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA')).toBe(false);
  });
});

describe('partner users', () => {
  let maria: { id: string; cookie: string };

  it('an operator admin invites the partner’s admin user; the invitation is shown once, only its digest stored', async () => {
    const viewer = await stack.tokenFor('vic-viewer', 'viewer');
    expect(
      (await invite(partners.a.id, { login: 'x-viewer', roles: ['viewer'] }, { token: viewer })).status,
    ).toBe(403);
    // Not with the partner's API key: people are managed by people.
    expect(
      (await invite(partners.a.id, { login: 'x-key', roles: ['viewer'] }, { token: partners.a.apiKey }))
        .status,
    ).toBe(403);

    const invited = await invite(partners.a.id, {
      login: 'Maria@Partner-A.example',
      roles: ['admin', 'finance'],
    });
    expect(invited.status).toBe(201);
    expect(invited.body.user).toMatchObject({
      partnerId: partners.a.id,
      login: 'maria@partner-a.example',
      roles: ['admin', 'finance'],
      status: 'invited',
      createdBy: 'clearhouse#olga-admin',
    });
    const { token, url, expiresAt } = invited.body.invitation;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url).toMatch(new RegExp(`/console/invitation\\?token=${token}$`));
    const hours = (Date.parse(expiresAt) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(71.9);
    expect(hours).toBeLessThanOrEqual(72);
    const stored = await stack.db.pool.query(
      `SELECT invite_hash, password_hash FROM partner_users WHERE id = $1`,
      [invited.body.user.id],
    );
    expect(stored.rows[0].invite_hash.toString('hex')).not.toContain(Buffer.from(token).toString('hex'));
    expect(stored.rows[0].password_hash).toBeNull();

    // A login is unique (case-insensitively).
    const again = await invite(partners.b.id, { login: 'MARIA@partner-a.example', roles: ['viewer'] });
    expect(again).toMatchObject({ status: 409, body: { error: { details: [{ path: 'login' }] } } });
    // A bad login or role is named.
    expect(
      (await invite(partners.a.id, { login: 'a b', roles: ['viewer'] })).body.error.details[0].path,
    ).toBe('login');
    expect(
      (await invite(partners.a.id, { login: 'abc', roles: ['boss'] })).body.error.details[0].path,
    ).toMatch(/^roles/);

    // Accepting: a short password is named; the right one activates; the token works once.
    const short = await stack.api('/v1/console/invitations', {
      body: { token, password: 'short' },
      token: null,
    });
    expect(short).toMatchObject({ status: 422, body: { error: { details: [{ path: 'password' }] } } });
    const accepted = await stack.api('/v1/console/invitations', {
      body: { token, password: PASSWORD },
      token: null,
    });
    expect(accepted.status).toBe(200);
    expect(accepted.body.user).toEqual({
      id: invited.body.user.id,
      partnerId: partners.a.id,
      login: 'maria@partner-a.example',
      displayName: 'Maria',
      roles: ['admin', 'finance'],
      status: 'active',
    });
    const used = await stack.api('/v1/console/invitations', {
      body: { token, password: PASSWORD },
      token: null,
    });
    expect(used).toMatchObject({ status: 404, body: { error: { details: [{ path: 'token' }] } } });
    const malformed = await stack.api('/v1/console/invitations', {
      body: { token: 'nope', password: PASSWORD },
      token: null,
    });
    expect(malformed).toMatchObject({ status: 422, body: { error: { details: [{ path: 'token' }] } } });
    // The audit trail has the acceptance, by the user, without a digest of the password's body.
    const audit = await stack.db.pool.query(
      `SELECT actor, actor_role AS role, after_digest FROM audit_events WHERE action = 'POST /v1/console/invitations'`,
    );
    expect(audit.rows).toEqual([
      {
        actor: `partner:${partners.a.id}#user:maria@partner-a.example`,
        role: 'admin finance',
        after_digest: null,
      },
    ]);

    const session = await signIn('MARIA@partner-a.example', PASSWORD);
    expect(session.status).toBe(303);
    maria = { id: invited.body.user.id, cookie: session.cookie! };
  });

  it('an expired invitation is refused, naming the token; a new one can be issued', async () => {
    const invited = await invite(partners.a.id, { login: 'late@partner-a.example', roles: ['viewer'] });
    await stack.db.pool.query(
      `UPDATE partner_users SET invite_expires_at = now() - interval '1 minute' WHERE id = $1`,
      [invited.body.user.id],
    );
    const late = await stack.api('/v1/console/invitations', {
      body: { token: invited.body.invitation.token, password: PASSWORD },
      token: null,
    });
    expect(late).toMatchObject({ status: 404, body: { error: { details: [{ path: 'token' }] } } });
    const again = await stack.api(`/v1/partners/${partners.a.id}/users/${invited.body.user.id}/invitation`, {
      method: 'POST',
    });
    expect(again.status).toBe(201);
    const accepted = await stack.api('/v1/console/invitations', {
      body: { token: again.body.invitation.token, password: PASSWORD },
      token: null,
    });
    expect(accepted.status).toBe(200);
  });

  it('the session cookie reads /v1/me and the partner’s own data, and another partner’s answers 404', async () => {
    const me = await asConsole(maria.cookie, '/v1/me');
    expect(me).toMatchObject({
      status: 200,
      body: {
        kind: 'partner',
        via: 'console',
        name: 'Maria',
        login: 'maria@partner-a.example',
        roles: ['admin', 'finance'],
        partnerId: partners.a.id,
        partnerName: `Partner ${partners.a.id}`,
        userId: maria.id,
      },
    });
    const own = await asConsole(
      maria.cookie,
      `/v1/partners/${partners.a.id}/positions?from=${DAY}&to=${DAY}`,
    );
    expect(own.status).toBe(200);
    // A partner-key route (GET) reads too, scoped the same way.
    expect((await asConsole(maria.cookie, `/v1/positions?from=${DAY}&to=${DAY}`)).status).toBe(200);
    for (const path of [
      `/v1/partners/${partners.b.id}/positions?from=${DAY}&to=${DAY}`,
      `/v1/partners/${partners.b.id}/users`,
    ]) {
      const other = await asConsole(maria.cookie, path);
      expect({ path, status: other.status }).toEqual({ path, status: 404 });
    }
    // Operator-only reads stay operators'.
    expect((await asConsole(maria.cookie, '/v1/partners')).status).toBe(403);
    // The API key reads /v1/me as the partner.
    expect((await stack.api('/v1/me', { token: partners.a.apiKey })).body).toMatchObject({
      kind: 'partner',
      via: 'api-key',
      partnerId: partners.a.id,
      roles: [],
    });
    expect((await stack.api('/v1/me', { token: admin })).body).toEqual({
      kind: 'operator',
      name: 'olga-admin',
      roles: ['admin'],
      via: 'token',
    });
  });

  it('the partner’s admin user invites its own users, never another partner’s; an operator shows as operations', async () => {
    const tom = await invite(partners.a.id, { login: 'tom@partner-a.example', roles: ['viewer'] }, maria);
    expect(tom.status).toBe(201);
    expect(tom.body.user.createdBy).toBe(`partner:${partners.a.id}#user:maria@partner-a.example`);
    const audit = await stack.db.pool.query(
      `SELECT actor, actor_role AS role FROM audit_events WHERE action = 'POST /v1/partners/{partnerId}/users' ORDER BY id DESC LIMIT 1`,
    );
    expect(audit.rows[0]).toEqual({
      actor: `partner:${partners.a.id}#user:maria@partner-a.example`,
      role: 'admin finance',
    });
    expect(
      (await invite(partners.b.id, { login: 'intruder@b.example', roles: ['admin'] }, maria)).status,
    ).toBe(404);

    const list = await asConsole(maria.cookie, `/v1/partners/${partners.a.id}/users`);
    expect(list.status).toBe(200);
    const logins = (list.body.users as { login: string }[]).map((u) => u.login);
    expect(logins).toEqual([...logins].sort());
    expect(logins).toEqual(
      expect.arrayContaining(['maria@partner-a.example', 'tom@partner-a.example', 'late@partner-a.example']),
    );
    // Whom an operator invited reads as operations to the partner; the operator sees the name.
    const invitedByOperator = (list.body.users as { login: string; createdBy: string }[]).find(
      (u) => u.login === 'maria@partner-a.example',
    );
    expect(invitedByOperator!.createdBy).toBe('operations');
    expect(JSON.stringify(list.body)).not.toContain('olga');
    const asOperator = await stack.api(`/v1/partners/${partners.a.id}/users?status=active&limit=1`);
    expect(asOperator.body.users).toHaveLength(1);
    expect(asOperator.body.users[0].createdBy).toBe('clearhouse#olga-admin');
    expect(asOperator.body.nextCursor).not.toBeNull();
    const next = await stack.api(
      `/v1/partners/${partners.a.id}/users?status=active&limit=1&cursor=${asOperator.body.nextCursor as string}`,
    );
    expect(next.body.users[0].login > asOperator.body.users[0].login).toBe(true);
  });

  it('writes with the cookie need the console’s header and, from a browser, the same origin (CSRF)', async () => {
    const path = `/v1/partners/${partners.a.id}/users`;
    const body = { login: 'csrf@partner-a.example', displayName: 'C', roles: ['viewer'] };
    const bare = await asConsole(maria.cookie, path, { body, consoleHeader: false });
    expect(bare).toMatchObject({
      status: 403,
      body: { error: { details: [{ path: 'headers.x-clearhouse-console' }] } },
    });
    const crossSite = await asConsole(maria.cookie, path, {
      body,
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite).toMatchObject({
      status: 403,
      body: { error: { details: [{ path: 'headers.sec-fetch-site' }] } },
    });
    const sameSite = await asConsole(maria.cookie, path, {
      body,
      headers: { 'sec-fetch-site': 'same-site' },
    });
    expect(sameSite.status).toBe(403);
    const sameOrigin = await asConsole(maria.cookie, path, {
      body,
      headers: { 'sec-fetch-site': 'same-origin' },
    });
    expect(sameOrigin.status).toBe(201);
    // Reads need neither.
    expect(
      (await asConsole(maria.cookie, '/v1/me', { headers: { 'sec-fetch-site': 'cross-site' } })).status,
    ).toBe(200);
  });

  it('partner users read; they push nothing, and only admin users manage users', async () => {
    const tom = await activeUser(partners.a.id, 'tom2@partner-a.example', ['viewer', 'finance'], maria);
    expect((await asConsole(tom.cookie, '/v1/me')).body.roles).toEqual(['viewer', 'finance']);
    const push = await asConsole(tom.cookie, '/v1/transactions', {
      body: { batchId: 'b-1', transactions: [] },
    });
    expect(push).toMatchObject({
      status: 403,
      body: { error: { message: 'partner users read; integrations use the API key' } },
    });
    // Even an admin user pushes nothing.
    expect(
      (await asConsole(maria.cookie, '/v1/transactions', { body: { batchId: 'b-1', transactions: [] } }))
        .status,
    ).toBe(403);
    const invite2 = await invite(partners.a.id, { login: 'nope@partner-a.example', roles: ['viewer'] }, tom);
    expect(invite2).toMatchObject({
      status: 403,
      body: { error: { message: /partner user with the admin role/ } },
    });
    const revoke = await asConsole(tom.cookie, `/v1/partners/${partners.a.id}/users/${maria.id}/revocation`, {
      method: 'POST',
    });
    expect(revoke.status).toBe(403);
  });

  it('revocation ends the user’s session at once; a partner’s admin cannot reach another partner’s users', async () => {
    const sam = await activeUser(partners.a.id, 'sam@partner-a.example', ['viewer'], maria);
    expect((await asConsole(sam.cookie, '/v1/me')).status).toBe(200);
    const other = await activeUser(partners.b.id, 'olly@partner-b.example', ['viewer']);
    expect(
      (
        await asConsole(maria.cookie, `/v1/partners/${partners.b.id}/users/${other.id}/revocation`, {
          method: 'POST',
        })
      ).status,
    ).toBe(404);
    // Another partner's user through one's own partner id: not found either.
    expect(
      (
        await asConsole(maria.cookie, `/v1/partners/${partners.a.id}/users/${other.id}/revocation`, {
          method: 'POST',
        })
      ).status,
    ).toBe(404);

    const revoked = await asConsole(
      maria.cookie,
      `/v1/partners/${partners.a.id}/users/${sam.id}/revocation`,
      {
        method: 'POST',
      },
    );
    expect(revoked.status).toBe(200);
    expect(revoked.body.user).toMatchObject({
      status: 'revoked',
      revokedBy: `partner:${partners.a.id}#user:maria@partner-a.example`,
    });
    const after = await asConsole(sam.cookie, '/v1/me');
    expect(after).toMatchObject({
      status: 401,
      body: { error: { details: [{ path: 'cookies.clearhouse_console' }] } },
    });
    expect((await signIn('sam@partner-a.example', PASSWORD)).status).toBe(401);
    // Repeating changes nothing; a revoked user gets no new invitation.
    const repeat = await stack.api(`/v1/partners/${partners.a.id}/users/${sam.id}/revocation`, {
      method: 'POST',
    });
    expect(repeat.body.user.revokedAt).toBe(revoked.body.user.revokedAt);
    expect(
      (await stack.api(`/v1/partners/${partners.a.id}/users/${sam.id}/invitation`, { method: 'POST' }))
        .status,
    ).toBe(409);
    // An operator admin revokes too.
    const byOperator = await stack.api(`/v1/partners/${partners.b.id}/users/${other.id}/revocation`, {
      method: 'POST',
      token: admin,
    });
    expect(byOperator.body.user.revokedBy).toBe('clearhouse#olga-admin');
    expect((await asConsole(other.cookie, '/v1/me')).status).toBe(401);
  });

  it('a wrong password, an unknown login and a revoked user fail alike (401, one message)', async () => {
    const wrong = await signIn('maria@partner-a.example', 'not the passphrase at all');
    const unknown = await signIn('nobody@partner-a.example', PASSWORD);
    const malformed = await signIn('a b', PASSWORD);
    for (const r of [wrong, unknown, malformed]) {
      expect(r.status).toBe(401);
      expect(r.cookie).toBeNull();
      expect(r.text).toContain('Sign-in failed: the login and password, or the token, were not accepted.');
    }
  });

  it('a forged, expired or outdated session is refused; a header credential wins over the cookie', async () => {
    const keys = partnerSessionKeys(stack.config.secretsKey, stack.config.api.publicUrl);
    const forged = await mintPartnerSession(partnerSessionKeys('another key', stack.config.api.publicUrl), {
      userId: maria.id,
      sessionVersion: 1,
    });
    expect((await asConsole(forged.token, '/v1/me')).status).toBe(401);
    const version = (
      await stack.db.pool.query(`SELECT session_version FROM partner_users WHERE id = $1`, [maria.id])
    ).rows[0].session_version as number;
    const outdated = await mintPartnerSession(keys, { userId: maria.id, sessionVersion: version - 1 });
    expect((await asConsole(outdated.token, '/v1/me')).status).toBe(401);
    const current = await mintPartnerSession(keys, { userId: maria.id, sessionVersion: version });
    expect((await asConsole(current.token, '/v1/me')).status).toBe(200);
    const expired = await mintPartnerSession(keys, {
      userId: maria.id,
      sessionVersion: version,
      ttlSeconds: -60,
    });
    expect((await asConsole(expired.token, '/v1/me')).status).toBe(401);
    // An Authorization header decides, whatever cookie is sent.
    const both = await stack.api('/v1/me', {
      token: partners.b.apiKey,
      headers: { cookie: `clearhouse_console=${maria.cookie}` },
    });
    expect(both.body.partnerId).toBe(partners.b.id);
  });

  it('a suspended partner’s users still read, and change nothing', async () => {
    await setPartnerStatus(stack.db.pool, partners.a.id, 'active', 'suspended');
    try {
      expect((await asConsole(maria.cookie, '/v1/me')).body.partnerStatus).toBe('suspended');
      expect((await asConsole(maria.cookie, `/v1/partners/${partners.a.id}/users`)).status).toBe(200);
      const write = await invite(
        partners.a.id,
        { login: 'while-suspended@a.example', roles: ['viewer'] },
        maria,
      );
      expect(write).toMatchObject({ status: 403, body: { error: { message: /suspended/ } } });
    } finally {
      await setPartnerStatus(stack.db.pool, partners.a.id, 'suspended', 'active');
    }
  });

  it('documents the routes: roles, the console session as a security scheme, no userId GET to walk', async () => {
    const spec = (await stack.api('/openapi.json', { token: null })).body;
    expect(spec.components.securitySchemes.consoleSession).toMatchObject({
      type: 'apiKey',
      in: 'cookie',
      name: 'clearhouse_console',
    });
    const create = spec.paths['/v1/partners/{partnerId}/users'].post;
    expect(create['x-required-role']).toBe('admin');
    expect(create.security).toEqual([
      { operatorToken: ['admin'] },
      { consoleSession: ['partner-user:admin'] },
    ]);
    expect(spec.paths['/v1/me'].get['x-required-role']).toBe('any');
    expect(spec.paths['/v1/console/invitations'].post['x-required-role']).toBe('none');
  });
});
