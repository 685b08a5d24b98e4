import { createHash } from 'node:crypto';
import type pg from 'pg';
import { checkCheckpoints, type CheckpointCheck, type CheckpointOptions } from './checkpoints';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export const auditSources = [
  'api',
  'temporal-ui',
  'temporal-cli',
  'temporal',
  'schedule',
  'workflow',
] as const;
export type AuditSource = (typeof auditSources)[number];

/** One state-changing action, as the audit trail records it. */
export interface AuditEvent {
  /** Retries of the same action carry the same key and are recorded once. */
  idempotencyKey: string;
  /** An operator's name, `partner:<id>`, `schedule:<id>` or `workflow:<id>`. */
  actor: string;
  /** The role(s) the actor acted in, e.g. `approver`, `partner`, `workflow`. */
  role: string;
  /** What was done, e.g. `settlement.approvePayout`, `PUT /v1/partners/{partnerId}/games`. */
  action: string;
  /** What it was done to, e.g. `settlement:nova:2026-11-30`, `/v1/partners/nova/games`. */
  target: string;
  source: AuditSource;
  requestId?: string | null;
  workflowId?: string | null;
  beforeDigest?: string | null;
  afterDigest?: string | null;
  details?: Record<string, unknown>;
}

export interface StoredAuditEvent extends Required<Omit<AuditEvent, 'idempotencyKey'>> {
  id: string;
  at: string;
  chainId: number;
  seq: string;
  hash: string;
}

const CHAINS = 16;

/**
 * The chain an actor's events go on: each actor's actions stay in order on one chain, and
 * concurrent actors (partners pushing batches at once) lock different chain heads.
 */
function chainFor(actor: string): number {
  return createHash('sha256').update(actor).digest().readUInt16BE(0) % CHAINS;
}

/** sha256 hex of a value's JSON (object keys sorted): what "before/after" digests are. */
export function digestOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

// Texts are cut to what the table accepts: an audit record never fails because a target is long.
const cut = (s: string, n: number): string => (s.length > n ? s.slice(0, n) : s);
const clean = (s: string): string => s.replaceAll('\u0000', '\uFFFD');

/** Appends one event; returns its id (the stored one when this key was recorded before). */
export async function appendAudit(db: Queryable, e: AuditEvent): Promise<string> {
  const target = cut(clean(e.target), 500);
  const actor = cut(clean(e.actor), 300);
  const { rows } = await db.query<{ id: string }>(
    `SELECT audit_append($1, $2::smallint, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)::text AS id`,
    [
      cut(clean(e.idempotencyKey), 300),
      chainFor(actor),
      actor,
      cut(clean(e.role), 200),
      cut(clean(e.action), 200),
      target,
      e.source,
      e.requestId ? cut(clean(e.requestId), 200) : null,
      e.workflowId ? cut(clean(e.workflowId), 500) : null,
      e.beforeDigest ?? null,
      e.afterDigest ?? null,
      JSON.stringify(e.details ?? {}).replace(/\\u0000/g, '\\ufffd'),
    ],
  );
  return rows[0]!.id;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  target?: string;
  source?: AuditSource;
  from?: string;
  to?: string;
}

interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  actor_role: string;
  action: string;
  target: string;
  source: AuditSource;
  request_id: string | null;
  workflow_id: string | null;
  before_digest: string | null;
  after_digest: string | null;
  details: Record<string, unknown>;
  chain_id: number;
  seq: string;
  hash: Buffer;
}

/** Newest first; `beforeId` continues a page. */
export async function listAudit(
  db: Queryable,
  filter: AuditFilter,
  beforeId: string | null,
  limit: number,
): Promise<StoredAuditEvent[]> {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    args.push(v);
    where.push(sql.replace('?', `$${args.length}`));
  };
  if (filter.actor !== undefined) add('actor = ?', filter.actor);
  if (filter.action !== undefined) add('action = ?', filter.action);
  if (filter.target !== undefined) add('target = ?', filter.target);
  if (filter.source !== undefined) add('source = ?', filter.source);
  if (filter.from !== undefined) add('at >= ?::timestamptz', filter.from);
  if (filter.to !== undefined) add('at < ?::timestamptz', filter.to);
  if (beforeId !== null) add('id < ?::bigint', beforeId);
  args.push(limit);
  const { rows } = await db.query<AuditRow>(
    `SELECT id::text, at, actor, actor_role, action, target, source, request_id, workflow_id, before_digest,
            after_digest, details, chain_id, seq::text, hash
       FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY audit_events.id DESC LIMIT $${args.length}`,
    args,
  );
  return rows.map((r) => ({
    id: r.id,
    at: r.at.toISOString(),
    actor: r.actor,
    role: r.actor_role,
    action: r.action,
    target: r.target,
    source: r.source,
    requestId: r.request_id,
    workflowId: r.workflow_id,
    beforeDigest: r.before_digest,
    afterDigest: r.after_digest,
    details: r.details,
    chainId: r.chain_id,
    seq: r.seq,
    hash: r.hash.toString('hex'),
  }));
}

export interface AuditVerification {
  ok: boolean;
  events: number;
  chains: number;
  firstBroken: { chainId: number; seq: string; eventId: string | null; reason: string } | null;
  heads: { chainId: number; seq: string; hash: string }[];
  /** The newest signed checkpoints checked against the chains (only when asked to; empty: none taken yet). */
  checkpoints?: CheckpointCheck[];
}

const PAGE = 5000;

/**
 * Walks every chain: recomputes each event's content hash from its stored columns (the same
 * SQL function that appended it), its link to the previous event and the chain head.
 */
export async function verifyAudit(
  db: Queryable,
  options: { checkpoints?: CheckpointOptions } = {},
): Promise<AuditVerification> {
  const { rows: chains } = await db.query<{ chain_id: number; head_seq: string; head_hash: Buffer }>(
    'SELECT chain_id, head_seq::text, head_hash FROM audit_chains ORDER BY chain_id',
  );
  let events = 0;
  let broken: AuditVerification['firstBroken'] = null;
  for (const chain of chains) {
    let prev: Buffer = createHash('sha256').update(`clearhouse-audit-genesis-${chain.chain_id}`).digest();
    let lastSeq = 0n;
    for (;;) {
      const { rows } = await db.query<{
        id: string;
        seq: string;
        prev_hash: Buffer;
        hash: Buffer;
        content: Buffer;
      }>(
        `SELECT id::text, seq::text, prev_hash, hash,
                audit_content_hash(idempotency_key, at, actor, actor_role, action, target, source, request_id,
                                   workflow_id, before_digest, after_digest, details) AS content
           FROM audit_events WHERE chain_id = $1 AND audit_events.seq > $2 AND audit_events.seq <= $3
          ORDER BY audit_events.seq LIMIT ${PAGE}`,
        // Up to the head read above: events appended while the walk runs are the next walk's.
        [chain.chain_id, lastSeq.toString(), chain.head_seq],
      );
      for (const r of rows) {
        events++;
        const seq = BigInt(r.seq);
        const fail = (reason: string) =>
          (broken ??= { chainId: chain.chain_id, seq: r.seq, eventId: r.id, reason });
        if (seq !== lastSeq + 1n) fail(`sequence jumps from ${lastSeq} to ${seq}`);
        else if (!r.prev_hash.equals(prev)) fail('does not link to the previous event');
        else if (!createHash('sha256').update(prev).update(r.content).digest().equals(r.hash))
          fail('content does not match its hash (the event was altered)');
        prev = r.hash;
        lastSeq = seq;
      }
      if (rows.length < PAGE) break;
    }
    if (!broken && (BigInt(chain.head_seq) !== lastSeq || !chain.head_hash.equals(prev)))
      broken = {
        chainId: chain.chain_id,
        seq: lastSeq.toString(),
        eventId: null,
        reason: 'chain head does not match its last event (events removed or the head rewritten)',
      };
    if (broken) break;
  }
  const heads = chains.map((c) => ({
    chainId: c.chain_id,
    seq: c.head_seq,
    hash: c.head_hash.toString('hex'),
  }));
  if (!options.checkpoints)
    return { ok: broken === null, events, chains: chains.length, firstBroken: broken, heads };
  // A chain that walks intact may still have lost its tail: the signed checkpoint says how far it reached.
  const checkpoints = await checkCheckpoints(db, 'audit', options.checkpoints);
  const cut = checkpoints.find((c) => c.problem)?.problem;
  if (!broken && cut)
    broken = { chainId: cut.chainId ?? -1, seq: cut.seq ?? '0', eventId: null, reason: cut.reason };
  return { ok: broken === null, events, chains: chains.length, firstBroken: broken, heads, checkpoints };
}
