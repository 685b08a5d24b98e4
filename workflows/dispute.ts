import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  currentUpdateInfo,
  defineQuery,
  defineUpdate,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { WorkflowAuditInput } from '../activities/audit';
import type { DisputeEventType } from '../activities/disputes';
import type { Sealed } from '../domain/decisions';
import {
  DAY_MS,
  decidedChangeMinor,
  decisionProblem,
  DISPUTE_ESCALATE_AFTER_REMINDERS,
  DISPUTE_REMINDER_EVERY_DAYS,
  disputeStates,
  evidenceProblem,
  evidenceRequestProblem,
  isUndecided,
  outcomeState,
  partnerSealProblem,
  undecidedStates,
  type DecideDisputeInput,
  type DisputeFacts,
  type DisputeState,
  type ProvideEvidenceInput,
  type RequestEvidenceInput,
} from '../domain/disputes';
import { formatAmount } from '../domain/money';
import { conflict, type Refusal } from '../domain/refusals';
import { operatorDuration, operatorTime } from '../domain/settlement';
import { decisionGuard, SEAL_CLOCK_TICK_MS } from './decisions';
import { disputeWorkflowId } from './ids';
import { refuse } from './refuse';
import { PartnerId, SettlementStatus } from './search-attributes';
import { notifying } from './settlement/policies';

export interface DisputeStart {
  /** The dispute the API stored (POST /v1/settlements/{id}/disputes): everything else is read from it. */
  disputeId: string;
  /** Process settings: how often operators are reminded, and after how many it escalates. */
  reminderEveryMs?: number;
  escalateAfterReminders?: number;
}

export interface DisputeView {
  disputeId: string;
  partnerId: string | null;
  settlementId: string | null;
  line: string | null;
  currency: string | null;
  statedAmount: string | null;
  amountClaimed: string | null;
  state: DisputeState;
  deadline: string | null;
  remindersSent: number;
  escalated: boolean;
  evidenceRequests: { note: string; by: string }[];
  evidenceReceived: number;
  decision: { outcome: DisputeState; amount: string | null; reason: string; decidedBy: string } | null;
  restatement: { restatementId: string; workflowId: string } | { error: string } | null;
  notifications: { type: DisputeEventType; result: 'sent' | 'no-webhook' | 'failed' }[];
}

export const disputeStatus = defineQuery<DisputeView>('status');
export const requestEvidence = defineUpdate<DisputeView, [Sealed<RequestEvidenceInput>]>('requestEvidence');
export const provideEvidence = defineUpdate<DisputeView, [Sealed<ProvideEvidenceInput>]>('provideEvidence');
export const decideDispute = defineUpdate<DisputeView, [Sealed<DecideDisputeInput>]>('decideDispute');

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes: ['ConflictError', 'ValidationError', 'NotFoundError', 'DataError'],
  },
});

/** Operators decide with the resolver role (the restatement that follows is approved by two others). */
export const DISPUTE_DECIDER_ROLE = 'resolver';

/**
 * A dispute's state and handlers: the facts (from Postgres), what it publishes (details,
 * search attributes), the sealed messages it answers, its reminders and its notices. The
 * process itself is settlementDispute below.
 */
class Dispute {
  readonly view: DisputeView;
  facts: DisputeFacts | null = null;
  private readonly decisions = decisionGuard();
  private readonly sending: Promise<void>[] = [];
  readonly every: number;
  readonly escalateAfter: number;

  constructor(readonly input: DisputeStart) {
    this.every = input.reminderEveryMs ?? DISPUTE_REMINDER_EVERY_DAYS * DAY_MS;
    this.escalateAfter = input.escalateAfterReminders ?? DISPUTE_ESCALATE_AFTER_REMINDERS;
    this.view = {
      disputeId: input.disputeId,
      partnerId: null,
      settlementId: null,
      line: null,
      currency: null,
      statedAmount: null,
      amountClaimed: null,
      state: 'open',
      deadline: null,
      remindersSent: 0,
      escalated: false,
      evidenceRequests: [],
      evidenceReceived: 0,
      decision: null,
      restatement: null,
      notifications: [],
    };
    setHandler(disputeStatus, () => this.view);
  }

  get id(): string {
    return this.input.disputeId;
  }
  get state(): DisputeState {
    return this.view.state;
  }
  get deadlineMs(): number {
    return Date.parse(this.facts!.deadline);
  }
  private amount(minor: bigint | string): string {
    return `${formatAmount(BigInt(minor), this.facts!.scale)} ${this.facts!.currency}`;
  }

  /** The stored dispute, claimed by its one workflow id: a start for another id fails here. */
  async load(): Promise<void> {
    if (workflowInfo().workflowId !== disputeWorkflowId(this.id))
      throw ApplicationFailure.nonRetryable(
        `a dispute runs as ${disputeWorkflowId(this.id)}`,
        'DisputeFailed',
      );
    const f = await acts.loadDispute(this.id);
    this.facts = f;
    Object.assign(this.view, {
      partnerId: f.partnerId,
      settlementId: f.cycleId,
      line: f.line,
      currency: f.currency,
      statedAmount: formatAmount(BigInt(f.statedMinor), f.scale),
      amountClaimed: formatAmount(BigInt(f.claimedMinor), f.scale),
      state: f.state,
      deadline: f.deadline,
      remindersSent: f.remindersSent,
      escalated: f.escalated,
    });
    // The database's time when it was read: a lower bound of the true time, proved by history.
    this.decisions.learn(f.now);
    upsertSearchAttributes([{ key: PartnerId, value: f.partnerId }]);
    this.publish();
  }

  /** Current details and the search attribute (SettlementStatus: Dispute<State>[Escalated]). */
  publish(): void {
    const f = this.facts;
    const state = this.view.state;
    const word = state.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
    const escalated = this.view.escalated && isUndecided(state) ? 'Escalated' : '';
    upsertSearchAttributes([{ key: SettlementStatus, value: `Dispute${word}${escalated}` }]);
    if (!f) return setCurrentDetails(`**${state}** — loading the dispute ${this.id}`);
    const what = `${f.partnerId} disputes ${f.line} of ${f.cycleId} (v${f.statementVersion}): stated ${this.amount(f.statedMinor)}, claimed ${this.amount(f.claimedMinor)}`;
    const d = this.view.decision;
    const waiting =
      state === 'open'
        ? `waiting for a resolver's decision (Update decideDispute {"outcome":"accept|accept_in_part|reject","amount"?,"reason"}) or an evidence request (Update requestEvidence {"note"})`
        : state === 'waiting_for_evidence'
          ? `waiting for the partner's evidence (POST /v1/disputes/${this.id}/evidence); a resolver may still decide`
          : d
            ? `decided by ${d.decidedBy}: ${d.amount ?? 'no change'} — ${d.reason}`
            : 'expired undecided: the statement stands';
    const sla = isUndecided(state)
      ? `; expires ${operatorTime(this.deadlineMs)}; reminders every ${operatorDuration(this.every)}: ${this.view.remindersSent} sent${this.view.escalated ? ' — ESCALATED' : ''}`
      : '';
    setCurrentDetails(`**${state}** — ${what}\n\n${waiting}${sla}`);
  }

  /** Why a message cannot be taken before the dispute is loaded (its first moments). */
  private loading() {
    return this.facts ? null : conflict('the dispute is being loaded: send it again in a moment');
  }

  /**
   * A decision sent in the dispute's first moments (the API decides right after opening) waits
   * for the facts, then meets the checks its validator could not make yet.
   */
  private async ready(check: () => Refusal | null): Promise<void> {
    if (this.facts) return;
    await condition(() => this.facts !== null);
    const problem = check();
    if (problem) refuse(problem);
  }

  /**
   * Records a change (state, history row, audit) before answering; the view moved first, so a
   * concurrent message meets the new state, and moves back if the record is refused.
   */
  private async change(
    kind: string,
    to: DisputeState | null,
    by: { actor: string; name: string },
    audit: Omit<WorkflowAuditInput, 'target' | 'details'>,
    extra: {
      details?: Record<string, unknown>;
      evidence?: string[];
      decision?: {
        outcome: 'accepted' | 'partly_accepted' | 'rejected';
        amountMinor: string | null;
        reason: string;
      };
    } = {},
    key = currentUpdateInfo()?.id ?? kind,
  ): Promise<void> {
    const from = this.view.state;
    if (to) this.view.state = to;
    try {
      await acts.recordDisputeChange({
        disputeId: this.id,
        key,
        kind,
        from: to ? [from] : disputeStates,
        to,
        by,
        ...extra,
        ...(kind === 'reminder' || kind === 'escalated'
          ? { remindersSent: this.view.remindersSent, escalated: this.view.escalated }
          : {}),
        // Reminders are in the dispute's history only; every change and the escalation are audited.
        audit:
          kind === 'reminder'
            ? null
            : {
                target: workflowInfo().workflowId,
                ...(currentUpdateInfo() ? { updateId: currentUpdateInfo()!.id } : {}),
                ...audit,
                details: { disputeId: this.id, kind, from, to: to ?? from, ...extra.details },
              },
      });
    } catch (err) {
      this.view.state = from;
      throw err;
    }
    this.publish();
  }

  /** Tells the partner (signed webhook, retried for hours); never holds the process up. */
  notify(type: DisputeEventType, key: string): void {
    this.sending.push(
      notifying.notifyDisputePartner(this.id, type, key).then(
        (result) => void this.view.notifications.push({ type, result }),
        (err: unknown) => {
          if (!(err instanceof ActivityFailure)) throw err;
          this.view.notifications.push({ type, result: 'failed' });
          log.warn('dispute notification failed after retries', {
            disputeId: this.id,
            type,
            error: err.message,
          });
        },
      ),
    );
  }
  async notificationsSent(): Promise<void> {
    await Promise.all(this.sending);
  }

  listen(): void {
    setHandler(
      requestEvidence,
      async (m) => {
        const { who, audit } = this.decisions.accept(m as { operator?: string });
        await this.ready(() => evidenceRequestProblem(this.state, m));
        const note = m.note.trim();
        this.view.evidenceRequests.push({ note, by: who.name });
        await this.change(
          'evidence_requested',
          'waiting_for_evidence',
          { actor: who.actor ?? who.name, name: who.name },
          { action: 'dispute.requestEvidence', role: DISPUTE_DECIDER_ROLE, ...audit },
          { details: { note } },
        );
        this.notify('dispute.evidence_requested', currentUpdateInfo()!.id);
        return this.view;
      },
      {
        validator: (m) => {
          const problem =
            this.decisions.problem(m, 'requestEvidence', DISPUTE_DECIDER_ROLE) ??
            evidenceRequestProblem(this.state, m);
          if (problem) refuse(problem);
        },
        description:
          'Ask the partner for evidence, sealed by Clearhouse (API POST /v1/disputes/{id}/evidence-request, or the UI/CLI through its codec; role resolver): {"workflowId","update":"requestEvidence","note"}',
      },
    );
    setHandler(
      provideEvidence,
      async (m) => {
        const { who, audit } = this.decisions.accept(m as { operator?: string });
        const evidence = m.evidence.map((e) => e.trim());
        this.view.evidenceReceived += evidence.length;
        await this.change(
          'evidence_provided',
          'open',
          { actor: who.actor ?? who.name, name: who.name },
          { action: 'dispute.provideEvidence', role: 'partner', ...audit },
          { evidence, details: { evidence, note: (m.note ?? '').trim() } },
        );
        this.notify('dispute.reopened', currentUpdateInfo()!.id);
        return this.view;
      },
      {
        validator: (m) => {
          const f = this.facts;
          const problem =
            this.loading() ??
            partnerSealProblem(
              m,
              {
                namespace: workflowInfo().namespace,
                workflowId: workflowInfo().workflowId,
                decision: 'provideEvidence',
                partnerId: f!.partnerId,
              },
              this.decisions.knownTime(),
              new Set(this.decisions.snapshot().nonces.map((n) => n.nonce)),
            ) ??
            evidenceProblem(this.state, m);
          if (problem) refuse(problem);
        },
        description:
          "The partner's evidence, sealed by Clearhouse for the partner (only through POST /v1/disputes/{id}/evidence with its API key): moves the dispute from waiting_for_evidence back to open",
      },
    );
    setHandler(
      decideDispute,
      async (m) => {
        const { who, audit } = this.decisions.accept(m as { operator?: string });
        await this.ready(() => decisionProblem(this.facts!, this.state, m));
        const f = this.facts!;
        const to = outcomeState[m.outcome];
        const change = decidedChangeMinor(f, m);
        const reason = m.reason.trim();
        this.view.decision = {
          outcome: to,
          amount: change === null ? null : formatAmount(change, f.scale),
          reason,
          decidedBy: who.name,
        };
        await this.change(
          'decided',
          to,
          { actor: who.actor ?? who.name, name: who.name },
          { action: 'dispute.decideDispute', role: DISPUTE_DECIDER_ROLE, ...audit },
          {
            decision: { outcome: to, amountMinor: change === null ? null : change.toString(), reason },
            details: { outcome: m.outcome, amountMinor: change?.toString() ?? null, reason },
          },
        ).catch((err: unknown) => {
          this.view.decision = null;
          throw err;
        });
        return this.view;
      },
      {
        validator: (m) => {
          const problem =
            this.decisions.problem(m, 'decideDispute', DISPUTE_DECIDER_ROLE) ??
            (this.facts ? decisionProblem(this.facts, this.state, m) : null);
          if (problem) refuse(problem);
        },
        description:
          'Decide the dispute, sealed by Clearhouse (API POST /v1/disputes/{id}/decision, or the UI/CLI through its codec; role resolver): {"workflowId","update":"decideDispute","outcome":"accept|accept_in_part|reject","amount"? (accept_in_part: the fee change granted, signed like the claim and smaller),"reason"}. Accepting starts a restatement.',
      },
    );
  }

  /** A reminder fired: counted, logged, published, in its history; escalated after a few. */
  async remind(): Promise<void> {
    this.view.remindersSent++;
    const escalates = this.view.remindersSent >= this.escalateAfter && !this.view.escalated;
    if (escalates) {
      this.view.escalated = true;
      log.error('dispute escalated: still undecided after reminders', {
        disputeId: this.id,
        reminders: this.view.remindersSent,
      });
    } else log.warn('dispute still undecided', { disputeId: this.id, reminders: this.view.remindersSent });
    const workflow = { actor: `workflow:${workflowInfo().workflowId}`, name: 'dispute workflow' };
    await this.change(
      escalates ? 'escalated' : 'reminder',
      null,
      workflow,
      { action: escalates ? 'dispute.escalated' : 'dispute.reminder', role: 'workflow' },
      { details: { reminders: this.view.remindersSent } },
      `reminder:${this.view.remindersSent}`,
    );
  }

  /**
   * Until decided or the deadline: reminders every `every` from the opening; the seal clock
   * moves at least every SEAL_CLOCK_TICK_MS. False when the deadline came first.
   */
  async waitForDecision(): Promise<boolean> {
    const opened = Date.parse(this.facts!.createdAt);
    for (;;) {
      if (!isUndecided(this.state)) return true;
      // Workflow time as history proves it (start, activity results, timers fired, seals).
      const now = this.decisions.knownTime();
      if (now >= this.deadlineMs) return false;
      const remindAt = opened + this.every * (this.view.remindersSent + 1);
      const wake = Math.min(remindAt, this.deadlineMs, now + SEAL_CLOCK_TICK_MS);
      const summary = `reminder ${this.view.remindersSent + 1} at ${operatorTime(remindAt)}; expiry ${operatorTime(this.deadlineMs)}`;
      if (await condition(() => !isUndecided(this.state), Math.max(wake - now, 1), { summary })) return true;
      // The timer fired: at least that long has passed.
      this.decisions.learn(wake);
      if (this.decisions.knownTime() >= remindAt && remindAt < this.deadlineMs && isUndecided(this.state))
        await this.remind();
    }
  }

  async expire(): Promise<void> {
    const workflow = { actor: `workflow:${workflowInfo().workflowId}`, name: 'dispute workflow' };
    await this.change(
      'expired',
      'expired',
      workflow,
      { action: 'dispute.expired', role: 'workflow' },
      { details: { deadline: this.facts!.deadline } },
      'expired',
    );
    this.notify('dispute.expired', 'expired');
  }

  /** An accepted dispute's restatement (once per dispute): a refusal is shown, never retried. */
  async restate(): Promise<void> {
    try {
      this.view.restatement = await acts.requestDisputeRestatement(this.id);
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      this.view.restatement = { error: err.cause?.message ?? err.message };
      log.error('dispute restatement refused', { disputeId: this.id, error: this.view.restatement.error });
    }
    this.publish();
  }
}

/**
 * A partner's dispute of one statement line, from opening to its end: acknowledged to the
 * partner (signed webhook); operators ask for evidence (the partner answers) and decide, sealed
 * with their identity; reminded every few days and escalated; expired at the deadline, when
 * the statement stands. Accepting (in full or in part) starts a restatement of the cycle.
 * Postgres holds the dispute and its history; this workflow holds the process.
 */
export async function settlementDispute(input: DisputeStart): Promise<DisputeView> {
  const dispute = new Dispute(input);
  dispute.listen();
  // 1. The dispute as the API stored it (statement line, amounts, deadline).
  await dispute.load();
  // 2. Acknowledged to the partner.
  if (isUndecided(dispute.state)) dispute.notify('dispute.opened', 'opened');

  // 3. Operators decide (API, or Temporal UI/CLI through the codec); reminders, escalation, expiry.
  const decided = undecidedStates.includes(dispute.state) ? await dispute.waitForDecision() : true;
  // 4a. The deadline passed undecided: the statement stands (expired at once: no decision after it).
  if (!decided) await dispute.expire();
  // Every accepted message has recorded its change before the outcome is acted on.
  await condition(allHandlersFinished);
  if (decided && dispute.view.decision) {
    // 4b. Decided: the partner hears it; an acceptance starts the restatement of the cycle.
    dispute.notify('dispute.decided', 'decided');
    if (dispute.state === 'accepted' || dispute.state === 'partly_accepted') await dispute.restate();
  }
  // 5. The partner's notices delivered (or given up after retries).
  await dispute.notificationsSent();
  await condition(allHandlersFinished);
  return dispute.view;
}
