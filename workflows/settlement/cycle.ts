import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  currentUpdateInfo,
  log,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { deciderOf } from '../../domain/decisions';
import {
  importMessageProblem,
  resolutionItems,
  resolutionMessageProblem,
  type BookSummary,
  type PayoutMaker,
} from '../../domain/exception-book';
import { conflict, forbidden, invalid, notFound } from '../../domain/refusals';
import {
  addMaker,
  approvalProblem,
  REQUESTED,
  requesterMaker,
  operatorDuration,
  operatorTime,
  type Decider,
  type SettlementInput,
  type SettlementStatus,
} from '../../domain/settlement';
import { bulkPreviewProblem, bulkResolutionProblem } from '../../domain/bulk';
import { decisionGuard } from '../decisions';
import { refuse } from '../refuse';
import {
  OpenExceptions,
  PartnerId,
  SettlementPeriod,
  SettlementStatus as SettlementStatusKey,
} from '../search-attributes';
import {
  approvePayout,
  importResolutions,
  previewBulkResolution,
  resolveInBulk,
  resolveException,
  settlementStatus,
  type CycleIssue,
  type CycleResume,
  type CycleStart,
  type CycleView,
} from './messages';
import {
  DEFAULT_REPORT_FETCH_ATTEMPTS,
  ESCALATE_AFTER_REMINDERS,
  fetching,
  mirror,
  notifying,
  PAYOUT_APPROVALS,
  reconciling,
  steps,
} from './policies';

/**
 * While operators resolve, a run continues as new past this much history: resolution messages
 * (up to 1,000 items each) are what grows it, so every run stays far below Temporal's warning
 * limits (10,240 events, 10 MB) whatever the number of exceptions.
 */
export const CONTINUE_AS_NEW_AT = { bytes: 2 * 1024 * 1024, events: 2_000 };

/**
 * The book's refusal of a decision (the set changed, a maker approving their own bulk, a
 * malformed request) as the Update's own refusal, with its kind: the API answers 409, 403 or
 * 422 with the book's words. Anything else goes on (retried or failed as it is).
 */
function refuseAsTheBook(err: unknown): never {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof ApplicationFailure) {
    if (cause.type === 'ConflictError') refuse(conflict(cause.message));
    if (cause.type === 'ForbiddenError') refuse(forbidden(cause.message));
    if (cause.type === 'ValidationError') refuse(invalid(cause.message));
  }
  throw err;
}

/**
 * One settlement cycle's state and everything around its process: the status it publishes (the
 * one writer: search attributes, current details, the Postgres mirror), the messages it
 * answers, the labels an operator reads, the reminders and the waits. The process itself is
 * settlementCycleV2 (./process.ts).
 */
export class Cycle {
  readonly view: CycleView;
  input: SettlementInput;
  /** The makers of the payout (who requested it, who moved GGR): none may approve it. */
  private makers: PayoutMaker[] = [];
  private readonly decisions = decisionGuard();
  private waitingSince: number | null = null;
  private continuedFrom: string | null = null;
  /** Resolution messages this run accepted. */
  private resolutionsInRun = 0;
  /** In the contract's review window of the decisions made before people. */
  private reviewing = false;

  constructor(given: SettlementInput) {
    this.input = given;
    this.view = {
      status: 'WaitingForCutoff',
      input: given,
      frozenAt: null,
      reportRows: null,
      exceptions: [],
      exceptionsOpen: 0,
      exceptionsTotal: 0,
      bookVersion: 0,
      fees: null,
      approvals: [],
      requestedBy: null,
      remindersSent: 0,
      escalated: false,
      continuedRuns: 0,
      notification: 'pending',
      fxRates: [],
    };
    setHandler(settlementStatus, () => this.view);
  }

  /** What every activity of the cycle is given: its id and plan (re-derived from Postgres). */
  get args() {
    // Tolerances are the contract's rules, read by the activities from the version in force.
    return { cycleId: workflowInfo().workflowId, ...this.input };
  }
  get period(): string {
    const { periodStart, periodEnd } = this.input;
    return periodStart === periodEnd ? periodStart : `${periodStart} to ${periodEnd}`;
  }
  /** Times and durations as the operator reads them in the UI (partner's timezone). */
  at(instant: string | number): string {
    return operatorTime(instant, this.input.timezone);
  }
  get freezeAt(): number {
    return Date.parse(this.input.cutoffAt) + this.input.graceMs;
  }
  get cutoffLabel(): string {
    return `cut-off ${this.at(this.input.cutoffAt)} + ${operatorDuration(this.input.graceMs)} grace, until ${this.at(this.freezeAt)}`;
  }
  get open(): number {
    return this.view.exceptionsOpen;
  }

  /** Takes the plan recorded in Postgres as the cycle's input (nothing money-shaped from the start's input). */
  adoptPlan(plan: { input: SettlementInput; requestedBy: Decider | null }): void {
    this.input = plan.input;
    this.view.input = plan.input;
    this.view.requestedBy = plan.requestedBy;
    if (plan.requestedBy) this.makers.push(requesterMaker(plan.requestedBy));
    upsertSearchAttributes([
      { key: PartnerId, value: plan.input.partnerId },
      { key: SettlementPeriod, value: `${plan.input.periodStart}/${plan.input.periodEnd}` },
    ]);
  }

  /** The book as Postgres last said it: counts, version and the first open exceptions. */
  adoptBook(book: BookSummary): void {
    // Versions only rise: an older answer that arrives late changes nothing.
    if (book.version < this.view.bookVersion) return;
    this.view.exceptions = book.firstOpen;
    this.view.exceptionsOpen = book.open;
    this.view.exceptionsTotal = book.total;
    this.view.bookVersion = book.version;
  }

  /** A continued run takes over where the previous one stood (its plan is claimed anew). */
  private resume(r: CycleResume): void {
    // Waiting for operators from the first moment: a resolution the previous run had admitted
    // but not accepted is retried on this one, in its first workflow task.
    this.view.status = 'AwaitingResolution';
    this.adoptBook(r.book);
    this.view.frozenAt = r.frozenAt;
    this.view.reportRows = r.reportRows;
    this.view.remindersSent = r.remindersSent;
    this.view.escalated = r.escalated;
    this.view.continuedRuns = r.runs;
    this.view.beforePeople = r.beforePeople ?? null;
    this.waitingSince = r.waitingSince;
    for (const m of r.makers) addMaker(this.makers, m);
    this.decisions.restore(r.seals);
  }

  private get historyIsLarge(): boolean {
    const info = workflowInfo();
    // Only a run that accepted resolutions continues (never a loop of empty runs).
    if (this.resolutionsInRun === 0) return false;
    return (
      info.continueAsNewSuggested ||
      info.historySize > CONTINUE_AS_NEW_AT.bytes ||
      info.historyLength > (this.input.continueAsNewAtEvents ?? CONTINUE_AS_NEW_AT.events)
    );
  }

  learnTime(at: number | string | null): void {
    this.decisions.learn(at);
  }

  /** The one owner of the cycle's status: the UI's search attributes and details, and the Postgres mirror. */
  async publish(status: SettlementStatus, details: string): Promise<void> {
    const changed = status !== this.view.status;
    this.view.status = status;
    upsertSearchAttributes([
      { key: SettlementStatusKey, value: status },
      { key: OpenExceptions, value: this.open },
    ]);
    setCurrentDetails(`**${status}** — ${details}`);
    if (changed) await mirror.setCycleStatus(this.args.cycleId, status);
  }

  private awaiting(): string {
    const every = operatorDuration(this.input.reminderIntervalMs);
    const next =
      this.waitingSince === null ? '' : ` at ${this.at(this.waitingSince + this.input.reminderIntervalMs)}`;
    const first = this.view.exceptions
      .slice(0, 5)
      .map((e) => e.exceptionId)
      .join(', ');
    return `waiting for operators to resolve ${this.open} exception(s) (Update resolveException, one or a list of up to 1,000; first open: ${first}; all: GET /v1/exceptions?settlementId=…)${this.view.escalated ? ' — ESCALATED' : ''}; next reminder${next}, every ${every}`;
  }

  /** What a batch of decisions did to the book, and who of it became a maker of the payout. */
  private async adoptBatch(result: { book: BookSummary; makers: PayoutMaker[] }): Promise<void> {
    this.adoptBook(result.book);
    for (const m of result.makers) addMaker(this.makers, m);
    if (this.view.status === 'AwaitingResolution' && this.open > 0)
      await this.publish('AwaitingResolution', this.awaiting());
  }

  /** A resolution message's answer: what it applied and refused, and what stays open. */
  private answer(result: { applied: number; refused: { exceptionId: string; reason: string }[] }) {
    return {
      open: this.open,
      applied: result.applied,
      refused: result.refused.map((r) => ({ exceptionId: r.exceptionId, reason: r.reason })),
    };
  }

  /** Why the book cannot take resolutions now (the step, nothing open), or null. */
  private resolvingProblem() {
    return this.view.status !== 'AwaitingResolution'
      ? conflict(`exceptions can be resolved once reconciliation is done (now ${this.view.status})`)
      : this.open === 0 && !this.reviewing
        ? conflict('no exception is open: the cycle is on its way to computing its fees')
        : null;
  }

  /**
   * When the contract gives one (reconciliation.reviewMinutes) and rules, the matcher or
   * expected items decided something with nothing left for people, a durable window in which a
   * resolver may still reverse those decisions before the fee is computed.
   */
  private async reviewDecisionsBeforePeople(): Promise<void> {
    const b = this.view.beforePeople;
    if (!b || !(b.reviewMinutes > 0) || this.open > 0) return;
    // Arrivals are not counted: they cannot be reversed alone.
    const decided = Object.values(b.resolvedByRule).reduce((n, x) => n + x, 0) + b.matched + b.expected;
    if (decided === 0) return;
    const fromMs = Date.parse(
      await steps.now.executeWithOptions({ summary: 'the time the review window starts' }, []),
    );
    this.decisions.learn(fromMs);
    const untilMs = fromMs + b.reviewMinutes * 60_000;
    this.reviewing = true;
    await this.publish(
      'AwaitingResolution',
      `rules, the matcher and expected items decided ${decided} exception(s): a resolver may reverse any of them (resolve it again) until ${this.at(untilMs)}; then the fee`,
    );
    await sleep(b.reviewMinutes * 60_000, {
      summary: `review of the ${decided} decisions made before people`,
    });
    this.decisions.learn(untilMs);
    this.reviewing = false;
  }

  /** The decisions the cycle answers: resolutions (one, a list, a CSV import, a bulk) and payout approvals. */
  listen(): void {
    setHandler(
      importResolutions,
      async (message) => {
        const { who, audit } = this.decisions.accept(message as { operator?: string });
        this.resolutionsInRun++;
        const result = await steps.applyResolutionImport(this.args, {
          importId: message.importId,
          who,
          audit: { ...audit, updateId: currentUpdateInfo()!.id },
        });
        await this.adoptBatch(result);
        return this.answer(result);
      },
      {
        validator: (message) => {
          const problem =
            this.decisions.problem(message, 'importResolutions', 'resolver') ??
            this.resolvingProblem() ??
            importMessageProblem(message);
          if (problem) refuse(problem);
        },
        description:
          'Apply a CSV of resolutions stored by the API (POST /v1/settlements/{id}/exceptions/import), all or nothing, sealed by Clearhouse: {"workflowId","update":"importResolutions","importId"}',
      },
    );
    setHandler(
      resolveException,
      async (message) => {
        // The seal is spent before awaiting: the same decision cannot be accepted twice.
        const { who, audit } = this.decisions.accept(message as { operator?: string });
        this.resolutionsInRun++;
        const single = !('items' in message);
        const items = resolutionItems(message);
        const result = await steps.resolveExceptions(this.args, {
          items: items.map((i) => ({
            exceptionId: i.exceptionId,
            resolution: i.resolution,
            ...(i.amount === undefined ? {} : { amount: i.amount }),
            reason: i.reason,
          })),
          who,
          audit: { ...audit, updateId: currentUpdateInfo()!.id, single },
        });
        await this.adoptBatch(result);
        // The single form answers as it always did: a refusal is the Update's failure (404/409).
        const only = result.refused[0];
        if (single && only)
          refuse(only.refusal === 'not_found' ? notFound(only.reason) : conflict(only.reason));
        return this.answer(result);
      },
      {
        // What the workflow can know: its step, the message's shape, the seal. The book says the rest.
        validator: (message) => {
          const problem =
            this.decisions.problem(message, 'resolveException', 'resolver') ??
            this.resolvingProblem() ??
            resolutionMessageProblem(message, this.input.currencyScale);
          if (problem) refuse(problem);
        },
        description:
          'Resolve reconciliation exceptions, sealed by Clearhouse (API, or the UI/CLI through its codec): {"workflowId","update":"resolveException","exceptionId","resolution":"accept_ours|accept_theirs|adjust|write_off|carry_forward","amount"?,"reason"}, or {"workflowId","update":"resolveException","items":[{"exceptionId","resolution","amount"?,"reason"}, … up to 1,000]}',
      },
    );
    setHandler(
      previewBulkResolution,
      // Read-only: the book answers through an activity (a validator cannot read Postgres).
      async ({ filter }) => {
        // A preview's Update and activity grow the history like a decision: counted toward continuing as new.
        this.resolutionsInRun++;
        return steps.previewBulkResolution(this.args, filter);
      },
      {
        validator: (message) => {
          const problem = bulkPreviewProblem(message);
          if (problem) refuse(problem);
        },
        description:
          'Preview a bulk resolution: what a filter selects now, with its count, totals and digest (nothing is written): {"workflowId","update":"previewBulkResolution","filter":{"kinds"?,"minAmountMinor"?,"maxAmountMinor"?,"gameIds"?,"currencies"?,"olderThanHours"?,"suggestion"?}}',
      },
    );
    setHandler(
      resolveInBulk,
      async (message) => {
        const { who, audit } = this.decisions.accept(message as { operator?: string });
        this.resolutionsInRun++;
        const outcome = await steps
          .applyBulkResolution(this.args, {
            filter: message.filter,
            resolution: message.resolution,
            ...(message.writeOffAccount === undefined ? {} : { writeOffAccount: message.writeOffAccount }),
            reason: message.reason,
            digest: message.digest,
            who,
            audit: { ...audit, updateId: currentUpdateInfo()!.id },
          })
          .catch(refuseAsTheBook);
        if (outcome.result) await this.adoptBatch(outcome.result);
        return {
          bulkId: outcome.bulkId,
          state: outcome.state,
          count: outcome.count,
          applied: outcome.applied,
          open: this.open,
        };
      },
      {
        validator: (message) => {
          const problem =
            this.decisions.problem(message, 'resolveInBulk', 'resolver') ??
            this.resolvingProblem() ??
            bulkResolutionProblem(message);
          if (problem) refuse(problem);
        },
        description:
          'Resolve every open exception a previewed filter selects, with one resolution and reason, sealed by Clearhouse; refused when the set changed since the preview; above the contract threshold a second, different resolver sends the same request to apply it: {"workflowId","update":"resolveInBulk","filter":{…},"resolution":"accept_ours|accept_theirs|write_off|carry_forward","writeOffAccount"?,"reason","digest"}',
      },
    );
    setHandler(
      approvePayout,
      async (a) => {
        const { who, audit } = this.decisions.accept(a);
        this.view.approvals.push(who);
        await steps.recordAudit({
          action: 'settlement.approvePayout',
          target: this.args.cycleId,
          ...audit,
          role: 'approver',
          updateId: currentUpdateInfo()!.id,
          details: {
            approval: this.view.approvals.length,
            needed: PAYOUT_APPROVALS,
            ...(a.comment === undefined ? {} : { comment: a.comment }),
          },
        });
        return { approvals: this.view.approvals.length, needed: PAYOUT_APPROVALS };
      },
      {
        validator: (a) => {
          const problem =
            this.decisions.problem(a, 'approvePayout', 'approver') ??
            approvalProblem(
              this.view.approvals,
              deciderOf(a as { operator?: string }),
              a,
              this.view.status === 'AwaitingPayoutApproval',
              this.makers,
            );
          if (problem) refuse(problem);
        },
        description:
          'Approve the payout, sealed by Clearhouse (API, or the UI/CLI through its codec; maker-checker: two different people, neither the one who started the cycle nor one whose resolution moved the GGR): {"workflowId","update":"approvePayout","comment"?}',
      },
    );
  }

  /**
   * Whether this run continues an earlier one (Temporal says so: a start cannot pose as one),
   * and if so takes over where it stood.
   */
  continues(resume: CycleResume | undefined): boolean {
    this.continuedFrom = workflowInfo().continuedFromExecutionRunId ?? null;
    if (!resume || this.continuedFrom === null) return false;
    this.resume(resume);
    return true;
  }

  /**
   * Nothing money-shaped is taken from the input: the plan recorded in Postgres (partner,
   * period, currency, the contract in force, the requester) is read back, and a start with no
   * plan, or input that differs from it, fails here having posted nothing. A continued run
   * takes over its predecessor's claim.
   */
  async confirmPlan(given: SettlementInput): Promise<void> {
    this.adoptPlan(
      await steps.confirmCyclePlan.executeWithOptions(
        { summary: 'the plan recorded in Postgres (partner, period, contract, requester)' },
        [this.args.cycleId, given, this.continuedFrom],
      ),
    );
  }

  /** Listed in GET /v1/settlements from its start; a Schedule's cycle audits its own start. */
  async register(): Promise<void> {
    await steps.registerCycle.executeWithOptions({ summary: `list the cycle for ${this.period}` }, [
      this.args,
    ]);
    if (workflowInfo().parent)
      await steps.recordAudit({
        action: 'settlement.start',
        target: this.args.cycleId,
        role: 'schedule',
        scheduled: true,
      });
  }

  /** The period's sources freeze: reconciliation and the fee see the same ones. */
  async freeze(): Promise<void> {
    this.view.frozenAt = (
      await steps.freezePeriod.executeWithOptions({ summary: `period ${this.period}` }, [this.args])
    ).frozenAt;
    this.decisions.learn(this.view.frozenAt);
  }

  /**
   * The provider's report, page by page, then ours against theirs (set-based in Postgres):
   * every difference goes into the exception book. A provider that stays down is an
   * exception too, never a guess.
   */
  async fetchAndReconcile(): Promise<void> {
    await this.publish('Reconciling', `fetching the provider report for ${this.period}`);
    try {
      const report = await fetching(
        this.input.reportFetchAttempts ?? DEFAULT_REPORT_FETCH_ATTEMPTS,
      ).fetchReport.executeWithOptions(
        { summary: `${this.period}, page by page (progress stored with each page: a new worker resumes)` },
        [this.args],
      );
      this.view.reportRows = report.rows;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      await steps.reportUnavailable(this.args, err.cause?.message ?? err.message);
      return;
    }
    // Only the fetch's failure is an exception for operators: reconciliation's own is not.
    const reconciled = await reconciling.reconcileReport.executeWithOptions(
      {
        summary:
          "every transaction of the period, ours against theirs; then the contract's rules and the matcher",
      },
      [{ ...this.args, frozenAt: this.view.frozenAt! }],
    );
    this.view.beforePeople = reconciled.auto ?? null;
  }

  async readBook(): Promise<void> {
    this.adoptBook(await steps.exceptionBook(this.args));
  }

  /** FX locked per currency, then the statement and its journal, from the book at the version decided on. */
  async settle() {
    await this.publish('ComputingFees', 'locking FX rates and applying the contract');
    this.view.fxRates = await steps.lockFxRates.executeWithOptions(
      { summary: 'one rate per currency pair, source and time recorded' },
      [this.args],
    );
    const settled = await steps.settleCycle.executeWithOptions(
      { summary: 'the contract in force, in the settlement currency: statement and journal' },
      [this.args, { bookVersion: this.view.bookVersion }],
    );
    this.view.fees = settled.figures;
    return settled;
  }

  /** The net payable as the operator reads it. */
  get net(): string {
    return `${this.view.fees?.netPayable ?? '?'} ${this.input.currency}`;
  }

  /** The payout's journal (its amount from Postgres), posted like any other. */
  async payOut(): Promise<void> {
    await this.publish('PayingOut', this.net);
    const approvedBy = this.view.approvals.map((a) => a.name).join(', ') || 'no one: below threshold';
    const payout = await steps.preparePayout.executeWithOptions(
      { summary: `${this.net} (approved by ${approvedBy})` },
      [this.args, { approvers: this.view.approvals }],
    );
    if (payout.journalId)
      await steps.postJournal.executeWithOptions({ summary: `payout journal, ${this.net}` }, [
        payout.journalId,
      ]);
  }

  /**
   * The statement issued: recorded with its digest and acknowledgement deadline (Postgres), then
   * the signed webhook `statement.issued`, delivered while the cycle goes on (the caller awaits
   * `delivered` before its own completion webhook). A partner that never answers undoes nothing.
   */
  async issueStatement(): Promise<{ delivered: Promise<void> }> {
    const issued = await steps.issueStatement.executeWithOptions(
      { summary: 'statement issued: digest and acknowledgement deadline' },
      [this.args],
    );
    const statement: CycleIssue = (this.view.statement = { ...issued, webhook: 'pending' });
    const delivered = notifying.deliverStatementIssued
      .executeWithOptions({ summary: `signed webhook statement.issued v${issued.version}` }, [
        this.args,
        issued,
      ])
      .then(
        (r) => {
          statement.webhook = r;
        },
        async (err: unknown) => {
          if (!(err instanceof ActivityFailure)) throw err;
          statement.webhook = 'failed';
          log.warn('statement.issued webhook failed after retries', { error: err.message });
          await steps.statementIssueUndelivered(this.args, issued.version);
        },
      );
    return { delivered };
  }

  /** The payout's record (approved, held by disputes, due date), from its posted journal. */
  async recordPayout(): Promise<void> {
    this.view.payout = await steps.recordCyclePayout.executeWithOptions(
      { summary: 'payout approved: amount, held by open disputes, due date' },
      [this.args],
    );
  }

  /** A signed webhook, retried with backoff; a partner that never answers undoes nothing. */
  async notify(event: Record<string, string>): Promise<void> {
    try {
      this.view.notification = await notifying.notifyPartner.executeWithOptions(
        { summary: 'signed webhook to the partner' },
        [this.args, event],
      );
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      this.view.notification = 'failed';
      log.warn('partner notification failed after retries', { error: err.message });
    }
  }

  /**
   * A data or constraint error cannot succeed on a retry: the cycle stops in a state an
   * operator sees (UI and API), and its id can be started again once the data is fixed. Any
   * other error goes on to Temporal.
   */
  async stopOnDataError(err: unknown): Promise<never> {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (!(cause instanceof ApplicationFailure) || cause.type !== 'DataError') throw err;
    await this.publish(
      'Failed',
      `stopped by a data error: ${cause.message}; fix it, then start the cycle again`,
    );
    await condition(allHandlersFinished);
    throw ApplicationFailure.create({ type: 'CycleFailed', message: cause.message, nonRetryable: true });
  }

  /** Cut-off plus grace, on a durable timer. */
  async waitForCutoff(): Promise<void> {
    await this.publish('WaitingForCutoff', `waiting for the ${this.cutoffLabel}; then the period freezes`);
    const waitMs = this.freezeAt - workflowInfo().runStartTime.getTime();
    if (waitMs > 0) await sleep(waitMs, { summary: this.cutoffLabel });
    this.decisions.learn(this.freezeAt);
  }

  /**
   * Operators resolve what is open (UI or API), reminded every interval, escalated after a few.
   * Past CONTINUE_AS_NEW_AT of history the run continues as new, carrying where it stands.
   */
  async waitForResolutions(): Promise<void> {
    await this.reviewDecisionsBeforePeople();
    if (this.open > 0) {
      if (this.waitingSince === null) {
        this.waitingSince = Date.parse(
          await steps.now.executeWithOptions({ summary: "the time the operators' wait starts" }, []),
        );
      }
      this.decisions.learn(this.waitingSince);
      await this.publish('AwaitingResolution', this.awaiting());
      const every = operatorDuration(this.input.reminderIntervalMs);
      let remindFrom = this.decisions.knownTime();
      for (;;) {
        const resolved = await condition(
          () => this.open === 0 || this.historyIsLarge,
          this.input.reminderIntervalMs,
          {
            summary: `reminder ${this.view.remindersSent + 1} (every ${every}; escalated after ${ESCALATE_AFTER_REMINDERS})`,
          },
        );
        if (resolved && this.open === 0) break;
        if (resolved) {
          // Every accepted resolution finished (its book change and audit committed) first.
          await condition(allHandlersFinished);
          if (this.open > 0) await this.continueAsNew();
          break;
        }
        // A reminder fired: at least one interval has passed since the wait (re)started.
        this.decisions.learn(remindFrom + this.input.reminderIntervalMs);
        remindFrom = this.decisions.knownTime();
        if (this.waitingSince !== null) this.waitingSince += this.input.reminderIntervalMs;
        this.view.remindersSent++;
        if (this.view.remindersSent >= ESCALATE_AFTER_REMINDERS && !this.view.escalated) {
          this.view.escalated = true;
          log.error('settlement escalated: exceptions still open after reminders', {
            open: this.open,
            reminders: this.view.remindersSent,
          });
        } else
          log.warn('settlement exceptions still open', {
            open: this.open,
            reminders: this.view.remindersSent,
          });
        await this.publish('AwaitingResolution', this.awaiting());
      }
    }
    // Every resolution's handler has finished before the money is computed from the book.
    await condition(allHandlersFinished);
  }

  /** A fresh run of the same cycle, handed what it needs to go on waiting (never the book). */
  private async continueAsNew(): Promise<never> {
    const resume: CycleResume = {
      frozenAt: this.view.frozenAt!,
      reportRows: this.view.reportRows,
      remindersSent: this.view.remindersSent,
      escalated: this.view.escalated,
      waitingSince: this.waitingSince,
      // The requester comes back with the plan.
      makers: this.makers.filter((m) => m.made !== REQUESTED),
      seals: this.decisions.snapshot(),
      runs: this.view.continuedRuns + 1,
      beforePeople: this.view.beforePeople ?? null,
      book: {
        version: this.view.bookVersion,
        open: this.view.exceptionsOpen,
        total: this.view.exceptionsTotal,
        firstOpen: this.view.exceptions,
      },
    };
    const next: CycleStart = { ...this.input, resume };
    return continueAsNew<(input: CycleStart) => Promise<CycleView>>(next);
  }

  /**
   * The month's tiers, minimum guarantee and carries count its periods in order: an earlier
   * period of the partner still open computes its fee first (polled on a durable timer, backing
   * off to 5 minutes), so the fee never depends on which operator was quicker.
   */
  async waitForEarlierPeriods(): Promise<void> {
    for (let waitMs = 5_000; ; waitMs = Math.min(waitMs * 2, 300_000)) {
      const earlier = await steps.earlierPeriodsPending.executeWithOptions(
        { summary: 'earlier periods of the month without a fee yet' },
        [this.args],
      );
      if (earlier.length === 0) return;
      await this.publish(
        'WaitingForEarlierPeriods',
        `the month's earlier periods compute their fees first: waiting for ${earlier.join(', ')}; next look in ${waitMs / 1000} s`,
      );
      await sleep(waitMs, { summary: `until ${earlier.join(', ')} computes its fee` });
    }
  }

  /** Two different operators approve (no maker), each approval on record before the money moves. */
  async waitForApprovals(): Promise<void> {
    await this.publish(
      'AwaitingPayoutApproval',
      `waiting for ${PAYOUT_APPROVALS} different operators to approve the payout of ${this.net} (Update approvePayout)`,
    );
    await this.decisions.waitWithClock(
      () => this.view.approvals.length >= PAYOUT_APPROVALS && allHandlersFinished(),
    );
  }
}
