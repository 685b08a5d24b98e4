// A bulk resolution: one resolution, with one reason, for every open exception a filter selects.
// First a preview (count, totals per currency, a digest of the set); the apply carries the
// digest and is refused when the set or its amounts changed since. Above the contract's
// threshold a second person approves it (maker-checker, as for payouts). Pure and synchronous:
// the workflow's validators use it.
import { z } from 'zod';
import { invalid, type Refusal } from './refusals';
import { ruleActions } from './rules';

/** The most exceptions one bulk resolution may select (a larger set: narrow the filter). */
export const MAX_BULK_EXCEPTIONS = 20_000;
/** How many of the selected ids a preview lists (the rest: GET /v1/exceptions). */
export const BULK_PREVIEW_SAMPLE = 20;

const minor = z.string().regex(/^\d{1,18}$/, 'minor units as a string of digits');
const kind = z.string().regex(/^[a-z][a-z_]{1,39}$/, 'a discrepancy kind such as amount_mismatch');

/** What selects the exceptions (all conditions together; an absent one selects everything). */
export const bulkFilterSchema = z
  .object({
    kinds: z.array(kind).min(1).max(20).optional(),
    /** |difference| at least / at most, in minor units of each exception's own currency. */
    minAmountMinor: minor.optional(),
    maxAmountMinor: minor.optional(),
    gameIds: z.array(z.string().min(1).max(200)).min(1).max(200).optional(),
    currencies: z
      .array(z.string().regex(/^[A-Z][A-Z0-9]{2,9}$/, 'a currency code such as EUR'))
      .min(1)
      .max(50)
      .optional(),
    /** Found at least this many hours ago. */
    olderThanHours: z
      .number()
      .int()
      .min(0)
      .max(24 * 366)
      .optional(),
    /** A rule's suggestion: any, none, or one rule's (and action). */
    suggestion: z
      .union([
        z.enum(['any', 'none']),
        z.object({ ruleId: z.string().min(1).max(40), action: z.enum(ruleActions).optional() }).strict(),
      ])
      .optional(),
  })
  .strict()
  .meta({ id: 'BulkFilter' });
export type BulkFilter = z.output<typeof bulkFilterSchema>;

/** The resolutions a bulk may apply: none that needs a per-exception amount or a match decision. */
export const bulkResolutions = ['accept_ours', 'accept_theirs', 'write_off', 'carry_forward'] as const;

export const bulkResolutionSchema = z
  .object({
    filter: bulkFilterSchema,
    resolution: z.enum(bulkResolutions),
    writeOffAccount: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,39}$/, 'an account name such as rounding_differences')
      .optional(),
    reason: z.string().trim().min(1, 'reason is required: say why').max(500),
    /** The preview's digest: the apply is refused when the selected set changed since. */
    digest: z.string().regex(/^[0-9a-f]{64}$/, 'the digest a preview returned'),
  })
  .strict()
  .meta({ id: 'BulkResolution' });
export type BulkResolutionInput = z.output<typeof bulkResolutionSchema>;

/** What a preview answers (and what an apply re-derives before it writes anything). */
export interface BulkPreview {
  count: number;
  /** Σ difference and Σ |difference| per currency, in minor units, as text. */
  totals: { currency: string | null; differenceMinor: string; absoluteMinor: string }[];
  digest: string;
  /** The first selected ids. */
  sample: string[];
  /** Whether applying it needs a second person (above the contract's bulk threshold). */
  needsSecondActor: boolean;
  thresholdMinor: string;
}

/** What an apply did: applied, or waiting for a second person, with the bulk's id. */
export interface BulkOutcome {
  bulkId: string;
  state: 'applied' | 'awaiting_approval';
  count: number;
  applied: number;
  open: number;
}

function zodRefusal(error: z.ZodError, what: string): Refusal {
  const first = error.issues[0]!;
  const path = first.path.map(String).join('.');
  return invalid(`${what}: ${path ? `${path}: ` : ''}${first.message}`);
}

/** Why a preview message is malformed, or null. */
export function bulkPreviewProblem(input: unknown): Refusal | null {
  const parsed = z.object({ filter: bulkFilterSchema }).strict().safeParse(input);
  return parsed.success ? filterProblem(parsed.data.filter) : zodRefusal(parsed.error, 'send {"filter"}');
}

/** Why a bulk resolution message is malformed, or null (whether its set is unchanged is the book's to say). */
export function bulkResolutionProblem(input: unknown): Refusal | null {
  const parsed = bulkResolutionSchema.safeParse(input);
  if (!parsed.success)
    return zodRefusal(parsed.error, 'send {"filter", "resolution", "writeOffAccount"?, "reason", "digest"}');
  const m = parsed.data;
  if (m.resolution === 'write_off' && m.writeOffAccount === undefined)
    return invalid('writeOffAccount is required for write_off: name the account it goes to');
  if (m.resolution !== 'write_off' && m.writeOffAccount !== undefined)
    return invalid('writeOffAccount is only for write_off');
  return filterProblem(m.filter);
}

function filterProblem(f: BulkFilter): Refusal | null {
  if (
    f.minAmountMinor !== undefined &&
    f.maxAmountMinor !== undefined &&
    BigInt(f.minAmountMinor) > BigInt(f.maxAmountMinor)
  )
    return invalid('filter.minAmountMinor is above filter.maxAmountMinor');
  return null;
}
