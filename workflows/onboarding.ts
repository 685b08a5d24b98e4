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
import { deciderOf, type Sealed } from '../domain/decisions';
import { decisionGuard } from './decisions';
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
  /**
   * The application the API stored (POST /v1/partner-applications): the activities read the
   * partner, details, contract, webhook URL and provider connection from that record, never
   * from this input; its credential never enters a workflow history. A start whose id was never
   * stored, or whose partnerId or submittedBy differ from the record, registers nothing and ends
   * Failed saying why.
   */
  applicationId?: string;
  partnerId?: string;
  /** Histories started before application-by-reference only: the application itself. */
  application?: PartnerApplication;
  /** The operator who submitted it (as the record says): never one of its approvers. */
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
  [Sealed<DecideApplicationInput>]
>('decideApplication');
export const provideInformation = defineUpdate<
  { status: ApplicationStatus },
  [Sealed<ProvideInformationInput>]
>('provideInformation');

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
  // Since application-by-reference the application is read from Postgres by the activities;
  // the input's own copy is read only by histories from before (and ignored otherwise).
  const byReference = patched('application-by-reference');
  const app: PartnerApplication | null = byReference ? null : { ...input.application! };
  const ref = { applicationId: String(input.applicationId ?? '') };
  const id = app ? app.partner.id : String(input.partnerId ?? '');
  let kind = app ? app.partner.kind : null;
  let hasContract = app ? app.contract !== null : false;
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
  // Sealed decisions: each seal once, for this workflow only, fresh at the time history proves.
  const decisions = decisionGuard();
  setHandler(
    decideApplication,
    async (d) => {
      const { who, audit } = decisions.accept(d);
      const operator = who.name;
      view.decisions.push({ decision: d.decision, reason: d.reason.trim(), operator });
      // Approvers are recorded as actor keys (names for decisions from before seals).
      if (d.decision === 'approve' && view.status === 'AwaitingDecision')
        view.approvals.push(who.actor ?? operator);
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
        ...audit,
        role: 'approver',
        updateId: currentUpdateInfo()!.id,
        details: { decision: d.decision, reason: d.reason.trim(), risk: view.risk?.level ?? null },
      });
      return { status: view.status, approvals: view.approvals.length, needed: view.approvalsNeeded };
    },
    {
      validator: (d) => {
        const problem =
          decisions.problem(d, 'decideApplication', 'approver') ??
          decisionProblem(view, d, deciderOf(d as { operator?: string }));
        if (problem) refuse(problem);
      },
      description:
        'Decide the application, sealed by Clearhouse (API, or the UI/CLI through its codec): {"workflowId","update":"decideApplication","decision":"approve|reject|request_info","reason"}. High risk needs two different approvers; the submitter cannot approve.',
    },
  );
  setHandler(
    provideInformation,
    async (i) => {
      // Spent before anything is awaited: the same seal sent twice meets a used nonce.
      const { who, audit } = decisions.accept(i);
      if (byReference) {
        // Stored with the application before the checks run again on it.
        if (i.details) await acts.recordApplicationInformation({ ...ref, details: i.details });
      } else if (i.details && app) app.details = { ...app.details, ...i.details };
      view.information.push({ note: i.note.trim(), operator: who.name });
      informationArrived = true;
      await acts.recordAudit({
        action: 'onboarding.provideInformation',
        target: `onboarding:${id}`,
        ...audit,
        role: 'admin',
        updateId: currentUpdateInfo()!.id,
        details: { note: i.note.trim(), changed: Object.keys(i.details ?? {}) },
      });
      return { status: view.status };
    },
    {
      validator: (i) => {
        const problem =
          decisions.problem(i, 'provideInformation', 'admin') ?? informationProblem(view.status, i);
        if (problem) refuse(problem);
      },
      description:
        'The applicant\'s answer to request_info, sealed by Clearhouse: {"workflowId","update":"provideInformation","details"?: {company?, licences?, contacts?}, "note"}; the checks run again.',
    },
  );
  upsertSearchAttributes([{ key: PartnerId, value: id }]);

  /** Waits until `done`, reminding every interval; false when the expiry passes first. */
  const waitWithReminders = async (done: () => boolean, what: () => string): Promise<boolean> => {
    let waited = 0;
    while (!done()) {
      const step = Math.min(input.reminderIntervalMs, input.expiresAfterMs - waited);
      if (step <= 0) return false;
      const from = decisions.knownTime();
      if (await condition(done, step, { summary: `reminder or expiry (${operatorDuration(step)})` }))
        return true;
      decisions.learn(from + step); // the timer fired: at least `step` has passed
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
    if (byReference) {
      // The application as the API stored it, claimed by this run; a forged start ends here.
      const summary = await acts.loadApplication({
        applicationId: input.applicationId,
        partnerId: input.partnerId,
        submittedBy: input.submittedBy,
      });
      kind = summary.kind;
      hasContract = summary.hasContract;
      view.submittedBy = summary.submittedBy;
    }
    // 1–2. Automated checks and the risk score, again after every answer to request_info.
    for (;;) {
      publish('Checking', 'company registry, licences and sanctions screening');
      const [registry, sanctions] = await Promise.all([
        (app ? outside.checkRegistry(app) : outside.checkApplicantRegistry(ref)).catch((err: unknown) => {
          const error = reasonOf(err);
          return {
            registry: { outcome: 'unavailable', error },
            licences: { outcome: 'unavailable', error },
          } as const;
        }),
        (app ? outside.screenSanctions(app) : outside.screenApplicant(ref)).catch(
          (err: unknown) => ({ outcome: 'unavailable', error: reasonOf(err) }) as const,
        ),
      ]);
      view.checks = { ...registry, sanctions };
      view.risk = assessRisk(kind!, view.checks);
      view.approvalsNeeded = approvalsNeeded(view.risk.level);
      view.approvals = [];
      pending = null;

      // 3. Operators decide (Temporal UI or API).
      const awaiting = () =>
        view.risk!.blocked
          ? 'an operator to reject it (confirmed sanctions match) — Update decideApplication'
          : `${view.approvalsNeeded - view.approvals.length} more approval(s) from an approver other than ${view.submittedBy} (risk ${view.risk!.level}, score ${view.risk!.score}: ${view.risk!.reasons.join('; ')}), or a rejection or request_info — Update decideApplication; reminders every ${operatorDuration(input.reminderIntervalMs)}`;
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
    if (app) {
      await acts.registerPartner(app.partner);
      await acts.setUpPartner(app);
    } else {
      await acts.registerApplicant(ref);
      await acts.setUpApplicant(ref);
    }
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
    if (hasContract) await acts.createSettlementSchedule(id);
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
