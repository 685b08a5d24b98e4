import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Decider } from '../../domain/actors';
import type { AutoResolution } from '../../activities/auto-resolution';
import type { BulkFilter, BulkOutcome, BulkPreview, BulkResolutionInput } from '../../domain/bulk';
import type { Sealed } from '../../domain/decisions';
import type { SpentNonce } from '../decisions';
import type {
  BookSummary,
  OpenException,
  PayoutMaker,
  ResolveExceptionsInput,
} from '../../domain/exception-book';
import type { ApprovePayoutInput, SettlementInput, SettlementStatus } from '../../domain/settlement';

// The settlement cycle's messages, defined once and used by the workflow, the API and the
// Temporal UI (whose guide shows the single-exception form of resolveException).

/** What the status query shows: the process and its counts, never the exception book itself. */
export interface CycleView {
  status: SettlementStatus;
  input: SettlementInput;
  frozenAt: string | null;
  reportRows: number | null;
  /** The first open exceptions with their ids (all of them: GET /v1/exceptions?settlementId=…). */
  exceptions: OpenException[];
  exceptionsOpen: number;
  exceptionsTotal: number;
  /**
   * What was decided before people (the contract's rules by rule id, the matcher, expected items
   * and those of earlier cycles that arrived or expired); null until reconciled, and in cycles
   * reconciled before rules existed.
   */
  beforePeople?: AutoResolution | null;
  /** The exception book's version the workflow holds: the fee step refuses any other. */
  bookVersion: number;
  /** Figures shown to the operator (decimal text in the settlement currency). */
  fees: { grossFee: string; taxWithheld: string; netPayable: string; contractVersion: number } | null;
  /** Who approved the payout, in order (display name and actor key). */
  approvals: Decider[];
  /** Who requested the payout (started the cycle), from its plan: never one of its approvers. */
  requestedBy: Decider | null;
  remindersSent: number;
  escalated: boolean;
  /** Runs continued as new while operators resolved (each one's history stays small). */
  continuedRuns: number;
  notification: 'pending' | 'sent' | 'no-webhook' | 'failed';
  fxRates: { from: string; to: string; rate: string; source: string; asOf: string }[];
  /** The statement as issued to the partner (cycles started before statements were issued: absent). */
  statement?: CycleIssue;
  /** The payout as recorded once paid out (absent before, or when nothing was paid). */
  payout?: { amount: string; held: string; dueDate: string } | null;
}

/** A statement version issued: its digest and the acknowledgement deadline; the webhook's fate. */
export interface CycleIssue {
  version: number;
  digest: string;
  issuedAt: string;
  acknowledgeBy: string;
  webhook: 'pending' | 'sent' | 'no-webhook' | 'failed';
}

/**
 * What a run hands to the run it continues as new while operators resolve (its history is
 * bounded: see Cycle.waitForResolutions). Honoured only in a run Temporal continued from
 * another, whose claim on the plan it takes over.
 */
export interface CycleResume {
  frozenAt: string;
  reportRows: number | null;
  remindersSent: number;
  escalated: boolean;
  waitingSince: number | null;
  makers: PayoutMaker[];
  /** The seal clock and the nonces spent whose seals have not expired (decisionGuard's snapshot). */
  seals: { knownMs: number; nonces: (SpentNonce | string)[] };
  /** How many runs came before this one. */
  runs: number;
  /** The book as the previous run last saw it (counts, version, the first open ones). */
  book: BookSummary;
  beforePeople?: AutoResolution | null;
}

/** The cycle's input: the plan as started, and, in a continued run, where it stands. */
export type CycleStart = SettlementInput & { resume?: CycleResume };

/** A resolution message's answer: every item applied or refused with why, and what stays open. */
export interface ResolveResult {
  open: number;
  applied: number;
  refused: { exceptionId: string; reason: string }[];
}

export const resolveException = defineUpdate<ResolveResult, [Sealed<ResolveExceptionsInput>]>(
  'resolveException',
);
/** A CSV of resolutions stored by the API (POST /v1/settlements/{id}/exceptions/import), applied all or nothing. */
export interface ImportResolutionsInput {
  importId: string;
}
export const importResolutions = defineUpdate<ResolveResult, [Sealed<ImportResolutionsInput>]>(
  'importResolutions',
);
/** What a bulk resolution selects now (count, totals, digest): nothing is written. */
export const previewBulkResolution = defineUpdate<BulkPreview, [{ filter: BulkFilter }]>(
  'previewBulkResolution',
);
/** One resolution for every open exception a previewed filter selects (refused if the set changed). */
export const resolveInBulk = defineUpdate<BulkOutcome, [Sealed<BulkResolutionInput>]>('resolveInBulk');
export const approvePayout = defineUpdate<
  { approvals: number; needed: number },
  [Sealed<ApprovePayoutInput>]
>('approvePayout');
export const settlementStatus = defineQuery<CycleView>('status');
