import { parse } from 'csv-parse/sync';
import { under } from '../url';
import { parseAmount } from '../../domain/money';
import { localDay, localToUtcMs } from '../timezone';
import {
  ProviderReportError,
  reportScale,
  fetchReportPage,
  type FetchPageParams,
  type ProviderAdapter,
  type ReportPage,
  type ReportRow,
} from '../types';

// Format (b): a CSV file per day in the provider's timezone (options.timezone), decimal
// amounts in each row's currency's own decimals (JPY 0, EUR 2, KWD 3), local times, and a
// trailer TOTAL,<count>,<sum>. One page per day; the cursor is the next local day to fetch.
// Each file is checked against its own trailer, whose sum is in the file's largest scale
// (a file in one currency: that currency's). Parsed by csv-parse: quoted fields may hold
// commas, quotes and newlines.
const COLUMNS = [
  'transaction_id',
  'type',
  'round_id',
  'game_id',
  'currency',
  'amount',
  'local_time',
  'round_status',
] as const;

const nextDay = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

export const csvDailyAdapter: ProviderAdapter = {
  format: 'csv-daily',
  async fetchPage({
    baseUrl,
    currencies,
    options,
    fromMs,
    toMs,
    cursor,
    headers,
  }: FetchPageParams): Promise<ReportPage> {
    const timeZone = typeof options.timezone === 'string' ? options.timezone : 'UTC';
    const day = cursor ?? localDay(fromMs, timeZone);
    const lastDay = localDay(toMs - 1, timeZone);
    const res = await fetchReportPage(under(baseUrl, `reports/${day}.csv`), `provider (${day}.csv)`, headers);
    let records: string[][];
    try {
      records = parse(res.text, { relax_column_count: true, skip_empty_lines: true });
    } catch (err) {
      throw new ProviderReportError(`${day}.csv is not valid CSV: ${(err as Error).message}`);
    }
    if (records[0]?.join(',') !== COLUMNS.join(','))
      throw new ProviderReportError(`unexpected CSV header in ${day}.csv`);
    const trailer = records.length > 1 ? records.at(-1)! : [];
    if (trailer[0] !== 'TOTAL') throw new ProviderReportError(`${day}.csv has no TOTAL trailer (truncated?)`);
    const body = records.slice(1, -1);

    const rows: ReportRow[] = [];
    const amounts: { minor: bigint; scale: number }[] = [];
    for (const [n, record] of body.entries()) {
      const where = `${day}.csv row ${n + 2}`;
      if (record.length !== COLUMNS.length)
        throw new ProviderReportError(`${where}: ${record.length} fields`);
      const [txId, type, roundId, gameId, currency, amount, localTime, roundStatus] = record as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      if (!txId || !type || !roundId || !gameId || !currency || !localTime)
        throw new ProviderReportError(`${where}: a required field is empty`);
      const scale = reportScale(currencies, currency, where);
      const parsed = parseAmount(amount, scale, { allowNegative: true });
      if (!parsed.ok) throw new ProviderReportError(`${where}: amount ${parsed.message}`);
      amounts.push({ minor: parsed.minor, scale });
      const at = localToUtcMs(localTime, timeZone);
      if (at < fromMs || at >= toMs) continue; // the file's day may straddle the period in our timezone
      rows.push({
        txId,
        type,
        roundId,
        gameId,
        currency,
        amountMinor: parsed.minor,
        occurredAt: new Date(at).toISOString(),
        ...(roundStatus === 'open' || roundStatus === 'completed' || roundStatus === 'cancelled'
          ? { roundStatus }
          : {}),
      });
    }
    const fileScale = Math.max(0, ...amounts.map((a) => a.scale));
    const declaredSum = parseAmount(trailer[2], fileScale, { allowNegative: true });
    if (!declaredSum.ok) throw new ProviderReportError(`${day}.csv trailer sum ${declaredSum.message}`);
    const fileSum = amounts.reduce((sum, a) => sum + a.minor * 10n ** BigInt(fileScale - a.scale), 0n);
    return {
      rows,
      nextCursor: day >= lastDay ? null : nextDay(day),
      fileCheck: {
        declared: { recordCount: Number(trailer[1]), sumMinor: declaredSum.minor },
        actual: { recordCount: body.length, sumMinor: fileSum },
      },
    };
  },
};
