import { ApplicationFailure, log } from '@temporalio/activity';
import { callUpstream, UpstreamRefusedError, UpstreamUnavailableError } from '../platform/outbound-http';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from '../platform/webhooks';
import { DomainError, UnavailableError } from '../domain/errors';
import { temporalInvalidArgument } from '../platform/temporal';

/**
 * The one mapping from errors to Temporal retry behaviour: a failure that cannot succeed on
 * retry (validation, conflict, not found, a database data or constraint error, a Temporal
 * invalid argument) is non-retryable and carries its type; anything else is left to the
 * activity retry policy.
 */
export function toFailure(err: unknown): unknown {
  const data = dataError(err);
  if (data) return ApplicationFailure.create({ type: 'DataError', message: data, nonRetryable: true });
  if (err instanceof DomainError) {
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: !err.retryable,
      details: err.details,
      // A dependency that said when to come back (Retry-After) is retried then, not on our backoff.
      ...(err instanceof UnavailableError && err.retryAfterMs ? { nextRetryDelay: err.retryAfterMs } : {}),
    });
  }
  return err;
}

/**
 * A Postgres data or constraint error (SQLSTATE class 22 or 23), or a Temporal invalid
 * argument, cannot succeed on a retry: the same input meets the same rule. Retrying it forever
 * would block the workflow (and its id) for good, so it becomes a non-retryable `DataError`
 * naming the rule. A unique violation (23505) is left retryable: a concurrent writer may have
 * won a race, and the retried step finds its row.
 */
export function dataError(err: unknown): string | null {
  const refused = temporalInvalidArgument(err);
  if (refused !== null) return `data error INVALID_ARGUMENT (Temporal): ${refused}`;
  if (typeof err !== 'object' || err === null) return null;
  const { code, constraint, message } = err as { code?: unknown; constraint?: unknown; message?: unknown };
  if (typeof code !== 'string' || !/^2[23][0-9A-Z]{3}$/.test(code) || code === '23505') return null;
  const rule = typeof constraint === 'string' ? ` (constraint ${constraint})` : '';
  return `data error ${code}${rule}: ${typeof message === 'string' ? message : 'rejected by the database'}`;
}

export /** The one mapping of an outbound call's failure: unavailable is retried (after Retry-After). */
function outboundFailure(err: unknown, refused: (e: UpstreamRefusedError) => Error): unknown {
  if (err instanceof UpstreamUnavailableError) {
    // The raw cause (addresses, system errors) is for operators' logs; the failure, which can
    // end up in an exception a partner reads, carries only the classified message.
    if (err.detail) log.warn('outbound call failed', { error: err.message, detail: err.detail });
    return new UnavailableError(err.message, [], err.retryAfterMs);
  }
  if (err instanceof UpstreamRefusedError) return refused(err);
  return err;
}

/** A webhook receiver's answer is only read to be discarded: a small cap is enough. */
const WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * POSTs one event to a partner's webhook, signed afresh (its own timestamp) with the partner's
 * secret. A refusal or a failure throws UnavailableError, so Temporal retries with backoff (a
 * partner's receiver may be mid-deploy); the message is the classified one.
 */
export async function deliverSignedWebhook(url: string, secret: string, body: string): Promise<void> {
  const ts = Math.floor(Date.now() / 1000);
  try {
    await callUpstream(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: String(ts),
          [SIGNATURE_HEADER]: signWebhook(secret, ts, body),
        },
        body,
      },
      { who: 'partner webhook', maxBytes: WEBHOOK_MAX_RESPONSE_BYTES },
    );
  } catch (err) {
    throw outboundFailure(err, (refused) => new UnavailableError(refused.message));
  }
}

/** Wraps every activity so domain errors cross into Temporal with the right retry flag. */
export function withFailureMapping<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  acts: T,
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toFailure(err);
      }
    };
  }
  return wrapped as T;
}
