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
// strings), times in UTC epoch milliseconds, control totals on the last page.

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

export const jsonCursorAdapter: ProviderAdapter = {
  format: 'json-cursor',
  async fetchPage({
    baseUrl,
    currencies,
    fromMs,
    toMs,
    cursor,
    headers,
  }: FetchPageParams): Promise<ReportPage> {
    const url = under(baseUrl, 'report');
    url.searchParams.set('from_ms', String(fromMs));
    url.searchParams.set('to_ms', String(toMs));
    if (cursor) url.searchParams.set('cursor', cursor);
    const res = await fetchReportPage(url, 'provider', headers);
    const parsed = page.safeParse(jsonBody(res.text));
    if (!parsed.success)
      throw new ProviderReportError(`malformed report page: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    // Amounts are minor units already; the currency must still be one we know.
    for (const [n, i] of parsed.data.items.entries())
      reportScale(currencies, i.currency, `report item ${n} (${i.id})`);
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
