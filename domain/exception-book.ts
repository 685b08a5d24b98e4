// The exception book's vocabulary: what the workflow holds of it (counts, a version, the first
// open exceptions, the makers of the payout), the shape of a resolution message (one exception
// or a list), and the checks a workflow can make without the book. Pure and synchronous:
// validators run inside workflow code.
import { parseAmount } from './money';
import { invalid, type Refusal } from './refusals';
import { resolutions, type PayoutMaker, type Resolution } from './settlement';

export type { PayoutMaker, Resolution };

/** The most resolutions one Update carries (the API splits a longer list into several). */
export const MAX_RESOLUTIONS_PER_UPDATE = 1_000;
/** How many open exceptions the status query lists with their ids (the rest: GET /v1/exceptions). */
export const FIRST_OPEN_EXCEPTIONS = 20;
const MAX_TEXT = 500;

export interface OpenException {
  exceptionId: string;
  kind: string;
  txId: string | null;
  /** Minor units of the settlement currency, signed, as text (shown to the operator). */
  differenceMinor: string;
  detail: string;
}

/** What the workflow holds of its book: never the list. */
export interface BookSummary {
  version: number;
  total: number;
  open: number;
  firstOpen: OpenException[];
}

export type ItemOutcome =
  | { exceptionId: string; outcome: 'applied' }
  | { exceptionId: string; outcome: 'refused'; refusal: 'not_found' | 'conflict'; reason: string };

/** One resolution as sent: the single form the UI guide shows, or an item of a list. */
export interface ResolutionInput {
  exceptionId: string;
  resolution: Resolution;
  /** Decimal string in the settlement currency; required for `adjust` only. */
  amount?: string;
  reason: string;
}

/** The resolveException message: one exception, or `items` (up to MAX_RESOLUTIONS_PER_UPDATE). */
export type ResolveExceptionsInput = ResolutionInput | { items: ResolutionInput[] };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The items of a resolution message, single or list (after resolutionMessageProblem said it is well formed). */
export function resolutionItems(input: ResolveExceptionsInput): ResolutionInput[] {
  return 'items' in input ? input.items : [input];
}

function itemProblem(item: unknown, currencyScale: number, where: string): Refusal | null {
  if (!isObject(item)) return invalid(`${where}: send {"exceptionId", "resolution", "amount"?, "reason"}`);
  const { exceptionId, resolution, amount, reason } = item;
  if (typeof exceptionId !== 'string' || exceptionId.length === 0 || exceptionId.length > 300)
    return invalid(`${where}exceptionId is required`);
  if (typeof resolution !== 'string' || !(resolutions as readonly string[]).includes(resolution))
    return invalid(`${where}resolution must be one of ${resolutions.join(', ')}`);
  if (typeof reason !== 'string' || reason.trim().length === 0)
    return invalid(`${where}reason is required: say why`);
  if (reason.length > MAX_TEXT) return invalid(`${where}reason is limited to ${MAX_TEXT} characters`);
  if (resolution === 'adjust') {
    const parsed = parseAmount(amount, currencyScale, { allowNegative: true, allowZero: false });
    if (!parsed.ok) return invalid(`${where}amount ${parsed.message}`);
  } else if (amount !== undefined) {
    return invalid(`${where}amount is only for resolution "adjust"`);
  }
  return null;
}

/**
 * Why a resolution message is malformed, or null: what the workflow can know without the book
 * (its shape, the limit, no exception twice). Whether each exception exists and is still open
 * is the book's to say, item by item.
 */
export function resolutionMessageProblem(
  input: unknown,
  currencyScale: number,
  /** The most items accepted (the API checks a whole request's list against the same rules). */
  limit = MAX_RESOLUTIONS_PER_UPDATE,
): Refusal | null {
  if (!isObject(input))
    return invalid(
      'send one JSON object: {"exceptionId", "resolution", "amount"?, "reason"} or {"items": [...]}',
    );
  if (!('items' in input)) return itemProblem(input, currencyScale, '');
  const { items } = input;
  if (!Array.isArray(items) || items.length === 0) return invalid('items must be a non-empty list');
  if (items.length > limit) return invalid(`at most ${limit} resolutions per message (${items.length} sent)`);
  const seen = new Set<string>();
  for (const [i, item] of items.entries()) {
    const problem = itemProblem(item, currencyScale, `items[${i}].`);
    if (problem) return problem;
    const id = (item as { exceptionId: string }).exceptionId;
    if (seen.has(id)) return invalid(`items[${i}].exceptionId ${id} appears twice`);
    seen.add(id);
  }
  return null;
}

/** Why an importResolutions message is malformed (it names a CSV the API stored), or null. */
export function importMessageProblem(input: unknown): Refusal | null {
  if (
    !isObject(input) ||
    typeof input.importId !== 'string' ||
    !/^[A-Za-z0-9:_-]{1,100}$/.test(input.importId)
  )
    return invalid('send {"importId"} of a CSV stored through POST /v1/settlements/{id}/exceptions/import');
  return null;
}
