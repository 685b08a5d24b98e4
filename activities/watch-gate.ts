import type { Db } from '../db/pool';
import * as book from '../db/exception-book';
import { heldWinsFor, markHeldWinsBooked } from '../db/held-wins';
import { volumeAlertsInPeriod } from '../db/watch-gate';
import { formatAmount, type CurrencyRegistry } from '../domain/money';
import type { Discrepancy } from '../domain/reconciliation';

/**
 * One gate before payout for what the watch holds (DOMAIN.md, "Watching the money"): each big
 * win held at ingest in the cycle's period, and each volume spike of the partner in it, becomes an
 * exception in the cycle's exception book, resolved by a person like any other (accept_ours
 * releases it; adjust or write_off when the review finds the win should not stand). No money
 * moves by itself: the difference is 0. Recorded once (the book ignores an id it holds), so a
 * retried reconciliation adds nothing. Returns how many the book holds for the period.
 */
export async function recordWatchExceptions(
  db: Db,
  c: { cycleId: string; partnerId: string; periodStart: string; periodEnd: string },
  currencies: CurrencyRegistry,
): Promise<number> {
  const wins = await heldWinsFor(db, c.partnerId, c.periodStart, c.periodEnd);
  const spikes = await volumeAlertsInPeriod(db, c.partnerId, c.periodStart, c.periodEnd);
  const found: Discrepancy[] = [
    ...wins.map((w): Discrepancy => ({
      id: `big_win:${w.txId}`,
      kind: 'big_win',
      key: { businessDate: w.businessDate, gameId: w.gameId, currency: w.currency },
      txId: w.txId,
      oursMinor: w.amountMinor,
      theirsMinor: null,
      differenceMinor: 0n,
      detail:
        `big win held for review at ingest: ${formatAmount(w.amountMinor, currencies.requireScale(w.currency))} ${w.currency}` +
        (w.multiple === null ? ' with no bet in its round' : `, ${w.multiple}× its round's bets`) +
        ` (round ${w.roundId}); release it (accept_ours) or correct it after review`,
    })),
    ...spikes.map((a): Discrepancy => ({
      id: `volume_anomaly:alert-${a.alertId}`,
      kind: 'volume_anomaly',
      key: null,
      txId: null,
      oursMinor: null,
      theirsMinor: null,
      differenceMinor: 0n,
      detail: `${a.title} (alert ${a.alertId}, hour from ${a.windowStart}): extra checks before payout; accept_ours once checked`,
    })),
  ];
  if (found.length === 0) return 0;
  await book.recordFound(db, c.cycleId, found);
  await markHeldWinsBooked(
    db,
    c.partnerId,
    wins.map((w) => w.txId),
    c.cycleId,
  );
  return found.length;
}
