import type { ActivityDeps } from './index';

// Placeholder wired into createActivities; replaced by the work of issue 20.
export function disputeActivities(deps: ActivityDeps) {
  void deps;
  return {};
}
