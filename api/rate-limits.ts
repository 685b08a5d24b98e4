import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { errorBody } from './errors';

export interface RateLimitSettings {
  /** Requests per minute per credential (API key or token); 0 switches the limit off. */
  perCredentialPerMinute: number;
  /** Failed authentications (401: missing or unrecognised credential) per minute per address; 0 off. */
  failuresPerAddressPerMinute: number;
}

const WINDOW_MS = 60_000;

function credentialOf(req: { get(name: string): string | undefined }): string | null {
  const header = req.get('authorization');
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  // The console's session cookie is a credential too (api/console-session.ts): one browser
  // session is limited like one token.
  return m?.[1] ?? req.get('x-api-key') ?? consoleSession(req.get('cookie'));
}

function consoleSession(cookies: string | undefined): string | null {
  const m = cookies ? /(?:^|;\s*)clearhouse_console=([^;]+)/.exec(cookies) : null;
  return m?.[1] ?? null;
}

/**
 * Two limits, both before authentication and body parsing (in-memory per API process; behind
 * several API replicas each replica counts its own):
 *  - per credential: one partner or operator cannot take the API for itself. The key is a
 *    digest of the presented credential, never the credential itself.
 *  - per source address, counting only failed authentication (401): guessing keys is slowed
 *    down. Nothing else counts — not a validation refusal, a 403, a 404, nor a 429 (this limit's
 *    own or the credential's): many partners may share one address behind a NAT, and one of them
 *    sending bad batches or too many must not lock its neighbours out.
 * A limited caller gets 429 in the one error format, with Retry-After and RateLimit headers.
 */
export function rateLimits(settings: RateLimitSettings): RequestHandler[] {
  const refuse =
    (what: string): RequestHandler =>
    (_req, res) => {
      res
        .status(429)
        .json(
          errorBody('rate_limited', `too many ${what}: slow down and retry after the Retry-After seconds`, [
            { path: 'headers', message: what },
          ]),
        );
    };
  const limits: RequestHandler[] = [];
  if (settings.failuresPerAddressPerMinute > 0)
    limits.push(
      rateLimit({
        windowMs: WINDOW_MS,
        limit: settings.failuresPerAddressPerMinute,
        // Counts 401s only. The library counts a request on arrival, before its status is known,
        // and with skipFailedRequests takes it back when it ends unless requestWasSuccessful
        // holds: read here as "ended in a 401". This way round, not skipSuccessfulRequests with
        // the opposite test, because only it also takes back a request whose client left before
        // any answer (a timed-out partner is no guesser); one leaving mid-body still counts, as
        // the body parser answers it 400 at once. Until answered a request counts, so an address
        // cannot have more than `limit` requests in flight.
        skipFailedRequests: true,
        requestWasSuccessful: (_req, res) => res.statusCode === 401,
        standardHeaders: 'draft-8',
        legacyHeaders: false,
        keyGenerator: (req) => `addr:${ipKeyGenerator(req.ip ?? 'unknown')}`,
        skip: (req) => req.path === '/healthz' || req.path === '/readyz',
        handler: refuse('failed authentications from this address'),
      }),
    );
  if (settings.perCredentialPerMinute > 0)
    limits.push(
      rateLimit({
        windowMs: WINDOW_MS,
        limit: settings.perCredentialPerMinute,
        standardHeaders: 'draft-8',
        legacyHeaders: false,
        skip: (req) => credentialOf(req) === null,
        keyGenerator: (req) =>
          `cred:${createHash('sha256')
            .update(credentialOf(req) ?? '')
            .digest('hex')
            .slice(0, 32)}`,
        handler: refuse('requests with this credential'),
      }),
    );
  return limits;
}
