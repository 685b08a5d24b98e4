// The settlement cycle's shared vocabulary: statuses, exceptions, and the rules the Temporal
// Update validators apply. Pure and synchronous, because validators run inside workflow code.
import { samePerson, type Decider } from './actors';
import { conflict, forbidden, invalid, notFound, type Refusal } from './refusals';
import { parseAmount } from './money';

/** A cycle's steps, in order; the database's CHECK on settlement_cycles.status lists the same. */
export const settlementStatuses = [
  'WaitingForCutoff',
  'Reconciling',
  'AwaitingResolution',
  /** The fee follows the month's earlier periods: waiting for them to compute theirs. */
  'WaitingForEarlierPeriods',
  'ComputingFees',
  'Posting',
  'AwaitingPayoutApproval',
  'PayingOut',
  'Completed',
  /** Stopped by a data error (non-retryable); the same id may be started again. */
  'Failed',
] as const;
export type SettlementStatus = (typeof settlementStatuses)[number];

export const resolutions = [
  'accept_ours',
  'accept_theirs',
  'adjust',
  'write_off',
  'carry_forward',
  /** For a `suggested_match` only: its group matches (every member settles on our figure), or not. */
  'confirm_match',
  'reject_match',
] as const;
/** What only a suggested match takes, and what it takes only. */
export const matchDecisions = ['confirm_match', 'reject_match'] as const;
export type Resolution = (typeof resolutions)[number];

export interface SettlementInput {
  partnerId: string;
  /** The partner's name, for the summary an operator reads in the UI. */
  partnerName?: string;
  /** First and last business day of the period (partner timezone), YYYY-MM-DD. */
  periodStart: string;
  periodEnd: string;
  /** Settlement currency (the period's transactions are in it; FX comes later). */
  currency: string;
  currencyScale: number;
  /** The period's cut-off instant and the grace for late transactions before it freezes. */
  cutoffAt: string;
  /** The partner's timezone (IANA), for the times an operator reads in the Temporal UI. */
  timezone?: string;
  graceMs: number;
  /** Above this net payout (minor units, as a string) two different operators must approve. */
  payoutApprovalThresholdMinor: string;
  /** How often operators are reminded of open exceptions. */
  reminderIntervalMs: number;
  /** Attempts at fetching the provider report before it becomes an exception (default 8, ≈ 2 min of backoff). */
  reportFetchAttempts?: number;
  /**
   * History events a run may hold while operators resolve before it continues as new (default
   * 2,000; it also does past 2 MB). A process setting, like the reminders.
   */
  continueAsNewAtEvents?: number;
  /**
   * Who requested the payout (started the cycle): never one of its approvers. In input only in
   * histories from before cycles were planned in Postgres (a typed name); since then the cycle
   * reads it from its plan (confirmCyclePlan) and any value here is ignored.
   */
  requestedBy?: string;
}

/** What a cycle runs on: its input as re-derived from Postgres, and who requested it. */
export interface CyclePlan {
  input: SettlementInput;
  requestedBy: Decider | null;
}

/** What the plan fixes and the input may not change: partner, period, currency, threshold. */
const PLANNED = [
  'partnerId',
  'periodStart',
  'periodEnd',
  'currency',
  'currencyScale',
  'payoutApprovalThresholdMinor',
] as const;

/**
 * How a cycle's input differs from its plan in Postgres, in words (empty: it does not). The
 * period may freeze later than planned (a longer wait is safe), never earlier; a requester in
 * the input is refused: it comes from the plan.
 */
export function cyclePlanDifferences(plan: SettlementInput, given: SettlementInput): string[] {
  const out: string[] = PLANNED.filter((k) => String(plan[k]) !== String(given[k])).map(
    (k) => `${k} ${JSON.stringify(given[k])} instead of ${JSON.stringify(plan[k])}`,
  );
  const freezes = (i: SettlementInput) => Date.parse(i.cutoffAt) + i.graceMs;
  if (!Number.isFinite(freezes(given)) || freezes(given) < freezes(plan))
    out.push(`it would freeze before the planned cut-off ${plan.cutoffAt} + ${plan.graceMs} ms grace`);
  if (given.requestedBy !== undefined) out.push('requestedBy is read from the plan, never from input');
  return out;
}

export interface SettlementException {
  exceptionId: string;
  kind: string;
  txId: string | null;
  differenceMinor: string;
  detail: string;
  /**
   * What resolutionBaseEffect reads besides the difference, as the fee step reads it: the type
   * of the transaction (null for totals), and whether it is a difference of totals. Absent in
   * cycles reconciled before exceptions carried them.
   */
  txType?: string | null;
  isAggregate?: boolean;
  resolution?: {
    resolution: Resolution;
    amount?: string;
    reason: string;
    /** The resolver's display name. */
    operator: string;
    /** The resolver's actor key (domain/actors.ts); absent for decisions recorded with a typed name. */
    actor?: string;
  };
}

/** What the fee step needs of one decided exception, handed over from the workflow's state. */
export interface SettlementResolution {
  exceptionId: string;
  resolution: Resolution;
  /** Decimal string in the settlement currency (`adjust` only). */
  amount?: string;
  reason?: string;
  operator?: string;
}

/** The resolutions decided so far, in exception order: the fee step's input. */
export function decidedResolutions(exceptions: SettlementException[]): SettlementResolution[] {
  return exceptions.flatMap((e) =>
    e.resolution
      ? [
          {
            exceptionId: e.exceptionId,
            resolution: e.resolution.resolution,
            ...(e.resolution.amount === undefined ? {} : { amount: e.resolution.amount }),
            reason: e.resolution.reason,
            operator: e.resolution.operator,
          },
        ]
      : [],
  );
}

/** The one JSON object the Temporal UI (or the API) sends to resolve an exception. */
export interface ResolveExceptionInput {
  exceptionId: string;
  resolution: Resolution;
  /** Decimal string in the settlement currency; required for `adjust` only. */
  amount?: string;
  reason: string;
  /** Only in decisions recorded before seals: who decides now comes from the seal. */
  operator?: string;
}

export interface ApprovePayoutInput {
  /** Only in decisions recorded before seals: who decides now comes from the seal. */
  operator?: string;
  comment?: string;
}

const MAX_TEXT = 500;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why a resolveException Update must be rejected, or null to accept it. Messages show in the Temporal UI. */
export function resolutionProblem(
  exceptions: SettlementException[],
  input: unknown,
  currencyScale: number,
): Refusal | null {
  if (!isObject(input))
    return invalid('send one JSON object: {"exceptionId", "resolution", "amount"?, "reason"}');
  const { exceptionId, resolution, amount, reason } = input;
  if (typeof exceptionId !== 'string') return invalid('exceptionId is required');
  const exception = exceptions.find((e) => e.exceptionId === exceptionId);
  if (!exception)
    return notFound(
      `unknown exceptionId ${exceptionId}; open ones: ${
        exceptions
          .filter((e) => !e.resolution)
          .map((e) => e.exceptionId)
          .join(', ') || 'none'
      }`,
    );
  if (exception.resolution)
    return conflict(
      `exception ${exceptionId} was already resolved (${exception.resolution.resolution}) by ${exception.resolution.operator}`,
    );
  if (typeof resolution !== 'string' || !(resolutions as readonly string[]).includes(resolution))
    return invalid(`resolution must be one of ${resolutions.join(', ')}`);
  if (typeof reason !== 'string' || reason.trim().length === 0) return invalid('reason is required: say why');
  if (reason.length > MAX_TEXT) return invalid(`reason is limited to ${MAX_TEXT} characters`);
  if (resolution === 'adjust') {
    const parsed = parseAmount(amount, currencyScale, { allowNegative: true, allowZero: false });
    if (!parsed.ok) return invalid(`amount ${parsed.message}`);
  } else if (amount !== undefined) {
    return invalid('amount is only for resolution "adjust"');
  }
  return null;
}

/** The facts of an exception the rule of a resolution's GGR effect reads. */
export interface ExceptionFacts {
  exceptionId: string;
  kind: string;
  txType: string | null;
  isAggregate: boolean;
  differenceMinor: bigint;
}

/** A maker of a payout: no maker may approve it (maker-checker). */
export type PayoutMaker = Decider & { made: string };

/** What the requester of a payout made: the cycle's start. */
export const REQUESTED = 'requested this payout (started the cycle)';
export const requesterMaker = (requestedBy: Decider): PayoutMaker => ({ ...requestedBy, made: REQUESTED });

/** Adds a maker unless the same person is one already (the first thing they made is kept). */
export function addMaker(makers: PayoutMaker[], maker: PayoutMaker | null): void {
  if (maker && !makers.some((m) => samePerson(m, maker))) makers.push(maker);
}

/**
 * Whether a resolution makes its decider a maker of the payout: it moves the period's GGR, and
 * so the fee and the payout, by the one rule the fee step applies (resolutionBaseEffect). An
 * `adjust` always counts, whatever its amount.
 */
export function makerOf(e: ExceptionFacts, resolution: Resolution, who: Decider): PayoutMaker | null {
  if (resolution !== 'adjust' && resolutionBaseEffect(e, { resolution }) === 0n) return null;
  return {
    ...who,
    made:
      resolution === 'adjust'
        ? `adjusted exception ${e.exceptionId}`
        : `resolved exception ${e.exceptionId} with ${resolution}, which moved the GGR (and so the fee)`,
  };
}

/**
 * Whether a resolution recorded in workflow state moves the period's GGR (makerOf). An exception
 * from before the facts were kept is judged as a bet, the case in which accepting the provider's
 * figure moves GGR by the whole difference: the safe side.
 */
export function resolutionMovesGgr(e: SettlementException): boolean {
  return e.resolution
    ? makerOf(factsOf(e), e.resolution.resolution, { actor: null, name: '' }) !== null
    : false;
}

const factsOf = (e: SettlementException): ExceptionFacts => ({
  exceptionId: e.exceptionId,
  kind: e.kind,
  txType: e.txType === undefined ? 'bet' : e.txType,
  isAggregate: e.isAggregate === true,
  differenceMinor: BigInt(e.differenceMinor),
});

/**
 * The makers of a payout from workflow state (the legacy cycle): whoever requested it (started
 * the cycle by hand) and whoever resolved one of its exceptions in a way that moved GGR
 * (makerOf). None of them may approve it.
 */
export function payoutMakers(exceptions: SettlementException[], requestedBy: Decider | null): PayoutMaker[] {
  return [
    ...(requestedBy ? [requesterMaker(requestedBy)] : []),
    ...exceptions.flatMap((e) => {
      const maker =
        e.resolution &&
        makerOf(factsOf(e), e.resolution.resolution, {
          actor: e.resolution.actor ?? null,
          name: e.resolution.operator,
        });
      return maker ? [maker] : [];
    }),
  ];
}

/**
 * Why an approvePayout Update must be rejected: maker-checker between verified actors (the
 * seal's, domain/decisions.ts) — two different approvers, neither a maker.
 */
export function approvalProblem(
  approvers: Decider[],
  who: Decider,
  input: unknown,
  awaitingApproval: boolean,
  makers: (Decider & { made: string })[] = [],
): Refusal | null {
  if (!awaitingApproval) return conflict('this cycle is not waiting for a payout approval');
  if (!isObject(input)) return invalid('send one JSON object: {"comment"?}');
  if (approvers.some((a) => samePerson(a, who)))
    return forbidden(`${who.name} already approved: a second, different operator must approve`);
  const maker = makers.find((m) => samePerson(m, who));
  if (maker) return forbidden(`${who.name} ${maker.made}: a maker cannot approve the payout (maker-checker)`);
  if (input.comment !== undefined && (typeof input.comment !== 'string' || input.comment.length > MAX_TEXT))
    return invalid('comment must be a string of at most 500 characters');
  return null;
}

/** A resolution's effect on the period's GGR, in minor units: what the fees are computed on. */
export function resolutionBaseEffect(
  e: { kind: string; txType: string | null; differenceMinor: bigint; isAggregate?: boolean },
  r: { resolution: Resolution; amountMinor?: bigint },
): bigint {
  if (r.resolution === 'adjust') return r.amountMinor ?? 0n;
  if (r.resolution !== 'accept_theirs') return 0n;
  // Accepting the provider's figure moves GGR by the difference: more bets raise it, more wins lower it.
  if (e.txType === 'bet') return e.differenceMinor;
  if (e.txType === 'win') return -e.differenceMinor;
  // Aggregate-level differences (aggregator reports) are already GGR differences.
  if (e.txType === null && e.isAggregate === true) return e.differenceMinor;
  return 0n;
}

/**
 * An instant as an operator reads it in the Temporal UI: `2026-11-30 01:00 Europe/London`
 * (or UTC when no timezone is known). Pure: Intl with a fixed locale and zone.
 */
export function operatorTime(instant: string | number, timezone = 'UTC'): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(instant));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')} ${timezone}`;
}

/** A duration as an operator reads it: `4h`, `90 min`, `45 s`. */
export function operatorDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

export { samePerson, type Decider };
