import type { RequestHandler } from 'express';
import { BadRequestError, ValidationError } from '../domain/errors';

/**
 * Text Clearhouse can store and pass on: Postgres text and jsonb hold no NUL character, and
 * neither UTF-8 nor Temporal's payloads hold a lone UTF-16 surrogate. One rule for every
 * request, checked once after parsing, naming the first offending field; never a 500 from
 * deep inside the database or a client library.
 */
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function unstorableText(value: string): boolean {
  return UNSTORABLE.test(value);
}

function firstUnstorable(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return unstorableText(value) ? path : null;
  if (depth > 64 || value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    const at = `${path}${path ? '.' : ''}${k}`;
    if (unstorableText(k)) return at;
    const found = firstUnstorable(v, at, depth + 1);
    if (found) return found;
  }
  return null;
}

const MESSAGE = 'text must be valid Unicode without NUL characters';

export const rejectUnstorableText: RequestHandler = (req, _res, next) => {
  const inBody = firstUnstorable(req.body, '');
  if (inBody !== null)
    return next(
      new ValidationError(`${inBody || 'body'}: ${MESSAGE}`, [{ path: inBody || 'body', message: MESSAGE }]),
    );
  const inQuery = firstUnstorable(req.query, 'query');
  if (inQuery !== null)
    return next(new BadRequestError(`${inQuery}: ${MESSAGE}`, [{ path: inQuery, message: MESSAGE }]));
  if (unstorableText(req.path))
    return next(new BadRequestError(`path: ${MESSAGE}`, [{ path: 'params', message: MESSAGE }]));
  next();
};
