import type { Db } from '../db/pool';
import { withFailureMapping } from './failures';
import { partnerActivities } from './partners';
import { settlementActivities } from './settlement';

export interface ActivityDeps {
  db: Db;
}

/** Builds every activity from the resources it needs; workers wire this once, tests pass real ones. */
export function createActivities(deps: ActivityDeps) {
  return withFailureMapping({
    ...partnerActivities(deps),
    ...settlementActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
