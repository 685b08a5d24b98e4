import type pg from 'pg';

export interface PositionRow {
  business_date: string;
  currency: string;
  game_id: string;
  [column: string]: string;
}

/** The counters of a position, in the order the API reports them. */
export const positionCounters = [
  'bet',
  'win',
  'rollback_bet',
  'rollback_win',
  'rollback_other',
  'orphan_rollback',
  'jackpot_contribution',
  'jackpot_win',
  'bonus_bet',
  'bonus_win',
  'adjustment',
] as const;

/** A partner's real-time positions (stripes summed), per business day, currency and game. */
export async function readPositions(
  db: Pick<pg.Pool, 'query'>,
  q: { partnerId: string; from: string; to: string; currency?: string },
): Promise<PositionRow[]> {
  const sums = positionCounters
    .map((c) => `sum(${c}_count)::text AS ${c}_count, sum(${c}_minor)::text AS ${c}_minor`)
    .join(', ');
  const { rows } = await db.query<PositionRow>(
    `SELECT business_date::text, currency, game_id, sum(tx_count)::text AS tx_count, ${sums}, sum(ggr_minor)::text AS ggr_minor
       FROM positions
      WHERE partner_id = $1 AND business_date BETWEEN $2 AND $3 AND ($4::text IS NULL OR currency = $4)
      GROUP BY business_date, currency, game_id
      ORDER BY business_date, currency, game_id`,
    [q.partnerId, q.from, q.to, q.currency ?? null],
  );
  return rows;
}

export interface StoredTransaction {
  partner_id: string;
  tx_id: string;
  type: string;
  round_id: string;
  player_id: string;
  game_id: string;
  amount_minor: string;
  currency: string;
  occurred_at: Date;
  business_date: string;
  ref_id: string | null;
  ref_type: string | null;
  reason: string | null;
  batch_id: string;
  received_at: Date;
}

export async function readTransaction(
  db: Pick<pg.Pool, 'query'>,
  partnerId: string,
  txId: string,
): Promise<StoredTransaction | null> {
  const { rows } = await db.query<StoredTransaction>(
    `SELECT partner_id, tx_id, type, round_id, player_id, game_id, amount_minor::text, currency, occurred_at,
            business_date::text, ref_id, ref_type, reason, batch_id, received_at
       FROM game_transactions WHERE partner_id = $1 AND tx_id = $2`,
    [partnerId, txId],
  );
  return rows[0] ?? null;
}
