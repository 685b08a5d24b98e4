import type pg from 'pg';
import { appendAudit, type AuditEvent } from './audit';
import type { Db } from './pool';
import { withTransaction } from './retry';
import { ConflictError, NotFoundError } from '../domain/errors';
import { AGEING_BUCKETS, SLA_TIERS, type AgeingBucket, type SlaTier, type SlaTiers } from '../domain/sla';

// The exception work queue: open exceptions across every cycle (each cycle's current generation
// only: a replaced run's exceptions are voided history, never work), with SLA tiers, assignment
// and escalation. The tier rules are domain/sla.ts's; here they are rendered into SQL so that
// filters, sorts and the sweep run set-based in Postgres, never a row at a time in Node.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The actor the sweep records on the `escalated` events it writes. */
export const SLA_SWEEP_ACTOR = 'sla-sweep';

/** `interval` literal of a validated number of hours (domain/sla.ts bounds it). */
function hoursSql(hours: number): string {
  if (!Number.isFinite(hours) || hours < 0) throw new Error(`not a number of hours: ${hours}`);
  return `interval '${Math.round(hours * 3_600_000)} milliseconds'`;
}

/**
 * The SQL of tierOf (domain/sla.ts) over `e` (settlement_exceptions) at `now()`. Figures are
 * validated numbers and bigints from the configuration, inlined as literals (no text of a
 * request reaches it).
 */
function tierSql(tiers: SlaTiers): string {
  const arms = (['critical', 'high', 'medium'] as const).map((t) => {
    const { minAmountMinor, minAgeHours } = tiers[t];
    return `WHEN abs(e.difference_minor) >= ${BigInt(minAmountMinor).toString()} OR e.found_at <= now() - ${hoursSql(minAgeHours)} THEN '${t}'`;
  });
  return `CASE ${arms.join(' ')} ELSE 'low' END`;
}

/** The due time of tier expression `tier`, for an exception found at e.found_at. */
function dueSql(tiers: SlaTiers, tier: string): string {
  return `e.found_at + CASE ${tier} ${SLA_TIERS.map((t) => `WHEN '${t}' THEN ${hoursSql(tiers[t].dueHours)}`).join(' ')} END`;
}

/** A tier's rank (0 most urgent) in SQL. */
const rankSql = (tier: string) => `array_position(ARRAY['critical','high','medium','low'], ${tier})`;

/** The ageing bucket of e.found_at at `now()`, as domain/sla.ts ageingBucket. */
function bucketSql(): string {
  const arms = AGEING_BUCKETS.filter((b) => Number.isFinite(b.toHours)).map(
    (b) => `WHEN e.found_at > now() - ${hoursSql(b.toHours)} THEN '${b.bucket}'`,
  );
  return `CASE ${arms.join(' ')} ELSE '${AGEING_BUCKETS.at(-1)!.bucket}' END`;
}

/** Open exceptions of each cycle's current generation, with the cycle's partner. */
const OPEN_FROM = `settlement_exceptions e
  JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
  JOIN settlement_cycles c ON c.id = e.cycle_id`;

export const QUEUE_SORTS = ['age', 'amount', 'partner', 'kind', 'assignee'] as const;
export type QueueSort = (typeof QUEUE_SORTS)[number];

/**
 * Each sort's key: its expression (the queue's partial indexes are on the first three), the
 * type its cursor value is read back as, and whether ascending by the sort means ascending by
 * the key (age ascending is the youngest first: found_at descending).
 */
const SORT_KEYS: Record<QueueSort, { expr: string; type: string; ascending: boolean }> = {
  age: { expr: 'e.found_at', type: 'timestamptz', ascending: false },
  amount: { expr: 'abs(e.difference_minor)', type: 'bigint', ascending: true },
  partner: { expr: 'c.partner_id', type: 'text', ascending: true },
  kind: { expr: 'e.kind', type: 'text', ascending: true },
  // Unassigned as '' (first ascending): the same key `assignee=none` filters on.
  assignee: { expr: "coalesce(e.assignee, '')", type: 'text', ascending: true },
};

export interface QueueFilter {
  partnerId: string | null;
  kind: string | null;
  /** An actor key, or 'none' for the unassigned. */
  assignee: string | null;
  tier: SlaTier | null;
  minAmountMinor: bigint | null;
  maxAmountMinor: bigint | null;
  currency: string | null;
  olderThanHours: number | null;
}

/** Where a page continues: the last item's sort key (as Postgres printed it) and its ids. */
export interface QueueKey {
  k: string;
  settlementId: string;
  exceptionId: string;
}

export interface QueueItem {
  settlementId: string;
  exceptionId: string;
  kind: string;
  partnerId: string;
  currency: string | null;
  differenceMinor: string;
  foundAt: string;
  ageHours: number;
  tier: SlaTier;
  dueAt: string;
  overdue: boolean;
  assignee: { actor: string; name: string } | null;
  escalatedTier: SlaTier | null;
  /** The cursor key of this item (not sent: the route turns the last one into nextCursor). */
  key: QueueKey;
}

/**
 * One page of the queue, `limit` rows after `after`, in the sort's order with (cycle, exception)
 * breaking ties in the same direction: a total order, so paging neither repeats nor loses an
 * item while the set does not change (an item whose key changes between pages — assigned,
 * resolved — moves, as in any keyset list).
 */
export async function listQueue(
  db: Queryable,
  tiers: SlaTiers,
  filter: QueueFilter,
  sort: { by: QueueSort; order: 'asc' | 'desc' },
  pageOf: { limit: number; after: QueueKey | null },
): Promise<QueueItem[]> {
  const key = SORT_KEYS[sort.by];
  const ascending = key.ascending === (sort.order === 'asc');
  const [dir, cmp] = ascending ? ['ASC', '>'] : ['DESC', '<'];
  const tier = tierSql(tiers);
  const { rows } = await db.query<{
    cycle_id: string;
    exception_id: string;
    kind: string;
    partner_id: string;
    currency: string | null;
    difference_minor: string;
    found_at: Date;
    age_hours: number;
    tier: SlaTier;
    due_at: Date;
    overdue: boolean;
    assignee: string | null;
    assignee_name: string | null;
    escalated_tier: SlaTier | null;
    sort_key: string;
  }>(
    `SELECT e.cycle_id, e.exception_id, e.kind, c.partner_id, e.currency, e.difference_minor::text,
            e.found_at, (extract(epoch FROM now() - e.found_at) / 3600)::float8 AS age_hours,
            q.tier, ${dueSql(tiers, 'q.tier')} AS due_at, ${dueSql(tiers, 'q.tier')} < now() AS overdue,
            e.assignee, e.assignee_name, e.escalated_tier, (${key.expr})::text AS sort_key
       FROM ${OPEN_FROM}
       CROSS JOIN LATERAL (SELECT ${tier} AS tier) q
      WHERE e.resolved_at IS NULL
        AND ($1::text IS NULL OR c.partner_id = $1)
        AND ($2::text IS NULL OR e.kind = $2)
        AND ($3::text IS NULL OR coalesce(e.assignee, '') = $3)
        AND ($4::text IS NULL OR q.tier = $4)
        AND ($5::bigint IS NULL OR abs(e.difference_minor) >= $5)
        AND ($6::bigint IS NULL OR abs(e.difference_minor) <= $6)
        AND ($7::text IS NULL OR e.currency = $7)
        AND ($8::float8 IS NULL OR e.found_at <= now() - $8 * interval '1 hour')
        AND ($9::text IS NULL OR (${key.expr}, e.cycle_id, e.exception_id) ${cmp} ($9::${key.type}, $10, $11))
      ORDER BY ${key.expr} ${dir}, e.cycle_id ${dir}, e.exception_id ${dir}
      LIMIT $12`,
    [
      filter.partnerId,
      filter.kind,
      filter.assignee === null ? null : filter.assignee === 'none' ? '' : filter.assignee,
      filter.tier,
      filter.minAmountMinor?.toString() ?? null,
      filter.maxAmountMinor?.toString() ?? null,
      filter.currency,
      filter.olderThanHours,
      pageOf.after?.k ?? null,
      pageOf.after?.settlementId ?? null,
      pageOf.after?.exceptionId ?? null,
      pageOf.limit,
    ],
  );
  return rows.map((r) => ({
    settlementId: r.cycle_id,
    exceptionId: r.exception_id,
    kind: r.kind,
    partnerId: r.partner_id,
    currency: r.currency,
    differenceMinor: r.difference_minor,
    foundAt: r.found_at.toISOString(),
    ageHours: Math.round(r.age_hours * 100) / 100,
    tier: r.tier,
    dueAt: r.due_at.toISOString(),
    overdue: r.overdue,
    assignee: r.assignee === null ? null : { actor: r.assignee, name: r.assignee_name ?? r.assignee },
    escalatedTier: r.escalated_tier,
    key: { k: r.sort_key, settlementId: r.cycle_id, exceptionId: r.exception_id },
  }));
}

/** Σ|difference| of a group, per currency (minor units of each: never added across currencies). */
export interface AmountByCurrency {
  currency: string | null;
  absMinor: string;
}
export interface AgeingGroup {
  count: number;
  overdue: number;
  amounts: AmountByCurrency[];
}
export interface AgeingView {
  asOf: string;
  open: number;
  buckets: ({ bucket: AgeingBucket } & AgeingGroup)[];
  tiers: ({ tier: SlaTier } & AgeingGroup)[];
}

/**
 * Open exceptions by ageing bucket and by SLA tier (counts, overdue, Σ|difference| per currency),
 * for all partners or one, and optionally per partner: one grouped scan, every bucket and tier
 * listed (zero when empty) so that a chart needs no gap filling.
 */
export async function ageingView(
  db: Queryable,
  tiers: SlaTiers,
  opts: { partnerId: string | null; perPartner: boolean },
): Promise<{ all: AgeingView; partners: ({ partnerId: string } & AgeingView)[] | null }> {
  const { rows } = await db.query<{
    partner_id: string;
    bucket: AgeingBucket;
    tier: SlaTier;
    currency: string | null;
    count: number;
    overdue: number;
    abs_minor: string;
    as_of: Date;
  }>(
    `SELECT c.partner_id, ${bucketSql()} AS bucket, q.tier, e.currency, count(*)::int AS count,
            (count(*) FILTER (WHERE ${dueSql(tiers, 'q.tier')} < now()))::int AS overdue,
            sum(abs(e.difference_minor))::text AS abs_minor, now() AS as_of
       FROM ${OPEN_FROM}
       CROSS JOIN LATERAL (SELECT ${tierSql(tiers)} AS tier) q
      WHERE e.resolved_at IS NULL AND ($1::text IS NULL OR c.partner_id = $1)
      GROUP BY 1, 2, 3, 4`,
    [opts.partnerId],
  );
  const asOf = (rows[0]?.as_of ?? new Date()).toISOString();
  const all = summarise(rows, asOf);
  if (!opts.perPartner) return { all, partners: null };
  const byPartner = new Map<string, typeof rows>();
  for (const r of rows) byPartner.set(r.partner_id, [...(byPartner.get(r.partner_id) ?? []), r]);
  return {
    all,
    partners: [...byPartner.keys()].sort().map((partnerId) => ({
      partnerId,
      ...summarise(byPartner.get(partnerId)!, asOf),
    })),
  };
}

function summarise(
  rows: {
    bucket: AgeingBucket;
    tier: SlaTier;
    currency: string | null;
    count: number;
    overdue: number;
    abs_minor: string;
  }[],
  asOf: string,
): AgeingView {
  const group = (pick: (r: (typeof rows)[number]) => boolean): AgeingGroup => {
    const amounts = new Map<string | null, bigint>();
    let count = 0;
    let overdue = 0;
    for (const r of rows.filter(pick)) {
      count += r.count;
      overdue += r.overdue;
      amounts.set(r.currency, (amounts.get(r.currency) ?? 0n) + BigInt(r.abs_minor));
    }
    return {
      count,
      overdue,
      amounts: [...amounts]
        .sort(([a], [b]) => (a ?? '').localeCompare(b ?? ''))
        .map(([currency, sum]) => ({ currency, absMinor: sum.toString() })),
    };
  };
  return {
    asOf,
    open: rows.reduce((n, r) => n + r.count, 0),
    buckets: AGEING_BUCKETS.map((b) => ({ bucket: b.bucket, ...group((r) => r.bucket === b.bucket) })),
    tiers: SLA_TIERS.map((tier) => ({ tier, ...group((r) => r.tier === tier) })),
  };
}

export interface Assignment {
  cycleId: string;
  exceptionId: string;
  /** Whom to: an actor key and its display name; null unassigns. */
  assignee: { actor: string; name: string } | null;
  /** Who assigns: the caller's verified actor key and name. */
  by: { actor: string; name: string };
  reason: string | null;
}

export interface AssignmentResult {
  settlementId: string;
  exceptionId: string;
  assignee: { actor: string; name: string } | null;
  assignedAt: string | null;
  /** False when the exception already had this assignee: nothing was written. */
  changed: boolean;
  /** The book's version, unchanged by an assignment. */
  bookVersion: number;
}

/**
 * Assigns (or unassigns) one open exception of the cycle's current generation, with its
 * `assigned` event, in one transaction. The book's row is locked as every writer of the book
 * locks it (db/exception-book.ts), so an assignment is ordered with resolutions of the same
 * cycle; but its version is NOT raised: an assignment is not a money decision, and the fee step
 * decides on the version the workflow holds (requireBookVersion) — an assignment must not make
 * the workflow's decisions stale. The event is recorded at the book's current version.
 * Unknown cycle or exception: NotFoundError; resolved: ConflictError.
 */
export async function assignException(db: Db, a: Assignment): Promise<AssignmentResult> {
  return withTransaction(db, async (client) => {
    const book = await client.query<{ version: string; generation: number }>(
      'SELECT version::text, generation FROM exception_books WHERE cycle_id = $1 FOR UPDATE',
      [a.cycleId],
    );
    if (book.rows.length === 0) throw new NotFoundError(`settlement ${a.cycleId} has no exceptions`);
    const { version, generation } = book.rows[0]!;
    const { rows } = await client.query<{
      resolution: string | null;
      operator: string | null;
      assignee: string | null;
      assignee_name: string | null;
      assigned_at: Date | null;
    }>(
      `SELECT resolution, operator, assignee, assignee_name, assigned_at FROM settlement_exceptions
        WHERE cycle_id = $1 AND generation = $2 AND exception_id = $3 FOR UPDATE`,
      [a.cycleId, generation, a.exceptionId],
    );
    const e = rows[0];
    if (!e) throw new NotFoundError(`no exception ${a.exceptionId} in settlement ${a.cycleId}`);
    if (e.resolution !== null)
      throw new ConflictError(
        `exception ${a.exceptionId} was already resolved (${e.resolution}) by ${e.operator ?? 'someone'}: nothing to assign`,
      );
    const result = (assignee: { actor: string; name: string } | null, at: Date | null, changed: boolean) => ({
      settlementId: a.cycleId,
      exceptionId: a.exceptionId,
      assignee,
      assignedAt: at?.toISOString() ?? null,
      changed,
      bookVersion: Number(version),
    });
    // The same assignee again (a retried request): nothing to record.
    if ((e.assignee ?? null) === (a.assignee?.actor ?? null))
      return result(
        e.assignee === null ? null : { actor: e.assignee, name: e.assignee_name ?? e.assignee },
        e.assigned_at,
        false,
      );
    const updated = await client.query<{ assigned_at: Date | null }>(
      `UPDATE settlement_exceptions SET assignee = $4, assignee_name = $5, assigned_at = CASE WHEN $4::text IS NULL THEN NULL ELSE now() END
        WHERE cycle_id = $1 AND generation = $2 AND exception_id = $3 RETURNING assigned_at`,
      [a.cycleId, generation, a.exceptionId, a.assignee?.actor ?? null, a.assignee?.name ?? null],
    );
    await client.query(
      `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, reason, actor, actor_name,
                                     assignee, assignee_name, seq)
       SELECT $1, $2, $3, $4, 'assigned', $5, $6, $7, $8, $9,
              coalesce((SELECT max(seq) + 1 FROM exception_events
                         WHERE cycle_id = $1 AND generation = $2 AND exception_id = $3 AND version = $4
                           AND event = 'assigned'), 0)`,
      [
        a.cycleId,
        generation,
        a.exceptionId,
        version,
        a.reason,
        a.by.actor,
        a.by.name,
        a.assignee?.actor ?? null,
        a.assignee?.name ?? null,
      ],
    );
    return result(a.assignee, updated.rows[0]?.assigned_at ?? null, true);
  });
}

export interface EscalationRun {
  /** Exceptions escalated by this run, per tier they were escalated to. */
  escalated: number;
  byTier: Record<SlaTier, number>;
  /** The run stopped at its limit: more may be due (the next run continues). */
  limited: boolean;
}

/**
 * Escalates, set-based, up to `limit` open exceptions past their due time whose current tier is
 * more urgent than the one they were last escalated at (never escalated: any tier), the most
 * overdue first: records escalated_tier/escalated_at and an `escalated` event (actor
 * `sla-sweep`, at the book's current version, which it does not raise: an escalation is not a
 * money decision), and the run's audit event when it escalated anything, all in one
 * transaction. Idempotent: a second run finds them escalated at their tier. Rows another
 * transaction holds (a resolution under way) are skipped, and taken by the next run if still open.
 */
export async function escalateOverdue(
  db: Db,
  tiers: SlaTiers,
  limit: number,
  audit: (run: EscalationRun) => AuditEvent,
): Promise<EscalationRun> {
  return withTransaction(db, async (client) => {
    const tier = tierSql(tiers);
    const { rows } = await client.query<{ tier: SlaTier; count: number; total: number }>(
      `WITH due AS (
         SELECT e.cycle_id, e.generation, e.exception_id, b.version, q.tier, ${dueSql(tiers, 'q.tier')} AS due_at
           FROM ${OPEN_FROM}
           CROSS JOIN LATERAL (SELECT ${tier} AS tier) q
          WHERE e.resolved_at IS NULL
            AND ${dueSql(tiers, 'q.tier')} < now()
            AND (e.escalated_tier IS NULL OR ${rankSql('q.tier')} < ${rankSql('e.escalated_tier')})
          ORDER BY due_at, e.cycle_id, e.exception_id
          LIMIT $1
          FOR UPDATE OF e SKIP LOCKED
       ), escalated AS (
         UPDATE settlement_exceptions e SET escalated_tier = d.tier, escalated_at = now()
           FROM due d
          WHERE e.cycle_id = d.cycle_id AND e.generation = d.generation AND e.exception_id = d.exception_id
         RETURNING e.cycle_id, e.generation, e.exception_id, d.version, d.tier, d.due_at
       ), recorded AS (
         INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, reason, actor, actor_name, tier, seq)
         SELECT x.cycle_id, x.generation, x.exception_id, x.version, 'escalated',
                'past due at ' || to_char(x.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' (' || x.tier || ')',
                $2, $2, x.tier,
                coalesce((SELECT max(v.seq) + 1 FROM exception_events v
                           WHERE v.cycle_id = x.cycle_id AND v.generation = x.generation AND v.exception_id = x.exception_id
                             AND v.version = x.version AND v.event = 'escalated'), 0)
           FROM escalated x
         RETURNING tier
       )
       SELECT tier, count(*)::int AS count FROM recorded GROUP BY tier`,
      [limit, SLA_SWEEP_ACTOR],
    );
    const byTier = Object.fromEntries(SLA_TIERS.map((t) => [t, 0])) as Record<SlaTier, number>;
    for (const r of rows) byTier[r.tier] = r.count;
    const escalated = rows.reduce((n, r) => n + r.count, 0);
    const run = { escalated, byTier, limited: escalated >= limit };
    // A run that escalated nothing leaves no trace in the audit chain (one every few minutes).
    if (escalated > 0) await appendAudit(client, audit(run));
    return run;
  });
}
