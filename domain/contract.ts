// A partner's contract terms: the one schema (API body, database read, fee engine input),
// their defaults, and the settlement cadence rules that follow from them.
import { z } from 'zod';
import { InvalidTermsError, validateTerms, type FeeTerms } from './fees';
import { ConflictError, ForbiddenError, ValidationError } from './errors';
import {
  reconciliationTermsSchema,
  toleranceSchema,
  type ReconciliationTerms,
  type RuleTolerance,
} from './rules';

const minor = z.string().regex(/^\d{1,18}$/, 'minor units as a string of digits');
/** A share: an exact decimal from 0 to 1 (100 %), at most 12 decimals. */
const rate = z
  .string()
  .regex(/^(0(\.\d{1,12})?|1(\.0{1,12})?)$/, 'an exact decimal rate from 0 to 1 such as "0.12"');
/** A game category (the game catalogue's, the contract's category rates'). */
const GAME_CATEGORY = /^[a-z][a-z0-9_-]{0,39}$/;
export const gameCategorySchema = z
  .string()
  .regex(GAME_CATEGORY, 'a game category such as slots, live, table, crash');

export const cadences = ['daily', 'weekly', 'monthly'] as const;
// The cadence rules (the period a cycle settles, when its Schedule fires, whether it closes
// its month) are all below, in this one module.

const addDays = (day: string, n: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
export type SettlementCadence = (typeof cadences)[number];

export const DEFAULT_GRACE_MINUTES = 60;
export const DEFAULT_PAYOUT_THRESHOLD_MINOR = '1000000';
/** Days a partner has to acknowledge or dispute an issued statement; silence after them is acceptance. */
export const DEFAULT_ACKNOWLEDGEMENT_DAYS = 14;
/** Days after approval by which a payout is confirmed paid; later it is overdue. */
export const DEFAULT_PAYMENT_TERMS_DAYS = 30;

const settlementDefaults = {
  period: 'daily' as SettlementCadence,
  cutoffGraceMinutes: DEFAULT_GRACE_MINUTES,
  payoutApprovalThresholdMinor: DEFAULT_PAYOUT_THRESHOLD_MINOR,
  minimumPayoutMinor: '0',
  acknowledgementDays: DEFAULT_ACKNOWLEDGEMENT_DAYS,
  paymentTermsDays: DEFAULT_PAYMENT_TERMS_DAYS,
};

/** A partner's invoice line may differ from our statement's by this much before it is a fee_variance. */
const invoiceDefaults: { tolerance: RuleTolerance } = {
  tolerance: { absoluteMinor: '100', percent: '0', base: 'larger', rounding: 'half_up' },
};

/** The contract terms as sent and stored (amounts as digit strings). */
export const contractTermsSchema = z
  .object({
    base: z.enum(['ggr', 'ngr']),
    tiers: z
      .array(z.object({ upToMinor: minor.nullable(), rate }).strict())
      .min(1)
      .max(20)
      .meta({ description: 'Tiers by monthly volume (the month-to-date fee base)' }),
    tierMode: z.enum(['marginal', 'whole_volume']),
    minimumGuaranteeMinor: minor.default('0').meta({ description: 'Monthly minimum guarantee' }),
    fixedFeeMinor: minor.default('0').meta({ description: 'Fixed fee per month' }),
    categoryRates: z
      .record(gameCategorySchema, rate)
      .default({})
      // The generator does not publish a record's key schema: say it, so the contract does.
      .meta({ propertyNames: { type: 'string', pattern: GAME_CATEGORY.source } }),
    negativeBase: z.enum(['carry_forward', 'floor']),
    jackpots: z.enum(['pass_through', 'exclude']),
    taxWithholdingRate: rate.default('0'),
    gamingTax: z
      .object({
        jurisdiction: z.string().regex(/^[A-Z]{2}(-[A-Z0-9]{1,3})?$/, 'an ISO 3166 code such as MT or GB'),
        rate,
        on: z.enum(['ggr', 'stakes']),
      })
      .strict()
      .nullable()
      .default(null)
      .meta({ description: 'Gaming tax of the jurisdiction, lowers NGR and is posted to its own account' }),
    settlement: z
      .object({
        period: z.enum(cadences).default(settlementDefaults.period),
        cutoffGraceMinutes: z
          .number()
          .int()
          .min(0)
          .max(7 * 24 * 60)
          .default(settlementDefaults.cutoffGraceMinutes),
        payoutApprovalThresholdMinor: minor.default(settlementDefaults.payoutApprovalThresholdMinor),
        minimumPayoutMinor: minor.default(settlementDefaults.minimumPayoutMinor).meta({
          description:
            'A net payable below it is not paid: it rolls to the next period (across a month close too) and the statement says so',
        }),
        acknowledgementDays: z
          .number()
          .int()
          .min(1)
          .max(90)
          .default(settlementDefaults.acknowledgementDays)
          .meta({ description: 'Days to acknowledge or dispute an issued statement; silence is acceptance' }),
        paymentTermsDays: z
          .number()
          .int()
          .min(0)
          .max(365)
          .default(settlementDefaults.paymentTermsDays)
          .meta({ description: 'Days after approval by which a payout is confirmed; later it is overdue' }),
      })
      .strict()
      .default(settlementDefaults),
    invoices: z
      .object({ tolerance: toleranceSchema.default(invoiceDefaults.tolerance) })
      .strict()
      .default(invoiceDefaults)
      .meta({
        description:
          "How far a partner's invoice line may differ from the statement's before it is a fee_variance exception",
      }),
    reconciliation: reconciliationTermsSchema.prefault({}).meta({
      description:
        'Matching and auto-resolution rules by discrepancy kind (domain/rules.ts), the many-to-many matcher, expected items and the bulk-resolution threshold. A cycle applies the version in force for its period.',
    }),
  })
  .strict()
  .meta({ id: 'ContractTerms' });

export type ContractTermsJson = z.input<typeof contractTermsSchema>;
export type StoredContractTerms = z.output<typeof contractTermsSchema>;

export interface ContractTerms {
  fees: FeeTerms;
  settlement: StoredContractTerms['settlement'];
  reconciliation: ReconciliationTerms;
  invoices: StoredContractTerms['invoices'];
}

function toFeeTerms(t: StoredContractTerms): FeeTerms {
  return {
    base: t.base,
    tiers: t.tiers.map((x) => ({
      upToMinor: x.upToMinor === null ? null : BigInt(x.upToMinor),
      rate: x.rate,
    })),
    tierMode: t.tierMode,
    minimumGuaranteeMinor: BigInt(t.minimumGuaranteeMinor),
    fixedFeeMinor: BigInt(t.fixedFeeMinor),
    categoryRates: t.categoryRates,
    negativeBase: t.negativeBase,
    jackpots: t.jackpots,
    taxWithholdingRate: t.taxWithholdingRate,
    gamingTax: t.gamingTax,
  };
}

/**
 * Checks terms (the schema, then the fee engine's rules such as rising tiers) and returns the
 * stored form with defaults applied. Throws a ValidationError naming the field under `path`.
 */
export function checkContractTerms(input: unknown, path = 'terms'): StoredContractTerms {
  const parsed = contractTermsSchema.safeParse(input);
  if (!parsed.success)
    throw new ValidationError(
      'invalid contract terms',
      parsed.error.issues.map((i) => ({
        path: [path, ...i.path.map(String)].join('.'),
        message: i.message,
      })),
    );
  try {
    validateTerms(toFeeTerms(parsed.data));
  } catch (err) {
    if (!(err instanceof InvalidTermsError)) throw err;
    const [field, ...rest] = err.message.split(': ');
    throw new ValidationError(err.message, [{ path: `${path}.${field}`, message: rest.join(': ') }]);
  }
  return parsed.data;
}

/** Reads stored terms (they were checked when recorded; checked again, never cast). */
export function readContractTerms(stored: unknown): ContractTerms {
  const t = checkContractTerms(stored);
  return {
    fees: toFeeTerms(t),
    settlement: t.settlement,
    reconciliation: t.reconciliation,
    invoices: t.invoices,
  };
}

/**
 * The period of a cadence that contains `day`: the day itself, its ISO week (Monday to
 * Sunday), or its calendar month. A Schedule firing settles the period containing the day
 * before it (in the partner's timezone), so a weekly firing on Monday settles the week that
 * just ended, a monthly firing on the 1st the month that just ended.
 */
export function periodContaining(day: string, cadence: SettlementCadence): { start: string; end: string } {
  if (cadence === 'daily') return { start: day, end: day };
  if (cadence === 'weekly') {
    const weekday = (new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
    return { start: addDays(day, -weekday), end: addDays(day, 6 - weekday) };
  }
  const start = `${day.slice(0, 7)}-01`;
  const [y, m] = [Number(day.slice(0, 4)), Number(day.slice(5, 7))];
  const nextMonth = m === 12 ? `${y + 1}-01-01` : `${y}-${String(m + 1).padStart(2, '0')}-01`;
  return { start, end: addDays(nextMonth, -1) };
}

/** When a cadence's Schedule fires, at `hour` in the partner's timezone. */
export function scheduleCalendar(
  cadence: SettlementCadence,
  hour: number,
):
  | { hour: number; minute: 0; comment: string }
  | { dayOfWeek: 'MONDAY'; hour: number; minute: 0; comment: string }
  | { dayOfMonth: 1; hour: number; minute: 0; comment: string } {
  if (cadence === 'weekly')
    return { dayOfWeek: 'MONDAY', hour, minute: 0, comment: 'settle the previous ISO week' };
  if (cadence === 'monthly') return { dayOfMonth: 1, hour, minute: 0, comment: 'settle the previous month' };
  return { hour, minute: 0, comment: 'settle the previous business day' };
}

/** The calendar month a period accrues to: the month of its last day (YYYY-MM-01). */
export function accrualMonth(periodEnd: string): string {
  return `${periodEnd.slice(0, 7)}-01`;
}

/**
 * The days an earlier period whose fee this one's follows may start on: from the first day of
 * the month before this period's accrual month (its carries) to the day before this period
 * starts (the month-to-date tiers and guarantee). Every day, so any cadence's starts are in it.
 */
export function earlierPeriodStarts(periodStart: string, periodEnd: string): string[] {
  const month = accrualMonth(periodEnd);
  const from = `${addDays(month, -1).slice(0, 7)}-01`;
  const days: string[] = [];
  for (let d = from; d < periodStart; d = addDays(d, 1)) days.push(d);
  return days;
}

/**
 * Whether a period is its month's last: the next period of the cadence ends in another month.
 * (A weekly period that spans two months accrues to the month it ends in.)
 */
export function closesMonth(periodEnd: string, cadence: SettlementCadence): boolean {
  const nextEnd = addDays(periodEnd, cadence === 'weekly' ? 7 : 1);
  return cadence === 'monthly' || nextEnd.slice(0, 7) !== periodEnd.slice(0, 7);
}

// ---- Maker-checker of contract versions ----------------------------------------------------

export const contractStatuses = ['proposed', 'approved'] as const;
export type ContractStatus = (typeof contractStatuses)[number];

/** A contract's maker or checker: the comparable key (domain/actors.ts) and the name shown. */
export interface ContractActorRef {
  key: string;
  name: string;
}

/**
 * Refuses (422, naming the field) a payout-approval threshold above the deployment's ceiling
 * (CONTRACT_MAX_PAYOUT_APPROVAL_THRESHOLD_MINOR, in the settlement currency's minor units): a
 * contract may not let large payouts go out on one approval.
 */
export function checkPayoutThresholdCeiling(
  terms: StoredContractTerms,
  ceilingMinor: string,
  path = 'terms',
): void {
  const threshold = terms.settlement.payoutApprovalThresholdMinor;
  if (BigInt(threshold) > BigInt(ceilingMinor))
    throw new ValidationError(
      `payoutApprovalThresholdMinor ${threshold} is above the ceiling of ${ceilingMinor} (CONTRACT_MAX_PAYOUT_APPROVAL_THRESHOLD_MINOR)`,
      [
        {
          path: `${path}.settlement.payoutApprovalThresholdMinor`,
          message: `at most ${ceilingMinor} (minor units of the settlement currency)`,
        },
      ],
    );
}

/**
 * Refuses (409, naming the period) a contract effective on or before the last day of a period
 * already frozen for the partner: it would change the money rules of a settled period.
 */
export function checkNotBackdated(
  effectiveFrom: string,
  frozen: { cycleId: string; periodStart: string; periodEnd: string } | null,
  path = 'effectiveFrom',
): void {
  if (!frozen) return;
  const period =
    frozen.periodStart === frozen.periodEnd
      ? frozen.periodStart
      : `${frozen.periodStart}..${frozen.periodEnd}`;
  throw new ConflictError(
    `effectiveFrom ${effectiveFrom} reaches back into the frozen period ${period} (${frozen.cycleId}): a contract may only start after ${frozen.periodEnd}`,
    [{ path, message: `on or before ${frozen.periodEnd}, the last day of the frozen period ${period}` }],
  );
}

/**
 * Why `approver` may not approve a version proposed by `proposedBy`, or null. Actors are
 * compared by key only, never by display name; the bootstrap administrator never approves.
 */
export function contractApprovalProblem(
  proposedBy: ContractActorRef | null,
  approver: ContractActorRef & { via: 'token' | 'bootstrap' },
): ForbiddenError | null {
  if (approver.via === 'bootstrap')
    return new ForbiddenError(
      'the bootstrap administrator cannot approve a contract: an approver with a signed token must',
    );
  if (proposedBy && proposedBy.key === approver.key)
    return new ForbiddenError(
      `${approver.name} proposed this contract version: the maker cannot approve it (maker-checker); another approver must`,
    );
  return null;
}
