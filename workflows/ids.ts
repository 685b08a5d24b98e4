// The one place that turns business keys into workflow ids, so that a duplicate start for
// the same business fact is rejected by Temporal's id-reuse policy.
export const onboardingWorkflowId = (partnerId: string): string => `onboarding:${partnerId}`;
export const settlementWorkflowId = (partnerId: string, periodStart: string): string =>
  `settlement:${partnerId}:${periodStart}`;
