import express, { type Request, type Response, type Router } from 'express';
import { decodeJwt } from 'jose';
import { credentialsOf, endSessions, openInvitation } from '../db/partner-users';
import { NotFoundError } from '../domain/errors';
import { DEV_DEFAULTS } from '../platform/config';
import { DEMO_PEOPLE, isLoopback } from '../platform/demo-people';
import { mintOperatorToken } from '../platform/operators';
import {
  INVITATION_TOKEN_PATTERN,
  invitationHash,
  isPartnerSession,
  MIN_PASSWORD_LENGTH,
  mintPartnerSession,
  partnerSessionKeys,
  passwordMatches,
  registerPartnerSessions,
  verifyPartnerSession,
} from '../platform/partner-sessions';
import { authDeps, CONSOLE_COOKIE, readCookie, verifyOperatorToken } from './auth';
import type { ApiDeps } from './deps';
import { escapeHtml } from './html';
import { passwordSchema, useInvitation } from './routes/partner-users';

/**
 * The console's sign-in, sign-out and invitation pages (server-rendered HTML, no script, a
 * strict content-security policy). Signing in sets the session cookie `clearhouse_console`
 * (HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS and in production) that the console's
 * calls to the API carry (api/auth.ts):
 *  - an operator: a signed operator token (minted, or from the OIDC issuer; never the bootstrap
 *    token), or in development, on this machine, one click as a demo person (ana, bo) as on the
 *    Temporal UI's codec sign-in;
 *  - a partner user: login and password; the cookie holds a session token of twelve hours at
 *    most, checked against the database on every request.
 * A failed sign-in says one thing whatever failed, and answers 401, which the API's limit of
 * failed authentications per address counts (api/rate-limits.ts).
 */

const CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SIGN_IN_FAILED =
  'Sign-in failed: the login and password, or the token, were not accepted. Check them and try again.';
const LOGIN_PATTERN = /^[a-z0-9._@+-]{3,200}$/;

type Form = Record<string, unknown>;
const field = (form: Form, name: string): string => {
  const v = form[name];
  return typeof v === 'string' ? v : '';
};

/** Where to go after signing in: a page of the console (its path and query), never another site. */
function nextPath(value: string): string {
  const [path = '', query] = value.split(/\?(.*)/s, 2);
  const pathOk =
    /^\/console(\/[A-Za-z0-9._~%+:,@!$'()*;=&/-]*)?$/.test(path) && !/\/\/|(^|\/)\.\.?(\/|$)/.test(path);
  const queryOk = query === undefined || /^[A-Za-z0-9._~%+:,@!$'()*;=&/?-]*$/.test(query);
  return pathOk && queryOk ? value : '/console/';
}

/** A form posted from a page of this origin (or no browser saying otherwise): login CSRF. */
function fromThisOrigin(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  return site === undefined || site === 'same-origin' || site === 'none';
}

function html(res: Response, status: number, title: string, body: string): void {
  res
    .status(status)
    .set('Content-Security-Policy', CSP)
    .set('Cache-Control', 'no-store')
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
        `<meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${escapeHtml(title)} · Clearhouse console</title>` +
        `<link rel="stylesheet" href="/console/assets/console.css"></head>` +
        `<body class="session-page"><main id="main" class="session">${body}</main></body></html>`,
    );
}

const alert = (message: string | null) =>
  message ? `<p class="error" role="alert" id="form-error">${escapeHtml(message)}</p>` : '';

function signInPage(opts: { demo: boolean; error: string | null; login?: string; next: string }): string {
  const next = `<input type="hidden" name="next" value="${escapeHtml(opts.next)}">`;
  const described = opts.error ? ' aria-describedby="form-error"' : '';
  const demo = opts.demo
    ? `<section aria-labelledby="demo-heading"><h2 id="demo-heading">Development: sign in as a demo operator</h2>` +
      DEMO_PEOPLE.map(
        (p) =>
          `<form method="post" action="/console/session" class="demo">${next}` +
          `<input type="hidden" name="as" value="${escapeHtml(p.name)}">` +
          `<button type="submit">Sign in as ${escapeHtml(p.name)} (${p.roles.join(', ')})</button></form>`,
      ).join('') +
      `</section>`
    : '';
  return (
    `<h1>Sign in to the Clearhouse console</h1>` +
    alert(opts.error) +
    demo +
    `<section aria-labelledby="partner-heading"><h2 id="partner-heading">Partner users</h2>` +
    `<form method="post" action="/console/session">${next}` +
    `<p><label for="login">Login</label> <input id="login" name="login" type="text" autocomplete="username" ` +
    `autocapitalize="none" spellcheck="false" required value="${escapeHtml(opts.login ?? '')}"${described}></p>` +
    `<p><label for="password">Password</label> <input id="password" name="password" type="password" ` +
    `autocomplete="current-password" required${described}></p>` +
    `<p><button type="submit">Sign in</button></p></form>` +
    `<p>New here? Open the link of your invitation to set a password.</p></section>` +
    `<section aria-labelledby="operator-heading"><h2 id="operator-heading">Operators</h2>` +
    `<form method="post" action="/console/session">${next}` +
    `<p><label for="token">Operator token</label> <input id="token" name="token" type="password" ` +
    `autocomplete="off" required${described}></p>` +
    `<p><button type="submit">Sign in with the token</button></p></form>` +
    `<p>A signed operator token (<code>npm run cli -- operator:token</code>, or your identity provider's), ` +
    `not the bootstrap token.</p></section>`
  );
}

function invitationPage(opts: {
  token: string;
  login: string;
  partnerId: string;
  error: { field: 'password' | 'confirm'; message: string } | null;
}): string {
  const invalid = (name: 'password' | 'confirm') =>
    opts.error?.field === name ? ' aria-invalid="true" aria-describedby="form-error"' : '';
  return (
    `<h1>Set your password</h1>` +
    `<p>You were invited to the Clearhouse console as <strong>${escapeHtml(opts.login)}</strong> ` +
    `(partner ${escapeHtml(opts.partnerId)}). Choose a password of at least ${MIN_PASSWORD_LENGTH} characters; ` +
    `this link works once.</p>` +
    alert(opts.error?.message ?? null) +
    `<form method="post" action="/console/invitation">` +
    `<input type="hidden" name="token" value="${escapeHtml(opts.token)}">` +
    // For password managers: the account the new password belongs to.
    `<input type="hidden" name="username" autocomplete="username" value="${escapeHtml(opts.login)}">` +
    `<p><label for="password">New password</label> <input id="password" name="password" type="password" ` +
    `autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required${invalid('password')}></p>` +
    `<p><label for="confirm">Repeat the password</label> <input id="confirm" name="confirm" type="password" ` +
    `autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required${invalid('confirm')}></p>` +
    `<p><button type="submit">Set the password and sign in</button></p></form>`
  );
}

const CLOSED_INVITATION =
  `<h1>This invitation is not open</h1>` +
  `<p>It was used, it expired (invitations last 72 hours), or the link is incomplete. ` +
  `Ask your administrator for a new one, or <a href="/console/sign-in">sign in</a> if you have set your password.</p>`;

export function consoleSessionRoutes(router: Router, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const sessions = partnerSessionKeys(deps.config.secretsKey, deps.config.api.publicUrl);
  // The API's authentication reads partner users' sessions with these keys (api/auth.ts).
  registerPartnerSessions(deps.config.api, sessions);
  // One click as a demo person: the development issuer only, outside production, and only for
  // a browser on this machine (the codec's sign-in holds the same rule).
  const demo =
    deps.config.nodeEnv !== 'production' &&
    deps.config.api.operatorTokens.secret === DEV_DEFAULTS.OPERATOR_JWT_SECRET;
  const demoFor = (req: Request) => demo && isLoopback(req.socket.remoteAddress);
  const production = deps.config.nodeEnv === 'production';

  const setSession = (req: Request, res: Response, token: string, expiresAtMs: number) => {
    res.cookie(CONSOLE_COOKIE, token, {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure || production,
      path: '/',
      maxAge: Math.max(0, expiresAtMs - Date.now()),
    });
  };
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  const posted = (req: Request): Form => (req.body && typeof req.body === 'object' ? (req.body as Form) : {});

  router.get('/console/sign-in', (req, res) => {
    const next = nextPath(typeof req.query.next === 'string' ? req.query.next : '');
    html(res, 200, 'Sign in', signInPage({ demo: demoFor(req), error: null, next }));
  });

  router.post('/console/session', form, async (req, res, next) => {
    try {
      // Login CSRF: a form posted from another site must not sign this browser in.
      if (!fromThisOrigin(req))
        return html(
          res,
          403,
          'Sign in',
          `<h1>Sign in from the sign-in page</h1><p><a href="/console/sign-in">Sign in</a></p>`,
        );
      const given = posted(req);
      const after = nextPath(field(given, 'next'));
      const failed = (login?: string) => {
        req.log?.warn('console sign-in refused');
        html(
          res,
          401,
          'Sign in',
          signInPage({ demo: demoFor(req), error: SIGN_IN_FAILED, next: after, login }),
        );
      };

      const login = field(given, 'login').trim().toLowerCase();
      if (login || field(given, 'password')) {
        const password = field(given, 'password');
        const known = LOGIN_PATTERN.test(login) ? await credentialsOf(deps.db, login) : null;
        // The same work whether the login is known, usable or not: a decoy hash when it is not.
        const matches = await passwordMatches(password, known?.mayUse ? known.passwordHash : null);
        if (!known?.mayUse || !matches) return failed(LOGIN_PATTERN.test(login) ? login : '');
        const session = await mintPartnerSession(sessions, {
          userId: known.id,
          sessionVersion: known.sessionVersion,
        });
        setSession(req, res, session.token, session.expiresAt.getTime());
        req.log?.info({ partnerId: known.partnerId, userId: known.id }, 'console sign-in');
        return res.redirect(303, after);
      }

      let token = field(given, 'token').trim() || null;
      const as = field(given, 'as');
      if (!token && as && demoFor(req)) {
        const person = DEMO_PEOPLE.find((p) => p.name === as);
        if (person) token = await mintOperatorToken(deps.config.api.operatorTokens, person);
      }
      const who = token ? await verifyOperatorToken(auth, token) : null;
      if (!token || !who) return failed();
      setSession(req, res, token, (decodeJwt(token).exp ?? 0) * 1000);
      req.log?.info({ operator: who.name }, 'console sign-in');
      res.redirect(303, after);
    } catch (err) {
      next(err);
    }
  });

  router.post('/console/sign-out', async (req, res, next) => {
    try {
      const site = req.get('sec-fetch-site');
      if (site !== undefined && site !== 'same-origin')
        return html(
          res,
          403,
          'Sign out',
          `<h1>Sign out from the console</h1><p><a href="/console/">Open the console</a></p>`,
        );
      // A partner user's every session ends (their version moves on), not only this browser's.
      const token = readCookie(req, CONSOLE_COOKIE);
      if (token && isPartnerSession(token)) {
        const session = await verifyPartnerSession(sessions, token);
        if (session) await endSessions(deps.db, session.userId, session.sessionVersion);
      }
      res.clearCookie(CONSOLE_COOKIE, {
        httpOnly: true,
        sameSite: 'strict',
        secure: req.secure || production,
        path: '/',
      });
      res.redirect(303, '/console/sign-in');
    } catch (err) {
      next(err);
    }
  });

  router.get('/console/invitation', async (req, res, next) => {
    try {
      const token = typeof req.query.token === 'string' ? req.query.token : '';
      const user = INVITATION_TOKEN_PATTERN.test(token)
        ? await openInvitation(deps.db, invitationHash(token))
        : null;
      if (!user) return html(res, 404, 'Invitation', CLOSED_INVITATION);
      html(
        res,
        200,
        'Set your password',
        invitationPage({ token, login: user.login, partnerId: user.partnerId, error: null }),
      );
    } catch (err) {
      next(err);
    }
  });

  router.post('/console/invitation', form, async (req, res, next) => {
    try {
      if (!fromThisOrigin(req))
        return html(res, 403, 'Invitation', `<h1>Set your password from the invitation's page</h1>`);
      const given = posted(req);
      const token = field(given, 'token');
      const user = INVITATION_TOKEN_PATTERN.test(token)
        ? await openInvitation(deps.db, invitationHash(token))
        : null;
      if (!user) return html(res, 404, 'Invitation', CLOSED_INVITATION);
      const password = field(given, 'password');
      const problem = !passwordSchema.safeParse(password).success
        ? ({
            field: 'password',
            message: `The password needs at least ${MIN_PASSWORD_LENGTH} characters.`,
          } as const)
        : password !== field(given, 'confirm')
          ? ({ field: 'confirm', message: 'The two passwords differ: type the same one twice.' } as const)
          : null;
      if (problem)
        return html(
          res,
          422,
          'Set your password',
          invitationPage({ token, login: user.login, partnerId: user.partnerId, error: problem }),
        );
      let accepted;
      try {
        accepted = await useInvitation(deps, req, token, password);
      } catch (err) {
        // Used a moment ago by another request.
        if (err instanceof NotFoundError) return html(res, 404, 'Invitation', CLOSED_INVITATION);
        throw err;
      }
      const session = await mintPartnerSession(sessions, {
        userId: accepted.id,
        sessionVersion: accepted.sessionVersion,
      });
      setSession(req, res, session.token, session.expiresAt.getTime());
      req.log?.info({ partnerId: accepted.partnerId, userId: accepted.id }, 'console invitation accepted');
      res.redirect(303, '/console/');
    } catch (err) {
      next(err);
    }
  });
}
