// Who decides a restatement: pure, and free of anything a workflow bundle cannot load (the
// restatement workflow's validators use it).
import { samePerson, type Decider } from './actors';
import { conflict, forbidden, type Refusal } from './refusals';

/** A restatement posts after this many approvals, by different people other than its requester. */
export const RESTATEMENT_APPROVALS = 2;

/**
 * Why `who` may not approve (or reject) now, or null: the requester never decides their own
 * restatement, and nobody approves twice (people compared by their verified subject).
 */
export function restatementDecisionProblem(
  who: Decider,
  requester: Decider | null,
  approvals: Decider[],
  awaiting: boolean,
): Refusal | null {
  if (!awaiting) return conflict('the restatement is not awaiting approval (computing, or decided already)');
  if (requester && samePerson(who, requester))
    return forbidden(`${who.name} requested this restatement: two other people approve it`);
  if (approvals.some((a) => samePerson(a, who))) return forbidden(`${who.name} has approved it already`);
  return null;
}
