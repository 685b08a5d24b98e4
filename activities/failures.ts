import { ApplicationFailure } from '@temporalio/activity';
import { DomainError, UnavailableError } from '../domain/errors';

/**
 * The one mapping from domain errors to Temporal retry behaviour: a failure that cannot
 * succeed on retry (validation, conflict, not found) is non-retryable and carries its
 * class name as the failure type; anything else is left to the activity retry policy.
 */
export function toFailure(err: unknown): unknown {
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
