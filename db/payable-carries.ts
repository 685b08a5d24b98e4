import type pg from 'pg';
import { ConflictError } from '../domain/errors';

// Amounts owed to (positive) or by (negative) a partner outside a statement's own net payable
// (1764000032000_restatements.sql): recorded once by id, claimed once by the next statement
// of the partner and currency that settles, which shows them as brought forward.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export const payableCarryKinds = [
  'below_minimum',
  'payout_failed',
  'payout_partly_paid',
  'overpaid',
  'restatement',
  'dispute_released',
] as const;
export type PayableCarryKind = (typeof payableCarryKinds)[number];

export interface PayableCarry {
  id: string;
  partnerId: string;
  currency: string;
  /** Signed: positive is owed to the partner. */
  amountMinor: bigint;
  sourceKind: PayableCarryKind;
  sourceRef: string;
  note: string;
}

/** Records a carry once: the same id with the same content is a no-op, with other content a ConflictError. */
export async function recordPayableCarry(q: Queryable, c: PayableCarry): Promise<void> {
  if (c.amountMinor === 0n) return;
  const { rows } = await q.query<{ same: boolean }>(
    `WITH ins AS (
       INSERT INTO payable_carries (id, partner_id, currency, amount_minor, source_kind, source_ref, note)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING true AS same)
     SELECT same FROM ins
     UNION ALL
     SELECT (partner_id, currency, amount_minor, source_kind, source_ref) = ($2, $3, $4::bigint, $5, $6)
       FROM payable_carries WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
    [c.id, c.partnerId, c.currency, c.amountMinor.toString(), c.sourceKind, c.sourceRef, c.note],
  );
  if (rows[0] && !rows[0].same)
    throw new ConflictError(`payable carry ${c.id} is recorded already with other content`);
}

/**
 * Claims for a cycle every unclaimed carry of its partner and currency (run under the
 * partner's money lock, in the fee step's transaction): each is brought forward exactly once.
 * A repeat of the same cycle returns what it claimed.
 */
export async function claimPayableCarries(
  q: Queryable,
  p: { cycleId: string; partnerId: string; currency: string },
): Promise<PayableCarry[]> {
  await q.query(
    `UPDATE payable_carries SET claimed_by = $1, claimed_at = now()
      WHERE partner_id = $2 AND currency = $3 AND claimed_by IS NULL`,
    [p.cycleId, p.partnerId, p.currency],
  );
  return claimedBy(q, p.cycleId);
}

/** What a cycle brought forward, in id order. */
export async function claimedBy(q: Queryable, cycleId: string): Promise<PayableCarry[]> {
  const { rows } = await q.query<{
    id: string;
    partner_id: string;
    currency: string;
    amount_minor: string;
    source_kind: PayableCarryKind;
    source_ref: string;
    note: string;
  }>(
    `SELECT id, partner_id, currency, amount_minor::text, source_kind, source_ref, note
       FROM payable_carries WHERE claimed_by = $1 ORDER BY id`,
    [cycleId],
  );
  return rows.map((r) => ({
    id: r.id,
    partnerId: r.partner_id,
    currency: r.currency,
    amountMinor: BigInt(r.amount_minor),
    sourceKind: r.source_kind,
    sourceRef: r.source_ref,
    note: r.note,
  }));
}
