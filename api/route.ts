import { type OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  BadRequestError,
  MethodNotAllowedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../domain/errors';
import { appendAudit } from '../db/audit';
import {
  authenticate,
  CONSOLE_COOKIE,
  principalActor,
  principalRoles,
  type AuthDeps,
  type AuthRequirement,
  type Principal,
} from './auth';
import { zodDetails } from './errors';
import { errorResponses } from './schemas';
import { checkBodyText, checkRequestLineText } from './text-rule';

/**
 * A route is declared once: its schemas validate the request and, through the same
 * objects, document it in the OpenAPI spec. A route cannot drift from its documentation.
 */
type AnyObject = z.ZodObject<z.ZodRawShape>;

export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Send as text instead of JSON (operators only: a partner's answer is always its body as the
   * route's partner view projects it; a partner-facing text format goes through `render`).
   */
  text?: { contentType: string; body: string };
  /** Renders the body — after the partner view projected it, for a partner — as text (CSV, say). */
  render?: (body: never) => { contentType: string; body: string };
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  req: Request;
  res: Response;
}

export interface RouteSpec<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI style: /v1/partners/{id} */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Who may call it: declared here, enforced by mountRoute, shown in the OpenAPI spec. */
  auth: AuthRequirement;
  /**
   * What a partner reads of a successful answer: an allow-list (api/partner-view.ts). Every
   * field it does not name is dropped and an operator's name becomes a role, so a field added
   * to the answer later stays hidden from partners until someone allows it here. Required
   * when `auth` lets a partner call the route: mountRoute refuses to mount one without it.
   */
  partnerView?: z.ZodType;
  /**
   * Partner users (people signed in to the console) read what their partner reads; a partner
   * user holding this role may also call this route, whatever operator role `auth` names and
   * though it is not a GET (its admin users manage the partner's own users). Not a partner's
   * API key. The handler scopes such a caller to its own partner; partnerView applies.
   */
  partnerUserRole?: 'admin';
  /**
   * Every successful call of a route that is not a GET is recorded in the audit trail (who,
   * role, action, target, request id, digest of the request body). `false` for a route that
   * changes nothing (a dry run), or one that records its own event with `auditEvent` (its
   * caller is known only from its body, as when an invitation is accepted).
   */
  audit?: false;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * A body that is not JSON (a camt.053 XML document, a CSV file): documented here as required
   * with its media type; the handler reads and checks it itself (no JSON reader runs).
   */
  rawBody?: { contentType: string; description: string; example?: string };
  /** Optional hot-path validator: returns the body when it is plainly valid, else null (then the schema decides). */
  fastBody?: (raw: unknown) => z.infer<B> | null;
  bodyExample?: unknown;
  responses: RouteConfig['responses'];
  handler: (ctx: RouteContext<z.infer<P>, z.infer<Q>, z.infer<B>>) => Promise<RouteResult>;
}

const empty = z.object({});

/** The methods each mounted path answers, for the 405 of every other method (methodNotAllowed). */
const mountedPaths = new WeakMap<Router, Map<string, { pattern: RegExp; methods: Set<string> }>>();

/** A route's JSON body reader: run only once its sender is authenticated and allowed. */
function jsonReader(limit: number): RequestHandler {
  return express.json({
    limit,
    type: JSON_TYPES,
    // The audit trail records a digest of what was sent, from the bytes themselves.
    verify: (req, _res, buf) => {
      (req as Request).res!.locals[BODY_DIGEST] = createHash('sha256').update(buf).digest('hex');
    },
  });
}
const JSON_TYPES = ['application/json', 'application/*+json'];

function readJson(reader: RequestHandler, req: Request, res: Response): Promise<void> {
  if (!req.is(JSON_TYPES)) {
    const length = req.get('content-length');
    if ((length === undefined || length === '0') && req.get('transfer-encoding') === undefined)
      return Promise.reject(
        new BadRequestError('this operation needs a JSON body', [{ path: 'body', message: 'required' }]),
      );
    return Promise.reject(
      new UnsupportedMediaTypeError('expected Content-Type: application/json', [
        { path: 'headers.content-type', message: `${req.get('content-type') ?? 'none'} is not JSON` },
      ]),
    );
  }
  return new Promise((resolve, reject) =>
    // body-parser's errors (413, malformed JSON) carry the status the error handler answers.
    reader(req, res, (err?: unknown) =>
      err ? reject(err instanceof Error ? err : new Error('unreadable body')) : resolve(),
    ),
  );
}

export function mountRoute<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(
  router: Router,
  registry: OpenAPIRegistry,
  deps: AuthDeps,
  spec: RouteSpec<P, Q, B>,
): void {
  const partnerMayCall = spec.auth === 'partner' || spec.auth === 'any' || spec.partnerUserRole !== undefined;
  if (spec.partnerUserRole !== undefined) documentConsoleSession(registry);
  if (partnerMayCall && !spec.partnerView)
    throw new Error(
      `${spec.method.toUpperCase()} ${spec.path}: a route partners may call needs a partnerView`,
    );

  registry.registerPath({
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: spec.tags,
    security: securityOf(spec.auth, spec.partnerUserRole),
    'x-required-role': spec.auth,
    request: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { query: spec.query } : {}),
      ...(spec.body
        ? {
            body: {
              required: true,
              content: {
                'application/json': {
                  schema: spec.body,
                  ...(spec.bodyExample === undefined ? {} : { example: spec.bodyExample }),
                },
              },
            },
          }
        : spec.rawBody
          ? {
              body: {
                required: true,
                description: spec.rawBody.description,
                content: {
                  [spec.rawBody.contentType]: {
                    schema: z.string(),
                    ...(spec.rawBody.example === undefined ? {} : { example: spec.rawBody.example }),
                  },
                },
              },
            }
          : {}),
    },
    responses: { ...standardResponses(spec), ...spec.responses },
  });

  const expressPath = spec.path.replace(/\{(\w+)\}/g, ':$1');
  const reader = spec.body ? jsonReader(deps.bodyLimitBytes) : null;
  let paths = mountedPaths.get(router);
  if (!paths)
    mountedPaths.set(router, (paths = new Map<string, { pattern: RegExp; methods: Set<string> }>()));
  const mounted = paths.get(spec.path) ?? {
    // Express matches paths case-insensitively, with or without a trailing slash.
    pattern: new RegExp(
      `^${spec.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}/?$`,
      'i',
    ),
    methods: new Set<string>(),
  };
  mounted.methods.add(spec.method.toUpperCase());
  paths.set(spec.path, mounted);

  router[spec.method](expressPath, async (req, res, next) => {
    try {
      const principal = await authenticate(
        deps,
        req,
        spec.auth,
        spec.partnerUserRole ? { partnerUserRole: spec.partnerUserRole } : {},
      );
      checkRequestLineText(req.params, req.query);
      const params = parseOr(spec.params ?? empty, req.params, 'params', BadRequestError);
      const query = parseOr(spec.query ?? empty, req.query, 'query', BadRequestError);
      let body: unknown = undefined;
      if (spec.body && reader) {
        await readJson(reader, req, res);
        checkBodyText(req.body);
        body = spec.fastBody?.(req.body) ?? parseOr(spec.body, req.body, '', ValidationError);
      }
      const result = await spec.handler({
        params: params as z.infer<P>,
        query: query as z.infer<Q>,
        body: body as z.infer<B>,
        principal,
        req,
        res,
      });
      const answer = principal.kind === 'partner' ? forPartner(spec, result) : result;
      if (spec.method !== 'get' && spec.audit !== false && answer.status < 400)
        await auditCall(deps, req, spec, principal, answer.status);
      if (answer.headers) res.set(answer.headers);
      const text = answer.text ?? (answer.render ? answer.render(answer.body as never) : undefined);
      if (text) res.status(answer.status).type(text.contentType).send(text.body);
      else if (answer.body === undefined) res.status(answer.status).end();
      else res.status(answer.status).json(answer.body);
    } catch (err) {
      next(err);
    }
  });
}

/**
 * A partner's answer: the body through the route's partner view (an allow-list), never text
 * built around it. A body the view cannot read is a bug of ours, never sent.
 */
function forPartner(
  spec: { method: string; path: string; partnerView?: z.ZodType },
  result: RouteResult,
): RouteResult {
  if (result.status >= 300) return result;
  const where = `${spec.method.toUpperCase()} ${spec.path}`;
  if (result.text) throw new Error(`${where} answered a partner with text that bypasses its partner view`);
  if (result.body === undefined) return result;
  if (!spec.partnerView) throw new Error(`${where} has no partner view`);
  const projected = spec.partnerView.safeParse(result.body);
  if (!projected.success)
    throw new Error(`${where}: the answer does not fit its partner view: ${projected.error.message}`);
  return { ...result, body: projected.data };
}

/**
 * 405 with Allow for a method a mounted path does not declare (RFC 9110), instead of the 404
 * of a path that does not exist. Mounted after the routes.
 */
export function methodNotAllowed(router: Router): RequestHandler {
  return (req, res, next) => {
    const methods = new Set<string>();
    for (const mounted of mountedPaths.get(router)?.values() ?? [])
      if (mounted.pattern.test(req.path)) for (const m of mounted.methods) methods.add(m);
    if (methods.size === 0) return next();
    const allow = [...[...methods].sort(), ...(methods.has('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
    res.set('allow', allow);
    next(new MethodNotAllowedError(`${req.method} is not allowed on ${req.path}: use ${allow}`));
  };
}

/**
 * What any operation can answer besides its own statuses, documented on every one from the
 * same facts mountRoute enforces: 400 (an unreadable parameter, or text the text rule
 * refuses, in any query string), 401/403 (its auth requirement), the body statuses, 429 (rate
 * limits), 431 (headers over Node's limit, answered before any route), 503 (an outage).
 */
function standardResponses(spec: {
  auth: AuthRequirement;
  method: string;
  body?: unknown;
}): RouteConfig['responses'] {
  const statuses = [400, 429, 503];
  if (spec.auth !== 'none') statuses.push(401);
  // A role or a partner key is checked on every such route; a suspended partner may not write.
  if (spec.auth !== 'none' && (spec.auth !== 'any' || spec.method !== 'get')) statuses.push(403);
  if (spec.body) statuses.push(413, 415, 422);
  return {
    ...errorResponses(...statuses),
    431: {
      description:
        'Request headers larger than the server accepts (answered by the HTTP server, without a body)',
    },
  };
}
/**
 * OpenAPI security per requirement: a partner's API key, an operator's bearer token with the
 * role named as its scope (OpenAPI 3.1 allows role names for any scheme), or either; and the
 * console's session for an operation partner users may call beyond reading (partnerUserRole).
 */
function securityOf(auth: AuthRequirement, partnerUserRole?: 'admin'): Record<string, string[]>[] {
  if (auth === 'none') return [];
  if (auth === 'partner') return [{ partnerApiKey: [] }];
  if (auth === 'any') return [{ partnerApiKey: [] }, { operatorToken: ['viewer'] }];
  return [
    { operatorToken: [auth] },
    ...(partnerUserRole ? [{ consoleSession: [`partner-user:${partnerUserRole}`] }] : []),
  ];
}

/** The console's session cookie as a security scheme, for the operations partner users may call besides operators. */
const documented = new WeakSet<OpenAPIRegistry>();
function documentConsoleSession(registry: OpenAPIRegistry): void {
  if (documented.has(registry)) return;
  documented.add(registry);
  registry.registerComponent('securitySchemes', 'consoleSession', {
    type: 'apiKey',
    in: 'cookie',
    name: CONSOLE_COOKIE,
    description:
      "The console's session (signed in at /console/sign-in): an operator's token, or a partner user's session. It " +
      'authenticates every operation its holder may call when no Authorization header is sent; a write with it also ' +
      'needs the header `X-Clearhouse-Console: 1` (and, from a browser, Sec-Fetch-Site: same-origin). Listed on the ' +
      'operations a partner user may call besides reading, with the partner-user role they need as the scope.',
  });
}

/** The request's body digest, computed from its raw bytes while express.json read them. */
export const BODY_DIGEST = 'clearhouse.bodyDigest';

function auditCall(
  deps: AuthDeps,
  req: Request,
  spec: { method: string; path: string },
  principal: Principal,
  status: number,
): Promise<void> {
  return auditEvent(deps, req, {
    action: `${spec.method.toUpperCase()} ${spec.path}`,
    target: req.path,
    principal,
    status,
    digest: (req.res?.locals[BODY_DIGEST] as string | undefined) ?? null,
  });
}

/**
 * One call in the audit trail: who (principalActor: an operator's actor key, `partner:<id>`
 * for the API key, `partner:<id>#user:<login>` for a partner's person), with which roles,
 * what, on what, the request id and the digest of what was sent.
 */
export async function auditEvent(
  deps: Pick<AuthDeps, 'db'>,
  req: Request,
  event: { action: string; target: string; principal: Principal; status: number; digest: string | null },
): Promise<void> {
  const { principal } = event;
  const requestId = typeof req.id === 'string' ? req.id : JSON.stringify(req.id);
  await appendAudit(deps.db, {
    // Each call is recorded (a caller-chosen request id must not merge two calls into one).
    idempotencyKey: `api:${randomUUID()}`,
    actor: principalActor(principal),
    role: principalRoles(principal),
    action: event.action,
    target: event.target,
    source: 'api',
    requestId,
    afterDigest: event.digest,
    details: {
      status: event.status,
      ...(principal.kind === 'operator' ? { via: principal.via } : {}),
      ...(principal.kind === 'partner' && principal.user ? { via: 'console' } : {}),
    },
  });
}

function parseOr(
  schema: z.ZodType,
  value: unknown,
  where: string,
  ErrorType: typeof BadRequestError | typeof ValidationError,
): unknown {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const details = zodDetails(parsed.error, where);
  throw new ErrorType(
    `invalid ${where || 'request body'}: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`,
    details,
  );
}
