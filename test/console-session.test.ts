import express, { Router } from 'express';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { createApp } from '../api/app';
import { consoleSessionRoutes } from '../api/console-session';
import { errorHandler } from '../api/errors';
import { activatePartner, registerPartner } from '../db/partners';
import { createLogger } from '../platform/logger';
import { launchBrowser } from './support/browser';
import { uniqueId } from './support/env';
import { startStack, type Stack } from './support/stack';

// The console's sign-in pages: operators with a token or, in development on this machine, as a
// demo person; partner users with login and password, or by setting a password with their
// invitation. Each sets the HttpOnly, SameSite=Strict session cookie the API then reads; a
// form from another site signs no one in; signing out ends a partner user's sessions. The
// pages are plain HTML under a strict policy, and pass the accessibility check.

const PASSWORD = 'a long enough passphrase';

let stack: Stack;
let partnerId: string;
let admin: string;

interface Answer {
  status: number;
  location: string | null;
  cookie: string | null;
  setCookie: string[];
  headers: Headers;
  text: string;
}

async function call(
  base: string,
  path: string,
  init: { form?: Record<string, string>; headers?: Record<string, string>; method?: string } = {},
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method: init.method ?? (init.form ? 'POST' : 'GET'),
    headers: {
      ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...init.headers,
    },
    ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    redirect: 'manual',
  });
  const setCookie = res.headers.getSetCookie();
  const session = setCookie
    .map((c) => /^clearhouse_console=([^;]*)/.exec(c)?.[1])
    .find((v) => v !== undefined);
  return {
    status: res.status,
    location: res.headers.get('location'),
    cookie: session ?? null,
    setCookie,
    headers: res.headers,
    text: await res.text(),
  };
}
const page = (path: string, init?: Parameters<typeof call>[2]) => call(stack.baseUrl, path, init);

const withCookie = (cookie: string, path: string, init: Parameters<Stack['api']>[1] = {}) =>
  stack.api(path, {
    token: null,
    ...init,
    headers: { cookie: `clearhouse_console=${cookie}`, ...init.headers },
  });

async function invitation(login: string, roles = ['viewer']): Promise<{ userId: string; token: string }> {
  const res = await stack.api(`/v1/partners/${partnerId}/users`, {
    body: { login, displayName: login.split('@')[0], roles },
    token: admin,
  });
  expect(res.status).toBe(201);
  return { userId: res.body.user.id as string, token: res.body.invitation.token as string };
}

/** What every page of the sign-in must be: its own policy, no script, one h1, labelled inputs. */
function expectPlainAccessibleHtml(a: Answer): void {
  expect(a.headers.get('content-type')).toMatch(/^text\/html/);
  const csp = a.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("form-action 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(a.headers.get('cache-control')).toBe('no-store');
  expect(a.text).toMatch(/^<!doctype html><html lang="en">/);
  expect(a.text).not.toMatch(/<script|\sstyle=|\son[a-z]+=/i);
  expect(a.text.match(/<h1[ >]/g)).toHaveLength(1);
  expect(a.text).toContain('<main');
  expect(a.text).toContain('<link rel="stylesheet" href="/console/assets/console.css">');
  for (const input of a.text.match(/<input [^>]*>/g) ?? []) {
    if (/type="hidden"/.test(input)) continue;
    const id = /id="([^"]+)"/.exec(input)?.[1];
    expect({ input, labelled: !!id && a.text.includes(`<label for="${id}">`) }).toEqual({
      input,
      labelled: true,
    });
  }
}

beforeAll(async () => {
  stack = await startStack({ workers: false });
  admin = await stack.tokenFor('olga-admin', 'admin');
  partnerId = uniqueId('cs');
  await registerPartner(stack.db.pool, {
    id: partnerId,
    name: 'Console Partner',
    kind: 'provider',
    timezone: 'Europe/Malta',
    settlementCurrency: 'EUR',
  });
  await activatePartner(stack.db.pool, partnerId);
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('operators', () => {
  it('the sign-in page is plain HTML under a strict policy, with the demo people on this machine in development', async () => {
    const signIn = await page('/console/sign-in');
    expect(signIn.status).toBe(200);
    expectPlainAccessibleHtml(signIn);
    expect(signIn.text).toContain('Sign in as ana (viewer, resolver, approver)</button>');
    expect(signIn.text).toContain('Sign in as bo (viewer, resolver, approver)</button>');
    expect(signIn.text).toContain('autocomplete="current-password"');
  });

  it('signs a demo person in: an HttpOnly, SameSite=Strict cookie for the whole origin that reads operator routes', async () => {
    const signedIn = await page('/console/session', { form: { as: 'ana' } });
    expect(signedIn.status).toBe(303);
    expect(signedIn.location).toBe('/console/');
    const set = signedIn.setCookie.find((c) => c.startsWith('clearhouse_console='))!;
    expect(set).toMatch(/; Path=\/(;|$)/);
    expect(set).toMatch(/; HttpOnly/);
    expect(set).toMatch(/; SameSite=Strict/);
    expect(set).not.toMatch(/; Secure/); // plain HTTP, not production
    const maxAge = Number(/Max-Age=(\d+)/.exec(set)?.[1]);
    expect(maxAge).toBeGreaterThan(11 * 3600);
    expect(maxAge).toBeLessThanOrEqual(12 * 3600);

    const me = await withCookie(signedIn.cookie!, '/v1/me');
    expect(me.body).toEqual({
      kind: 'operator',
      name: 'ana',
      roles: ['viewer', 'resolver', 'approver'],
      via: 'token',
    });
    expect((await withCookie(signedIn.cookie!, '/v1/partners')).status).toBe(200);
    // Ana is no admin: the cookie carries her roles, not more.
    const write = await withCookie(signedIn.cookie!, `/v1/partners/${partnerId}/users`, {
      body: { login: 'by-ana@x.example', displayName: 'A', roles: ['viewer'] },
      headers: { 'x-clearhouse-console': '1' },
    });
    expect(write.status).toBe(403);
  });

  it('signs an operator in with a signed token; a cookie write needs the console header (CSRF)', async () => {
    const signedIn = await page('/console/session', {
      form: { token: admin, next: `/console/partners/${partnerId}` },
    });
    expect(signedIn).toMatchObject({ status: 303, location: `/console/partners/${partnerId}` });
    const body = { login: 'by-olga@x.example', displayName: 'B', roles: ['viewer'] };
    const path = `/v1/partners/${partnerId}/users`;
    const bare = await withCookie(signedIn.cookie!, path, { body });
    expect(bare).toMatchObject({
      status: 403,
      body: { error: { details: [{ path: 'headers.x-clearhouse-console' }] } },
    });
    const crossSite = await withCookie(signedIn.cookie!, path, {
      body,
      headers: { 'x-clearhouse-console': '1', 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite).toMatchObject({
      status: 403,
      body: { error: { details: [{ path: 'headers.sec-fetch-site' }] } },
    });
    const ok = await withCookie(signedIn.cookie!, path, {
      body,
      headers: { 'x-clearhouse-console': '1', 'sec-fetch-site': 'same-origin' },
    });
    expect(ok.status).toBe(201);
    expect(ok.body.user.createdBy).toBe('clearhouse#olga-admin');
    // Somewhere else than the console after signing in: never.
    for (const next of ['https://evil.example/', '//evil.example', '/console/../v1/me', '/docs']) {
      const r = await page('/console/session', { form: { token: admin, next } });
      expect({ next, location: r.location }).toEqual({ next, location: '/console/' });
    }
  });

  it('refuses the bootstrap token, a bad token and an unknown demo person alike, with one message (401)', async () => {
    const forms: Record<string, string>[] = [
      { token: stack.operatorToken },
      { token: 'a.b.c' },
      { as: 'mallory' },
      {},
    ];
    for (const form of forms) {
      const r = await page('/console/session', { form });
      expect({ form, status: r.status, cookie: r.cookie }).toEqual({ form, status: 401, cookie: null });
      expect(r.text).toContain('Sign-in failed: the login and password, or the token, were not accepted.');
      expectPlainAccessibleHtml(r);
    }
  });

  it('signs no one in from a form of another site (login CSRF)', async () => {
    for (const site of ['cross-site', 'same-site']) {
      const r = await page('/console/session', { form: { as: 'ana' }, headers: { 'sec-fetch-site': site } });
      expect({ site, status: r.status, cookie: r.cookie }).toEqual({ site, status: 403, cookie: null });
    }
    const ok = await page('/console/session', {
      form: { as: 'ana' },
      headers: { 'sec-fetch-site': 'same-origin' },
    });
    expect(ok.status).toBe(303);
  });
});

describe('partner users', () => {
  it('set a password with the invitation’s page and are signed in; the link works once', async () => {
    const { token } = await invitation('petra@console.example', ['admin']);
    const closed = await page('/console/invitation?token=not-a-token');
    expect(closed.status).toBe(404);
    expectPlainAccessibleHtml(closed);

    const form = await page(`/console/invitation?token=${token}`);
    expect(form.status).toBe(200);
    expectPlainAccessibleHtml(form);
    expect(form.text).toContain('petra@console.example');
    expect(form.text).toContain('autocomplete="new-password"');

    const short = await page('/console/invitation', { form: { token, password: 'short', confirm: 'short' } });
    expect(short.status).toBe(422);
    expect(short.text).toMatch(/<input id="password"[^>]*aria-invalid="true"/);
    expectPlainAccessibleHtml(short);
    const differ = await page('/console/invitation', {
      form: { token, password: PASSWORD, confirm: `${PASSWORD}.` },
    });
    expect(differ.status).toBe(422);
    expect(differ.text).toMatch(/<input id="confirm"[^>]*aria-invalid="true"/);
    const crossSite = await page('/console/invitation', {
      form: { token, password: PASSWORD, confirm: PASSWORD },
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);

    const set = await page('/console/invitation', { form: { token, password: PASSWORD, confirm: PASSWORD } });
    expect(set).toMatchObject({ status: 303, location: '/console/' });
    expect((await withCookie(set.cookie!, '/v1/me')).body).toMatchObject({
      kind: 'partner',
      login: 'petra@console.example',
      partnerId,
      partnerName: 'Console Partner',
    });
    expect((await page(`/console/invitation?token=${token}`)).status).toBe(404);
    expect(
      (await page('/console/invitation', { form: { token, password: PASSWORD, confirm: PASSWORD } })).status,
    ).toBe(404);

    // And sign in with it later; the login in any case.
    const again = await page('/console/session', {
      form: { login: 'Petra@Console.example', password: PASSWORD },
    });
    expect(again).toMatchObject({ status: 303, location: '/console/' });
    const wrong = await page('/console/session', {
      form: { login: 'petra@console.example', password: 'x'.repeat(12) },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('value="petra@console.example"');
  });

  it('signing out clears the cookie and ends the user’s sessions; only from the console’s origin', async () => {
    const { token } = await invitation('sven@console.example');
    const set = await page('/console/invitation', { form: { token, password: PASSWORD, confirm: PASSWORD } });
    const other = await page('/console/session', {
      form: { login: 'sven@console.example', password: PASSWORD },
    });
    expect((await withCookie(other.cookie!, '/v1/me')).status).toBe(200);

    const cookie = { cookie: `clearhouse_console=${set.cookie!}` };
    const crossSite = await page('/console/sign-out', {
      method: 'POST',
      headers: { ...cookie, 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    expect((await withCookie(set.cookie!, '/v1/me')).status).toBe(200);

    const out = await page('/console/sign-out', {
      method: 'POST',
      headers: { ...cookie, 'sec-fetch-site': 'same-origin' },
    });
    expect(out).toMatchObject({ status: 303, location: '/console/sign-in' });
    expect(out.setCookie.find((c) => c.startsWith('clearhouse_console=;'))).toMatch(
      /Expires=Thu, 01 Jan 1970/,
    );
    expect((await withCookie(set.cookie!, '/v1/me')).status).toBe(401);
    expect((await withCookie(other.cookie!, '/v1/me')).status).toBe(401);
    // An operator signs out too (their token simply leaves the browser).
    const ana = await page('/console/session', { form: { as: 'ana' } });
    const anaOut = await page('/console/sign-out', {
      method: 'POST',
      headers: { cookie: `clearhouse_console=${ana.cookie!}` },
    });
    expect(anaOut.status).toBe(303);
  });

  it('the pages pass the accessibility check (axe-core, WCAG 2.1 A and AA) in a real browser', async () => {
    const { token } = await invitation('axel@console.example');
    const browser = await launchBrowser();
    try {
      const tab = await browser.newPage();
      const axe = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
      for (const path of [
        '/console/sign-in',
        `/console/invitation?token=${token}`,
        '/console/invitation?token=x',
      ]) {
        await tab.goto(`${stack.baseUrl}${path}`);
        await tab.evaluate(axe);
        // As a string: the test's TypeScript has no DOM types; the page's CSP does not govern evaluate.
        const violations = await tab.evaluate(`(async () => {
          const r = await window.axe.run(document, {
            runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
          });
          return r.violations.map((v) => v.id + ': ' + v.help);
        })()`);
        expect({ path, violations }).toEqual({ path, violations: [] });
      }
      // A person signs in with the keyboard alone.
      await tab.goto(`${stack.baseUrl}/console/sign-in`);
      await tab.getByLabel('Login').focus();
      await tab.keyboard.type('axel@console.example');
      await tab.keyboard.press('Tab');
      expect(await tab.evaluate('document.activeElement.id')).toBe('password');
    } finally {
      await browser.close();
    }
  }, 60_000);
});

describe('where the demo sign-in exists', () => {
  /** The API's console sign-in with other settings, on its own server at `host`. */
  async function serve(
    host: string,
    config: Stack['config'],
  ): Promise<{ base: string; close: () => Promise<void> }> {
    const app = express();
    const router = Router();
    const logger = createLogger(config, 'console-session-test');
    consoleSessionRoutes(router, { config, db: stack.db.appPool, temporal: stack.temporal, logger });
    app.use(router);
    app.use(errorHandler(logger));
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, host, () => resolve(s));
    });
    const { port } = server.address() as AddressInfo;
    return {
      base: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  it('not in production: no demo person, and the cookie is Secure', async () => {
    const production = await serve('127.0.0.1', { ...stack.config, nodeEnv: 'production' });
    try {
      const signIn = await call(production.base, '/console/sign-in');
      expect(signIn.text).not.toContain('Sign in as ana');
      expect((await call(production.base, '/console/session', { form: { as: 'ana' } })).status).toBe(401);
      const token = await call(production.base, '/console/session', { form: { token: admin } });
      expect(token.setCookie.find((c) => c.startsWith('clearhouse_console='))).toMatch(/; Secure/);
    } finally {
      await production.close();
    }
  });

  it('not with another issuer than the development one', async () => {
    const other = await serve('127.0.0.1', {
      ...stack.config,
      api: {
        ...stack.config.api,
        operatorTokens: { ...stack.config.api.operatorTokens, secret: 'a-real-secret-of-a-real-issuer' },
      },
    });
    try {
      expect((await call(other.base, '/console/sign-in')).text).not.toContain('Sign in as ana');
      expect((await call(other.base, '/console/session', { form: { as: 'ana' } })).status).toBe(401);
    } finally {
      await other.close();
    }
  });

  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
  (external ? it : it.skip)('not for a browser on another machine (a non-loopback address)', async () => {
    const app = createApp({
      config: stack.config,
      db: stack.db.appPool,
      temporal: stack.temporal,
      logger: createLogger(stack.config, 'console-session-test'),
    });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, external!, () => resolve(s));
    });
    const base = `http://${external!}:${(server.address() as AddressInfo).port}`;
    try {
      expect((await call(base, '/console/sign-in')).text).not.toContain('Sign in as ana');
      const refused = await call(base, '/console/session', {
        form: { as: 'ana' },
        // A forwarded address decides nothing: the socket's does.
        headers: { 'x-forwarded-for': '127.0.0.1' },
      });
      expect(refused.status).toBe(401);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  });

  it('failed sign-ins count against the failures allowed per address', async () => {
    const limited = await startStack({
      workers: false,
      overrides: { RATE_LIMIT_FAILURES_PER_ADDRESS_PER_MINUTE: '3' },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await call(limited.baseUrl, '/console/session', { form: { token: 'a.b.c' } })).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      await limited.close();
    }
  });
});
