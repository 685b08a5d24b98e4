import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';

// How the settlement cycle's steps are retried, in one place.

/** The status mirror is a local activity: a short database write, no task queue round trip. */
export const mirror = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** Postgres steps: retried until they succeed, except for errors no retry can fix. */
export const steps = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: ['ConflictError', 'ValidationError', 'NotFoundError'],
  },
});

/**
 * Fetching the report stores where it stands with each page and heartbeats every few seconds: a
 * crashed worker is noticed within the heartbeat timeout and its replacement resumes there. After
 * `maximumAttempts` the provider is taken to be down (an exception, never a guess).
 */
export const fetching = (maximumAttempts: number) =>
  proxyActivities<Activities>({
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '10 seconds',
    retry: {
      initialInterval: '1 second',
      maximumInterval: '30 seconds',
      maximumAttempts,
      nonRetryableErrorTypes: ['ConflictError', 'NotFoundError'],
    },
  });
export const DEFAULT_REPORT_FETCH_ATTEMPTS = 8;

/**
 * Reconciling a whole report is set-based in Postgres, but may take a while at scale (then the
 * rules, the matcher and expected items): it heartbeats, so a worker that dies in the middle is
 * noticed within the heartbeat timeout and another runs it again (every step is idempotent),
 * not after the 20 minutes a start-to-close timeout alone would wait.
 */
export const reconciling = proxyActivities<Activities>({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: ['ConflictError', 'ValidationError', 'NotFoundError'],
  },
});

/** The partner's webhook: backed off for hours; a partner that never answers does not undo the settlement. */
export const notifying = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 12,
  },
});

/** After this many reminders the cycle is escalated (status detail, error log, `escalated`). */
export const ESCALATE_AFTER_REMINDERS = 3;
/** Above the contract's threshold, this many different operators approve the payout. */
export const PAYOUT_APPROVALS = 2;
