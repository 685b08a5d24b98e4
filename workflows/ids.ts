// The one place that turns business keys into workflow ids, so that a duplicate start for
// the same business fact is rejected by Temporal's id-reuse policy.
export const onboardingWorkflowId = (partnerId: string): string => `onboarding:${partnerId}`;
export const settlementWorkflowId = (partnerId: string, periodStart: string): string =>
  `settlement:${partnerId}:${periodStart}`;
/** The prefix of the Update ids the API sends: any other Update came from the Temporal UI or CLI. */
export const API_UPDATE_PREFIX = 'api:';
/** One close per partner and month (YYYY-MM): a second start of the same close is refused as a duplicate. */
export const periodCloseWorkflowId = (partnerId: string, month: string): string =>
  `period-close:${partnerId}:${month}`;
/** A dispute's durable process, named as the API names it. */
export const disputeWorkflowId = (disputeId: string): string => `dispute:${disputeId}`;
/** A restatement's durable process. */
export const restatementWorkflowId = (restatementId: string): string => `restatement:${restatementId}`;
