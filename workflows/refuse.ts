import { ApplicationFailure } from '@temporalio/workflow';

/**
 * Refuses an Update from its validator. The failure carries only what the operator needs
 * (field and reason): the Temporal UI and CLI show a failure's stack trace, which would print
 * our source paths.
 */
export function refuse(problem: string): never {
  const failure = ApplicationFailure.create({ type: 'InvalidUpdate', message: problem, nonRetryable: true });
  failure.stack = '';
  throw failure;
}
