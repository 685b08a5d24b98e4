import { under } from '../url';
import { z } from 'zod';
import { parseAmount } from '../../domain/money';
import { localDay } from '../timezone';
import {
  ProviderReportError,
  reportScale,
  fetchReportPage,
  jsonBody,
  type FetchPageParams,
  type ProviderAdapter,
  type ReportPage,
} from '../types';

// Format (c): an aggregator's API with totals per day, game and currency (no transactions),
// page-number pagination, and rate limits (429 + Retry-After, honoured by Temporal's retry).
//   GET /v2/totals?from=YYYY-MM-DD&to=YYYY-MM-DD&page=1

const page = z.object({
  page: z.number().int().min(1),
  total_pages: z.number().int().min(0),
  totals: z.array(
    z.object({
      date: z.iso.date(),
      game: z.string().min(1),
      currency: z.string().regex(/^[A-Z][A-Z0-9]{2,9}$/),
      bet_count: z.number().int().nonnegative(),
      bets: z.string(),
      wins: z.string(),
    }),
  ),
});

export const aggregatorTotalsAdapter: ProviderAdapter = {
  format: 'aggregator-totals',
  async fetchPage({
    baseUrl,
    currencies,
    options,
    fromMs,
    toMs,
    cursor,
    headers,
  }: FetchPageParams): Promise<ReportPage> {
    const pageNo = Number(cursor ?? 1);
    const url = under(baseUrl, 'v2/totals');
    // Totals come per aggregator day; it must be configured in the partner's timezone
    // (options.timezone) for its days to be our business days.
    const timeZone = typeof options.timezone === 'string' ? options.timezone : 'UTC';
    url.searchParams.set('from', localDay(fromMs, timeZone));
    url.searchParams.set('to', localDay(toMs - 1, timeZone));
    url.searchParams.set('page', String(pageNo));
    const res = await fetchReportPage(url, 'aggregator', headers);
    const parsed = page.safeParse(jsonBody(res.text));
    if (!parsed.success)
      throw new ProviderReportError(`malformed totals page: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    // Amounts are decimals in each total's own currency (JPY 0 decimals, KWD 3).
    const amount = (v: string, currency: string, where: string) => {
      const a = parseAmount(v, reportScale(currencies, currency, where), { allowNegative: true });
      if (!a.ok) throw new ProviderReportError(`${where}: amount ${v} ${a.message}`);
      return a.minor;
    };
    return {
      rows: [],
      aggregates: parsed.data.totals.map((t, i) => {
        const where = `totals page ${pageNo} item ${i}`;
        return {
          businessDate: t.date,
          gameId: t.game,
          currency: t.currency,
          betCount: BigInt(t.bet_count),
          betMinor: amount(t.bets, t.currency, where),
          winMinor: amount(t.wins, t.currency, where),
        };
      }),
      nextCursor: pageNo < parsed.data.total_pages ? String(pageNo + 1) : null,
    };
  },
};
