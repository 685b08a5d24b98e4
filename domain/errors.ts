/**
 * The typed failures of Clearhouse. Each kind is mapped once to an HTTP status
 * (api/errors.ts) and once to a Temporal retry decision (activities/failures.ts).
 */
export interface ErrorDetail {
  /** JSON path of the offending field, e.g. "transactions.3.amount" or "body". */
  path: string;
  message: string;
}

export type ErrorCode =
  | 'bad_request'
  | 'unsupported_media_type'
  | 'method_not_allowed'
  | 'validation_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'unavailable';

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  /** Whether trying the same thing again later may succeed. */
  abstract readonly retryable: boolean;
  constructor(
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request itself is unreadable (malformed JSON, bad query string): HTTP 400. */
export class BadRequestError extends DomainError {
  readonly code = 'bad_request';
  readonly retryable = false;
}
/** The request's body is not in a media type the operation reads (JSON): HTTP 415. */
export class UnsupportedMediaTypeError extends DomainError {
  readonly code = 'unsupported_media_type';
  readonly retryable = false;
}
/** The path exists but does not answer this method: HTTP 405 (with Allow). */
export class MethodNotAllowedError extends DomainError {
  readonly code = 'method_not_allowed';
  readonly retryable = false;
}
/** The request is readable but its content breaks a rule: HTTP 422. */
export class ValidationError extends DomainError {
  readonly code = 'validation_failed';
  readonly retryable = false;
}
export class UnauthorizedError extends DomainError {
  readonly code = 'unauthorized';
  readonly retryable = false;
}
export class ForbiddenError extends DomainError {
  readonly code = 'forbidden';
  readonly retryable = false;
}
export class NotFoundError extends DomainError {
  readonly code = 'not_found';
  readonly retryable = false;
}
export class ConflictError extends DomainError {
  readonly code = 'conflict';
  readonly retryable = false;
}
/**
 * Stored data contradicts what a step was told (an invariant broke): no retry can fix it. A
 * workflow step that meets one stops its cycle `Failed` (type `DataError`), restartable once the
 * data is understood, like a database constraint error.
 */
export class DataError extends ConflictError {}
/**
 * Too much in flight right now (e.g. Temporal's limit of Updates in flight per workflow): the
 * same request succeeds later. HTTP 429 with Retry-After; nothing of the request was applied.
 */
export class TooManyRequestsError extends DomainError {
  readonly code = 'rate_limited';
  readonly retryable = true;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    details: ErrorDetail[] = [],
  ) {
    super(message, details);
  }
}
/** A dependency (database, provider, Temporal) is not reachable right now. */
export class UnavailableError extends DomainError {
  readonly code = 'unavailable';
  readonly retryable = true;
  constructor(
    message: string,
    details: ErrorDetail[] = [],
    /** How long the dependency asked us to wait (Retry-After), if it said. */
    readonly retryAfterMs?: number,
  ) {
    super(message, details);
  }
}
