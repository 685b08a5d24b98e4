import type pg from 'pg';
import { bigWinCheck } from '../domain/anomalies';
import { convert, parseDecimal, type CurrencyRegistry } from '../domain/money';
import { pairKey, referenceRates, type ReferenceRate } from './fx-reference';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// Big wins held for review the moment they are ingested (DOMAIN.md, "Watching the money"): a win
// above an absolute amount of the partner's settlement currency AND above a multiple of its
// round's bets. Runs inside the batch's own database transaction (db/ingest.ts), so a stored win
// and its hold are one fact: no crash between them lets a big win through unseen.
//
// Cost on the hot path: nothing for a batch without wins; for one with wins, a comparison per win
// (the partner's limits and the reference rates come from a cache the API refreshes every 30 s),
// and one indexed query for the rounds of the wins above the absolute amount (rare by design).
//
// Wins are `win` and `bonus_win` (a bonus round's win is paid from the operator's bonus budget,
// against its `bonus_bet`s); jackpot wins are paid from the pool the jackpot system verifies.
//
// Conversion: at the latest reference rate known (fx_reference_rates), floor (a win is held only
// when it is above the limit in whole minor units). The watch scan stores a rate for every pair
// in play each minute; until a new currency of a partner has one, its wins are compared unit for
// unit (major units), and a hold says so. Judging them on the multiple alone would look up the
// round of every such win inside the batch's transaction: ingest fell from about 40,000 to
// 18,900 tx/s (BENCHMARKS.md). Known limit: in that first minute a currency worth more than the
// settlement currency is compared too leniently.
//
// A win is looked up with its round only when the batch itself does not already clear it: the
// round's bets in the batch are at most all its bets, so a win within the multiple of those is
// within the multiple of all of them.

export interface BigWinLimits {
  settlementCurrency: string;
  /** Minor units of the settlement currency. */
  absoluteMinor: bigint;
  /** A decimal multiple of the round's bets, e.g. "350". */
  multiple: string;
}

/** The most transactions of a round kept as the evidence of a hold. */
const ROUND_EVIDENCE_ROWS = 200;

interface WinRow {
  tx_id: string;
  round_id: string;
  game_id: string;
  player_id: string;
  business_date: string;
  currency: string;
  amount_minor: string;
  occurred_at: Date;
  round:
    | {
        txId: string;
        type: string;
        amountMinor: string;
        currency: string;
        occurredAt: string;
        refId: string | null;
      }[]
    | null;
}

export async function holdBigWins(
  db: Queryable,
  partnerId: string,
  wins: { txId: string; roundId: string; currency: string; amountMinor: bigint }[],
  /** The batch's bets (`bet`, `bonus_bet`) per round and currency, keyed `round\u0000currency`. */
  batchBets: ReadonlyMap<string, bigint>,
  limits: BigWinLimits,
  currencies: CurrencyRegistry,
  /** The reference rates of the wins' currencies into the settlement currency (bigWinRates). */
  rates: ReadonlyMap<string, ReferenceRate>,
): Promise<number> {
  if (wins.length === 0) return 0;
  const sScale = currencies.requireScale(limits.settlementCurrency);
  /** The amount in the settlement currency (floored; unit for unit when no rate is known). */
  const inSettlement = (minor: bigint, currency: string): { minor: bigint; rate: string | null } => {
    if (currency === limits.settlementCurrency) return { minor, rate: null };
    const cScale = currencies.requireScale(currency);
    const stored = rates.get(pairKey(currency, limits.settlementCurrency));
    const parsed = stored ? parseDecimal(stored.rate, { maxScale: 30 }) : null;
    const exact = convert(minor, cScale, parsed?.ok ? parsed.value : { units: 1n, scale: 0 }, sScale);
    // Floor: exact residue below zero means half-even rounded up.
    const floored = exact.residue.num < 0n ? exact.rounded - 1n : exact.rounded;
    return { minor: floored, rate: parsed?.ok ? stored!.rate : null };
  };
  const multiple = parseDecimal(limits.multiple, { maxScale: 8 });
  if (!multiple.ok) throw new RangeError(`big-win multiple ${limits.multiple}: ${multiple.message}`);
  const candidates = wins.filter((w) => {
    if (inSettlement(w.amountMinor, w.currency).minor <= limits.absoluteMinor) return false;
    // Cleared by the batch alone: win ≤ multiple × the round's bets in this batch.
    const inBatch = batchBets.get(`${w.roundId}\u0000${w.currency}`) ?? 0n;
    return (
      inBatch === 0n || w.amountMinor * 10n ** BigInt(multiple.value.scale) > multiple.value.units * inBatch
    );
  });
  if (candidates.length === 0) return 0;

  // The wins as stored (their business day) with their round's history: the round's rows of
  // the win's business day and the days either side (a round may cross midnight), through the
  // (partner, business_date, game) index, one seek per day.
  const { rows } = await db.query<WinRow>(
    `SELECT w.tx_id, w.round_id, w.game_id, w.player_id, w.business_date::text, w.currency, w.amount_minor::text,
            w.occurred_at,
            (SELECT json_agg(json_build_object('txId', g.tx_id, 'type', g.type, 'amountMinor', g.amount_minor::text,
                                               'currency', g.currency, 'occurredAt', g.occurred_at, 'refId', g.ref_id)
                             ORDER BY g.occurred_at, g.tx_id)
               FROM (SELECT * FROM game_transactions g
                      WHERE g.partner_id = w.partner_id
                        AND g.business_date = ANY (ARRAY[w.business_date - 1, w.business_date, w.business_date + 1])
                        AND g.game_id = w.game_id AND g.round_id = w.round_id
                      ORDER BY g.occurred_at, g.tx_id LIMIT $3) g) AS round
       FROM game_transactions w
      WHERE w.partner_id = $1 AND w.tx_id = ANY ($2::text[]) AND w.type IN ('win', 'bonus_win')`,
    [partnerId, candidates.map((c) => c.txId), ROUND_EVIDENCE_ROWS],
  );
  let held = 0;
  for (const w of rows) {
    const round = w.round ?? [];
    const amount = inSettlement(BigInt(w.amount_minor), w.currency);
    // The round's stakes, net of their rollbacks, in the win's currency then converted.
    const rolledBack = new Set(round.flatMap((t) => (t.type === 'rollback' && t.refId ? [t.refId] : [])));
    const betsOwn = round
      .filter(
        (t) =>
          (t.type === 'bet' || t.type === 'bonus_bet') &&
          t.currency === w.currency &&
          !rolledBack.has(t.txId),
      )
      .reduce((sum, t) => sum + BigInt(t.amountMinor), 0n);
    const bets = inSettlement(betsOwn, w.currency);
    const check = bigWinCheck(amount.minor, bets.minor, {
      absoluteMinor: limits.absoluteMinor,
      multiple: Number(limits.multiple),
    });
    if (!check.held) continue;
    const { rowCount } = await db.query(
      `INSERT INTO held_wins (partner_id, tx_id, round_id, game_id, player_id, business_date, currency, amount_minor,
                              settlement_currency, amount_settlement_minor, round_bets_minor, multiple, rate, evidence)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::numeric, $13::numeric, $14)
       ON CONFLICT DO NOTHING`,
      [
        partnerId,
        w.tx_id,
        w.round_id,
        w.game_id,
        w.player_id,
        w.business_date,
        w.currency,
        w.amount_minor,
        limits.settlementCurrency,
        amount.minor.toString(),
        bets.minor.toString(),
        check.multiple,
        amount.rate,
        {
          reason: check.reason,
          limits: { absoluteMinor: limits.absoluteMinor.toString(), multiple: limits.multiple },
          rate:
            amount.rate === null && w.currency !== limits.settlementCurrency
              ? 'no reference rate for this currency yet: compared unit for unit'
              : amount.rate,
          round,
          roundTruncated: round.length >= ROUND_EVIDENCE_ROWS,
          query:
            'SELECT * FROM game_transactions WHERE partner_id = $1 AND business_date = ANY($2) AND game_id = $3 AND round_id = $4 ORDER BY occurred_at',
        },
      ],
    );
    held += rowCount ?? 0;
  }
  return held;
}

/**
 * The latest reference rates of the wins' other currencies into the settlement currency, read
 * before the batch's transaction (through a short cache in the API: one read a minute per pair,
 * not one per batch).
 */
export async function bigWinRates(
  db: Queryable,
  currencies: string[],
  settlementCurrency: string,
  today: string,
): Promise<Map<string, ReferenceRate>> {
  const foreign = [...new Set(currencies)].filter((c) => c !== settlementCurrency);
  return foreign.length === 0
    ? new Map()
    : referenceRates(
        db,
        foreign.map((from) => ({ from, to: settlementCurrency })),
        today,
      );
}

/** Held wins of a partner's business days (a cycle's period) not yet recorded in a book. */
export async function heldWinsFor(
  db: Queryable,
  partnerId: string,
  from: string,
  to: string,
): Promise<
  {
    txId: string;
    roundId: string;
    gameId: string;
    businessDate: string;
    currency: string;
    amountMinor: bigint;
    settlementCurrency: string;
    amountSettlementMinor: bigint | null;
    multiple: string | null;
  }[]
> {
  const { rows } = await db.query<{
    tx_id: string;
    round_id: string;
    game_id: string;
    business_date: string;
    currency: string;
    amount_minor: string;
    settlement_currency: string;
    amount_settlement_minor: string | null;
    multiple: string | null;
  }>(
    `SELECT tx_id, round_id, game_id, business_date::text, currency, amount_minor::text, settlement_currency,
            amount_settlement_minor::text, multiple::text
       FROM held_wins WHERE partner_id = $1 AND business_date BETWEEN $2 AND $3
      ORDER BY business_date, tx_id`,
    [partnerId, from, to],
  );
  return rows.map((r) => ({
    txId: r.tx_id,
    roundId: r.round_id,
    gameId: r.game_id,
    businessDate: r.business_date,
    currency: r.currency,
    amountMinor: BigInt(r.amount_minor),
    settlementCurrency: r.settlement_currency,
    amountSettlementMinor: r.amount_settlement_minor === null ? null : BigInt(r.amount_settlement_minor),
    multiple: r.multiple,
  }));
}

/** Records which cycle's book holds each held win (the first cycle to record it keeps it). */
export async function markHeldWinsBooked(
  db: Queryable,
  partnerId: string,
  txIds: string[],
  cycleId: string,
): Promise<void> {
  if (txIds.length === 0) return;
  await db.query(
    `UPDATE held_wins SET cycle_id = $3 WHERE partner_id = $1 AND tx_id = ANY ($2::text[]) AND cycle_id IS NULL`,
    [partnerId, txIds, cycleId],
  );
}
