import { type OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { Request, Response, Router } from 'express';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { BadRequestError, ValidationError } from '../domain/errors';
import { appendAudit } from '../db/audit';
import { authenticate, type AuthDeps, type AuthRequirement, type Principal } from './auth';
import { zodDetails } from './errors';

/**
 * A route is declared once: its schemas validate the request and, through the same
 * objects, document it in the OpenAPI spec. A route cannot drift from its documentation.
 */
type AnyObject = z.ZodObject<z.ZodRawShape>;

export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Send as text with this content type instead of JSON. */
  text?: { contentType: string; body: string };
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
   * Every successful call of a route that is not a GET is recorded in the audit trail (who,
   * role, action, target, request id, digest of the request body). `false` for a route that
   * changes nothing (a dry run).
   */
  audit?: false;
  params?: P;
  query?: Q;
  body?: B;
  /** Optional hot-path validator: returns the body when it is plainly valid, else null (then the schema decides). */
  fastBody?: (raw: unknown) => z.infer<B> | null;
  bodyExample?: unknown;
  responses: RouteConfig['responses'];
  handler: (ctx: RouteContext<z.infer<P>, z.infer<Q>, z.infer<B>>) => Promise<RouteResult>;
}

const empty = z.object({});

export function mountRoute<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(
  router: Router,
  registry: OpenAPIRegistry,
  deps: AuthDeps,
  spec: RouteSpec<P, Q, B>,
): void {
  registry.registerPath({
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: spec.tags,
    security: securityOf(spec.auth),
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
        : {}),
    },
    responses: spec.responses,
  });

  const expressPath = spec.path.replace(/\{(\w+)\}/g, ':$1');
  router[spec.method](expressPath, async (req, res, next) => {
    try {
      const principal = await authenticate(deps, req, spec.auth);
      const params = parseOr(spec.params ?? empty, req.params, 'params', BadRequestError);
      const query = parseOr(spec.query ?? empty, req.query, 'query', BadRequestError);
      let body: unknown = undefined;
      if (spec.body) {
        if (!req.is('application/json')) {
          throw new BadRequestError('expected Content-Type: application/json', [
            { path: 'body', message: 'not JSON' },
          ]);
        }
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
      if (spec.method !== 'get' && spec.audit !== false && result.status < 400)
        await auditCall(deps, req, spec, principal, result.status);
      if (result.headers) res.set(result.headers);
      if (result.text) res.status(result.status).type(result.text.contentType).send(result.text.body);
      else if (result.body === undefined) res.status(result.status).end();
      else res.status(result.status).json(result.body);
    } catch (err) {
      next(err);
    }
  });
}

/**
 * OpenAPI security per requirement: a partner's API key, an operator's bearer token with the
 * role named as its scope (OpenAPI 3.1 allows role names for any scheme), or either.
 */
function securityOf(auth: AuthRequirement): Record<string, string[]>[] {
  if (auth === 'none') return [];
  if (auth === 'partner') return [{ partnerApiKey: [] }];
  if (auth === 'any') return [{ partnerApiKey: [] }, { operatorToken: ['viewer'] }];
  return [{ operatorToken: [auth] }];
}

/** The request's body digest, computed from its raw bytes while express.json read them. */
export const BODY_DIGEST = 'clearhouse.bodyDigest';

async function auditCall(
  deps: AuthDeps,
  req: Request,
  spec: { method: string; path: string },
  principal: Principal,
  status: number,
): Promise<void> {
  const requestId = typeof req.id === 'string' ? req.id : JSON.stringify(req.id);
  await appendAudit(deps.db, {
    // Each call is recorded (a caller-chosen request id must not merge two calls into one).
    idempotencyKey: `api:${randomUUID()}`,
    actor:
      principal.kind === 'operator'
        ? principal.name
        : principal.kind === 'partner'
          ? `partner:${principal.partnerId}`
          : 'anonymous',
    role:
      principal.kind === 'operator'
        ? principal.roles.join(' ')
        : principal.kind === 'partner'
          ? 'partner'
          : 'none',
    action: `${spec.method.toUpperCase()} ${spec.path}`,
    target: req.path,
    source: 'api',
    requestId,
    afterDigest: (req.res?.locals[BODY_DIGEST] as string | undefined) ?? null,
    details: { status, ...(principal.kind === 'operator' ? { via: principal.via } : {}) },
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
