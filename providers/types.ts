import { type CurrencyRegistry, UnknownCurrencyError } from '../domain/money';

// One interface for every provider report format: an adapter turns a page of the provider's
// own report into normalised rows. Adding a provider = one adapter + one line in registry.ts.

// The normalised shapes live in domain/ (db/ stores them, adapters produce them).
import type { ReportAggregate, ReportRow } from '../domain/report';
export type { ReportAggregate, ReportRow };

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
}

export interface ProviderAdapter {
  format: string;
  fetchPage(params: FetchPageParams): Promise<ReportPage>;
}

/** A provider that cannot answer right now (5xx, 429, timeout): retry later. */
export class ProviderUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ProviderUnavailableError';
  }
}

/** The scale of a currency a report uses; an unknown one makes the report unreadable, never guessed. */
export function reportScale(currencies: CurrencyRegistry, currency: string, where: string): number {
  try {
    return currencies.requireScale(currency);
  } catch (err) {
    if (err instanceof UnknownCurrencyError) throw new ProviderReportError(`${where}: ${err.message}`);
    throw err;
  }
}

/** The longest wait a provider's Retry-After can impose on one retry (a hostile value is capped). */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * Retry-After (RFC 9110: delay-seconds or an HTTP-date) in milliseconds from `nowMs`, capped
 * at MAX_RETRY_AFTER_MS; undefined when absent, unreadable or already past.
 */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - nowMs;
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/**
 * The one classification of a provider's HTTP answer that is worth retrying (429 and 5xx), with
 * the wait it asks for; null for any other status.
 */
export function transientAnswer(res: Response, who: string, nowMs: number): ProviderUnavailableError | null {
  if (res.status !== 429 && res.status < 500) return null;
  return new ProviderUnavailableError(
    `${who} answered ${res.status}`,
    retryAfterMs(res.headers.get('retry-after'), nowMs),
  );
}

/** A report that cannot be read (malformed page): retrying will not help. */
export class ProviderReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderReportError';
  }
}
