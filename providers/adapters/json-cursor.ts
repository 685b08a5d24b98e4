import { under } from '../url';
import { z } from 'zod';
import {
  ProviderReportError,
  reportScale,
  fetchReportPage,
  jsonBody,
  type FetchPageParams,
  type ProviderAdapter,
  type ReportPage,
} from '../types';

// Format (a): per-transaction JSON, cursor pagination, amounts in minor units (integer
// strings), times in UTC epoch milliseconds, control totals on the last page. Pages of up to
// `limit` items when asked (the provider caps it); a report of millions of rows takes the
// largest page the provider serves.

const page = z.object({
  items: z.array(
    z.object({
      id: z.string().min(1),
      type: z.string().min(1),
      round_id: z.string().min(1),
      game_id: z.string().min(1),
      currency: z.string().regex(/^[A-Z][A-Z0-9]{2,9}$/),
      amount_minor: z.string().regex(/^-?\d{1,19}$/),
      occurred_at_ms: z.number().int().nonnegative(),
      round_status: z.enum(['completed', 'open', 'cancelled']).optional(),
    }),
  ),
  next_cursor: z.string().nullable(),
  control: z
    .object({ record_count: z.number().int().nonnegative(), sum_minor: z.string().regex(/^-?\d{1,19}$/) })
    .optional(),
});

type Page = z.infer<typeof page>;
const CURRENCY = /^[A-Z][A-Z0-9]{2,9}$/;
const MINOR = /^-?\d{1,19}$/;
const text = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const ROUND_STATUSES = new Set(['completed', 'open', 'cancelled']);

/** The schema above, checked by hand: what it accepts (unknown keys ignored, as zod strips them). */
function isPage(body: unknown): body is Page {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.items)) return false;
  if (b.next_cursor !== null && typeof b.next_cursor !== 'string') return false;
  if (b.control !== undefined) {
    const c = b.control as Record<string, unknown> | null;
    if (typeof c !== 'object' || c === null) return false;
    if (!Number.isSafeInteger(c.record_count) || (c.record_count as number) < 0) return false;
    if (typeof c.sum_minor !== 'string' || !MINOR.test(c.sum_minor)) return false;
  }
  for (const item of b.items as unknown[]) {
    if (typeof item !== 'object' || item === null) return false;
    const i = item as Record<string, unknown>;
    if (!text(i.id) || !text(i.type) || !text(i.round_id) || !text(i.game_id)) return false;
    if (typeof i.currency !== 'string' || !CURRENCY.test(i.currency)) return false;
    if (typeof i.amount_minor !== 'string' || !MINOR.test(i.amount_minor)) return false;
    if (!Number.isSafeInteger(i.occurred_at_ms) || (i.occurred_at_ms as number) < 0) return false;
    if (i.round_status !== undefined && !ROUND_STATUSES.has(i.round_status as string)) return false;
  }
  return true;
}

export const jsonCursorAdapter: ProviderAdapter = {
  format: 'json-cursor',
  async fetchPage({
    baseUrl,
    currencies,
    fromMs,
    toMs,
    cursor,
    headers,
    pageRows,
  }: FetchPageParams): Promise<ReportPage> {
    const url = under(baseUrl, 'report');
    url.searchParams.set('from_ms', String(fromMs));
    url.searchParams.set('to_ms', String(toMs));
    // The largest page we take; the provider may serve fewer (its own maximum).
    if (pageRows !== undefined) url.searchParams.set('limit', String(pageRows));
    if (cursor) url.searchParams.set('cursor', cursor);
    const res = await fetchReportPage(url, 'provider', headers);
    const body = jsonBody(res.text);
    // A page of 10,000 items is read by the fast check; only a page it refuses goes through the
    // schema, which then names the problem (the two accept exactly the same pages).
    const parsed = isPage(body) ? { success: true as const, data: body } : page.safeParse(body);
    if (!parsed.success)
      throw new ProviderReportError(`malformed report page: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    // Amounts are minor units already; the currency must still be one we know.
    const known = new Set<string>();
    for (const [n, i] of parsed.data.items.entries()) {
      if (known.has(i.currency)) continue;
      reportScale(currencies, i.currency, `report item ${n} (${i.id})`);
      known.add(i.currency);
    }
    return {
      rows: parsed.data.items.map((i) => ({
        txId: i.id,
        type: i.type,
        roundId: i.round_id,
        gameId: i.game_id,
        currency: i.currency,
        amountMinor: BigInt(i.amount_minor),
        occurredAt: new Date(i.occurred_at_ms).toISOString(),
        ...(i.round_status ? { roundStatus: i.round_status } : {}),
      })),
      nextCursor: parsed.data.next_cursor,
      ...(parsed.data.control
        ? {
            control: {
              recordCount: parsed.data.control.record_count,
              sumMinor: BigInt(parsed.data.control.sum_minor),
            },
          }
        : {}),
    };
  },
};
