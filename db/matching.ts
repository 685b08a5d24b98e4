import type pg from 'pg';
import { recordFound, resolveInBook, type ResolutionItem } from './exception-book';
import type { Db } from './pool';
import { withTransaction } from './retry';
import type { MatchGroup, MatchSettings, Unmatched } from '../domain/matching';
import type { Discrepancy } from '../domain/reconciliation';

// Match groups (domain/matching.ts) in Postgres: what the matcher reads (the open missing_ours /
// missing_theirs exceptions of the book's current generation with their transactions, read
// set-based), the groups it found (stored once, by their deterministic ids), and what they do
// to the book: a confirmed group's members resolved accept_ours by the matcher, a suggested
// group carried by one open `suggested_match` exception.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The actor (and name) the book records for the matcher's resolutions. */
export const MATCHER = 'matcher';
/** The exception kind that carries a suggested group. */
export const SUGGESTED_MATCH = 'suggested_match' as const;
/** Resolutions per book transaction when confirmed groups are applied (whole groups only). */
const APPLY_CHUNK = 1_000;

/**
 * The current generation's open missing_ours / missing_theirs exceptions, each with the
 * transaction it is about: ours (missing_theirs) from game_transactions by tx_id, theirs
 * (missing_ours) from the cycle's report rows (its month partition; the first row by ord).
 * Exceptions already in a live (confirmed or suggested) group of the generation are left out:
 * a member belongs to one group, and a re-run finds nothing it already grouped.
 *
 * Bounded: ordered by (game, round, exception id) — whole rounds together, both sides of a round
 * side by side (ordering by exception id alone would put every missing_ours before any
 * missing_theirs) — and cut at maxCandidatesPerCycle + 1 rows: the one row past the limit makes
 * matchWithinRounds report the round it starts (and what follows) as truncated instead of the
 * cut passing unseen; its `truncated.candidates` is then a lower bound.
 *
 * Our rollbacks come as `rollback:<type they cancel>` (a bare `rollback` when orphaned).
 */
export async function unmatchedForMatching(
  db: Db,
  cycleId: string,
  limits: Pick<MatchSettings, 'maxCandidatesPerCycle'>,
): Promise<Unmatched[]> {
  const rows = await withTransaction(db, async (client) => {
    // Hash joins over the cycle's report rows, as recordFound and transactionsForKeys pin them
    // (a month partition still filling has no statistics; a nested loop probes per exception).
    await client.query('SET LOCAL enable_nestloop = off');
    const { rows } = await client.query<{
      exception_id: string;
      side: 'ours' | 'theirs';
      tx_id: string;
      round_id: string;
      game_id: string;
      type: string;
      currency: string;
      amount_minor: string;
      occurred_at: Date;
    }>(
      `WITH e AS (
         SELECT e.exception_id, e.kind, e.tx_id
           FROM settlement_exceptions e
           JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
          WHERE e.cycle_id = $1 AND e.resolved_at IS NULL AND e.tx_id IS NOT NULL
            AND e.kind IN ('missing_ours', 'missing_theirs')
            AND NOT EXISTS (
              SELECT 1 FROM match_group_members m
                JOIN match_groups g ON g.cycle_id = m.cycle_id AND g.generation = m.generation AND g.group_id = m.group_id
               WHERE m.cycle_id = e.cycle_id AND m.generation = e.generation AND m.exception_id = e.exception_id
                 AND g.state <> 'rejected')),
       c AS (SELECT partner_id, period_start FROM settlement_cycles WHERE id = $1),
       o AS (
         SELECT e.exception_id, 'ours'::text AS side, g.tx_id, g.round_id, g.game_id,
                CASE WHEN g.type = 'rollback' AND g.ref_type IS NOT NULL THEN 'rollback:' || g.ref_type ELSE g.type END AS type,
                g.currency, g.amount_minor, g.occurred_at
           FROM e CROSS JOIN c
           JOIN game_transactions g ON g.partner_id = c.partner_id AND g.tx_id = e.tx_id
          WHERE e.kind = 'missing_theirs'),
       t AS (
         SELECT DISTINCT ON (r.tx_id) e.exception_id, 'theirs'::text AS side, r.tx_id, r.round_id, r.game_id, r.type,
                r.currency, r.amount_minor, r.occurred_at
           FROM e CROSS JOIN c
           JOIN provider_report_rows r ON r.cycle_id = $1 AND r.period_start = c.period_start AND r.tx_id = e.tx_id
          WHERE e.kind = 'missing_ours'
          ORDER BY r.tx_id, r.ord)
       SELECT exception_id, side, tx_id, round_id, game_id, type, currency, amount_minor::text, occurred_at
         FROM (SELECT * FROM o UNION ALL SELECT * FROM t) x
        ORDER BY game_id, round_id, exception_id
        LIMIT $2`,
      [cycleId, limits.maxCandidatesPerCycle + 1],
    );
    return rows;
  });
  return rows.map((r) => ({
    exceptionId: r.exception_id,
    side: r.side,
    txId: r.tx_id,
    roundId: r.round_id,
    gameId: r.game_id,
    type: r.type,
    currency: r.currency,
    amountMinor: BigInt(r.amount_minor),
    occurredAtMs: r.occurred_at.getTime(),
  }));
}

/**
 * Stores the groups of the book's current generation, with their members, in one transaction,
 * idempotently (a group id already stored is left as it is). A group is refused (not stored)
 * when one of its members is no longer an open exception of the generation, or already belongs
 * to another live group. Returns the given groups that are stored now (new or from before), in
 * the order given.
 */
export async function recordMatchGroups(
  db: Db,
  cycleId: string,
  groups: MatchGroup[],
): Promise<MatchGroup[]> {
  if (groups.length === 0) return [];
  return withTransaction(db, async (client) => {
    // The book's row lock: groups are stored against the generation that holds the exceptions.
    const { rows: book } = await client.query<{ generation: number }>(
      'SELECT generation FROM exception_books WHERE cycle_id = $1 FOR UPDATE',
      [cycleId],
    );
    if (!book[0]) return [];
    const generation = book[0].generation;
    const members = groups.flatMap((g) => [
      ...g.ours.map((exceptionId) => ({ groupId: g.groupId, exceptionId, side: 'ours' })),
      ...g.theirs.map((exceptionId) => ({ groupId: g.groupId, exceptionId, side: 'theirs' })),
    ]);
    // Groups stored before (by an earlier attempt) and members unavailable to new groups.
    const { rows: known } = await client.query<{ group_id: string }>(
      `SELECT group_id FROM match_groups WHERE cycle_id = $1 AND generation = $2 AND group_id = ANY($3::text[])`,
      [cycleId, generation, groups.map((g) => g.groupId)],
    );
    const stored = new Set(known.map((r) => r.group_id));
    const { rows: unavailable } = await client.query<{ exception_id: string }>(
      `SELECT m.id AS exception_id
         FROM unnest($3::text[]) AS m(id)
         LEFT JOIN settlement_exceptions e
           ON e.cycle_id = $1 AND e.generation = $2 AND e.exception_id = m.id AND e.resolved_at IS NULL
        WHERE e.exception_id IS NULL
           OR EXISTS (SELECT 1 FROM match_group_members x
                        JOIN match_groups g ON g.cycle_id = x.cycle_id AND g.generation = x.generation AND g.group_id = x.group_id
                       WHERE x.cycle_id = $1 AND x.generation = $2 AND x.exception_id = m.id AND g.state <> 'rejected')`,
      [cycleId, generation, members.filter((m) => !stored.has(m.groupId)).map((m) => m.exceptionId)],
    );
    const blocked = new Set(unavailable.map((r) => r.exception_id));
    const fresh = groups.filter(
      (g) => !stored.has(g.groupId) && [...g.ours, ...g.theirs].every((id) => !blocked.has(id)),
    );
    // One member, one group, within this call too.
    const claimed = new Set<string>();
    const accepted = fresh.filter((g) => {
      const ids = [...g.ours, ...g.theirs];
      if (ids.some((id) => claimed.has(id))) return false;
      for (const id of ids) claimed.add(id);
      return true;
    });
    if (accepted.length > 0) {
      await client.query(
        `INSERT INTO match_groups (cycle_id, generation, group_id, shape, confidence, decision, evidence, state)
         SELECT $1, $2, g.group_id, g.shape, g.confidence, g.decision, g.evidence, g.decision
           FROM unnest($3::text[], $4::text[], $5::int[], $6::text[], $7::jsonb[])
                AS g(group_id, shape, confidence, decision, evidence)
         ON CONFLICT DO NOTHING`,
        [
          cycleId,
          generation,
          accepted.map((g) => g.groupId),
          accepted.map((g) => g.shape),
          accepted.map((g) => g.confidence),
          accepted.map((g) => g.decision),
          accepted.map((g) => JSON.stringify(g.evidence)),
        ],
      );
      const kept = new Set(accepted.map((g) => g.groupId));
      const rows = members.filter((m) => kept.has(m.groupId));
      await client.query(
        `INSERT INTO match_group_members (cycle_id, generation, group_id, exception_id, side)
         SELECT $1, $2, m.group_id, m.exception_id, m.side
           FROM unnest($3::text[], $4::text[], $5::text[]) AS m(group_id, exception_id, side)
         ON CONFLICT DO NOTHING`,
        [
          cycleId,
          generation,
          rows.map((m) => m.groupId),
          rows.map((m) => m.exceptionId),
          rows.map((m) => m.side),
        ],
      );
    }
    const keep = new Set([...stored, ...accepted.map((g) => g.groupId)]);
    return groups.filter((g) => keep.has(g.groupId));
  });
}

export interface StoredMatchGroup {
  generation: number;
  groupId: string;
  shape: MatchGroup['shape'];
  confidence: number;
  decision: MatchGroup['decision'];
  state: 'confirmed' | 'suggested' | 'rejected';
  evidence: MatchGroup['evidence'];
  /** The suggested_match exception that carries the group (suggested groups, once recorded). */
  exceptionId: string | null;
  createdAt: string;
  members: { exceptionId: string; side: 'ours' | 'theirs' }[];
}

/**
 * The groups an exception belongs to (as a member, or as the suggested_match exception that
 * carries one), every generation of the cycle, oldest first, with their evidence and members.
 */
export async function matchGroupsOf(
  db: Queryable,
  cycleId: string,
  exceptionId: string,
): Promise<StoredMatchGroup[]> {
  const { rows } = await db.query<{
    generation: number;
    group_id: string;
    shape: MatchGroup['shape'];
    confidence: number;
    decision: MatchGroup['decision'];
    state: StoredMatchGroup['state'];
    evidence: MatchGroup['evidence'];
    exception_id: string | null;
    created_at: Date;
    members: { exceptionId: string; side: 'ours' | 'theirs' }[];
  }>(
    `SELECT g.generation, g.group_id, g.shape, g.confidence, g.decision, g.state, g.evidence, g.exception_id, g.created_at,
            (SELECT json_agg(json_build_object('exceptionId', m.exception_id, 'side', m.side)
                             ORDER BY m.side, m.exception_id)
               FROM match_group_members m
              WHERE m.cycle_id = g.cycle_id AND m.generation = g.generation AND m.group_id = g.group_id) AS members
       FROM match_groups g
      WHERE g.cycle_id = $1
        AND (g.exception_id = $2
             OR EXISTS (SELECT 1 FROM match_group_members m
                         WHERE m.cycle_id = g.cycle_id AND m.generation = g.generation AND m.group_id = g.group_id
                           AND m.exception_id = $2))
      ORDER BY g.generation, g.created_at, g.group_id`,
    [cycleId, exceptionId],
  );
  return rows.map((r) => ({
    generation: r.generation,
    groupId: r.group_id,
    shape: r.shape,
    confidence: r.confidence,
    decision: r.decision,
    state: r.state,
    evidence: r.evidence,
    exceptionId: r.exception_id,
    createdAt: r.created_at.toISOString(),
    members: r.members,
  }));
}

export interface AppliedMatchGroups {
  /** Groups stored by this call or before (recordMatchGroups' answer). */
  stored: MatchGroup[];
  /** Members of confirmed groups resolved accept_ours by the matcher (by this call). */
  resolved: number;
  /** Confirmed groups left alone: a member was resolved by someone else meanwhile (with why). */
  conflicts: { groupId: string; reason: string }[];
  /** suggested_match exceptions recorded (new to the book) by this call. */
  suggestions: number;
}

/**
 * Stores the groups (recordMatchGroups), then brings the book in line with every group of the
 * current generation still pending — those given and any an interrupted earlier attempt stored:
 *  (a) a confirmed group whose members are still open has them resolved accept_ours through
 *      resolveInBook, actor `matcher`, all or nothing per group (whole groups per batch of up to
 *      APPLY_CHUNK resolutions; a refused batch is retried group by group, and a group whose
 *      member someone else resolved meanwhile is reported in `conflicts`, never half applied);
 *  (b) a suggested group not yet carried gets its open `suggested_match:<groupId>` exception
 *      through recordFound (one book version for all), then match_groups.exception_id.
 * Idempotent: a retry or a re-run applies nothing twice.
 */
export async function applyMatchGroups(
  db: Db,
  cycleId: string,
  groups: MatchGroup[],
): Promise<AppliedMatchGroups> {
  const stored = await recordMatchGroups(db, cycleId, groups);
  const { rows: pending } = await db.query<{
    group_id: string;
    shape: string;
    confidence: number;
    state: 'confirmed' | 'suggested';
    evidence: MatchGroup['evidence'];
    open_members: string[] | null;
    member_count: number;
    has_exception: boolean;
    generation: number;
  }>(
    `SELECT g.group_id, g.shape, g.confidence, g.state, g.evidence, g.exception_id IS NOT NULL AS has_exception,
            g.generation,
            (SELECT array_agg(m.exception_id ORDER BY m.exception_id)
               FROM match_group_members m JOIN settlement_exceptions e
                 ON e.cycle_id = m.cycle_id AND e.generation = m.generation AND e.exception_id = m.exception_id
              WHERE m.cycle_id = g.cycle_id AND m.generation = g.generation AND m.group_id = g.group_id
                AND e.resolved_at IS NULL) AS open_members,
            (SELECT count(*)::int FROM match_group_members m
              WHERE m.cycle_id = g.cycle_id AND m.generation = g.generation AND m.group_id = g.group_id) AS member_count
       FROM match_groups g JOIN exception_books b ON b.cycle_id = g.cycle_id AND b.generation = g.generation
      WHERE g.cycle_id = $1 AND (g.state = 'confirmed' OR (g.state = 'suggested' AND g.exception_id IS NULL))
      ORDER BY g.group_id`,
    [cycleId],
  );
  const open = (g: (typeof pending)[number]) => g.open_members?.length ?? 0;
  // A confirmed group is applied whole: all its members open (none: applied before, or decided
  // by a person's confirmation); some resolved by someone else meanwhile: left, as a conflict.
  const confirmed = pending.filter((g) => g.state === 'confirmed' && open(g) === g.member_count);
  const conflicts: { groupId: string; reason: string }[] = pending
    .filter((g) => g.state === 'confirmed' && open(g) > 0 && open(g) < g.member_count)
    .map((g) => ({
      groupId: g.group_id,
      reason: `${g.member_count - open(g)} of its ${g.member_count} members were resolved by someone else`,
    }));
  const suggested = pending.filter((g) => g.state === 'suggested' && !g.has_exception);

  // (a) Confirmed groups: accept_ours for every member, whole groups per batch.
  let resolved = 0;
  const itemsOf = (g: (typeof confirmed)[number]): ResolutionItem[] =>
    (g.open_members ?? []).map((exceptionId) => ({
      exceptionId,
      resolution: 'accept_ours',
      amountMinor: null,
      reason: `matched: group ${g.group_id} (${g.shape}, confidence ${g.confidence}, round ${g.evidence.roundId})`,
      evidence: { groupId: g.group_id, shape: g.shape, confidence: g.confidence, ...g.evidence },
    }));
  const resolve = (items: ResolutionItem[], generation: number) =>
    resolveInBook(db, cycleId, {
      items,
      actor: MATCHER,
      name: MATCHER,
      // The same for every attempt: a retry finds its items resolved by itself.
      updateId: `${MATCHER}:${cycleId}:${generation}`,
      audit: null,
      atomic: true,
    });
  for (let i = 0; i < confirmed.length;) {
    const chunk: typeof confirmed = [];
    let size = 0;
    while (
      i < confirmed.length &&
      (chunk.length === 0 || size + confirmed[i]!.open_members!.length <= APPLY_CHUNK)
    ) {
      size += confirmed[i]!.open_members!.length;
      chunk.push(confirmed[i++]!);
    }
    const batch = await resolve(chunk.flatMap(itemsOf), chunk[0]!.generation);
    if (batch.refused.length === 0) {
      resolved += batch.applied;
      continue;
    }
    for (const g of chunk) {
      const one = await resolve(itemsOf(g), g.generation);
      if (one.refused.length === 0) resolved += one.applied;
      else conflicts.push({ groupId: g.group_id, reason: one.refused.map((r) => r.reason).join('; ') });
    }
  }

  // (b) Suggested groups: one open suggested_match exception each, then the link.
  let suggestions = 0;
  if (suggested.length > 0) {
    const found: Discrepancy[] = suggested.map((g) => ({
      id: `${SUGGESTED_MATCH}:${g.group_id}`,
      kind: SUGGESTED_MATCH,
      key: null,
      txId: null,
      oursMinor: BigInt(g.evidence.amountOursMinor),
      theirsMinor: BigInt(g.evidence.amountTheirsMinor),
      differenceMinor: BigInt(g.evidence.amountDriftMinor),
      detail: `suggested match ${g.group_id} (${g.shape}, confidence ${g.confidence}) in round ${g.evidence.roundId}: agreed on ${g.evidence.fieldsAgreed.join(', ') || 'nothing'}; ours ${g.evidence.amountOursMinor}, theirs ${g.evidence.amountTheirsMinor}`,
    }));
    // Those an interrupted attempt already recorded are left as they are by recordFound.
    const { rows: present } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM settlement_exceptions e
         JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
        WHERE e.cycle_id = $1 AND e.exception_id = ANY($2::text[])`,
      [cycleId, found.map((d) => d.id)],
    );
    await recordFound(db, cycleId, found);
    suggestions = found.length - (present[0]?.n ?? 0);
    // The carrier shows the group's evidence, as the members of a confirmed one do.
    await db.query(
      `UPDATE settlement_exceptions e SET evidence = jsonb_build_object('groupId', g.group_id, 'shape', g.shape,
              'confidence', g.confidence) || g.evidence
         FROM match_groups g
        WHERE g.cycle_id = $1 AND g.group_id = ANY($2::text[]) AND e.cycle_id = g.cycle_id
          AND e.generation = g.generation AND e.exception_id = $3 || ':' || g.group_id`,
      [cycleId, suggested.map((g) => g.group_id), SUGGESTED_MATCH],
    );
    await db.query(
      `UPDATE match_groups g SET exception_id = $3 || ':' || g.group_id
        WHERE g.cycle_id = $1 AND g.group_id = ANY($2::text[]) AND g.exception_id IS NULL
          AND g.generation = (SELECT generation FROM exception_books WHERE cycle_id = $1)`,
      [cycleId, suggested.map((g) => g.group_id), SUGGESTED_MATCH],
    );
  }
  return { stored, resolved, conflicts, suggestions };
}
