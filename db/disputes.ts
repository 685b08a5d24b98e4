import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ConflictError } from '../domain/errors';
import { journalOf } from './journals';
import { recordPayableCarry } from './payable-carries';
import type { DisputeFacts, DisputeState } from '../domain/disputes';
import type { StatementLineKey } from '../domain/statement';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** A new dispute's id: `dsp-` and 20 hex digits (never derived from the partner's reference). */
export const newDisputeId = (): string => `dsp-${randomBytes(10).toString('hex')}`;

/** What makes two submissions with one reference the same dispute (their content). */
export function disputeContentDigest(c: {
  cycleId: string;
  line: string;
  claimedMinor: bigint;
  reason: string;
  evidence: string[];
}): string {
  return createHash('sha256')
    .update(JSON.stringify([c.cycleId, c.line, c.claimedMinor.toString(), c.reason, c.evidence]))
    .digest('hex');
}

/**
 * The latest version of a cycle's published statement, for a partner: its text and version
 * (statement_versions once restatements exist; version 1 is the fee step's own statement),
 * or null when the cycle is another partner's, unknown, or not published yet.
 */
export async function latestPublishedStatement(
  q: Queryable,
  cycleId: string,
  partnerId: string,
): Promise<{ version: number; text: string; adjustments: { line: string; amountMinor: string }[] } | null> {
  const { rows } = await q.query<{
    version: number;
    text: string;
    adjustments: { line: string; amountMinor: string }[];
  }>(
    `SELECT v.version, v.statement_text AS text, v.adjustments
       FROM settlement_cycles c
       JOIN LATERAL (SELECT version, statement_text, adjustments FROM statement_versions
                           WHERE cycle_id = c.id ORDER BY version DESC LIMIT 1) v ON true
      WHERE c.id = $1 AND c.partner_id = $2 AND c.statement_published_at IS NOT NULL`,
    [cycleId, partnerId],
  );
  return rows[0] ?? null;
}

export interface NewDispute {
  id: string;
  partnerId: string;
  cycleId: string;
  reference: string;
  contentDigest: string;
  statementVersion: number;
  currency: string;
  scale: number;
  line: StatementLineKey;
  statedMinor: bigint;
  claimedMinor: bigint;
  reason: string;
  evidence: string[];
  /** The SLA from the moment it is stored (domain/disputes.ts DISPUTE_SLA_DAYS). */
  slaMs: number;
  createdBy: string;
}

export interface StoredDispute {
  id: string;
  partnerId: string;
  settlementId: string;
  reference: string;
  statementVersion: number;
  currency: string;
  scale: number;
  line: StatementLineKey;
  statedMinor: bigint;
  claimedMinor: bigint;
  reason: string;
  evidence: string[];
  state: DisputeState;
  decision: {
    outcome: 'accepted' | 'partly_accepted' | 'rejected';
    amountMinor: bigint | null;
    reason: string;
    decidedBy: { actor: string | null; name: string };
    at: string;
  } | null;
  restatementId: string | null;
  deadline: string;
  remindersSent: number;
  escalated: boolean;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  contentDigest: string;
}

interface Row {
  id: string;
  partner_id: string;
  cycle_id: string;
  reference: string;
  content_digest: string;
  statement_version: number;
  currency: string;
  currency_scale: number;
  line: StatementLineKey;
  stated_minor: string;
  claimed_minor: string;
  reason: string;
  evidence: string[];
  state: DisputeState;
  decision_outcome: 'accepted' | 'partly_accepted' | 'rejected' | null;
  decided_minor: string | null;
  decision_reason: string | null;
  decided_by_actor: string | null;
  decided_by_name: string | null;
  decided_at: Date | null;
  restatement_id: string | null;
  deadline: Date;
  reminders_sent: number;
  escalated: boolean;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

function fromRow(r: Row): StoredDispute {
  return {
    id: r.id,
    partnerId: r.partner_id,
    settlementId: r.cycle_id,
    reference: r.reference,
    statementVersion: r.statement_version,
    currency: r.currency,
    scale: r.currency_scale,
    line: r.line,
    statedMinor: BigInt(r.stated_minor),
    claimedMinor: BigInt(r.claimed_minor),
    reason: r.reason,
    evidence: r.evidence,
    state: r.state,
    decision: r.decision_outcome
      ? {
          outcome: r.decision_outcome,
          amountMinor: r.decided_minor === null ? null : BigInt(r.decided_minor),
          reason: r.decision_reason!,
          decidedBy: { actor: r.decided_by_actor, name: r.decided_by_name! },
          at: r.decided_at!.toISOString(),
        }
      : null,
    restatementId: r.restatement_id,
    deadline: r.deadline.toISOString(),
    remindersSent: r.reminders_sent,
    escalated: r.escalated,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    contentDigest: r.content_digest,
  };
}

/**
 * Stores a dispute once per partner and reference: the same reference with the same content
 * answers the stored dispute (`created: false`); with other content, `conflict`.
 */
export async function createDispute(
  q: Queryable,
  d: NewDispute,
): Promise<{ dispute: StoredDispute; created: boolean } | { conflict: StoredDispute }> {
  // The dispute and the first event of its history, in one statement.
  const inserted = await q
    .query<Row>(
      `WITH d AS (
       INSERT INTO disputes (id, partner_id, cycle_id, reference, content_digest, statement_version, currency,
                             currency_scale, line, stated_minor, claimed_minor, reason, evidence, deadline, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb,
               now() + ($14::bigint * interval '1 millisecond'), $15)
       ON CONFLICT (partner_id, reference) DO NOTHING
       RETURNING *
     ), e AS (
       INSERT INTO dispute_events (dispute_id, seq, event_key, kind, from_state, to_state, actor, actor_name, details)
       SELECT id, 1, 'opened', 'opened', NULL, 'open', created_by, created_by,
              jsonb_build_object('reference', reference, 'line', line, 'statedMinor', stated_minor::text,
                                 'claimedMinor', claimed_minor::text, 'statementVersion', statement_version)
         FROM d
     )
     SELECT * FROM d`,
      [
        d.id,
        d.partnerId,
        d.cycleId,
        d.reference,
        d.contentDigest,
        d.statementVersion,
        d.currency,
        d.scale,
        d.line,
        d.statedMinor.toString(),
        d.claimedMinor.toString(),
        d.reason,
        JSON.stringify(d.evidence),
        d.slaMs,
        d.createdBy,
      ],
    )
    .catch((err: unknown) => {
      // One undecided dispute per line (disputes_one_open_per_line): the next waits for its decision.
      if ((err as { constraint?: string }).constraint === 'disputes_one_open_per_line')
        throw new ConflictError(
          `${d.cycleId} has an undecided dispute of its ${d.line} already: a second one waits for its decision`,
          [{ path: 'line', message: 'an undecided dispute of this line exists' }],
        );
      throw err;
    });
  if (inserted.rows[0]) return { dispute: fromRow(inserted.rows[0]), created: true };
  const { rows } = await q.query<Row>('SELECT * FROM disputes WHERE partner_id = $1 AND reference = $2', [
    d.partnerId,
    d.reference,
  ]);
  const existing = fromRow(rows[0]!);
  return existing.contentDigest === d.contentDigest
    ? { dispute: existing, created: false }
    : { conflict: existing };
}

/** One dispute; with `partnerId`, only that partner's (another's is none). */
export async function getDispute(
  q: Queryable,
  id: string,
  partnerId: string | null = null,
): Promise<StoredDispute | null> {
  const { rows } = await q.query<Row>(
    'SELECT * FROM disputes WHERE id = $1 AND ($2::text IS NULL OR partner_id = $2)',
    [id, partnerId],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

/** The facts the dispute's workflow decides on (amounts as decimal strings). */
export async function disputeFacts(q: Queryable, id: string): Promise<DisputeFacts | null> {
  const d = await getDispute(q, id);
  return d
    ? {
        id: d.id,
        partnerId: d.partnerId,
        cycleId: d.settlementId,
        statementVersion: d.statementVersion,
        line: d.line,
        currency: d.currency,
        scale: d.scale,
        statedMinor: d.statedMinor.toString(),
        claimedMinor: d.claimedMinor.toString(),
        deadline: d.deadline,
        createdAt: d.createdAt,
        state: d.state,
        remindersSent: d.remindersSent,
        escalated: d.escalated,
      }
    : null;
}

export interface DisputeEvent {
  seq: number;
  kind: string;
  fromState: DisputeState | null;
  toState: DisputeState;
  actor: string;
  actorName: string;
  details: Record<string, unknown>;
  at: string;
}

export async function disputeEvents(q: Queryable, id: string): Promise<DisputeEvent[]> {
  const { rows } = await q.query<{
    seq: number;
    kind: string;
    from_state: DisputeState | null;
    to_state: DisputeState;
    actor: string;
    actor_name: string;
    details: Record<string, unknown>;
    at: Date;
  }>('SELECT * FROM dispute_events WHERE dispute_id = $1 ORDER BY seq', [id]);
  return rows.map((r) => ({
    seq: r.seq,
    kind: r.kind,
    fromState: r.from_state,
    toState: r.to_state,
    actor: r.actor,
    actorName: r.actor_name,
    details: r.details,
    at: r.at.toISOString(),
  }));
}

/** A change the dispute's workflow records: the row's new state and one event, once per key. */
export interface DisputeChangeRecord {
  disputeId: string;
  /** Idempotency: the Update's id, or the step's name (`opened`, `expired`, `reminder:2`). */
  key: string;
  kind: string;
  /** The states it may come from (the row is checked), and the one it leads to (null: stays). */
  from: readonly DisputeState[];
  to: DisputeState | null;
  by: { actor: string; name: string };
  details?: Record<string, unknown>;
  /** More evidence from the partner, appended to the dispute's list. */
  evidence?: string[];
  decision?: {
    outcome: 'accepted' | 'partly_accepted' | 'rejected';
    amountMinor: string | null;
    reason: string;
  };
  remindersSent?: number;
  escalated?: boolean;
}

/**
 * Applies a change in the caller's transaction: nothing when its event is already recorded (a
 * retry: `applied: false`); otherwise the row moves (from one of `from`, else a conflict) and
 * the event is appended.
 */
export async function applyDisputeChange(
  client: pg.PoolClient,
  c: DisputeChangeRecord,
): Promise<{ applied: boolean; conflict?: DisputeState }> {
  const { rows } = await client.query<{ state: DisputeState }>(
    'SELECT state FROM disputes WHERE id = $1 FOR UPDATE',
    [c.disputeId],
  );
  const current = rows[0];
  if (!current) throw new Error(`dispute ${c.disputeId} is not stored`);
  const seen = await client.query('SELECT 1 FROM dispute_events WHERE dispute_id = $1 AND event_key = $2', [
    c.disputeId,
    c.key,
  ]);
  if (seen.rowCount) return { applied: false };
  if (!c.from.includes(current.state)) return { applied: false, conflict: current.state };
  await client.query(
    `UPDATE disputes SET state = COALESCE($2, state),
            evidence = CASE WHEN $3::jsonb IS NULL THEN evidence ELSE evidence || $3::jsonb END,
            decision_outcome = COALESCE($4, decision_outcome),
            decided_minor = COALESCE($5::bigint, decided_minor),
            decision_reason = COALESCE($6, decision_reason),
            decided_by_actor = CASE WHEN $4::text IS NULL THEN decided_by_actor ELSE $7 END,
            decided_by_name = CASE WHEN $4::text IS NULL THEN decided_by_name ELSE $8 END,
            decided_at = CASE WHEN $4::text IS NULL THEN decided_at ELSE now() END,
            reminders_sent = COALESCE($9, reminders_sent),
            escalated = COALESCE($10, escalated),
            updated_at = now()
      WHERE id = $1`,
    [
      c.disputeId,
      c.to,
      c.evidence ? JSON.stringify(c.evidence) : null,
      c.decision?.outcome ?? null,
      c.decision?.amountMinor ?? null,
      c.decision?.reason ?? null,
      c.by.actor,
      c.by.name,
      c.remindersSent ?? null,
      c.escalated ?? null,
    ],
  );
  await client.query(
    `INSERT INTO dispute_events (dispute_id, seq, event_key, kind, from_state, to_state, actor, actor_name, details)
     SELECT $1, COALESCE(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8::jsonb FROM dispute_events WHERE dispute_id = $1`,
    [
      c.disputeId,
      c.key,
      c.kind,
      current.state,
      c.to ?? current.state,
      c.by.actor,
      c.by.name,
      JSON.stringify(c.details ?? {}),
    ],
  );
  return { applied: true };
}

/** The restatement an accepted dispute started (once). */
export async function setDisputeRestatement(
  q: Queryable,
  disputeId: string,
  restatementId: string,
): Promise<void> {
  await q.query(
    'UPDATE disputes SET restatement_id = $2, updated_at = now() WHERE id = $1 AND restatement_id IS DISTINCT FROM $2',
    [disputeId, restatementId],
  );
}

/** Which disputes a list shows: a partner's own, a state, oldest or newest first. */
export interface DisputeFilter {
  partnerId: string | null;
  states: DisputeState[] | null;
  order: 'age' | 'newest';
  limit: number;
  /** Keyset: the last row's created_at and id. */
  after: { createdAt: string; id: string } | null;
}

export async function listDisputes(q: Queryable, f: DisputeFilter): Promise<StoredDispute[]> {
  const cmp = f.order === 'age' ? '>' : '<';
  const dir = f.order === 'age' ? 'ASC' : 'DESC';
  const { rows } = await q.query<Row>(
    `SELECT * FROM disputes
      WHERE ($1::text IS NULL OR partner_id = $1)
        AND ($2::text[] IS NULL OR state = ANY($2))
        AND ($3::timestamptz IS NULL OR (created_at, id) ${cmp} ($3::timestamptz, $4::text))
      ORDER BY created_at ${dir}, id ${dir}
      LIMIT $5`,
    [f.partnerId, f.states, f.after?.createdAt ?? null, f.after?.id ?? null, f.limit],
  );
  return rows.map(fromRow);
}

/** Undecided disputes, oldest first (operators' queue; the console shows them by age). */
export function openDisputesByAge(q: Queryable, limit = 100): Promise<StoredDispute[]> {
  return listDisputes(q, {
    partnerId: null,
    states: ['open', 'waiting_for_evidence'],
    order: 'age',
    limit,
    after: null,
  });
}

/**
 * What a cycle's payout holds back for its undecided disputes: Σ max(0, stated − claimed).
 * We never pay what the partner itself says it is not owed; what it claims on top waits for
 * the decision and, if accepted, is paid through the restatement (its delta is carried to the
 * next statement). A decided or expired dispute holds nothing.
 */
export async function disputeHoldMinor(q: Queryable, cycleId: string): Promise<bigint> {
  const { rows } = await q.query<{ hold: string }>(
    `SELECT COALESCE(sum(GREATEST(stated_minor - claimed_minor, 0)), 0)::text AS hold
       FROM disputes WHERE cycle_id = $1 AND state IN ('open', 'waiting_for_evidence')`,
    [cycleId],
  );
  return BigInt(rows[0]!.hold);
}

/** Whether a cycle is the partner's (any state): another partner's reads as none. */
export async function cycleOfPartner(q: Queryable, cycleId: string, partnerId: string): Promise<boolean> {
  const { rowCount } = await q.query('SELECT 1 FROM settlement_cycles WHERE id = $1 AND partner_id = $2', [
    cycleId,
    partnerId,
  ]);
  return (rowCount ?? 0) > 0;
}

/**
 * Whether what a cycle's payout held back for its disputes may be released: none of them is
 * undecided, and every accepted one's restatement has ended (posted, or rejected, failed or
 * empty) — so that the release and the restatement's own delta reach the same statement.
 */
export async function disputeHoldSettled(q: Queryable, cycleId: string): Promise<boolean> {
  const { rows } = await q.query<{ settled: boolean }>(
    `SELECT NOT EXISTS (
       SELECT 1 FROM disputes d LEFT JOIN restatements r ON r.id = d.restatement_id
        WHERE d.cycle_id = $1
          AND (d.state IN ('open', 'waiting_for_evidence')
               OR (d.state IN ('accepted', 'partly_accepted')
                   AND (r.id IS NULL OR r.state NOT IN ('posted', 'rejected', 'failed', 'empty'))))) AS settled`,
    [cycleId],
  );
  return rows[0]!.settled;
}

/**
 * Releases, whole and once, what the cycle's payout held back for its disputes (its posted
 * `<cycle>:payout-held` journal) to the partner's next statement, once disputeHoldSettled: a
 * rejected or expired dispute leaves the statement as issued and the held part is owed; an
 * accepted one's restatement, posted by then, carries its own delta (which takes the held part
 * back) to the same statement.
 */
export async function releaseDisputeHold(q: Queryable, cycleId: string): Promise<void> {
  if (!(await disputeHoldSettled(q, cycleId))) return;
  const held = await journalOf(q, `${cycleId}:payout-held`);
  const amountMinor = (held?.entries ?? []).reduce(
    (sum, e) => sum + e.postings.reduce((t, p) => t + p.amountMinor, 0n),
    0n,
  );
  const currency = held?.entries[0]?.postings[0]?.currency;
  if (amountMinor === 0n || currency === undefined) return;
  const { rows } = await q.query<{ partner_id: string }>(
    'SELECT partner_id FROM settlement_cycles WHERE id = $1',
    [cycleId],
  );
  await recordPayableCarry(q, {
    id: `${cycleId}:hold-released`,
    partnerId: rows[0]!.partner_id,
    currency,
    amountMinor,
    sourceKind: 'dispute_released',
    sourceRef: cycleId,
    note: `held from the payout of ${cycleId} while disputed; its disputes are decided`,
  });
}
