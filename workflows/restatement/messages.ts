import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { RestatementStep } from '../../activities/restatements';
import type { Decider } from '../../domain/actors';
import type { Sealed } from '../../domain/decisions';

export interface RestatementInput {
  /** The restatement the API recorded: everything else is read from Postgres. */
  restatementId: string;
}

export type RestatementStatus =
  | 'Computing'
  | 'AwaitingApproval'
  | 'Posting'
  | 'Notifying'
  | 'Posted'
  | 'NothingToPost'
  | 'Rejected'
  | 'Failed';

export interface RestatementView {
  status: RestatementStatus;
  step: RestatementStep | null;
  approvals: Decider[];
  rejectedBy: (Decider & { reason: string }) | null;
  notification: 'pending' | 'sent' | 'no-webhook' | 'failed';
  failure: string | null;
}

export const restatementStatus = defineQuery<RestatementView>('restatementStatus');

export interface ApproveRestatementInput {
  comment?: string;
  /** Never trusted: who decides is the seal's verified subject (domain/decisions.ts). */
  operator?: string;
}
export const approveRestatement = defineUpdate<
  { approvals: number; needed: number },
  [Sealed<ApproveRestatementInput>]
>('approveRestatement');

export interface RejectRestatementInput {
  reason: string;
  /** Never trusted: who decides is the seal's verified subject (domain/decisions.ts). */
  operator?: string;
}
export const rejectRestatement = defineUpdate<{ rejected: true }, [Sealed<RejectRestatementInput>]>(
  'rejectRestatement',
);
