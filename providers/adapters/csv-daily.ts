import { under } from '../url';
import { parseAmount } from '../../domain/money';
import { localDay, localToUtcMs } from '../timezone';
import { CsvRecords } from './csv-records';
import {
  ProviderReportError,
  reportScale,
  streamReportBody,
  type FetchPageParams,
  type ProviderAdapter,
  type ReportPage,
  type ReportRow,
} from '../types';

// Format (b): a CSV file per day in the provider's timezone (options.timezone), decimal
// amounts in each row's currency's own decimals (JPY 0, EUR 2, KWD 3), local times, and a
// trailer TOTAL,<count>,<sum>. Each file is checked against its own trailer, whose sum is in the
// file's largest scale (a file in one currency: that currency's). Quoted fields may hold
// commas, quotes and newlines (csv-records.ts).
//
// A real provider's day is millions of rows, so a file is streamed, never held: parsed as it
// arrives and cut into pages of `pageRows` rows. A page's cursor says where to resume: the day,
// how many records of its file are behind it, and the file's running sums (per currency scale,
// for the trailer check at the end of the file). A resumed fetch reads the file again from its
// start and skips what was stored. Without `pageRows` (fetchPage) a page is a whole day.
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
const HEADER = COLUMNS.join(',');
/** A record longer than this is not a transaction row: the file is unreadable, not held in memory. */
const MAX_RECORD_BYTES = 64 * 1024;

const nextDay = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/** Where a fetch stands inside a day's file. */
interface FilePosition {
  day: string;
  /** Records of the file (after the header) behind the cursor. */
  skip: number;
  /** Their amounts summed per currency scale. */
  sums: Map<number, bigint>;
}

// Cursor: "2026-11-23" (the start of that day's file) or "2026-11-23;<skip>;<scale>:<sum>,…".
function decodeCursor(cursor: string): FilePosition {
  const [day, skip, sums] = cursor.split(';');
  if (!day || !/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new ProviderReportError(`unreadable cursor ${cursor}`);
  const position: FilePosition = { day, skip: 0, sums: new Map() };
  if (skip === undefined) return position;
  position.skip = Number(skip);
  if (!Number.isSafeInteger(position.skip) || position.skip < 0)
    throw new ProviderReportError(`unreadable cursor ${cursor}`);
  for (const pair of (sums ?? '').split(',').filter(Boolean)) {
    const [scale, sum] = pair.split(':');
    if (!/^\d{1,2}$/.test(scale ?? '') || !/^-?\d{1,40}$/.test(sum ?? ''))
      throw new ProviderReportError(`unreadable cursor ${cursor}`);
    position.sums.set(Number(scale), BigInt(sum!));
  }
  return position;
}

const encodeCursor = (p: FilePosition) =>
  `${p.day};${p.skip};${[...p.sums].map(([scale, sum]) => `${scale}:${sum}`).join(',')}`;

async function* csvPages(params: FetchPageParams): AsyncGenerator<{ page: ReportPage; bytes: number }> {
  const { baseUrl, currencies, options, fromMs, toMs, headers } = params;
  const pageRows = params.pageRows ?? Number.POSITIVE_INFINITY;
  const timeZone = typeof options.timezone === 'string' ? options.timezone : 'UTC';
  const lastDay = localDay(toMs - 1, timeZone);
  let position: FilePosition = params.cursor
    ? decodeCursor(params.cursor)
    : { day: localDay(fromMs, timeZone), skip: 0, sums: new Map() };

  for (;;) {
    const { day } = position;
    const file = `${day}.csv`;
    const body = await streamReportBody(under(baseUrl, `reports/${file}`), `provider (${file})`, headers);
    const parser = new CsvRecords(file, MAX_RECORD_BYTES);
    let bytesBefore = 0;
    const takeBytes = () => {
      const now = body.bytes();
      const n = now - bytesBefore;
      bytesBefore = now;
      return n;
    };
    let headerSeen = false;
    // Records after the header, read so far (the skipped ones included).
    let seen = 0;
    // One record is held back: the last one of the file is its trailer, known only at the end.
    let held: string[] | null = null;
    let rows: ReportRow[] = [];
    const sums = new Map(position.sums);
    let counted = position.skip;

    const take = (record: string[], n: number) => {
      const where = `${file} row ${n + 2}`;
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
      sums.set(scale, (sums.get(scale) ?? 0n) + parsed.minor);
      counted++;
      let at: number;
      try {
        at = localToUtcMs(localTime, timeZone);
      } catch {
        throw new ProviderReportError(`${where}: local_time ${localTime} is not a local date-time`);
      }
      if (at < fromMs || at >= toMs) return; // the file's day may straddle the period in our timezone
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
    };

    // Each piece of the body gives the records it completes; the last one comes at its end.
    async function* records(): AsyncGenerator<string[][]> {
      for await (const chunk of body.chunks) yield parser.push(chunk);
      yield parser.end();
    }
    for await (const batch of records()) {
      for (const record of batch) {
        if (!headerSeen) {
          if (record.join(',') !== HEADER) throw new ProviderReportError(`unexpected CSV header in ${file}`);
          headerSeen = true;
          continue;
        }
        if (held) {
          const n = seen++;
          if (n >= position.skip) take(held, n);
          // Records a resumed fetch skips were counted toward the byte cap when first stored:
          // what was read to skip them is not counted again (at most one chunk's overlap).
          else bytesBefore = body.bytes();
        }
        held = record;
        if (rows.length >= pageRows) {
          // Everything before the held record is behind this page's cursor.
          const page: ReportPage = { rows, nextCursor: encodeCursor({ day, skip: seen, sums }) };
          rows = [];
          yield { page, bytes: takeBytes() };
        }
      }
    }
    if (!headerSeen) throw new ProviderReportError(`unexpected CSV header in ${file}`);
    const trailer = held ?? [];
    if (trailer[0] !== 'TOTAL') throw new ProviderReportError(`${file} has no TOTAL trailer (truncated?)`);
    if (seen < position.skip)
      throw new ProviderReportError(
        `${file} is shorter than when it was first read (${seen} of ${position.skip} records)`,
      );
    const fileScale = Math.max(0, ...sums.keys());
    const declaredSum = parseAmount(trailer[2] ?? '', fileScale, { allowNegative: true });
    if (!declaredSum.ok) throw new ProviderReportError(`${file} trailer sum ${declaredSum.message}`);
    let fileSum = 0n;
    for (const [scale, sum] of sums) fileSum += sum * 10n ** BigInt(fileScale - scale);
    const nextCursor = day >= lastDay ? null : nextDay(day);
    yield {
      page: {
        rows,
        nextCursor,
        fileCheck: {
          declared: { recordCount: Number(trailer[1]), sumMinor: declaredSum.minor },
          actual: { recordCount: counted, sumMinor: fileSum },
        },
      },
      bytes: takeBytes(),
    };
    if (nextCursor === null) return;
    position = { day: nextCursor, skip: 0, sums: new Map() };
  }
}

export const csvDailyAdapter: ProviderAdapter = {
  format: 'csv-daily',
  /**
   * The first page of the report (a connection check reads no more): at most `pageRows` (10,000
   * unless asked) of the day's file, with the cursor of the rest; never a whole day in memory.
   */
  async fetchPage(params: FetchPageParams): Promise<ReportPage> {
    const pages = csvPages({ ...params, pageRows: params.pageRows ?? 10_000 });
    try {
      const first = await pages.next();
      if (first.done) throw new ProviderReportError('the report has no file');
      return first.value.page;
    } finally {
      await pages.return(undefined);
    }
  },
  pages: csvPages,
};
