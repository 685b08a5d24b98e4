import { ApplicationFailure } from '@temporalio/workflow';
import { refusalFailureTypes, type Refusal } from '../domain/refusals';

/**
 * Refuses an Update from its validator. The failure carries only what the operator needs
 * (field and reason) and its kind as the failure type (the API answers 422, 403, 409 or 404
 * from it): the Temporal UI and CLI show a failure's stack trace, which would print our
 * source paths.
 */
export function refuse(refusal: Refusal): never {
  const failure = ApplicationFailure.create({
    type: refusalFailureTypes[refusal.kind],
    message: refusal.message,
    nonRetryable: true,
  });
  failure.stack = '';
  throw failure;
}
