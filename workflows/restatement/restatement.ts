import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  currentUpdateInfo,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { RestatementStep } from '../../activities/restatements';
import type { Decider } from '../../domain/actors';
import { deciderOf } from '../../domain/decisions';
import { invalid } from '../../domain/refusals';
import { RESTATEMENT_APPROVALS, restatementDecisionProblem } from '../../domain/restatement-approval';
import { decisionGuard } from '../decisions';
import { refuse } from '../refuse';
import { PartnerId } from '../search-attributes';
import {
  approveRestatement,
  rejectRestatement,
  restatementStatus,
  type RestatementInput,
  type RestatementStatus,
  type RestatementView,
} from './messages';

/**
 * Postgres steps: retried until they succeed, except what no retry can fix. Computing and
 * posting say they are alive every few seconds (a chain may take a while, a post waits for the
 * partner's money lock): a worker that dies in the middle is noticed within the heartbeat
 * timeout and another runs the step again, which posts the delta once (one transaction).
 */
const steps = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: ['ConflictError', 'ValidationError', 'NotFoundError', 'DataError'],
  },
});
/** The partner's webhook: backed off for hours. */
const notifying = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 12,
  },
});

const REFUSED = ['ConflictError', 'ValidationError', 'NotFoundError', 'DataError'];

/** A restatement's state, its decisions (Updates with validators) and its steps. */
export class Restatement {
  readonly view: RestatementView = {
    status: 'Computing',
    step: null,
    approvals: [],
    rejectedBy: null,
    notification: 'pending',
    failure: null,
  };
  private readonly decisions = decisionGuard();
  private requester: Decider | null = null;

  constructor(private readonly input: RestatementInput) {
    setHandler(restatementStatus, () => this.view);
  }

  private get awaiting(): boolean {
    return this.view.status === 'AwaitingApproval' && this.view.rejectedBy === null;
  }

  /** The one writer of the restatement's status in the UI (its rows are written by the activities). */
  async publish(status: RestatementStatus, details: string): Promise<void> {
    this.view.status = status;
    setCurrentDetails(`**${status}** — ${details}`);
    await Promise.resolve();
  }

  listen(): void {
    setHandler(
      approveRestatement,
      async (a) => {
        const { who, audit } = this.decisions.accept(a);
        this.view.approvals.push(who);
        await steps.recordAudit({
          action: 'restatement.approve',
          target: `restatement:${this.input.restatementId}`,
          ...audit,
          role: 'approver',
          updateId: currentUpdateInfo()!.id,
          details: {
            approval: this.view.approvals.length,
            needed: RESTATEMENT_APPROVALS,
            ...(a.comment === undefined ? {} : { comment: a.comment }),
          },
        });
        return { approvals: this.view.approvals.length, needed: RESTATEMENT_APPROVALS };
      },
      {
        validator: (a) => {
          const problem =
            this.decisions.problem(a, 'approveRestatement', 'approver') ??
            restatementDecisionProblem(
              deciderOf(a as { operator?: string }),
              this.requester,
              this.view.approvals,
              this.awaiting && this.view.approvals.length < RESTATEMENT_APPROVALS,
            );
          if (problem) refuse(problem);
        },
        description:
          'Approve the restatement (its delta: GET /v1/restatements/{id}), sealed by Clearhouse (API, or the UI/CLI through its codec); two approvers, neither the one who requested it: {"workflowId","update":"approveRestatement","comment"?}',
      },
    );
    setHandler(
      rejectRestatement,
      async (r) => {
        const { who, audit } = this.decisions.accept(r);
        this.view.rejectedBy = { ...who, reason: r.reason.trim() };
        await steps.recordAudit({
          action: 'restatement.reject',
          target: `restatement:${this.input.restatementId}`,
          ...audit,
          role: 'approver',
          updateId: currentUpdateInfo()!.id,
          details: { reason: r.reason.trim() },
        });
        return { rejected: true as const };
      },
      {
        validator: (r) => {
          const reason = (r as { reason?: unknown }).reason;
          const problem =
            this.decisions.problem(r, 'rejectRestatement', 'approver') ??
            (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > 500
              ? invalid('reason: say why the restatement is rejected (1 to 500 characters)')
              : null) ??
            restatementDecisionProblem(
              deciderOf(r as { operator?: string }),
              this.requester,
              [],
              this.awaiting,
            );
          if (problem) refuse(problem);
        },
        description:
          'Reject the restatement (nothing is posted), sealed by Clearhouse: {"workflowId","update":"rejectRestatement","reason"}',
      },
    );
  }

  private adopt(step: RestatementStep): RestatementStep {
    this.view.step = step;
    this.requester = step.requestedBy;
    upsertSearchAttributes([{ key: PartnerId, value: step.partnerId }]);
    return step;
  }

  /** The chain recomputed with the change, the delta stored: what approvers read. */
  async compute(): Promise<RestatementStep> {
    await this.publish('Computing', 'recomputing the period and those after it from their frozen inputs');
    const step = this.adopt(
      await steps.computeRestatement.executeWithOptions(
        { summary: 'the chain from frozen inputs plus the change; the delta stored, not posted' },
        [this.input.restatementId],
      ),
    );
    return step;
  }

  /** True once two approvers approved; false on a rejection. */
  async waitForDecision(): Promise<boolean> {
    await this.publish(
      'AwaitingApproval',
      `${this.view.step!.summary} — waiting for ${RESTATEMENT_APPROVALS} approvers other than ${this.requester?.name ?? 'the requester'} (Update approveRestatement or rejectRestatement)`,
    );
    // The API and the console read it awaiting approval only now, when the Updates are accepted.
    await steps.awaitingApproval(this.input.restatementId);
    await this.decisions.waitWithClock(
      () => this.view.rejectedBy !== null || this.view.approvals.length >= RESTATEMENT_APPROVALS,
    );
    // Each decision's audit is on record before anything moves.
    await condition(
      () => this.view.rejectedBy !== null || this.view.approvals.length >= RESTATEMENT_APPROVALS,
    );
    return this.view.rejectedBy === null;
  }

  async post(): Promise<void> {
    await this.publish('Posting', `approved by ${this.view.approvals.map((a) => a.name).join(' and ')}`);
    this.adopt(
      await steps.postRestatement.executeWithOptions(
        { summary: 'the delta posted once, the new statement versions issued, in one transaction' },
        [this.input.restatementId, this.view.approvals],
      ),
    );
  }

  async reject(): Promise<void> {
    const by = this.view.rejectedBy!;
    this.adopt(
      await steps.rejectRestatement(this.input.restatementId, { actor: by.actor, name: by.name }, by.reason),
    );
    await this.publish('Rejected', `rejected by ${by.name}: ${by.reason}; nothing was posted`);
  }

  async notify(): Promise<void> {
    await this.publish('Notifying', 'signed webhook to the partner');
    try {
      this.view.notification = await notifying.notifyRestatement.executeWithOptions(
        { summary: 'statement.restated, signed' },
        [this.input.restatementId],
      );
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      this.view.notification = 'failed';
      log.warn('partner notification of a restatement failed after retries', { error: err.message });
    }
  }

  /**
   * What no retry can fix (a period of the chain not settled yet, statements that changed since
   * the approval, data that does not recompute) stops the restatement where an operator sees
   * it; nothing was posted. Anything else goes on to Temporal.
   */
  async stopOnRefusal(err: unknown): Promise<void> {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (!(cause instanceof ApplicationFailure) || !REFUSED.includes(cause.type ?? '')) throw err;
    this.view.failure = cause.message;
    await steps.failRestatement(this.input.restatementId, cause.message);
    await this.publish('Failed', `${cause.message}; nothing was posted`);
  }
}
