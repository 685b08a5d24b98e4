import { z } from 'zod';
import { partnerKinds, partnerStatuses } from '../domain/partner';

// Response and shared schemas, named for the OpenAPI components section.

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ example: 'validation_failed' }),
      message: z.string(),
      details: z.array(
        z.object({ path: z.string().meta({ example: 'settlementCurrency' }), message: z.string() }),
      ),
    }),
  })
  .meta({ id: 'Error', description: 'The one error format of every 4xx and 5xx response.' });

export const partnerSchema = z
  .object({
    id: z.string().meta({ example: 'pragmatic-eu' }),
    name: z.string(),
    kind: z.enum(partnerKinds),
    timezone: z.string().meta({ example: 'Europe/Malta' }),
    settlementCurrency: z.string().meta({ example: 'EUR' }),
    status: z.enum(partnerStatuses),
    createdAt: z.string(),
    activatedAt: z.string().nullable(),
  })
  .meta({ id: 'Partner' });

export function errorResponses(...statuses: number[]) {
  const text: Record<number, string> = {
    400: 'Malformed request (unreadable JSON, bad query parameter)',
    401: 'Missing or invalid credentials',
    403: 'Credentials lack the role this operation needs, a suspended partner tries to write, or maker-checker refuses the caller',
    404: 'Not found (or not visible to this partner)',
    409: 'Conflicts with what is already stored',
    405: 'This path does not answer this method (see Allow)',
    413: 'Body larger than the limit',
    415: 'Body is not JSON (Content-Type)',
    422: 'Content breaks a rule; details name each field',
    429: 'Too many requests with this credential, or failed authentications from this address: retry after Retry-After seconds',
    503: 'The database or Temporal is unavailable right now (a restart, a failover): nothing was written; retry the same request after Retry-After seconds',
  };
  // Any operation can meet a dependency outage: 503 is documented on every one.
  return Object.fromEntries(
    [...new Set([...statuses, 503])].map((s) => [
      s,
      { description: text[s] ?? 'Error', content: { 'application/json': { schema: errorSchema } } },
    ]),
  );
}

/** A JSON response entry for a route's OpenAPI `responses`. */
export function jsonResponse(schema: z.ZodType, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/**
 * An instant with an explicit offset (RFC 3339), as the UTC instant it names: an offset
 * RFC 3339 allows but Postgres does not (beyond ±15:59) never reaches the database.
 */
export const instantSchema = z.iso.datetime({ offset: true }).transform((v, ctx) => {
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'not an instant' });
    return z.NEVER;
  }
  return new Date(ms).toISOString();
});

/** A settlement (cycle) id as the API takes it in a path: settlement:<partnerId>:<periodStart>. */
export const settlementIdSchema = z
  .string()
  .regex(
    /^settlement:[a-z0-9][a-z0-9-]{1,62}:\d{4}-\d{2}-\d{2}$/,
    'a settlement id: settlement:<partnerId>:<periodStart>',
  );
