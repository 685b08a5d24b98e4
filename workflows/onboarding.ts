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
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  uuid4,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { refuse } from './refuse';
import {
  approvalsNeeded,
  assessRisk,
  decisionProblem,
  informationProblem,
  type ApplicationDecision,
  type ApplicationStatus,
  type DecideApplicationInput,
  type DueDiligence,
  type PartnerApplication,
  type ProvideInformationInput,
  type RiskAssessment,
} from '../domain/onboarding';
import { operatorDuration } from '../domain/settlement';
import { PartnerId } from './search-attributes';

export interface OnboardingInput {
  /** The application as submitted: no credential, nor its hash, ever enters a workflow's input
   * (a provider credential arrives sealed by the API). */
  application: PartnerApplication;
  /** The operator who submitted it: never one of its approvers. */
  submittedBy: string;
  /** While waiting on operators or the applicant: remind this often, close after this long. */
  reminderIntervalMs: number;
  expiresAfterMs: number;
}

export interface OnboardingView {
  status: ApplicationStatus;
  partnerId: string;
  submittedBy: string;
  checks: DueDiligence | null;
  risk: RiskAssessment | null;
  approvalsNeeded: number;
  approvals: string[];
  decisions: { decision: ApplicationDecision; reason: string; operator: string }[];
  /** Notes that came with information the applicant provided. */
  information: { note: string; operator: string }[];
  /** What the process waits for, in words (also its current details in the Temporal UI). */
  waitingFor: string | null;
  remindersSent: number;
  connectivity: { report: string; webhook: string } | { error: string } | null;
  failure: string | null;
}

export const onboardingStatus = defineQuery<OnboardingView>('status');
export const decideApplication = defineUpdate<
  { status: ApplicationStatus; approvals: number; needed: number },
  [DecideApplicationInput]
>('decideApplication');
export const provideInformation = defineUpdate<{ status: ApplicationStatus }, [ProvideInformationInput]>(
  'provideInformation',
);

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['ConflictError', 'ValidationError', 'NotFoundError'],
  },
});
// Outside services (due diligence, the partner's own servers): retried with backoff, then the
// failure goes to an operator instead of blocking the process.
const outside = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
  },
});

const once = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 1 },
});

/** Failure types of a step that no retry can get past: the onboarding ends Failed with the reason. */
const STOPS_ONBOARDING = new Set(['DataError', 'ConflictError', 'ValidationError']);

const reasonOf = (err: unknown): string =>
  err instanceof ActivityFailure ? (err.cause?.message ?? err.message) : String(err);

/**
 * A partner application, from submission to an active partner: automated checks (company
 * registry, licences, sanctions) and a risk score with its reasons; operators' review
 * (approve, reject, ask for information; high risk needs two different approvers, never the
 * submitter); then the partner, its contract, accounts and credentials, a connectivity test,
 * its settlement Schedule, and activation. Reminders while it waits; closed when nobody acts.
 */
export async function partnerOnboarding(input: OnboardingInput): Promise<OnboardingView> {
  const app: PartnerApplication = { ...input.application };
  const id = app.partner.id;
  const view: OnboardingView = {
    status: 'Checking',
    partnerId: id,
    submittedBy: input.submittedBy,
    checks: null,
    risk: null,
    approvalsNeeded: 1,
    approvals: [],
    decisions: [],
    information: [],
    waitingFor: null,
    remindersSent: 0,
    connectivity: null,
    failure: null,
  };
  let pending: ApplicationDecision | null = null;
  let informationArrived = false;
  const publish = (status: ApplicationStatus, details: string, waitingFor: string | null = null) => {
    view.status = status;
    view.waitingFor = waitingFor;
    setCurrentDetails(`**${status}** — ${details}${waitingFor ? `\n\nWaiting for: ${waitingFor}` : ''}`);
  };

  setHandler(onboardingStatus, () => view);
  setHandler(
    decideApplication,
    async (d) => {
      const operator = d.operator.trim();
      view.decisions.push({ decision: d.decision, reason: d.reason.trim(), operator });
      if (d.decision === 'approve' && view.status === 'AwaitingDecision') view.approvals.push(operator);
      // An approval while the connectivity test failed means "test again"; counted once.
      if (
        d.decision !== 'approve' ||
        view.status !== 'AwaitingDecision' ||
        view.approvals.length >= view.approvalsNeeded
      )
        pending = d.decision;
      await acts.recordAudit({
        action: 'onboarding.decideApplication',
        target: `onboarding:${id}`,
        operator,
        role: 'approver',
        updateId: currentUpdateInfo()!.id,
        details: { decision: d.decision, reason: d.reason.trim(), risk: view.risk?.level ?? null },
      });
      return { status: view.status, approvals: view.approvals.length, needed: view.approvalsNeeded };
    },
    {
      validator: (d) => {
        const problem = decisionProblem(view, d);
        if (problem) refuse(problem);
      },
      description:
        'Decide the application: {"decision":"approve|reject|request_info","reason","operator"}. High risk needs two different approvers; the submitter cannot approve.',
    },
  );
  setHandler(
    provideInformation,
    async (i) => {
      if (i.details) app.details = { ...app.details, ...i.details };
      view.information.push({ note: i.note.trim(), operator: i.operator.trim() });
      informationArrived = true;
      await acts.recordAudit({
        action: 'onboarding.provideInformation',
        target: `onboarding:${id}`,
        operator: i.operator.trim(),
        role: 'admin',
        updateId: currentUpdateInfo()!.id,
        details: { note: i.note.trim(), changed: Object.keys(i.details ?? {}) },
      });
      return { status: view.status };
    },
    {
      validator: (i) => {
        const problem = informationProblem(view.status, i);
        if (problem) refuse(problem);
      },
      description:
        'The applicant\'s answer to request_info: {"details"?: {company?, licences?, contacts?}, "note", "operator"}; the checks run again.',
    },
  );
  upsertSearchAttributes([{ key: PartnerId, value: id }]);

  /** Waits until `done`, reminding every interval; false when the expiry passes first. */
  const waitWithReminders = async (done: () => boolean, what: () => string): Promise<boolean> => {
    let waited = 0;
    while (!done()) {
      const step = Math.min(input.reminderIntervalMs, input.expiresAfterMs - waited);
      if (step <= 0) return false;
      if (await condition(done, step, { summary: `reminder or expiry (${operatorDuration(step)})` }))
        return true;
      waited += step;
      if (waited >= input.expiresAfterMs) return done();
      view.remindersSent++;
      log.warn('onboarding still waiting', {
        partnerId: id,
        status: view.status,
        reminders: view.remindersSent,
      });
      publish(view.status, `reminder ${view.remindersSent}`, what());
    }
    return true;
  };
  const closeAs = async (status: 'Rejected' | 'Expired', details: string) => {
    publish(status, details);
    await condition(allHandlersFinished);
    return view;
  };

  try {
    // 1–2. Automated checks and the risk score, again after every answer to request_info.
    for (;;) {
      publish('Checking', 'company registry, licences and sanctions screening');
      const [registry, sanctions] = await Promise.all([
        outside.checkRegistry(app).catch((err: unknown) => {
          const error = reasonOf(err);
          return {
            registry: { outcome: 'unavailable', error },
            licences: { outcome: 'unavailable', error },
          } as const;
        }),
        outside
          .screenSanctions(app)
          .catch((err: unknown) => ({ outcome: 'unavailable', error: reasonOf(err) }) as const),
      ]);
      view.checks = { ...registry, sanctions };
      view.risk = assessRisk(app.partner.kind, view.checks);
      view.approvalsNeeded = approvalsNeeded(view.risk.level);
      view.approvals = [];
      pending = null;

      // 3. Operators decide (Temporal UI or API).
      const awaiting = () =>
        view.risk!.blocked
          ? 'an operator to reject it (confirmed sanctions match) — Update decideApplication'
          : `${view.approvalsNeeded - view.approvals.length} more approval(s) from an approver other than ${input.submittedBy} (risk ${view.risk!.level}, score ${view.risk!.score}: ${view.risk!.reasons.join('; ')}), or a rejection or request_info — Update decideApplication; reminders every ${operatorDuration(input.reminderIntervalMs)}`;
      publish('AwaitingDecision', `risk ${view.risk.level} (${view.risk.score})`, awaiting());
      if (!(await waitWithReminders(() => pending !== null, awaiting)))
        return await closeAs('Expired', `no decision within ${operatorDuration(input.expiresAfterMs)}`);
      if (pending === 'reject') return await closeAs('Rejected', view.decisions.at(-1)!.reason);
      if (pending === 'approve') break;

      // request_info: the applicant answers (provideInformation), then the checks run again.
      informationArrived = false;
      const asked = () =>
        `the applicant's answer to: ${view.decisions.at(-1)!.reason} — Update provideInformation`;
      publish('AwaitingInformation', 'an operator asked for information', asked());
      if (!(await waitWithReminders(() => informationArrived, asked)))
        return await closeAs('Expired', `no answer within ${operatorDuration(input.expiresAfterMs)}`);
    }

    // 4. Approved: the partner and everything it settles with.
    publish('Activating', `approved by ${view.approvals.join(' and ')}`);
    await acts.registerPartner(app.partner);
    await acts.setUpPartner(app);
    // The key is minted by an activity, once the partner exists; its id is fixed here so that a
    // retried activity finds the key it already stored instead of minting a second one. Minted
    // just before activation, so that its one-hour pickup starts when the partner is active.
    const keyId = uuid4().replace(/-/g, '').slice(0, 16);
    const mintAtActivation = patched('mint-key-at-activation');
    if (!mintAtActivation) await acts.issuePartnerApiKey({ partnerId: id, keyId });
    for (;;) {
      try {
        view.connectivity = await outside.testConnectivity(id);
        break;
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        view.connectivity = { error: reasonOf(err) };
        pending = null;
        const fix = () =>
          `an operator to fix the connection or webhook and approve again (tests again), or reject — Update decideApplication; last error: ${reasonOf(err)}`;
        publish('ConnectivityFailed', reasonOf(err), fix());
        if (!(await waitWithReminders(() => pending !== null, fix)))
          return await closeAs('Expired', 'the connectivity test was never fixed');
        if (pending === 'reject') return await closeAs('Rejected', view.decisions.at(-1)!.reason);
        publish('Activating', 'testing connectivity again');
      }
    }
    if (app.contract) await acts.createSettlementSchedule(id);
    if (mintAtActivation) await acts.issuePartnerApiKey({ partnerId: id, keyId });
    await acts.activatePartner(id);
    publish('Active', `partner ${id} is active`);
    log.info('partner onboarded', { partnerId: id });
  } catch (err) {
    // A data or constraint error cannot succeed on a retry: the onboarding stops in a state an
    // operator sees (UI and API), and its id can be used again. A ValidationError is one too:
    // data only a step of activation can judge, e.g. a time zone Temporal cannot load for the
    // Schedule.
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (!(cause instanceof ApplicationFailure) || !STOPS_ONBOARDING.has(cause.type ?? '')) throw err;
    view.failure = cause.message;
    publish('Failed', `stopped: ${cause.message}; fix it, then submit the application again`);
    await condition(allHandlersFinished);
    throw ApplicationFailure.create({ type: 'OnboardingFailed', message: cause.message, nonRetryable: true });
  }
  await condition(allHandlersFinished);
  return view;
}

/**
 * The connectivity test on its own, for a partner whose provider connection changed after
 * onboarding (PUT /v1/partners/{id}/provider-connection): one report page and one signed test
 * webhook, tried once so that the operator who changed it reads the outcome in the answer (the
 * classified error when it fails); they change it again or retry.
 */
export async function partnerConnectivityTest(
  partnerId: string,
): Promise<{ report: string; webhook: string } | { error: string }> {
  try {
    return await once.testConnectivity(partnerId);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    return { error: reasonOf(err) };
  }
}
