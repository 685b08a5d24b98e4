import type pg from 'pg';
import { appendAudit, type AuditEvent } from './audit';
import type { Db } from './pool';
import { withTransaction } from './retry';
import { DataError } from '../domain/errors';
import type { Discrepancy } from '../domain/reconciliation';
import {
  FIRST_OPEN_EXCEPTIONS,
  type BookSummary,
  type ItemOutcome,
  type OpenException,
  type PayoutMaker,
  type Resolution,
} from '../domain/exception-book';
import { addMaker, makerOf, matchDecisions } from '../domain/settlement';

// The exception book (see domain/exception-book.ts): the one writer of a cycle's exceptions,
// their matches and their resolutions. Every change takes the book's row lock, raises its
// version by one and writes each exception's history in the same transaction as the change,
// with its audit event for decisions.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** What reconciliation records of itself as the actor of a `found` event. */
const RECONCILIATION = 'reconciliation';

async function lockBook(
  client: pg.PoolClient,
  cycleId: string,
): Promise<{ version: number; generation: number }> {
  await client.query('INSERT INTO exception_books (cycle_id) VALUES ($1) ON CONFLICT DO NOTHING', [cycleId]);
  const { rows } = await client.query<{ version: string; generation: number }>(
    'SELECT version::text, generation FROM exception_books WHERE cycle_id = $1 FOR UPDATE',
    [cycleId],
  );
  return { version: Number(rows[0]!.version), generation: rows[0]!.generation };
}

/**
 * Opens the book for a run of its cycle before its report is fetched: a no-op for the run that
 * holds it (a retry, or a run it continued as new, which never reconciles again). A cycle run
 * again after it Failed gets a new generation: the earlier run's exceptions stay in the book
 * with their history, each voided by an event, and nothing of them reaches this run's fee,
 * makers or counts.
 */
export async function openBook(db: Db, cycleId: string, runId: string): Promise<BookSummary> {
  await withTransaction(db, async (client) => {
    await client.query(
      'INSERT INTO exception_books (cycle_id, run_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [cycleId, runId],
    );
    const { rows } = await client.query<{
      run_id: string | null;
      generation: number;
      version: string;
      total: number;
    }>(
      'SELECT run_id, generation, version::text, total FROM exception_books WHERE cycle_id = $1 FOR UPDATE',
      [cycleId],
    );
    const book = rows[0]!;
    if (book.run_id === runId) return;
    // A book of a legacy run (no run recorded) that holds nothing is simply taken over.
    if (book.total === 0 && book.run_id === null) {
      await client.query('UPDATE exception_books SET run_id = $2, updated_at = now() WHERE cycle_id = $1', [
        cycleId,
        runId,
      ]);
      return;
    }
    const next = Number(book.version) + 1;
    await client.query(
      `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, reason, actor, actor_name)
       SELECT cycle_id, generation, exception_id, $3, 'voided', 'the cycle was run again (run ' || $4 || ')', $5, $5
         FROM settlement_exceptions WHERE cycle_id = $1 AND generation = $2`,
      [cycleId, book.generation, next, runId, `workflow:${cycleId}`],
    );
    // Its expected items are no longer awaited (the new run decides its own); those a later
    // cycle already saw arrive or expire stay as they were.
    await client.query(
      `UPDATE expected_items SET state = 'voided', closed_by_cycle = $1, closed_at = now()
        WHERE cycle_id = $1 AND generation = $2 AND state = 'expected'`,
      [cycleId, book.generation],
    );
    await client.query(
      `UPDATE exception_books SET run_id = $2, generation = generation + 1, version = $3, total = 0, open = 0,
              updated_at = now() WHERE cycle_id = $1`,
      [cycleId, runId, next],
    );
  });
  return bookSummary(db, cycleId);
}

/**
 * The book's version and counts, with the first open exceptions (what the status query shows),
 * read in one statement: one snapshot, so the count and the list agree.
 */
export async function bookSummary(db: Queryable, cycleId: string): Promise<BookSummary> {
  const { rows } = await db.query<{
    version: string;
    total: number;
    open: number;
    first_open: OpenException[] | null;
  }>(
    `SELECT b.version::text, b.total, b.open,
            (SELECT json_agg(json_build_object('exceptionId', e.exception_id, 'kind', e.kind, 'txId', e.tx_id,
                                               'differenceMinor', e.difference_minor::text, 'detail', e.detail)
                             ORDER BY e.exception_id)
               FROM (SELECT * FROM settlement_exceptions
                      WHERE cycle_id = b.cycle_id AND generation = b.generation AND resolved_at IS NULL
                      ORDER BY exception_id LIMIT $2) e) AS first_open
       FROM exception_books b WHERE b.cycle_id = $1`,
    [cycleId, FIRST_OPEN_EXCEPTIONS],
  );
  const b = rows[0];
  return {
    version: b ? Number(b.version) : 0,
    total: b?.total ?? 0,
    open: b?.open ?? 0,
    firstOpen: b?.first_open ?? [],
  };
}

/**
 * Records what reconciliation found, once: an exception already in the book is left as it is (a
 * retried activity finds nothing new and leaves the version alone). Each new exception gets its
 * `found` event and the transactions it is about (ours by id, theirs by report ordinal).
 */
export async function recordFound(db: Db, cycleId: string, ds: Discrepancy[]): Promise<BookSummary> {
  await withTransaction(db, async (client) => {
    const { version, generation } = await lockBook(client, cycleId);
    if (ds.length === 0) return;
    const inserted = await client.query<{ exception_id: string }>(
      `INSERT INTO settlement_exceptions (cycle_id, generation, exception_id, kind, tx_id, business_date, game_id, currency, ours_minor, theirs_minor, difference_minor, detail)
       SELECT $1, $12, * FROM unnest($2::text[], $3::text[], $4::text[], $5::date[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[])
       ON CONFLICT (cycle_id, generation, exception_id) DO NOTHING
       RETURNING exception_id`,
      [
        cycleId,
        ds.map((d) => d.id),
        ds.map((d) => d.kind),
        ds.map((d) => d.txId),
        ds.map((d) => d.key?.businessDate ?? null),
        ds.map((d) => d.key?.gameId ?? null),
        ds.map((d) => d.key?.currency ?? null),
        ds.map((d) => d.oursMinor?.toString() ?? null),
        ds.map((d) => d.theirsMinor?.toString() ?? null),
        ds.map((d) => d.differenceMinor.toString()),
        ds.map((d) => d.detail),
        generation,
      ],
    );
    const ids = inserted.rows.map((r) => r.exception_id);
    if (ids.length === 0) return;
    const next = version + 1;
    // The joins below read the cycle's report rows: hash joins over its month's partition (a
    // partition still filling has no statistics, and a nested loop would scan the cycle's rows
    // once per exception; the same pin as db/reports.ts transactionsForKeys).
    await client.query('SET LOCAL enable_nestloop = off');
    await client.query(
      `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, actor, actor_name)
       SELECT $1, $5, id, $2, 'found', $3, $3 FROM unnest($4::text[]) AS id`,
      [cycleId, next, RECONCILIATION, ids, generation],
    );
    // The type the provider reported for each new exception's transaction (its first row), kept
    // with the exception: what a resolution's effect on GGR reads when ours is missing, without
    // probing the report's rows (millions a day, indexed by ordinal) per exception later.
    await client.query(
      `UPDATE settlement_exceptions e SET report_tx_type = r.type
         FROM (SELECT DISTINCT ON (r.tx_id) r.tx_id, r.type
                 FROM provider_report_rows r
                 JOIN settlement_cycles c ON c.id = r.cycle_id AND c.period_start = r.period_start
                 JOIN settlement_exceptions x ON x.cycle_id = r.cycle_id AND x.tx_id = r.tx_id
                WHERE r.cycle_id = $1 AND x.generation = $3 AND x.exception_id = ANY($2::text[])
                ORDER BY r.tx_id, r.ord) r
        WHERE e.cycle_id = $1 AND e.generation = $3 AND e.exception_id = ANY($2::text[]) AND e.tx_id = r.tx_id`,
      [cycleId, ids, generation],
    );
    // The transactions behind each new exception: ours by id, theirs by the report's ordinal.
    await client.query(
      `INSERT INTO exception_matches (cycle_id, generation, exception_id, side, tx_id, report_ord)
       SELECT e.cycle_id, e.generation, e.exception_id, 'ours', g.tx_id, NULL
         FROM settlement_exceptions e JOIN settlement_cycles c ON c.id = e.cycle_id
         JOIN game_transactions g ON g.partner_id = c.partner_id AND g.tx_id = e.tx_id
        WHERE e.cycle_id = $1 AND e.generation = $3 AND e.exception_id = ANY($2::text[])
       UNION ALL
       SELECT e.cycle_id, e.generation, e.exception_id, 'theirs', r.tx_id, min(r.ord)
         FROM settlement_exceptions e
         JOIN settlement_cycles c ON c.id = e.cycle_id
         JOIN provider_report_rows r ON r.cycle_id = e.cycle_id AND r.period_start = c.period_start AND r.tx_id = e.tx_id
        WHERE e.cycle_id = $1 AND e.generation = $3 AND e.exception_id = ANY($2::text[])
        GROUP BY e.cycle_id, e.generation, e.exception_id, r.tx_id
       ON CONFLICT DO NOTHING`,
      [cycleId, ids, generation],
    );
    await client.query(
      `UPDATE exception_books SET version = $2, total = total + $3, open = open + $3, updated_at = now()
        WHERE cycle_id = $1`,
      [cycleId, next, ids.length],
    );
  });
  return bookSummary(db, cycleId);
}

/** An exception found after a cycle's reconciliation by another process: no transaction, no game. */
export interface FoundLater {
  id: string;
  kind: string;
  /** The currency its amounts are in (the queue's SLA tiers and amounts read it). */
  currency: string;
  oursMinor: bigint | null;
  theirsMinor: bigint | null;
  differenceMinor: bigint;
  detail: string;
}

/**
 * Records exceptions another process found about a cycle after its reconciliation (issue 20: a
 * partner invoice's fee_variance lines, db/invoices.ts) in the cycle's current generation, by
 * recordFound's rules: under the book's lock, once each (an id the book holds is left as it is),
 * one version for the change, a `found` event per new exception by `actor`. Returns the ids it
 * added (none when all were there: the version stays).
 */
export async function recordFoundLater(
  db: Db,
  cycleId: string,
  found: FoundLater[],
  actor: string,
): Promise<string[]> {
  return withTransaction(db, async (client) => {
    const { version, generation } = await lockBook(client, cycleId);
    if (found.length === 0) return [];
    const inserted = await client.query<{ exception_id: string }>(
      `INSERT INTO settlement_exceptions (cycle_id, generation, exception_id, kind, currency, ours_minor, theirs_minor, difference_minor, detail)
       SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[])
       ON CONFLICT (cycle_id, generation, exception_id) DO NOTHING
       RETURNING exception_id`,
      [
        cycleId,
        generation,
        found.map((f) => f.id),
        found.map((f) => f.kind),
        found.map((f) => f.currency),
        found.map((f) => f.oursMinor?.toString() ?? null),
        found.map((f) => f.theirsMinor?.toString() ?? null),
        found.map((f) => f.differenceMinor.toString()),
        found.map((f) => f.detail),
      ],
    );
    const ids = inserted.rows.map((r) => r.exception_id).sort();
    if (ids.length === 0) return [];
    const next = version + 1;
    await client.query(
      `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, actor, actor_name)
       SELECT $1, $2, id, $3, 'found', $4, $4 FROM unnest($5::text[]) AS id`,
      [cycleId, generation, next, actor, ids],
    );
    await client.query(
      `UPDATE exception_books SET version = $2, total = total + $3, open = open + $3, updated_at = now()
        WHERE cycle_id = $1`,
      [cycleId, next, ids.length],
    );
    return ids;
  });
}

/** The open exceptions an unknown id's refusal lists (the first ten; where to find the rest). */
async function openHint(db: Queryable, cycleId: string, generation: number): Promise<string> {
  const { rows } = await db.query<{ exception_id: string; open: number }>(
    `SELECT exception_id, (SELECT open FROM exception_books WHERE cycle_id = $1) AS open
       FROM settlement_exceptions WHERE cycle_id = $1 AND generation = $2 AND resolved_at IS NULL
      ORDER BY exception_id LIMIT 10`,
    [cycleId, generation],
  );
  const open = rows[0]?.open ?? 0;
  const more =
    open > rows.length
      ? `the first ${rows.length} of ${open} open (all: GET /v1/exceptions?settlementId=${cycleId}&status=open); `
      : '';
  return `${more}open ones: ${rows.map((r) => r.exception_id).join(', ') || 'none'}`;
}

/** One decision of a batch, checked for shape by the caller (the workflow's validator). */
export interface ResolutionItem {
  exceptionId: string;
  resolution: Resolution;
  amountMinor: bigint | null;
  reason: string;
  /** What aggregates its journal entry (`rule:<id>`, `bulk:<id>`); absent for a person's own. */
  group?: string;
  /** Why a rule, the matcher or reconciliation decided (shown with the exception). */
  evidence?: Record<string, unknown>;
  /** The named account of a write-off decided by a rule or a bulk. */
  writeOffAccount?: string;
}

/**
 * Decisions of Clearhouse's own system principals (a rule version, the matcher, reconciliation
 * marking an item expected): a resolver may reverse them until the fee is computed. A person's
 * decision is never overwritten.
 */
export const isSystemDecision = (actor: string | null): boolean =>
  actor !== null && (actor.startsWith('rule:') || actor === 'matcher' || actor === 'reconciliation');

export interface ResolutionBatch {
  items: ResolutionItem[];
  /** The decider: a verified actor key (null for a decision recorded with a typed name). */
  actor: string | null;
  name: string;
  /** The Update that carried the batch: a retry of the same batch applies nothing twice. */
  updateId: string | null;
  /** The audit event of the batch (its details gain what was applied and refused). */
  audit: AuditEvent | null;
  /**
   * All or nothing (a CSV import): when any item is refused, nothing of the batch is written and
   * the answer lists every refusal with `applied` 0.
   */
  atomic?: boolean;
}

/** Rolls an all-or-nothing batch back when one of its items is refused. */
export class BatchRefused extends Error {
  constructor(readonly results: ItemOutcome[]) {
    super('batch refused');
  }
}

export interface BatchResult {
  /** How many items were applied (or had been, by this same Update). */
  applied: number;
  /** The items refused, each with why: only these cross into workflow history. */
  refused: Extract<ItemOutcome, { outcome: 'refused' }>[];
  /** Who of this batch moved the GGR the fee is computed on (never an approver of the payout). */
  makers: PayoutMaker[];
  book: BookSummary;
}

/**
 * Applies a batch of resolutions in one transaction: each item applied, or refused with the
 * reason (unknown exception, or already resolved, by whom); the book's version rises once, each
 * applied item gets its `resolved` event, and the batch's audit event commits with them. A retry
 * of the same Update (same updateId) finds its items resolved by itself and reports them applied.
 */
export async function resolveInBook(db: Db, cycleId: string, batch: ResolutionBatch): Promise<BatchResult> {
  let outcome: { results: ItemOutcome[]; makers: PayoutMaker[] };
  try {
    outcome = await resolveBatch(db, cycleId, batch);
  } catch (err) {
    if (!(err instanceof BatchRefused)) throw err;
    return {
      applied: 0,
      refused: err.results.flatMap((r) => (r.outcome === 'refused' ? [r] : [])),
      makers: [],
      book: await bookSummary(db, cycleId),
    };
  }
  return {
    applied: outcome.results.filter((r) => r.outcome === 'applied').length,
    refused: outcome.results.flatMap((r) => (r.outcome === 'refused' ? [r] : [])),
    makers: outcome.makers,
    book: await bookSummary(db, cycleId),
  };
}

function resolveBatch(
  db: Db,
  cycleId: string,
  batch: ResolutionBatch,
): Promise<{ results: ItemOutcome[]; makers: PayoutMaker[] }> {
  return withTransaction(db, (client) => resolveBatchIn(client, cycleId, batch));
}

/**
 * resolveInBook's change inside the caller's transaction (a bulk checks its set and applies it
 * in one): throws BatchRefused for an all-or-nothing batch with a refusal.
 */
export async function resolveBatchIn(
  client: pg.PoolClient,
  cycleId: string,
  batch: ResolutionBatch,
): Promise<{ results: ItemOutcome[]; makers: PayoutMaker[] }> {
  {
    const { version, generation } = await lockBook(client, cycleId);
    const ids = batch.items.map((i) => i.exceptionId);
    // Expected items these exceptions stand for, locked: a later cycle claiming one (arrived,
    // expired) waits for this change, and one it already claimed is no longer this cycle's to undo.
    const expected = await client.query<{
      exception_id: string;
      state: string;
      closed_by_cycle: string | null;
    }>(
      `SELECT exception_id, state, closed_by_cycle FROM expected_items
        WHERE cycle_id = $1 AND generation = $2 AND exception_id = ANY($3::text[])
        ORDER BY partner_id, tx_id, cycle_id FOR UPDATE`,
      [cycleId, generation, ids],
    );
    const settledElsewhere = new Map(
      expected.rows
        .filter((x) => x.state === 'arrived' || x.state === 'expired')
        .map((x) => [
          x.exception_id,
          `its counterpart ${x.state === 'arrived' ? 'arrived' : 'was booked as mismatched'} in ${x.closed_by_cycle}`,
        ]),
    );
    const { rows } = await client.query<{
      exception_id: string;
      kind: string;
      difference_minor: string;
      resolution: Resolution | null;
      operator: string | null;
      actor: string | null;
      update_id: string | null;
      tx_type: string | null;
      is_aggregate: boolean;
      arrived_for: string | null;
    }>(
      `SELECT e.exception_id, e.kind, e.difference_minor::text, e.resolution, e.operator, e.actor, e.update_id,
              e.evidence->>'arrivedFor' AS arrived_for,
              coalesce(g.type, e.report_tx_type) AS tx_type, (e.tx_id IS NULL AND e.game_id IS NOT NULL) AS is_aggregate
         FROM settlement_exceptions e
         JOIN settlement_cycles c ON c.id = e.cycle_id
         LEFT JOIN game_transactions g ON g.partner_id = c.partner_id AND g.tx_id = e.tx_id
        WHERE e.cycle_id = $1 AND e.generation = $3 AND e.exception_id = ANY($2::text[])
        ORDER BY e.exception_id
        FOR UPDATE OF e`,
      [cycleId, ids, generation],
    );
    const found = new Map(rows.map((r) => [r.exception_id, r]));
    const results: ItemOutcome[] = [];
    const apply: ResolutionItem[] = [];
    const reversed: { exceptionId: string; was: string; by: string }[] = [];
    const makers: PayoutMaker[] = [];
    // An unknown id's refusal names the open ones, as the operator needs them in the UI.
    // Said once per batch (a list of unknown ids must not repeat it a thousand times).
    let hint: string | null = batch.items.some((i) => !found.has(i.exceptionId))
      ? await openHint(client, cycleId, generation)
      : null;
    for (const item of batch.items) {
      const e = found.get(item.exceptionId);
      if (!e) {
        results.push({
          exceptionId: item.exceptionId,
          outcome: 'refused',
          refusal: 'not_found',
          reason: `unknown exceptionId ${item.exceptionId}${hint ? `; ${hint}` : ''}`,
        });
        hint = null;
        continue;
      }
      const forMatch = (matchDecisions as readonly string[]).includes(item.resolution);
      if (forMatch !== (e.kind === 'suggested_match')) {
        results.push({
          exceptionId: item.exceptionId,
          outcome: 'refused',
          refusal: 'conflict',
          reason: forMatch
            ? `${item.resolution} is for a suggested_match; ${item.exceptionId} is ${e.kind}`
            : `a suggested_match is decided with confirm_match or reject_match, not ${item.resolution}`,
        });
        continue;
      }
      const reversing =
        e.resolution !== null &&
        isSystemDecision(e.actor) &&
        batch.actor !== null &&
        !isSystemDecision(batch.actor) &&
        e.update_id !== batch.updateId;
      // Settled across two cycles (an expected item and its arrival or expiry): undoing one side
      // alone would count the transaction twice or not at all. A restatement corrects it.
      const across = reversing
        ? (settledElsewhere.get(item.exceptionId) ??
          (e.arrived_for ? `it is the counterpart of an expected item settled in ${e.arrived_for}` : null))
        : null;
      if (across) {
        results.push({
          exceptionId: item.exceptionId,
          outcome: 'refused',
          refusal: 'conflict',
          reason: `${item.exceptionId} cannot be reversed: ${across}`,
        });
        continue;
      }
      if (reversing) {
        // A resolver undoes what a rule, the matcher or reconciliation decided (until the fee).
        reversed.push({ exceptionId: item.exceptionId, was: e.resolution!, by: e.actor! });
        apply.push(item);
        results.push({ exceptionId: item.exceptionId, outcome: 'applied' });
      } else if (e.resolution !== null) {
        // Resolved by this very Update (a retry of the activity that already committed): the same
        // id and the same decider (Update ids are unique per run only, and a UI may reuse one).
        const sameDecider = (e.actor ?? e.operator) === (batch.actor ?? batch.name);
        if (batch.updateId !== null && e.update_id === batch.updateId && sameDecider) {
          results.push({ exceptionId: item.exceptionId, outcome: 'applied' });
        } else {
          results.push({
            exceptionId: item.exceptionId,
            outcome: 'refused',
            refusal: 'conflict',
            reason: `exception ${item.exceptionId} was already resolved (${e.resolution}) by ${e.operator ?? 'someone'}`,
          });
          continue;
        }
      } else {
        apply.push(item);
        results.push({ exceptionId: item.exceptionId, outcome: 'applied' });
      }
      addMaker(
        makers,
        makerOf(
          {
            exceptionId: item.exceptionId,
            kind: e.kind,
            txType: e.tx_type,
            isAggregate: e.is_aggregate,
            differenceMinor: BigInt(e.difference_minor),
          },
          item.resolution,
          { actor: batch.actor, name: batch.name },
        ),
      );
    }
    if (batch.atomic && results.some((r) => r.outcome === 'refused')) throw new BatchRefused(results);
    if (apply.length > 0) {
      const next = version + 1;
      if (reversed.length > 0) {
        await client.query(
          `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, resolution, reason, actor, actor_name, update_id, details)
           SELECT $1, $2, r.exception_id, $3, 'reversed', r.was, 'reversed by a resolver', $4, $5, $6, jsonb_build_object('decidedBy', r.by)
             FROM unnest($7::text[], $8::text[], $9::text[]) AS r(exception_id, was, by)`,
          [
            cycleId,
            generation,
            next,
            batch.actor ?? batch.name,
            batch.name,
            batch.updateId,
            reversed.map((r) => r.exceptionId),
            reversed.map((r) => r.was),
            reversed.map((r) => r.by),
          ],
        );
        // An expected item a person decided on is no longer awaited.
        await client.query(
          `UPDATE expected_items SET state = 'voided', closed_by_cycle = $1, closed_at = now()
            WHERE cycle_id = $1 AND generation = $2 AND exception_id = ANY($3::text[]) AND state = 'expected'`,
          [cycleId, generation, reversed.map((r) => r.exceptionId)],
        );
      }
      // Each row was locked above and judged open, or a system decision being reversed.
      await client.query(
        `UPDATE settlement_exceptions e
            SET resolution = r.resolution, resolution_amount_minor = r.amount, reason = r.reason,
                operator = $3, actor = $4, update_id = $5, resolved_version = $6, resolved_at = now(),
                resolution_group = r.grp, evidence = r.evidence, write_off_account = r.account,
                expected_until = NULL
           FROM unnest($2::text[], $7::text[], $8::bigint[], $9::text[], $11::text[], $12::jsonb[], $13::text[])
                AS r(exception_id, resolution, amount, reason, grp, evidence, account)
          WHERE e.cycle_id = $1 AND e.generation = $10 AND e.exception_id = r.exception_id`,
        [
          cycleId,
          apply.map((i) => i.exceptionId),
          batch.name,
          batch.actor,
          batch.updateId,
          next,
          apply.map((i) => i.resolution),
          apply.map((i) => i.amountMinor?.toString() ?? null),
          apply.map((i) => i.reason),
          generation,
          apply.map((i) => i.group ?? null),
          apply.map((i) => (i.evidence ? JSON.stringify(i.evidence) : null)),
          apply.map((i) => i.writeOffAccount ?? null),
        ],
      );
      await confirmMatches(client, cycleId, generation, next, apply, batch);
      await client.query(
        `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, resolution, amount_minor, reason, actor, actor_name, update_id)
         SELECT $1, $10, r.exception_id, $2, 'resolved', r.resolution, r.amount, r.reason, $3, $4, $5
           FROM unnest($6::text[], $7::text[], $8::bigint[], $9::text[]) AS r(exception_id, resolution, amount, reason)`,
        [
          cycleId,
          next,
          batch.actor ?? batch.name,
          batch.name,
          batch.updateId,
          apply.map((i) => i.exceptionId),
          apply.map((i) => i.resolution),
          apply.map((i) => i.amountMinor?.toString() ?? null),
          apply.map((i) => i.reason),
          generation,
        ],
      );
      await client.query(
        'UPDATE exception_books SET version = $2, open = open - $3, updated_at = now() WHERE cycle_id = $1',
        [cycleId, next, apply.length - reversed.length],
      );
    }
    if (batch.audit)
      await appendAudit(client, {
        ...batch.audit,
        details: {
          ...batch.audit.details,
          applied: results.filter((r) => r.outcome === 'applied').map((r) => r.exceptionId),
          refused: results.flatMap((r) =>
            r.outcome === 'refused' ? [{ exceptionId: r.exceptionId, reason: r.reason }] : [],
          ),
        },
      });
    return { results, makers };
  }
}

/**
 * A suggested match decided by a person: confirmed, its group's members still open settle on
 * our figure in the same change (the group's money is ours, split or aggregated differently by
 * the provider), decided by the same person; rejected, they stay open for someone to decide.
 */
async function confirmMatches(
  client: pg.PoolClient,
  cycleId: string,
  generation: number,
  version: number,
  applied: ResolutionItem[],
  batch: ResolutionBatch,
): Promise<void> {
  const decided = applied.filter((i) => i.resolution === 'confirm_match' || i.resolution === 'reject_match');
  if (decided.length === 0) return;
  await client.query(
    `UPDATE match_groups g SET state = CASE WHEN d.resolution = 'confirm_match' THEN 'confirmed' ELSE 'rejected' END
       FROM unnest($3::text[], $4::text[]) AS d(exception_id, resolution)
      WHERE g.cycle_id = $1 AND g.generation = $2 AND g.exception_id = d.exception_id`,
    [cycleId, generation, decided.map((i) => i.exceptionId), decided.map((i) => i.resolution)],
  );
  const confirmed = decided.filter((i) => i.resolution === 'confirm_match').map((i) => i.exceptionId);
  if (confirmed.length === 0) return;
  const { rows } = await client.query<{ exception_id: string; group_id: string }>(
    `UPDATE settlement_exceptions e
        SET resolution = 'accept_ours', reason = 'matched: ' || g.group_id, operator = $4, actor = $5,
            update_id = $6, resolved_version = $7, resolved_at = now(), evidence = g.evidence
       FROM match_groups g JOIN match_group_members m
            ON m.cycle_id = g.cycle_id AND m.generation = g.generation AND m.group_id = g.group_id
      WHERE g.cycle_id = $1 AND g.generation = $2 AND g.exception_id = ANY($3::text[])
        AND e.cycle_id = m.cycle_id AND e.generation = m.generation AND e.exception_id = m.exception_id
        AND e.resolved_at IS NULL
      RETURNING e.exception_id, g.group_id`,
    [cycleId, generation, confirmed, batch.name, batch.actor, batch.updateId, version],
  );
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, resolution, reason, actor, actor_name, update_id)
     SELECT $1, $2, x, $3, 'resolved', 'accept_ours', 'matched by a confirmed suggestion', $4, $5, $6 FROM unnest($7::text[]) AS x`,
    [
      cycleId,
      generation,
      version,
      batch.actor ?? batch.name,
      batch.name,
      batch.updateId,
      rows.map((r) => r.exception_id),
    ],
  );
  await client.query('UPDATE exception_books SET open = open - $2 WHERE cycle_id = $1', [
    cycleId,
    rows.length,
  ]);
}

/**
 * The book as the fee step reads it: refused (ConflictError) unless it is at the version the
 * workflow holds — the statement's numbers come from what the workflow decided.
 */
export async function requireBookVersion(db: Queryable, cycleId: string, version: number): Promise<void> {
  // Held (FOR SHARE) until the fee step commits: no change to the book can slip in between.
  const { rows } = await db.query<{ version: string; open: number }>(
    'SELECT version::text, open FROM exception_books WHERE cycle_id = $1 FOR SHARE',
    [cycleId],
  );
  const at = rows[0] ? Number(rows[0].version) : 0;
  if (at !== version)
    throw new DataError(
      `the exception book of ${cycleId} is at version ${at}, the workflow decided on version ${version}: refusing to compute fees`,
    );
  if ((rows[0]?.open ?? 0) > 0)
    throw new DataError(`the exception book of ${cycleId} has ${rows[0]!.open} open exception(s)`);
}

/**
 * Exceptions as the API pages through them (any cycle, a partner's, one cycle's), in id order:
 * each cycle's current generation (a run replaced after it Failed keeps its own in the history).
 */
export async function listExceptions(
  db: Queryable,
  filter: { partnerId: string | null; status: 'open' | 'resolved' | null; settlementId?: string | null },
  pageOf: { limit: number; after: { settlementId: string; exceptionId: string } | null },
): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT e.cycle_id AS "settlementId", e.exception_id AS "exceptionId", e.kind, e.tx_id AS "txId",
            e.difference_minor::text AS "differenceMinor", e.detail, e.resolution,
            e.resolution_amount_minor::text AS "amountMinor", e.reason, e.operator, e.actor,
            e.resolved_version AS "resolvedVersion", e.resolved_at AS "resolvedAt",
            e.suggestion, e.evidence, e.resolution_group AS "resolutionGroup", e.expected_until AS "expectedUntil"
       FROM settlement_exceptions e JOIN settlement_cycles c ON c.id = e.cycle_id
       JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
      WHERE ($1::text IS NULL OR c.partner_id = $1)
        AND ($2::text IS NULL OR ($2 = 'open') = (e.resolved_at IS NULL))
        AND ($3::text IS NULL OR (e.cycle_id, e.exception_id) > ($3, $4))
        AND ($6::text IS NULL OR e.cycle_id = $6)
      ORDER BY e.cycle_id, e.exception_id LIMIT $5`,
    [
      filter.partnerId,
      filter.status,
      pageOf.after?.settlementId ?? null,
      pageOf.after?.exceptionId ?? null,
      pageOf.limit,
      filter.settlementId ?? null,
    ],
  );
  return rows;
}

/**
 * One exception's history, oldest first: found, then resolved (who, when, why, which Update), or
 * voided when its run was replaced; every generation of the cycle.
 */
export async function exceptionHistory(
  db: Queryable,
  cycleId: string,
  exceptionId: string,
): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT generation, event, version::int AS version, resolution, amount_minor::text AS "amountMinor", reason, actor,
            actor_name AS "actorName", update_id AS "updateId", at, details,
            assignee, assignee_name AS "assigneeName", tier
       FROM exception_events WHERE cycle_id = $1 AND exception_id = $2
      -- Events of one change share its version and time: a reversal comes before what replaced it.
      ORDER BY generation, version, at,
               array_position(ARRAY['found', 'reversed', 'resolved', 'expected', 'arrived', 'expired', 'voided', 'assigned', 'escalated'], event),
               seq`,
    [cycleId, exceptionId],
  );
  return rows;
}

/**
 * The makers the book records for the current generation: whoever resolved an exception in a
 * way that moved GGR (the fee step's rule, makerOf). What the payout step checks the
 * approvers against, independently of what the workflow held.
 */
export async function bookMakers(db: Queryable, cycleId: string): Promise<PayoutMaker[]> {
  const { rows } = await db.query<{
    exception_id: string;
    kind: string;
    difference_minor: string;
    resolution: Resolution;
    operator: string | null;
    actor: string | null;
    tx_type: string | null;
    is_aggregate: boolean;
  }>(
    `SELECT e.exception_id, e.kind, e.difference_minor::text, e.resolution, e.operator, e.actor, coalesce(g.type, e.report_tx_type) AS tx_type,
            (e.tx_id IS NULL AND e.game_id IS NOT NULL) AS is_aggregate
       FROM settlement_exceptions e
       JOIN exception_books b ON b.cycle_id = e.cycle_id AND b.generation = e.generation
       JOIN settlement_cycles c ON c.id = e.cycle_id
       LEFT JOIN game_transactions g ON g.partner_id = c.partner_id AND g.tx_id = e.tx_id
      WHERE e.cycle_id = $1 AND e.resolution IS NOT NULL ORDER BY e.exception_id`,
    [cycleId],
  );
  return rows.flatMap((r) => {
    const maker = makerOf(
      {
        exceptionId: r.exception_id,
        kind: r.kind,
        txType: r.tx_type,
        isAggregate: r.is_aggregate,
        differenceMinor: BigInt(r.difference_minor),
      },
      r.resolution,
      { actor: r.actor, name: r.operator ?? '' },
    );
    return maker ? [maker] : [];
  });
}

/** The transactions an exception is about, every generation: ours by id, theirs by report row. */
export async function exceptionMatches(
  db: Queryable,
  cycleId: string,
  exceptionId: string,
): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT generation, side, tx_id AS "txId", report_ord AS "reportOrd"
       FROM exception_matches WHERE cycle_id = $1 AND exception_id = $2 ORDER BY generation, side, tx_id`,
    [cycleId, exceptionId],
  );
  return rows;
}
