// One interface for every provider report format: an adapter turns a page of the provider's
// own report into normalised rows. Adding a provider = one adapter + one line in registry.ts.

export interface ReportRow {
  txId: string;
  type: string;
  roundId: string;
  gameId: string;
  currency: string;
  amountMinor: bigint;
  /** RFC 3339 instant (UTC). */
  occurredAt: string;
  roundStatus?: 'completed' | 'open' | 'cancelled';
}

/** Totals per (business day in the provider's report, game, currency), for aggregate-only formats. */
export interface ReportAggregate {
  businessDate: string;
  gameId: string;
  currency: string;
  betCount: bigint;
  betMinor: bigint;
  winMinor: bigint;
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

export interface FetchPageParams {
  baseUrl: string;
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

/** A report that cannot be read (malformed page): retrying will not help. */
export class ProviderReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderReportError';
  }
}
