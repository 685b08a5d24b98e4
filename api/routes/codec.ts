import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { actorKey } from '../../domain/actors';
import { SEALED_DECISION_ENCODING, type SealSource } from '../../domain/decisions';
import { sealDecision, verifyKeysFrom, verifySealed } from '../../platform/decision-seal';
import { mintOperatorToken, operatorActor, type OperatorIdentity } from '../../platform/operators';
import { DEV_DEFAULTS } from '../../platform/config';
import { DEMO_PEOPLE, isLoopback } from '../../platform/demo-people';
import { authDeps, verifyOperatorToken } from '../auth';
import { escapeHtml } from '../html';
import type { ApiDeps } from '../deps';
import { sealingKeyOf } from '../updates';

/**
 * Clearhouse's remote codec for the Temporal CLI and Web UI (Temporal's codec server protocol:
 * POST /codec/encode and /codec/decode with `{"payloads": [...]}`), and the sign-in that tells
 * it who the person in the browser is.
 *
 * /encode seals a decision — a JSON payload naming its target, `{"workflowId", "update", …}`
 * — with the actor of the caller's verified identity: the CLI's `--codec-auth "Bearer <operator
 * token>"` (source temporal-cli), or the Web UI's session cookie (source temporal-ui). Other
 * payloads pass unchanged; a decision without a verified person is refused (401), and the UI
 * then sends nothing. /decode shows a sealed decision readably (who sealed it, for what, until
 * when) to a signed-in operator.
 *
 * In development the Temporal UI is served through a gateway on its own origin
 * (scripts/lib/ui-gateway.mjs), so the UI's fetch carries the session cookie with no CORS.
 */
export const SESSION_COOKIE = 'clearhouse_session';
const MAX_BODY = '2mb';

const payloadSchema = z.object({
  metadata: z.record(z.string(), z.string()).optional(),
  data: z.string().optional(),
});
const codecBody = z.object({ payloads: z.array(payloadSchema).max(1000) });
type WirePayload = z.infer<typeof payloadSchema>;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64');

function cookie(req: Request, name: string): string | null {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

function problem(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message, details: [] } });
}

export function codecRoutes(router: Router, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  // The demo sign-in (one click as ana or bo) exists only for the development issuer, outside
  // production, and only for a browser on this machine: anywhere else it would be two approvers
  // for anyone.
  const demo =
    deps.config.nodeEnv !== 'production' &&
    deps.config.api.operatorTokens.secret === DEV_DEFAULTS.OPERATOR_JWT_SECRET;
  const demoFor = (req: Request) => demo && isLoopback(req.socket.remoteAddress);
  // Parsed once, on the first decode that needs them.
  let keys: ReturnType<typeof verifyKeysFrom> | null = null;
  const verifyKeys = () => (keys ??= verifyKeysFrom(deps.config.decisionSeals));

  /** Who calls the codec: a bearer operator token (CLI), else the session cookie (Web UI). */
  async function caller(req: Request): Promise<{ who: OperatorIdentity; source: SealSource } | null> {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    if (bearer) {
      const who = await verifyOperatorToken(auth, bearer);
      return who ? { who, source: 'temporal-cli' } : null;
    }
    const session = cookie(req, SESSION_COOKIE);
    const who = session ? await verifyOperatorToken(auth, session) : null;
    return who ? { who, source: 'temporal-ui' } : null;
  }

  const json = express.json({ limit: MAX_BODY, type: 'application/json' });
  /**
   * Who may send a body here, before it is read: a verified operator (the caller is kept on
   * res.locals), from this origin or no browser at all (the CLI), never a page of another site.
   */
  const signedIn: RequestHandler = (req, res, next) => {
    if (!sameOriginOrNoBrowser(req))
      return problem(res, 403, 'forbidden', "codec calls come from the UI's own origin or the CLI");
    caller(req).then((identity) => {
      if (!identity)
        return problem(
          res,
          401,
          'unauthorized',
          'the codec serves signed-in operators: sign in at /clearhouse/codec/sign-in (Web UI), or pass --codec-auth "Bearer <operator token>" (CLI)',
        );
      res.locals.identity = identity;
      next();
    }, next);
  };

  router.post('/codec/encode', signedIn, json, async (req, res, next) => {
    try {
      const body = codecBody.safeParse(req.body);
      if (!body.success)
        return problem(res, 422, 'invalid', 'send {"payloads": [...]} (Temporal codec protocol)');
      const namespace = req.get('x-namespace') || deps.config.temporal.namespace;
      const identity = res.locals.identity as { who: OperatorIdentity; source: SealSource };
      const out: WirePayload[] = [];
      for (const p of body.data.payloads) {
        const decision = decisionIn(p);
        if (!decision) {
          out.push(p);
          continue;
        }
        const { payload } = sealDecision(sealingKeyOf(deps.config), {
          target: { namespace, workflowId: decision.workflowId, decision: decision.decision },
          actor: operatorActor(identity.who),
          source: identity.source,
          decision: decision.fields,
          ttlMs: deps.config.decisionSeals.ttlMs,
        });
        out.push({
          metadata: Object.fromEntries(
            Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(payload.data ?? []).toString('base64'),
        });
        req.log?.info(
          {
            decision: decision.decision,
            workflowId: decision.workflowId,
            actor: actorKey(operatorActor(identity.who)),
          },
          'decision sealed',
        );
      }
      res.json({ payloads: out });
    } catch (err) {
      next(err);
    }
  });

  router.post('/codec/decode', signedIn, json, async (req, res, next) => {
    try {
      const body = codecBody.safeParse(req.body);
      if (!body.success)
        return problem(res, 422, 'invalid', 'send {"payloads": [...]} (Temporal codec protocol)');
      const sealed = body.data.payloads.some(
        (p) => unb64(p.metadata?.encoding).toString() === SEALED_DECISION_ENCODING,
      );
      if (!sealed) return res.json({ payloads: body.data.payloads });
      const keys = verifyKeys();
      res.json({
        payloads: body.data.payloads.map((p) => {
          if (unb64(p.metadata?.encoding).toString() !== SEALED_DECISION_ENCODING) return p;
          const v = verifySealed(unb64(p.data), keys);
          const shown = v.ok
            ? {
                ...v.signed.decision,
                sealedBy: v.signed.seal.actor.name,
                actor: actorKey(v.signed.seal.actor),
                via: v.signed.seal.source,
                for: `${v.signed.seal.target.workflowId} ${v.signed.seal.target.decision}`,
                sealedAt: new Date(v.signed.seal.issuedAt).toISOString(),
              }
            : { unverifiedSeal: v.problem };
          return { metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(shown)) };
        }),
      });
    } catch (err) {
      next(err);
    }
  });

  // Sign-in for the Web UI: an operator token (or, in development, a demo person) becomes an
  // HttpOnly SameSite=Strict session cookie on the UI's origin.
  router.get('/codec/sign-in', (req, res) => {
    res
      .set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
      .type('html')
      .send(signInPage(demoFor(req)));
  });

  const form = express.urlencoded({ extended: false, limit: '16kb' });
  router.post('/codec/session', form, async (req, res, next) => {
    try {
      // Login CSRF: a form posted from another site must not sign this browser in.
      const site = req.get('sec-fetch-site');
      if (site && site !== 'same-origin' && site !== 'none')
        return problem(res, 403, 'forbidden', 'sign in from the sign-in page');
      const given = (req.body ?? {}) as { token?: unknown; as?: unknown };
      let token: string | null =
        typeof given.token === 'string' && given.token.trim() ? given.token.trim() : null;
      if (!token && demoFor(req) && typeof given.as === 'string') {
        const demo = DEMO_PEOPLE.find((p) => p.name === given.as);
        if (demo) token = await mintOperatorToken(deps.config.api.operatorTokens, demo);
      }
      const who = token ? await verifyOperatorToken(auth, token) : null;
      if (!token || !who) return problem(res, 401, 'unauthorized', 'not a valid operator token');
      // Sent only to the codec's own paths (behind the gateway: /clearhouse/codec), never to
      // the Temporal UI server; Secure in production; gone when the token expires.
      const exp = decodeJwt(token).exp ?? 0;
      res.cookie(SESSION_COOKIE, token, {
        httpOnly: true,
        sameSite: 'strict',
        secure: req.secure || deps.config.nodeEnv === 'production',
        path: `${forwardedPrefix(req)}/codec`,
        maxAge: Math.max(0, exp * 1000 - Date.now()),
      });
      res
        .status(200)
        .set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'")
        .type('html')
        .send(
          `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed in</title></head><body><main>` +
            `<h1>Signed in as ${escapeHtml(who.name)}</h1><p>Decisions you send from the Temporal UI on this address are sealed with your identity.</p>` +
            `<p><a href="/">Open the Temporal UI</a></p></main></body></html>`,
        );
    } catch (err) {
      next(err);
    }
  });

  router.post('/codec/sign-out', (req, res) => {
    res
      .clearCookie(SESSION_COOKIE, { path: `${forwardedPrefix(req)}/codec` })
      .status(204)
      .end();
  });
}

/** A call from a page of this origin, or from no browser at all (the Temporal CLI sends no Sec-Fetch-Site). */
function sameOriginOrNoBrowser(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  return !site || site === 'same-origin' || site === 'none';
}

/** The path prefix the UI's gateway serves the codec under (`/clearhouse`), or none. */
function forwardedPrefix(req: Request): string {
  const prefix = req.get('x-forwarded-prefix') ?? '';
  return /^(\/[A-Za-z0-9_-]+)*$/.test(prefix) ? prefix : '';
}

/** A payload that names a decision's target: JSON with "workflowId" and "update" (its name). */
function decisionIn(
  p: WirePayload,
): { workflowId: string; decision: string; fields: Record<string, unknown> } | null {
  if (unb64(p.metadata?.encoding).toString() !== 'json/plain') return null;
  let value: unknown;
  try {
    value = JSON.parse(unb64(p.data).toString('utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { workflowId, update, ...fields } = value as Record<string, unknown>;
  if (typeof workflowId !== 'string' || typeof update !== 'string') return null;
  return { workflowId, decision: update, fields };
}

function signInPage(dev: boolean): string {
  const demo = dev
    ? `<h2>Development: sign in as a demo operator</h2>` +
      DEMO_PEOPLE.map(
        (p) =>
          `<form method="post" action="session"><input type="hidden" name="as" value="${p.name}">` +
          `<button type="submit">Sign in as ${p.name} (${p.roles.join(', ')})</button></form>`,
      ).join('')
    : '';
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Clearhouse sign-in</title></head><body><main>` +
    `<h1>Sign in to decide in the Temporal UI</h1>` +
    `<p>Decisions (approvePayout, resolveException, decideApplication, provideInformation) are sealed with the identity you sign in with.</p>` +
    demo +
    `<h2>Sign in with an operator token</h2><form method="post" action="session">` +
    `<label for="token">Operator token</label> <input id="token" name="token" type="password" autocomplete="off" required>` +
    ` <button type="submit">Sign in</button></form></main></body></html>`
  );
}
