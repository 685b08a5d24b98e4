import { isGrpcServiceError } from '@temporalio/client';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { z } from 'zod';
import {
  DomainError,
  NotFoundError,
  TooManyRequestsError,
  type ErrorCode,
  type ErrorDetail,
} from '../domain/errors';
import type { Logger } from '../platform/logger';

/** The one error body every 4xx/5xx uses: { error: { code, message, details: [{ path, message }] } }. */
export interface ErrorBody {
  error: { code: string; message: string; details: ErrorDetail[] };
}

const statusByCode: Record<ErrorCode, number> = {
  bad_request: 400,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  validation_failed: 422,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  unavailable: 503,
};

export function errorBody(code: string, message: string, details: ErrorDetail[] = []): ErrorBody {
  return { error: { code, message, details } };
}

/** zod issues → details naming each field by its dotted path (prefix: where it came from). */
export function zodDetails(error: z.ZodError, prefix = ''): ErrorDetail[] {
  const pathOf = (path: PropertyKey[]) =>
    [prefix, ...path.map(String)].filter(Boolean).join('.') || prefix || 'body';
  // An unknown key is named itself, one detail each: "operator: not a field of this request".
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({
          path: pathOf([...i.path, k]),
          message: `unknown field "${k}": not accepted here`,
        }))
      : [{ path: pathOf(i.path), message: i.message }],
  );
}

/** Seconds a client is told to wait when a dependency is down (Retry-After). */
export const UNAVAILABLE_RETRY_AFTER_S = 2;

/**
 * Which dependency an error says is unreachable right now (Postgres restarting or failing
 * over, Temporal restarting), or null. Such a request is answered 503 with Retry-After: the
 * client retries the same request (every write is idempotent), nothing was partly written.
 */
export function unavailableDependency(err: unknown): 'database' | 'Temporal' | null {
  const grpc = [err, (err as { cause?: unknown } | null)?.cause].find(isGrpcServiceError);
  // UNAVAILABLE, DEADLINE_EXCEEDED: the server is not answering (any other code is an answer).
  if (grpc) {
    const code: number = grpc.code;
    return code === 14 || code === 4 ? 'Temporal' : null;
  }
  const e = err as { code?: unknown; message?: unknown };
  // SQLSTATE 08 (connection exception), 57P01–57P03 (shutdown, cannot connect now), 53300
  // (too many connections); socket errors pg passes on; the pool's own connect timeout.
  if (typeof e.code === 'string' && /^(08[0-9A-Z]{3}|57P0[1-3]|53300)$/.test(e.code)) return 'database';
  if (typeof e.code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(e.code))
    return 'database';
  if (
    typeof e.message === 'string' &&
    /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(
      e.message,
    )
  )
    return 'database';
  return null;
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`no route for ${req.method} ${req.path}`));
};

/** Maps every error to the one error format. Only an unexpected error is a 500, and it is logged. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) return;
    // Refused before its body was read (no credentials, no role, a path or method that does
    // not exist): close the connection after the answer, or Node would read the unread body to
    // keep the connection alive, and an unknown caller could make the API take in gigabytes.
    if (!req.complete) res.set('connection', 'close');
    if (err instanceof DomainError) {
      if (err instanceof TooManyRequestsError) res.set('retry-after', String(err.retryAfterSeconds));
      res.status(statusByCode[err.code]).json(errorBody(err.code, err.message, err.details));
      return;
    }
    // Errors raised by express/body-parser carry `type` and `status`.
    const e = err as { type?: string; status?: number; message?: string; limit?: number };
    if (e.type === 'entity.parse.failed') {
      res
        .status(400)
        .json(
          errorBody('bad_request', 'request body is not valid JSON', [
            { path: 'body', message: 'malformed JSON' },
          ]),
        );
      return;
    }
    if (e.type === 'entity.too.large') {
      res
        .status(413)
        .json(
          errorBody('payload_too_large', `request body exceeds ${e.limit ?? 'the'} bytes limit`, [
            { path: 'body', message: 'too large' },
          ]),
        );
      return;
    }
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      res.status(415).json(errorBody('unsupported_media_type', e.message ?? 'unsupported encoding'));
      return;
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json(errorBody('bad_request', e.message ?? 'bad request'));
      return;
    }
    // A database data or constraint error that input validation let through: the request is
    // at fault, not the server. Named by its column or constraint; logged, because the rule
    // that let it through should be fixed at the root (one validation rule with the database).
    const pgError = err as { code?: unknown; column?: unknown; constraint?: unknown };
    if (typeof pgError.code === 'string' && /^2[23][0-9A-Z]{3}$/.test(pgError.code)) {
      logger.warn(
        { err, method: req.method, path: req.path },
        'database refused input that validation accepted',
      );
      const field =
        typeof pgError.column === 'string'
          ? pgError.column
          : typeof pgError.constraint === 'string'
            ? pgError.constraint
            : 'body';
      const conflict = pgError.code === '23505';
      res.status(conflict ? 409 : 422).json(
        errorBody(
          conflict ? 'conflict' : 'validation_failed',
          conflict ? 'conflicts with stored data' : 'a value is outside what can be stored',
          [
            {
              path: field,
              message: conflict ? 'already exists' : `refused by the database (${pgError.code})`,
            },
          ],
        ),
      );
      return;
    }
    const down = unavailableDependency(err);
    if (down) {
      logger.warn({ err, method: req.method, path: req.path }, `${down} unavailable: answered 503`);
      res
        .status(503)
        .set('retry-after', String(UNAVAILABLE_RETRY_AFTER_S))
        .json(
          errorBody(
            'unavailable',
            `${down === 'database' ? 'the database' : 'Temporal'} is unavailable right now: retry the same request shortly`,
          ),
        );
      return;
    }
    logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
    res.status(500).json(errorBody('internal', 'internal error'));
  };
}
