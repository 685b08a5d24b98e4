import type pg from 'pg';
import { ConflictError } from '../domain/errors';
import type { RestatementReason } from '../domain/restatement';
import { digestOf } from './audit';

// Restatements (1764000032000_restatements.sql): one row per partner and change, written by
// the API when requested and by the restatement's workflow activities after that.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export const restatementStates = [
  'requested',
  'awaiting_approval',
  'posted',
  'empty',
  'rejected',
  'failed',
] as const;
export type RestatementState = (typeof restatementStates)[number];

/** What the workflow computed, line by line, for the API and the console (amounts as text). */
export interface RestatementComputed {
  postingDate: string;
  currency: string;
  /** The versions each period of the chain goes from and to (null: unchanged). */
  periods: {
    settlementId: string;
    periodStart: string;
    periodEnd: string;
    fromVersion: number;
    toVersion: number | null;
    fromDigest: string;
    lines: { field: string; before: string; after: string }[];
    netPayableDelta: string;
  }[];
  /** The delta entries, as they will be posted (key, accounts and amount as text). */
  delta: { key: string; postings: { debit: string; credit: string; amount: string }[] }[];
  netPayableDelta: string;
}

export interface Restatement {
  id: string;
  partnerId: string;
  settlementId: string;
  changeKey: string;
  reason: RestatementReason;
  requestedBy: { actor: string; name: string };
  state: RestatementState;
  computed: RestatementComputed | null;
  deltaJournalId: string | null;
  approvals: { actor: string; name: string; at: string }[];
  rejectedBy: { actor: string; name: string; reason: string; at: string } | null;
  detail: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  partner_id: string;
  cycle_id: string;
  change_key: string;
  reason: RestatementReason;
  requested_by_actor: string;
  requested_by_name: string;
  state: RestatementState;
  computed: RestatementComputed | null;
  delta_journal_id: string | null;
  approvals: Restatement['approvals'];
  rejected_by: Restatement['rejectedBy'];
  detail: string | null;
  created_at: Date;
  updated_at: Date;
}

const fromRow = (r: Row): Restatement => ({
  id: r.id,
  partnerId: r.partner_id,
  settlementId: r.cycle_id,
  changeKey: r.change_key,
  reason: r.reason,
  requestedBy: { actor: r.requested_by_actor, name: r.requested_by_name },
  state: r.state,
  computed: r.computed,
  deltaJournalId: r.delta_journal_id,
  approvals: r.approvals,
  rejectedBy: r.rejected_by,
  detail: r.detail,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/**
 * Records a requested restatement once per partner and change: the same change (same key,
 * same cycle and reason) returns the stored one (`created` false); the same key with another
 * cycle or reason is a ConflictError.
 */
export async function insertRestatement(
  q: Queryable,
  r: {
    id: string;
    partnerId: string;
    settlementId: string;
    changeKey: string;
    reason: RestatementReason;
    requestedBy: { actor: string; name: string };
  },
): Promise<{ restatement: Restatement; created: boolean }> {
  const { rows } = await q.query<Row>(
    `INSERT INTO restatements (id, partner_id, cycle_id, change_key, reason, requested_by_actor, requested_by_name)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
     ON CONFLICT (partner_id, change_key) DO NOTHING RETURNING *`,
    [
      r.id,
      r.partnerId,
      r.settlementId,
      r.changeKey,
      JSON.stringify(r.reason),
      r.requestedBy.actor,
      r.requestedBy.name,
    ],
  );
  if (rows[0]) return { restatement: fromRow(rows[0]), created: true };
  const stored = await q.query<Row>('SELECT * FROM restatements WHERE partner_id = $1 AND change_key = $2', [
    r.partnerId,
    r.changeKey,
  ]);
  const existing = fromRow(stored.rows[0]!);
  if (existing.settlementId !== r.settlementId || digestOf(existing.reason) !== digestOf(r.reason))
    throw new ConflictError(
      `change ${r.changeKey} was requested already as restatement ${existing.id} with another period or reason`,
      [{ path: 'changeKey', message: `already used by ${existing.id}` }],
    );
  return { restatement: existing, created: false };
}

export async function restatementOf(q: Queryable, id: string): Promise<Restatement | null> {
  const { rows } = await q.query<Row>('SELECT * FROM restatements WHERE id = $1', [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** Restatements, newest first, optionally of one partner, settlement or state. */
export async function listRestatements(
  q: Queryable,
  f: { partnerId?: string; settlementId?: string; state?: RestatementState; limit: number },
): Promise<Restatement[]> {
  const { rows } = await q.query<Row>(
    `SELECT * FROM restatements
      WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR cycle_id = $2)
        AND ($3::text IS NULL OR state = $3)
      ORDER BY created_at DESC, id LIMIT $4`,
    [f.partnerId ?? null, f.settlementId ?? null, f.state ?? null, f.limit],
  );
  return rows.map(fromRow);
}

/** The one writer of a restatement's state (its workflow's activities). */
export async function setRestatement(
  q: Queryable,
  id: string,
  patch: {
    state: RestatementState;
    computed?: RestatementComputed;
    deltaJournalId?: string;
    approvals?: Restatement['approvals'];
    rejectedBy?: Restatement['rejectedBy'];
    detail?: string;
  },
): Promise<void> {
  await q.query(
    `UPDATE restatements SET state = $2,
            computed = coalesce($3::jsonb, computed),
            delta_journal_id = coalesce($4, delta_journal_id),
            approvals = coalesce($5::jsonb, approvals),
            rejected_by = coalesce($6::jsonb, rejected_by),
            detail = coalesce($7, detail),
            updated_at = now()
      WHERE id = $1`,
    [
      id,
      patch.state,
      patch.computed ? JSON.stringify(patch.computed) : null,
      patch.deltaJournalId ?? null,
      patch.approvals ? JSON.stringify(patch.approvals) : null,
      patch.rejectedBy ? JSON.stringify(patch.rejectedBy) : null,
      patch.detail ?? null,
    ],
  );
}

/** A settled period of the chain, in order. */
export interface ChainCycle {
  cycleId: string;
  periodStart: string;
  periodEnd: string;
  status: string;
}

/**
 * The chain a restatement of `cycleId` recomputes: that period and every later period of the
 * partner in the same currency whose statement exists, in period order (at most `limit`).
 */
export async function chainFrom(q: Queryable, cycleId: string, limit: number): Promise<ChainCycle[]> {
  const { rows } = await q.query<{ id: string; period_start: string; period_end: string; status: string }>(
    `SELECT c.id, c.period_start::text, c.period_end::text, c.status
       FROM settlement_accruals a0
       JOIN settlement_accruals a ON a.partner_id = a0.partner_id AND a.currency = a0.currency
                                  AND a.period_start >= a0.period_start
       JOIN settlement_cycles c ON c.id = a.cycle_id
      WHERE a0.cycle_id = $1
      ORDER BY a.period_start, a.cycle_id
      LIMIT $2`,
    [cycleId, limit],
  );
  return rows.map((r) => ({
    cycleId: r.id,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    status: r.status,
  }));
}

/**
 * A restated period's month-to-date figures and carry, as the latest version says, for the
 * periods that settle after it (they read the month so far and claim carries from here).
 */
export async function restateAccrual(
  q: Queryable,
  cycleId: string,
  a: {
    taxBaseMinor: bigint;
    gamingTaxMinor: bigint;
    volumeMinor: bigint;
    tierFeeMinor: bigint;
    variableFeeMinor: bigint;
    topUpMinor: bigint;
    carriedOutMinor: bigint;
  },
): Promise<void> {
  await q.query(
    `UPDATE settlement_accruals
        SET tax_base_minor = $2, gaming_tax_minor = $3, volume_minor = $4, tier_fee_minor = $5,
            variable_fee_minor = $6, top_up_minor = $7, carried_out_minor = $8
      WHERE cycle_id = $1`,
    [
      cycleId,
      a.taxBaseMinor.toString(),
      a.gamingTaxMinor.toString(),
      a.volumeMinor.toString(),
      a.tierFeeMinor.toString(),
      a.variableFeeMinor.toString(),
      a.topUpMinor.toString(),
      a.carriedOutMinor.toString(),
    ],
  );
}
