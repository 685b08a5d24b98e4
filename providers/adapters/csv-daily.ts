import { under } from '../url';
import { parseAmount } from '../../domain/money';
import { localDay, localToUtcMs } from '../timezone';
import {
  ProviderReportError,
  ProviderUnavailableError,
  transientAnswer,
  type FetchPageParams,
  type ProviderAdapter,
  type ReportPage,
  type ReportRow,
} from '../types';

// Format (b): a CSV file per day in the provider's timezone (options.timezone), decimal
// amounts (2 decimals), local times, and a trailer TOTAL,<count>,<sum>. One page per day; the
// cursor is the next local day to fetch. Each file is checked against its own trailer.
const REQUEST_TIMEOUT_MS = 10_000;
const SCALE = 2;
const HEADER = 'transaction_id,type,round_id,game_id,currency,amount,local_time,round_status';

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  cells.push(cell);
  return cells;
}

const nextDay = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

export const csvDailyAdapter: ProviderAdapter = {
  format: 'csv-daily',
  async fetchPage({ baseUrl, options, fromMs, toMs, cursor }: FetchPageParams): Promise<ReportPage> {
    const timeZone = typeof options.timezone === 'string' ? options.timezone : 'UTC';
    const day = cursor ?? localDay(fromMs, timeZone);
    const lastDay = localDay(toMs - 1, timeZone);
    let res: Response;
    try {
      res = await fetch(under(baseUrl, `reports/${day}.csv`), {
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new ProviderUnavailableError(
        `provider unreachable: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const transient = transientAnswer(res, 'provider', Date.now());
    if (transient) throw transient;
    if (!res.ok) throw new ProviderReportError(`provider answered ${res.status} for ${day}`);
    const lines = (await res.text()).split(/\r?\n/).filter((l) => l.length > 0);
    if (lines[0] !== HEADER) throw new ProviderReportError(`unexpected CSV header in ${day}.csv`);
    const trailer = lines.at(-1) ? splitCsvLine(lines.at(-1)!) : [];
    if (trailer[0] !== 'TOTAL') throw new ProviderReportError(`${day}.csv has no TOTAL trailer (truncated?)`);
    const declaredSum = parseAmount(trailer[2], SCALE, { allowNegative: true });
    if (!declaredSum.ok) throw new ProviderReportError(`${day}.csv trailer sum ${declaredSum.message}`);

    const rows: ReportRow[] = [];
    let fileSum = 0n;
    for (const line of lines.slice(1, -1)) {
      const [txId, type, roundId, gameId, currency, amount, localTime, roundStatus] = splitCsvLine(line);
      const parsed = parseAmount(amount, SCALE, { allowNegative: true });
      if (!txId || !type || !roundId || !gameId || !currency || !localTime || !parsed.ok)
        throw new ProviderReportError(`malformed row in ${day}.csv: ${line.slice(0, 120)}`);
      fileSum += parsed.minor;
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
    return {
      rows,
      nextCursor: day >= lastDay ? null : nextDay(day),
      fileCheck: {
        declared: { recordCount: Number(trailer[1]), sumMinor: declaredSum.minor },
        actual: { recordCount: lines.length - 2, sumMinor: fileSum },
      },
    };
  },
};
