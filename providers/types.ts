import { AsyncLocalStorage } from 'node:async_hooks';
import { ConflictError } from '../domain/errors';
import { type CurrencyRegistry, UnknownCurrencyError } from '../domain/money';
import {
  callUpstream,
  type OutboundResponse,
  streamUpstream,
  UpstreamRefusedError,
  UpstreamUnavailableError as ProviderUnavailable,
} from '../platform/outbound-http';

// One interface for every provider report format: an adapter turns a page of the provider's
// own report into normalised rows. Adding a provider = one adapter + one line in registry.ts.

// The normalised shapes live in domain/ (db/ stores them, adapters produce them).
import type { ReportAggregate, ReportRow } from '../domain/report';
export type { ReportAggregate, ReportRow };

/**
 * Limits on what one provider's report may make the shared worker hold: named, checked for
 * every adapter by the report fetch (activities/settlement.ts). Beyond them the report is
 * unreadable (an exception for operators), never a worker out of memory. Bytes per page are
 * capped by the outbound client (OUTBOUND_MAX_RESPONSE_BYTES); what the whole report may store,
 * by ReportCaps.
 */
export const REPORT_LIMITS = {
  /** Pages in one period's report (an endless cursor ends here). */
  maxPages: 10_000,
  /** Characters in a row's text fields (ids, type, game). */
  maxFieldChars: 200,
  /** Characters in a page's cursor. */
  maxCursorChars: 2_000,
} as const;

/** Why a page breaks REPORT_LIMITS, or null. */
export function reportLimitProblem(page: ReportPage, pageNumber: number): string | null {
  if (pageNumber > REPORT_LIMITS.maxPages) return `the report has more than ${REPORT_LIMITS.maxPages} pages`;
  if (page.nextCursor !== null && page.nextCursor.length > REPORT_LIMITS.maxCursorChars)
    return `a page cursor is longer than ${REPORT_LIMITS.maxCursorChars} characters`;
  for (const [n, r] of page.rows.entries())
    for (const field of ['txId', 'type', 'roundId', 'gameId'] as const)
      if (r[field].length > REPORT_LIMITS.maxFieldChars)
        return `row ${n} of page ${pageNumber}: ${field} is longer than ${REPORT_LIMITS.maxFieldChars} characters`;
  return null;
}

/**
 * What one cycle's report may store in total: rows (transactions and totals) and bytes of the
 * provider's answers. The deployment sets them (REPORT_MAX_ROWS, REPORT_MAX_BYTES); a provider
 * connection's `limits` may only lower them, so whoever sizes the database for the deployment's
 * caps keeps that guarantee whatever a connection says.
 */
export interface ReportCaps {
  maxRows: number;
  maxBytes: number;
}

/** One cap in force for a connection: its figure and the setting it comes from. */
export interface CapInForce {
  limit: number;
  setBy: string;
}

/** The caps in force: the deployment's, or the connection's where it is lower. */
export function reportCapsInForce(
  deployment: ReportCaps,
  connection: { maxRows: number | null; maxBytes: number | null } | null,
): { rows: CapInForce; bytes: CapInForce } {
  const pick = (key: keyof ReportCaps, variable: string): CapInForce => {
    const own = connection?.[key] ?? null;
    return own !== null && own < deployment[key]
      ? // What reaches the exception a partner reads: which setting, not the deployment's figures.
        { limit: own, setBy: `the provider connection's limits.${key}` }
      : { limit: deployment[key], setBy: `the deployment's ${variable}` };
  };
  return { rows: pick('maxRows', 'REPORT_MAX_ROWS'), bytes: pick('maxBytes', 'REPORT_MAX_BYTES') };
}

/**
 * Why storing the next page would take the report beyond a cap, or null. Counted from what the
 * pages stored so far brought (saved with them), so a resumed fetch keeps counting.
 */
export function reportCapProblem(
  caps: { rows: CapInForce; bytes: CapInForce },
  stored: { rows: number; bytes: number },
  next: { rows: number; bytes: number },
): string | null {
  const over = (what: 'row' | 'byte', cap: CapInForce, sofar: number, more: number) =>
    sofar + more > cap.limit
      ? `report ${what} cap exceeded: the report has more than ${cap.limit} ${what}s ` +
        `(${sofar} in the pages stored, the next page brings ${more}); the cap is set by ${cap.setBy}; ` +
        `nothing beyond it was stored`
      : null;
  return over('row', caps.rows, stored.rows, next.rows) ?? over('byte', caps.bytes, stored.bytes, next.bytes);
}

/**
 * A report beyond its row or byte cap: the fetch stops before storing the page that crosses it.
 * Retrying cannot help (the report is as large as it is): an exception for operators, who
 * settle without it or raise the cap and start the cycle again.
 */
export class ReportCapExceededError extends ConflictError {}

// Bytes of the provider's answers behind the page being fetched, counted by fetchReportPage
// (the one client every adapter fetches through), so no adapter has to count them itself.
const answerBytes = new AsyncLocalStorage<{ bytes: number }>();

/** One page from the adapter, with the bytes of the provider's answers it was read from. */
export async function fetchCountedPage(
  adapter: ProviderAdapter,
  params: FetchPageParams,
): Promise<{ page: ReportPage; bytes: number }> {
  const counter = { bytes: 0 };
  const page = await answerBytes.run(counter, () => adapter.fetchPage(params));
  return { page, bytes: counter.bytes };
}

export interface ReportPage {
  rows: ReportRow[];
  /** Aggregate-only formats fill this instead of rows. */
  aggregates?: ReportAggregate[];
  /** Opaque position to resume from; null when this was the last page. */
  nextCursor: string | null;
  /** The report's own control totals, when the format carries them (on the last page). */
  control?: { recordCount: number; sumMinor: bigint };
  /** For formats with a trailer per file: what the file declares and what it contains. */
  fileCheck?: {
    declared: { recordCount: number; sumMinor: bigint };
    actual: { recordCount: number; sumMinor: bigint };
  };
}

/**
 * The report as a sequence of pages from `params.cursor` on, each with the bytes of the
 * provider's answers it was read from: streamed where the adapter streams (a CSV day is read
 * as it arrives, in pages of `pageRows`), else one fetchPage after another. Nothing holds more
 * than a page of rows; the caller stores each page before asking for the next.
 */
export async function* reportPages(
  adapter: ProviderAdapter,
  params: FetchPageParams,
): AsyncGenerator<{ page: ReportPage; bytes: number }> {
  if (adapter.pages) {
    yield* adapter.pages(params);
    return;
  }
  let cursor = params.cursor;
  for (;;) {
    const counted = await fetchCountedPage(adapter, { ...params, cursor });
    yield counted;
    cursor = counted.page.nextCursor;
    if (cursor === null) return;
  }
}

export interface FetchPageParams {
  baseUrl: string;
  /** Each currency's scale: a report's amounts are read in their own currency's decimals. */
  currencies: CurrencyRegistry;
  /** Format options from the partner's provider configuration (e.g. the report's timezone). */
  options: Record<string, unknown>;
  /** Report window [fromMs, toMs) in UTC epoch milliseconds. */
  fromMs: number;
  toMs: number;
  cursor: string | null;
  /** Headers every request to the provider carries: its API's credential (providers/connection.ts). */
  headers?: Record<string, string>;
  /**
   * Rows wanted per page (REPORT_PAGE_ROWS): formats that page by rows ask for it (the provider
   * may serve fewer), streamed formats cut their files into pages of it.
   */
  pageRows?: number;
}

export interface ProviderAdapter {
  format: string;
  /** Fetches through fetchReportPage: the one client, which also counts the report's bytes. */
  fetchPage(params: FetchPageParams): Promise<ReportPage>;
  /**
   * Formats whose unit of download is larger than a page (a CSV file per day) stream it: pages
   * of at most `pageRows` rows, each with a cursor to resume after it, and the bytes read for it.
   */
  pages?(params: FetchPageParams): AsyncGenerator<{ page: ReportPage; bytes: number }>;
}

/** A provider that cannot answer right now (5xx, 429, timeout): retry later (the one client's error). */
export const ProviderUnavailableError = ProviderUnavailable;

/** The scale of a currency a report uses; an unknown one makes the report unreadable, never guessed. */
export function reportScale(currencies: CurrencyRegistry, currency: string, where: string): number {
  try {
    return currencies.requireScale(currency);
  } catch (err) {
    if (err instanceof UnknownCurrencyError) throw new ProviderReportError(`${where}: ${err.message}`);
    throw err;
  }
}

/** A report that cannot be read (malformed page): retrying will not help. */
export class ProviderReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderReportError';
  }
}

/**
 * A GET of one report page through the one outbound client: a refusal (4xx, redirect,
 * oversized) makes the report unreadable; unavailability is left for Temporal to retry.
 */
export async function fetchReportPage(
  url: URL,
  who: string,
  headers?: Record<string, string>,
): Promise<OutboundResponse> {
  let res: OutboundResponse;
  try {
    res = await callUpstream(url, headers ? { headers } : {}, { who });
  } catch (err) {
    if (err instanceof UpstreamRefusedError) throw new ProviderReportError(err.message);
    throw err;
  }
  const counter = answerBytes.getStore();
  if (counter) counter.bytes += Buffer.byteLength(res.text, 'utf8');
  return res;
}

/** A page's JSON body, or undefined when it is not JSON (the schema then names the problem). */
export function jsonBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A report body read as it arrives (a file too large to hold), through the one outbound client's
 * streaming call (streamUpstream): a refusal makes the report unreadable, unavailability is left
 * for Temporal to retry; the bytes read count toward the report's byte cap.
 */
export async function streamReportBody(
  url: URL,
  who: string,
  headers?: Record<string, string>,
): Promise<{ chunks: AsyncGenerator<Uint8Array>; bytes: () => number }> {
  let res: Awaited<ReturnType<typeof streamUpstream>>;
  try {
    res = await streamUpstream(url, headers ? { headers } : {}, { who });
  } catch (err) {
    if (err instanceof UpstreamRefusedError) throw new ProviderReportError(err.message);
    throw err;
  }
  const counter = answerBytes.getStore();
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of res.chunks) {
      if (counter) counter.bytes += chunk.byteLength;
      yield chunk;
    }
  }
  return { chunks: counted(), bytes: res.bytes };
}
