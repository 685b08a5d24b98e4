// A provider report, normalised: what every adapter produces and what reconciliation and the
// database take, whatever the provider's own format.

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
