import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Db } from './pool';
import { withTransaction } from './retry';
import { BatchRefused, bookMakers, bookSummary, resolveBatchIn, type BatchResult } from './exception-book';
import type { AuditEvent } from './audit';
import {
  BULK_PREVIEW_SAMPLE,
  MAX_BULK_EXCEPTIONS,
  type BulkFilter,
  type BulkOutcome,
  type BulkPreview,
  type BulkResolutionInput,
} from '../domain/bulk';
import { ConflictError, ForbiddenError, ValidationError } from '../domain/errors';
import { recordedDecider, samePerson, type Decider } from '../domain/actors';
import type { PayoutMaker } from '../domain/settlement';

// Bulk resolutions (domain/bulk.ts): the set a filter selects in a cycle's book, its preview
// and digest, and the apply that re-selects the set in the same transaction as its change and
// refuses it when the set moved. The one writer of bulk_resolutions.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

interface Selected {
  exceptionId: string;
  differenceMinor: string;
  currency: string | null;
}

/** The open exceptions of the current generation the filter selects, in id order. */
async function select(db: Queryable, cycleId: string, f: BulkFilter, lock: boolean): Promise<Selected[]> {
  const suggestion = f.suggestion;
  const { rows } = await db.query<{
    exception_id: string;
    difference_minor: string;
    currency: string | null;
  }>(
    `SELECT e.exception_id, e.difference_minor::text, e.currency
       FROM settlement_exceptions e
       JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
      WHERE e.cycle_id = $1 AND e.resolved_at IS NULL AND e.kind <> 'suggested_match'
        AND ($2::text[] IS NULL OR e.kind = ANY($2))
        AND ($3::bigint IS NULL OR abs(e.difference_minor) >= $3)
        AND ($4::bigint IS NULL OR abs(e.difference_minor) <= $4)
        AND ($5::text[] IS NULL OR e.game_id = ANY($5))
        AND ($6::text[] IS NULL OR e.currency = ANY($6))
        AND ($7::int IS NULL OR e.found_at <= now() - make_interval(hours => $7))
        AND ($8::text IS NULL OR ($8 = 'any' AND e.suggestion IS NOT NULL) OR ($8 = 'none' AND e.suggestion IS NULL)
             OR ($8 = 'rule' AND e.suggestion->>'ruleId' = $9 AND ($10::text IS NULL OR e.suggestion->>'action' = $10)))
      ORDER BY e.exception_id
      LIMIT $11 ${lock ? 'FOR UPDATE OF e' : ''}`,
    [
      cycleId,
      f.kinds ?? null,
      f.minAmountMinor ?? null,
      f.maxAmountMinor ?? null,
      f.gameIds ?? null,
      f.currencies ?? null,
      f.olderThanHours ?? null,
      suggestion === undefined ? null : typeof suggestion === 'string' ? suggestion : 'rule',
      typeof suggestion === 'object' ? suggestion.ruleId : null,
      typeof suggestion === 'object' ? (suggestion.action ?? null) : null,
      MAX_BULK_EXCEPTIONS + 1,
    ],
  );
  if (rows.length > MAX_BULK_EXCEPTIONS)
    throw new ValidationError(
      `the filter selects more than ${MAX_BULK_EXCEPTIONS} exceptions: narrow it (by kind, amount, game, currency or age)`,
      [{ path: 'filter', message: `at most ${MAX_BULK_EXCEPTIONS} exceptions per bulk resolution` }],
    );
  return rows.map((r) => ({
    exceptionId: r.exception_id,
    differenceMinor: r.difference_minor,
    currency: r.currency,
  }));
}

/** The digest of a selected set: its cycle, generation, and every id with its difference. */
function digestOf(cycleId: string, generation: number, set: Selected[]): string {
  const h = createHash('sha256').update(`${cycleId}\n${generation}\n`);
  for (const s of set) h.update(`${s.exceptionId}|${s.currency ?? ''}|${s.differenceMinor}\n`);
  return h.digest('hex');
}

function totalsOf(set: Selected[]): BulkPreview['totals'] {
  const by = new Map<string | null, { diff: bigint; abs: bigint }>();
  for (const s of set) {
    const t = by.get(s.currency) ?? { diff: 0n, abs: 0n };
    const d = BigInt(s.differenceMinor);
    t.diff += d;
    t.abs += d < 0n ? -d : d;
    by.set(s.currency, t);
  }
  return [...by]
    .sort(([a], [b]) => ((a ?? '') < (b ?? '') ? -1 : 1))
    .map(([currency, t]) => ({
      currency,
      differenceMinor: t.diff.toString(),
      absoluteMinor: t.abs.toString(),
    }));
}

/**
 * Whether a set needs a second person. The threshold is the contract's, in minor units of the
 * settlement currency: a set with any other currency always does (no rate is locked before the
 * fee to compare it), and so does one whose Σ|difference| — with what the same person already
 * applied alone in this cycle's book, so that one bulk split in several does not slip under it
 * — is above the threshold.
 */
function aboveThreshold(
  totals: BulkPreview['totals'],
  t: { thresholdMinor: string; settlementCurrency: string },
  appliedAloneMinor = 0n,
): boolean {
  if (totals.some((x) => x.currency !== null && x.currency !== t.settlementCurrency)) return true;
  const sum = totals.reduce((s, x) => s + BigInt(x.absoluteMinor), 0n) + appliedAloneMinor;
  return sum > BigInt(t.thresholdMinor);
}

/** The book's current generation (locked for an apply); a cycle with no book has nothing open. */
async function generationOf(db: Queryable, cycleId: string, lock: boolean): Promise<number> {
  const { rows } = await db.query<{ generation: number }>(
    `SELECT generation FROM exception_books WHERE cycle_id = $1 ${lock ? 'FOR UPDATE' : ''}`,
    [cycleId],
  );
  return rows[0]?.generation ?? 1;
}

/** What a bulk resolution with this filter would select now: nothing is written. */
export async function previewBulk(
  db: Db,
  cycleId: string,
  filter: BulkFilter,
  threshold: { thresholdMinor: string; settlementCurrency: string },
): Promise<BulkPreview> {
  return withTransaction(db, async (client) => {
    // One snapshot for the generation and the set.
    await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const generation = await generationOf(client, cycleId, false);
    const set = await select(client, cycleId, filter, false);
    const totals = totalsOf(set);
    return {
      count: set.length,
      totals,
      digest: digestOf(cycleId, generation, set),
      sample: set.slice(0, BULK_PREVIEW_SAMPLE).map((s) => s.exceptionId),
      needsSecondActor: aboveThreshold(totals, threshold),
      thresholdMinor: threshold.thresholdMinor,
    };
  });
}

/**
 * Applies a bulk resolution: in one transaction, the book locked, the set selected again and
 * compared with the preview's digest (ConflictError when it changed), then either applied (one
 * batch, all or nothing, its journal entries aggregated under `bulk:<id>`) or, above the
 * threshold, recorded as awaiting a second person — whose same request applies it (the
 * proposer's own second request is refused). A repeat of an applied bulk answers the same.
 */
export async function applyBulk(
  db: Db,
  cycleId: string,
  m: BulkResolutionInput & {
    who: Decider;
    updateId: string;
    thresholdMinor: string;
    settlementCurrency: string;
    audit: AuditEvent;
  },
): Promise<BulkOutcome & { result: BatchResult | null }> {
  const outcome = await withTransaction(db, async (client) => {
    const generation = await generationOf(client, cycleId, true);
    const bulkId = createHash('sha256')
      .update(`${cycleId}\n${generation}\n${m.digest}\n${m.resolution}\n${m.writeOffAccount ?? ''}`)
      .digest('hex')
      .slice(0, 24);
    const existing = await client.query<{
      state: string;
      proposed_by: string;
      proposed_name: string;
      count: number;
      reason: string;
    }>('SELECT state, proposed_by, proposed_name, count, reason FROM bulk_resolutions WHERE bulk_id = $1', [
      bulkId,
    ]);
    const prior = existing.rows[0];
    if (prior?.state === 'applied') {
      // A retry after the apply committed: the same answer, with the book's makers (the
      // workflow adds those it has not seen; the payout step reads them from the book anyway).
      const makers = [...(await bookMakers(client, cycleId)), ...(await bulkProposers(client, cycleId))];
      return {
        bulkId,
        state: 'applied' as const,
        count: prior.count,
        applied: prior.count,
        batch: { results: [], makers },
      };
    }
    const set = await select(client, cycleId, m.filter, true);
    if (set.length === 0)
      throw new ConflictError(
        'the filter selects no open exception (they were resolved since the preview?)',
        [{ path: 'filter', message: 'selects nothing open' }],
      );
    const digest = digestOf(cycleId, generation, set);
    if (digest !== m.digest)
      throw new ConflictError(
        `the selected set changed since the preview (now ${set.length} exception(s), digest ${digest}): preview again`,
        [{ path: 'digest', message: `the set now has digest ${digest}` }],
      );
    const totals = totalsOf(set);
    const actorKey = m.who.actor ?? m.who.name;
    const row = (reason: string): BulkRow => ({
      bulkId,
      cycleId,
      generation,
      filter: m.filter,
      resolution: m.resolution,
      writeOffAccount: m.writeOffAccount ?? null,
      reason,
      digest,
      count: set.length,
      totalMinor: totals.reduce((sum, t) => sum + BigInt(t.absoluteMinor), 0n),
      actor: actorKey,
      name: m.who.name,
    });
    const alone = await client.query<{ sum: string }>(
      `SELECT coalesce(sum(total_minor), 0)::text AS sum FROM bulk_resolutions
        WHERE cycle_id = $1 AND generation = $2 AND state = 'applied' AND approved_by IS NULL AND proposed_by = $3
          AND bulk_id <> $4`,
      [cycleId, generation, actorKey, bulkId],
    );
    // A bulk recorded as awaiting approval waits for another person, whatever the sums say now.
    const needsTwo =
      prior?.state === 'awaiting_approval' || aboveThreshold(totals, m, BigInt(alone.rows[0]!.sum));
    if (needsTwo && !prior) {
      await recordBulk(client, row(m.reason), null);
      return { bulkId, state: 'awaiting_approval' as const, count: set.length, applied: 0, batch: null };
    }
    if (
      needsTwo &&
      prior &&
      samePerson({ ...recordedDecider(prior.proposed_by), name: prior.proposed_name }, m.who)
    )
      throw new ForbiddenError(
        `${m.who.name} proposed this bulk resolution: a second, different person must approve it (maker-checker)`,
      );
    const reason = prior?.reason ?? m.reason;
    const batch = await resolveBatchIn(client, cycleId, {
      items: set.map((s) => ({
        exceptionId: s.exceptionId,
        resolution: m.resolution,
        amountMinor: null,
        reason,
        group: `bulk:${bulkId}`,
        evidence: { bulkId, digest, filter: m.filter },
        ...(m.writeOffAccount ? { writeOffAccount: m.writeOffAccount } : {}),
      })),
      actor: m.who.actor,
      name: m.who.name,
      updateId: m.updateId,
      audit: {
        ...m.audit,
        details: {
          ...m.audit.details,
          bulkId,
          digest,
          count: set.length,
          ...(prior ? { proposedBy: prior.proposed_name, approvedBy: m.who.name } : {}),
        },
      },
      atomic: true,
    });
    const version = await client.query<{ version: string }>(
      'SELECT version::text FROM exception_books WHERE cycle_id = $1',
      [cycleId],
    );
    await recordBulk(client, row(reason), version.rows[0]!.version);
    // Whoever proposed a bulk the approver applied made its decisions as much as the approver.
    if (prior && m.resolution === 'accept_theirs' && batch.makers.length > 0)
      batch.makers.push(proposerMaker(bulkId, prior.proposed_by, prior.proposed_name));
    return { bulkId, state: 'applied' as const, count: set.length, applied: set.length, batch };
  }).catch((err: unknown) => {
    if (err instanceof BatchRefused)
      throw new ConflictError(
        `the bulk resolution was refused whole: ${err.results
          .flatMap((r) => (r.outcome === 'refused' ? [r.reason] : []))
          .slice(0, 3)
          .join('; ')}`,
      );
    throw err;
  });
  const book = await bookSummary(db, cycleId);
  return {
    bulkId: outcome.bulkId,
    state: outcome.state,
    count: outcome.count,
    applied: outcome.applied,
    open: book.open,
    result: outcome.batch
      ? {
          applied: outcome.applied,
          refused: [],
          makers: outcome.batch.makers,
          book,
        }
      : { applied: 0, refused: [], makers: [], book },
  };
}

/**
 * The proposers of bulk resolutions applied in the current generation: makers of the payout as
 * much as the approver who applied them (db/exception-book.ts bookMakers records that one).
 */
export async function bulkProposers(db: Queryable, cycleId: string): Promise<PayoutMaker[]> {
  // accept_theirs is the one bulk resolution that can move GGR (domain/settlement.ts makerOf).
  const { rows } = await db.query<{ bulk_id: string; proposed_by: string; proposed_name: string }>(
    `SELECT r.bulk_id, r.proposed_by, r.proposed_name FROM bulk_resolutions r
       JOIN exception_books b ON b.cycle_id = r.cycle_id AND b.generation = r.generation
      WHERE r.cycle_id = $1 AND r.state = 'applied' AND r.resolution = 'accept_theirs'
      ORDER BY r.bulk_id`,
    [cycleId],
  );
  return rows.map((r) => proposerMaker(r.bulk_id, r.proposed_by, r.proposed_name));
}

const proposerMaker = (bulkId: string, actor: string, name: string): PayoutMaker => ({
  ...recordedDecider(actor),
  name,
  made: `proposed bulk resolution ${bulkId} (accept_theirs), which can move the GGR`,
});

interface BulkRow {
  bulkId: string;
  cycleId: string;
  generation: number;
  filter: BulkFilter;
  resolution: string;
  writeOffAccount: string | null;
  reason: string;
  digest: string;
  count: number;
  totalMinor: bigint;
  /** Who sent this request: the proposer of a new bulk, the approver of one awaiting approval. */
  actor: string;
  name: string;
}

/**
 * The one writer of bulk_resolutions: a bulk awaiting a second person (no applied version), or
 * applied — by its proposer alone, or by the approver of one recorded before.
 */
async function recordBulk(client: pg.PoolClient, r: BulkRow, appliedVersion: string | null): Promise<void> {
  await client.query(
    `INSERT INTO bulk_resolutions (bulk_id, cycle_id, generation, filter, resolution, write_off_account, reason, digest,
                                   count, total_minor, proposed_by, proposed_name, state, applied_version)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (bulk_id) DO UPDATE SET state = 'applied', approved_by = $11, approved_name = $12, applied_version = $14`,
    [
      r.bulkId,
      r.cycleId,
      r.generation,
      JSON.stringify(r.filter),
      r.resolution,
      r.writeOffAccount,
      r.reason,
      r.digest,
      r.count,
      r.totalMinor.toString(),
      r.actor,
      r.name,
      appliedVersion === null ? 'awaiting_approval' : 'applied',
      appliedVersion,
    ],
  );
}
