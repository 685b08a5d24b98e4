import type { Principal } from './auth';

// What a partner reads of operators' decisions: the decision, the reason and when — a role,
// never a person's name (operators are the operator's staff, not the partner's contacts).

const OPERATIONS = 'operations';

type Decision = { operator?: unknown } | null | undefined;

function withRole<T extends Decision>(d: T): T {
  return d && typeof d === 'object' && 'operator' in d ? { ...d, operator: OPERATIONS } : d;
}

/** An exception (a list row, or one inside a statement or a cycle view) as a partner sees it. */
export function exceptionForPartner<T extends { operator?: unknown; resolution?: unknown }>(e: T): T {
  const out = { ...e };
  if (typeof out.operator === 'string') out.operator = OPERATIONS;
  if (out.resolution && typeof out.resolution === 'object')
    out.resolution = withRole(out.resolution as Decision);
  return out;
}

/** A cycle's live view: exceptions' resolvers and payout approvers become roles. */
export function cycleViewForPartner<
  T extends { exceptions?: { resolution?: unknown }[]; approvals?: string[] },
>(view: T): T {
  return {
    ...view,
    ...(view.exceptions ? { exceptions: view.exceptions.map(exceptionForPartner) } : {}),
    ...(view.approvals ? { approvals: view.approvals.map((_, i) => `approver ${i + 1}`) } : {}),
  };
}

export const isPartner = (p: Principal): boolean => p.kind === 'partner';
