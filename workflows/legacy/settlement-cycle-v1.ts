// LEGACY: the settlement cycle as it ran until the exception book and journals (workflow type
// `settlementCycle`). Nothing starts it any more (the API and Schedules start
// `settlementCycleV2`, workflows/settlement/); it stays registered so that cycles started
// before the cut-over finish on the code that started them, and so that their recorded
// histories replay (test/histories/*-4451b28.json). Delete it, with the activities only it
// calls (activities/legacy-settlement.ts), once no `settlementCycle` runs: see README,
// "Cut-over to settlementCycleV2".
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  currentUpdateInfo,
  defineQuery,
  defineUpdate,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { deciderOf, type Sealed } from '../../domain/decisions';
import { conflict } from '../../domain/refusals';
import { decisionGuard } from '../decisions';
import { refuse } from '../refuse';
import {
  approvalProblem,
  decidedResolutions,
  operatorDuration,
  operatorTime,
  payoutMakers,
  resolutionProblem,
  type ApprovePayoutInput,
  type Decider,
  type ResolveExceptionInput,
  type SettlementException,
  type SettlementInput,
  type SettlementStatus,
} from '../../domain/settlement';
import {
  OpenExceptions,
  PartnerId,
  SettlementPeriod,
  SettlementStatus as SettlementStatusKey,
} from '../search-attributes';

// Messages, defined once and used by the workflow, the API and the Temporal UI.
export const resolveException = defineUpdate<{ open: number }, [Sealed<ResolveExceptionInput>]>(
  'resolveException',
);
export const approvePayout = defineUpdate<
  { approvals: number; needed: number },
  [Sealed<ApprovePayoutInput>]
>('approvePayout');

export interface SettlementView {
  status: SettlementStatus;
  input: SettlementInput;
  frozenAt: string | null;
  reportRows: number | null;
  exceptions: SettlementException[];
  fees: { grossFee: string; taxWithheld: string; netPayable: string; contractVersion: number } | null;
  /** Who approved the payout, in order (display name and actor key). */
  approvals: Decider[];
  /** Who requested the payout (started the cycle), from its plan: never one of its approvers. */
  requestedBy?: Decider | null;
  remindersSent: number;
  escalated: boolean;
  notification: 'pending' | 'sent' | 'no-webhook' | 'failed';
  fxRates: { from: string; to: string; rate: string; source: string; asOf: string }[];
}
export const settlementStatus = defineQuery<SettlementView>('status');

const ROUNDING_TOLERANCE_MINOR = '1';
/** After this many reminders the cycle is escalated (status detail, error log, `escalated`). */
const ESCALATE_AFTER_REMINDERS = 3;
const PAYOUT_APPROVALS = 2;

// The status mirror is a local activity: a short database write, no task queue round trip.
const mirror = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});
const acts = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: ['ConflictError', 'ValidationError', 'NotFoundError'],
  },
});
// Fetching pages stores where it stands with each page and heartbeats every few seconds: a
// crashed worker is noticed within the heartbeat timeout and its replacement resumes there.
const fetchingWith = (maximumAttempts: number) =>
  proxyActivities<Activities>({
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '10 seconds',
    retry: {
      initialInterval: '1 second',
      maximumInterval: '30 seconds',
      maximumAttempts,
      nonRetryableErrorTypes: ['ConflictError', 'NotFoundError'],
    },
  });
const DEFAULT_REPORT_FETCH_ATTEMPTS = 8;
const notifying = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 12,
  },
});

/**
 * One partner's settlement for one period: cut-off, freeze, fetch the provider's report,
 * reconcile, wait for operators to resolve exceptions, compute fees from the contract in
 * force, post, build the statement, get the payout approved, pay out.
 */
export async function settlementCycle(given: SettlementInput): Promise<SettlementView> {
  // Decided in the first workflow task, where no Update can be accepted (see README, "Changing
  // workflow code"); histories from before it settle without waiting for earlier periods.
  const feesInPeriodOrder = patched('fees-in-period-order');
  const view: SettlementView = {
    status: 'WaitingForCutoff',
    input: given,
    frozenAt: null,
    reportRows: null,
    exceptions: [],
    fees: null,
    approvals: [],
    remindersSent: 0,
    escalated: false,
    notification: 'pending',
    fxRates: [],
  };
  setHandler(settlementStatus, () => view);
  // Nothing money-shaped is taken from the input: the cycle's plan is read back from Postgres
  // (partner, period, currency, threshold from the contract in force, requester), and a start
  // with no plan, or input that differs from it, fails here having posted nothing. Histories
  // from before plans run on their input.
  let input = given;
  let requestedBy: Decider | null = given.requestedBy ? { actor: null, name: given.requestedBy } : null;
  if (patched('plan-from-postgres')) {
    const plan = await acts.confirmCyclePlan.executeWithOptions(
      { summary: 'the plan recorded in Postgres (partner, period, contract, requester)' },
      [workflowInfo().workflowId, given],
    );
    input = plan.input;
    view.input = input;
    requestedBy = plan.requestedBy;
    view.requestedBy = requestedBy;
  }
  const cycle = {
    cycleId: workflowInfo().workflowId,
    ...input,
    roundingToleranceMinor: ROUNDING_TOLERANCE_MINOR,
  };
  // Sealed decisions: each seal once, for this workflow only, fresh at the time history proves.
  const decisions = decisionGuard();
  const open = () => view.exceptions.filter((e) => !e.resolution).length;
  const period =
    input.periodStart === input.periodEnd ? input.periodStart : `${input.periodStart} to ${input.periodEnd}`;
  // Times and durations as the operator reads them in the UI (partner's timezone).
  const at = (instant: string | number) => operatorTime(instant, input.timezone);
  const every = operatorDuration(input.reminderIntervalMs);
  const freezeAt = Date.parse(input.cutoffAt) + input.graceMs;
  const cutoffLabel = `cut-off ${at(input.cutoffAt)} + ${operatorDuration(input.graceMs)} grace, until ${at(freezeAt)}`;
  // The one owner of the cycle's status: the UI's search attributes and current details, and
  // its mirror in the database (GET /v1/settlements), written here and nowhere else.
  const publish = async (status: SettlementStatus, details: string) => {
    const changed = status !== view.status;
    view.status = status;
    upsertSearchAttributes([
      { key: SettlementStatusKey, value: status },
      { key: OpenExceptions, value: open() },
    ]);
    setCurrentDetails(`**${status}** — ${details}`);
    if (changed && patched('one-status-writer')) await mirror.setCycleStatus(cycle.cycleId, status);
  };
  // Operators' wait: since when (an activity tells "now"), to say when the next reminder is due.
  let waitingSince: number | null = null;
  const awaiting = () => {
    const next = waitingSince === null ? '' : ` at ${at(waitingSince + input.reminderIntervalMs)}`;
    const escalated = view.escalated ? ' — ESCALATED' : '';
    return `waiting for operators to resolve ${open()} exception(s) (Update resolveException)${escalated}; next reminder${next}, every ${every}`;
  };

  setHandler(
    resolveException,
    async (r) => {
      // Marked before awaiting, so a second Update for the same exception fails validation.
      const { who, audit } = decisions.accept(r);
      const e = view.exceptions.find((x) => x.exceptionId === r.exceptionId)!;
      e.resolution = {
        resolution: r.resolution,
        reason: r.reason.trim(),
        operator: who.name,
        ...(who.actor === null ? {} : { actor: who.actor }),
        ...(r.amount === undefined ? {} : { amount: r.amount }),
      };
      await acts.recordResolution(cycle, { ...r, operator: who.name });
      if (patched('audit-trail'))
        await acts.recordAudit({
          action: 'settlement.resolveException',
          target: `${cycle.cycleId}/exceptions/${r.exceptionId}`,
          ...audit,
          role: 'resolver',
          updateId: currentUpdateInfo()!.id,
          details: {
            resolution: r.resolution,
            ...(r.amount === undefined ? {} : { amount: r.amount }),
            reason: r.reason.trim(),
          },
        });
      if (view.status === 'AwaitingResolution' && open() > 0) await publish(view.status, awaiting());
      return { open: open() };
    },
    {
      validator: (r) => {
        const problem =
          decisions.problem(r, 'resolveException', 'resolver') ??
          (view.status === 'AwaitingResolution'
            ? resolutionProblem(view.exceptions, r, input.currencyScale)
            : conflict(`exceptions can be resolved once reconciliation is done (now ${view.status})`));
        if (problem) refuse(problem);
      },
      description:
        'Resolve one reconciliation exception, sealed by Clearhouse (API, or the UI/CLI through its codec): {"workflowId","update":"resolveException","exceptionId","resolution":"accept_ours|accept_theirs|adjust|write_off|carry_forward","amount"?,"reason"}',
    },
  );
  setHandler(
    approvePayout,
    async (a) => {
      const { who, audit } = decisions.accept(a);
      view.approvals.push(who);
      if (patched('audit-trail'))
        await acts.recordAudit({
          action: 'settlement.approvePayout',
          target: cycle.cycleId,
          ...audit,
          role: 'approver',
          updateId: currentUpdateInfo()!.id,
          details: {
            approval: view.approvals.length,
            needed: PAYOUT_APPROVALS,
            ...(a.comment === undefined ? {} : { comment: a.comment }),
          },
        });
      return { approvals: view.approvals.length, needed: PAYOUT_APPROVALS };
    },
    {
      validator: (a) => {
        const problem =
          decisions.problem(a, 'approvePayout', 'approver') ??
          approvalProblem(
            view.approvals,
            deciderOf(a as { operator?: string }),
            a,
            view.status === 'AwaitingPayoutApproval',
            payoutMakers(view.exceptions, requestedBy),
          );
        if (problem) refuse(problem);
      },
      description:
        'Approve the payout, sealed by Clearhouse (API, or the UI/CLI through its codec; maker-checker: two different people, neither the one who started the cycle nor one whose resolution moved the GGR): {"workflowId","update":"approvePayout","comment"?}',
    },
  );

  upsertSearchAttributes([
    { key: PartnerId, value: input.partnerId },
    { key: SettlementPeriod, value: `${input.periodStart}/${input.periodEnd}` },
  ]);
  // Listed in GET /v1/settlements from now on, whoever started the cycle.
  if (patched('self-registration')) {
    await acts.registerCycle.executeWithOptions({ summary: `list the cycle for ${period}` }, [cycle]);
  }

  await publish('WaitingForCutoff', `waiting for the ${cutoffLabel}; then the period freezes`);
  // The API records the cycles it starts; one started by a partner's Schedule records itself.
  const audited = patched('audit-trail');
  if (audited && workflowInfo().parent)
    await acts.recordAudit({
      action: 'settlement.start',
      target: cycle.cycleId,
      role: 'schedule',
      scheduled: true,
    });

  try {
    // 1. Cut-off plus grace, on a durable timer, then freeze the period.
    const waitMs = freezeAt - workflowInfo().runStartTime.getTime();
    if (waitMs > 0) await sleep(waitMs, { summary: cutoffLabel });
    decisions.learn(freezeAt);
    view.frozenAt = (
      await acts.freezePeriod.executeWithOptions({ summary: `period ${period}` }, [cycle])
    ).frozenAt;
    decisions.learn(view.frozenAt);
    await publish('Reconciling', `fetching the provider report for ${period}`);

    // 2. The provider's report; a provider that stays down becomes an exception, never a guess.
    try {
      const report = await fetchingWith(
        input.reportFetchAttempts ?? DEFAULT_REPORT_FETCH_ATTEMPTS,
      ).fetchProviderReport.executeWithOptions(
        { summary: `${period}, page by page (progress stored with each page: a new worker resumes)` },
        [cycle],
      );
      view.reportRows = report.rows;
      view.exceptions.push(...report.exceptions);
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      view.exceptions.push(await acts.recordReportUnavailable(cycle, err.cause?.message ?? err.message));
    }

    // 3–4. Our totals against theirs; every difference named.
    if (view.reportRows !== null) {
      const rec = await acts.reconcile.executeWithOptions(
        { summary: 'totals per day/game/currency, then transactions' },
        [{ ...cycle, frozenAt: view.frozenAt }],
      );
      view.exceptions.push(...rec.exceptions);
    }

    // 5. Operators resolve each exception (Temporal UI or API); reminders while any stays open.
    if (open() > 0) {
      // Learn "now" from an activity (recorded in history), to say until when each wait lasts.
      if (patched('operator-labels'))
        waitingSince = Date.parse(
          await acts.now.executeWithOptions({ summary: "the time the operators' wait starts" }, []),
        );
      decisions.learn(waitingSince);
      await publish('AwaitingResolution', awaiting());
      let remindFrom = decisions.knownTime();
      while (
        !(await condition(() => open() === 0, input.reminderIntervalMs, {
          summary: `reminder ${view.remindersSent + 1} (every ${every}; escalated after ${ESCALATE_AFTER_REMINDERS})`,
        }))
      ) {
        // A reminder fired: at least one interval has passed since the wait (re)started.
        decisions.learn(remindFrom + input.reminderIntervalMs);
        remindFrom = decisions.knownTime();
        if (waitingSince !== null) waitingSince += input.reminderIntervalMs;
        view.remindersSent++;
        if (view.remindersSent >= ESCALATE_AFTER_REMINDERS && !view.escalated) {
          view.escalated = true;
          log.error('settlement escalated: exceptions still open after reminders', {
            open: open(),
            reminders: view.remindersSent,
          });
        } else {
          log.warn('settlement exceptions still open', { open: open(), reminders: view.remindersSent });
        }
        await publish('AwaitingResolution', awaiting());
      }
    }

    // Every resolution's handler has finished recording it before the money is computed: the
    // fee and the statement are built from what the operators decided, and it is all on record.
    await condition(allHandlersFinished);

    // 6. Lock FX for every transaction currency (source and time recorded), then the fees
    // from the contract version in force, in the settlement currency.
    // 6. The month's tiers, minimum guarantee and carries count its periods in order: an
    // earlier period of the partner still open computes its fee first (polled on a durable
    // timer, backing off to 5 minutes), so the fee never depends on which operator was quicker.
    if (feesInPeriodOrder) {
      for (let waitMs = 5_000; ; waitMs = Math.min(waitMs * 2, 300_000)) {
        const earlier = await acts.earlierPeriodsPending.executeWithOptions(
          { summary: 'earlier periods of the month without a fee yet' },
          [cycle],
        );
        if (earlier.length === 0) break;
        await publish(
          'WaitingForEarlierPeriods',
          `the month's earlier periods compute their fees first: waiting for ${earlier.join(', ')}; next look in ${waitMs / 1000} s`,
        );
        await sleep(waitMs, { summary: `until ${earlier.join(', ')} computes its fee` });
      }
    }
    await publish('ComputingFees', 'locking FX rates and applying the contract');
    view.fxRates = await acts.lockFxRates.executeWithOptions(
      { summary: 'one rate per currency pair, source and time recorded' },
      [cycle],
    );
    const fees = await acts.computeSettlementFees.executeWithOptions(
      { summary: 'the contract version in force, in the settlement currency' },
      [cycle, decidedResolutions(view.exceptions)],
    );
    view.fees = fees;

    // 7–8. Post the settlement entries (idempotent keys from the cycle id) and the statement.
    await publish('Posting', `net payable ${fees.netPayable} ${input.currency}`);
    const posted = await acts.postSettlement.executeWithOptions(
      { summary: `ledger entries for net payable ${fees.netPayable} ${input.currency}` },
      [cycle, fees],
    );
    await acts.buildStatement.executeWithOptions(
      { summary: 'JSON and CSV, from the figures this cycle decided' },
      [cycle, { fees, entryIds: posted.entryIds, exceptions: view.exceptions }],
    );

    // 9. Above the contract's threshold, two different operators approve the payout.
    if (BigInt(fees.netPayableMinor) > BigInt(input.payoutApprovalThresholdMinor)) {
      // Each approval is on record (its handler's audit step done) before the money moves.
      // The patch is decided before the status opens approvals: a patch marker recorded in the
      // same workflow task as an accepted Update can replay in another order (seen in CI as
      // TMPRL1100). Histories from before this move carry the older marker, after publish().
      const recordedEarly = patched('approvals-recorded-before-payout-v2');
      const clockTicks = patched('approval-clock');
      await publish(
        'AwaitingPayoutApproval',
        `waiting for ${PAYOUT_APPROVALS} different operators to approve the payout of ${fees.netPayable} ${input.currency} (Update approvePayout)`,
      );
      // Histories from before publish() mirrored the status wrote it here (replay-safe).
      if (!patched('one-status-writer')) await acts.setCycleStatus(cycle.cycleId, 'AwaitingPayoutApproval');
      const recorded = recordedEarly || patched('approvals-recorded-before-payout');
      const approved = () =>
        view.approvals.length >= PAYOUT_APPROVALS && (!recorded || allHandlersFinished());
      if (clockTicks) await decisions.waitWithClock(approved);
      else await condition(approved);
    }
    await publish('PayingOut', `${fees.netPayable} ${input.currency}`);
    await acts.recordPayout.executeWithOptions(
      {
        summary: `${fees.netPayable} ${input.currency} (approved by ${view.approvals.map((a) => a.name).join(', ') || 'no one: below threshold'})`,
      },
      [cycle, { netPayableMinor: fees.netPayableMinor, approvers: view.approvals.map((a) => a.name) }],
    );

    // 10. Tell the partner (signed webhook, retried with backoff; a partner that never answers
    // does not undo the settlement).
    try {
      view.notification = await notifying.notifyPartner.executeWithOptions(
        { summary: 'signed webhook to the partner' },
        [
          cycle,
          {
            settlementId: cycle.cycleId,
            partnerId: input.partnerId,
            periodStart: input.periodStart,
            periodEnd: input.periodEnd,
            currency: input.currency,
            netPayable: fees.netPayable,
          },
        ],
      );
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      view.notification = 'failed';
      log.warn('partner notification failed after retries', { error: err.message });
    }

    if (!patched('one-status-writer')) await acts.setCycleStatus(cycle.cycleId, 'Completed');
    await publish('Completed', `paid ${fees.netPayable} ${input.currency}`);
  } catch (err) {
    // A data or constraint error cannot succeed on a retry: the cycle stops in a state an
    // operator sees (UI and API), and its id can be started again once the data is fixed.
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (!(cause instanceof ApplicationFailure) || cause.type !== 'DataError') throw err;
    await publish('Failed', `stopped by a data error: ${cause.message}; fix it, then start the cycle again`);
    await condition(allHandlersFinished);
    throw ApplicationFailure.create({ type: 'CycleFailed', message: cause.message, nonRetryable: true });
  }
  // No Update handler may be cut off by the workflow completing.
  await condition(allHandlersFinished);
  return view;
}
