import { isSystemDecision } from './exception-book';
import type pg from 'pg';
import type { Db } from './pool';
import type { ImportItem } from '../domain/exception-csv';
import type { Resolution } from '../domain/settlement';

// A cycle's exceptions read for its CSV export, and the resolutions uploaded back (table
// exception_imports, migration 1764000030000): stored once by the API, applied by the cycle's
// workflow through the exception book (db/exception-book.ts resolveInBook), all or nothing.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The Update id the book records for an import's decisions: how a re-import is recognised. */
export const importUpdateId = (importId: string): string => `import:${importId}`;

/** One exception as the export reads it (amounts in minor units, as text). */
export interface ExportedException {
  exception_id: string;
  kind: string;
  tx_id: string | null;
  business_date: string | null;
  game_id: string | null;
  currency: string | null;
  ours_minor: string | null;
  theirs_minor: string | null;
  difference_minor: string;
  detail: string;
  suggestion: string | null;
  evidence: string | null;
  resolution: Resolution | null;
  amount_minor: string | null;
  reason: string | null;
  operator: string | null;
}

/** Columns another change may add to settlement_exceptions; exported empty until it does. */
const OPTIONAL_COLUMNS = ['suggestion', 'evidence'] as const;

/**
 * Reads every exception of the cycle's current generation in id order, a page at a time (keyset
 * on exception_id, never the whole book at once), in one read-only snapshot: the book version
 * returned is the one the rows were read at, whatever is resolved meanwhile. Null when the cycle
 * does not exist; version 0 and no rows when it has no book yet.
 */
export async function exportExceptions(
  db: Db,
  cycleId: string,
  pageSize: number,
  onPage: (rows: ExportedException[]) => void,
): Promise<{ partnerId: string; version: number; optionalColumns: string[] } | null> {
  const client = await db.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows: cycles } = await client.query<{
      partner_id: string;
      version: string | null;
      generation: number | null;
    }>(
      `SELECT c.partner_id, b.version::text, b.generation
         FROM settlement_cycles c LEFT JOIN exception_books b ON b.cycle_id = c.id WHERE c.id = $1`,
      [cycleId],
    );
    const cycle = cycles[0];
    if (!cycle) {
      await client.query('COMMIT');
      return null;
    }
    // The suggestion (and the evidence) columns come with another migration: read when present.
    const { rows: present } = await client.query<{ column_name: string }>(
      `SELECT column_name::text FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'settlement_exceptions' AND column_name = ANY($1::text[])`,
      [OPTIONAL_COLUMNS],
    );
    const has = new Set(present.map((r) => r.column_name));
    // Identifiers from the constant list above only, never from input.
    const optional = OPTIONAL_COLUMNS.map((c) =>
      has.has(c) ? `e.${c}::text AS ${c}` : `NULL::text AS ${c}`,
    );
    if (cycle.generation !== null) {
      let after: string | null = null;
      for (;;) {
        const { rows }: { rows: ExportedException[] } = await client.query<ExportedException>(
          `SELECT e.exception_id, e.kind, e.tx_id, e.business_date::text, e.game_id, e.currency,
                  e.ours_minor::text, e.theirs_minor::text, e.difference_minor::text, e.detail,
                  ${optional.join(', ')},
                  e.resolution, e.resolution_amount_minor::text AS amount_minor, e.reason, e.operator
             FROM settlement_exceptions e
            WHERE e.cycle_id = $1 AND e.generation = $2 AND ($3::text IS NULL OR e.exception_id > $3)
            ORDER BY e.exception_id LIMIT $4`,
          [cycleId, cycle.generation, after, pageSize],
        );
        if (rows.length > 0) onPage(rows);
        if (rows.length < pageSize) break;
        after = rows[rows.length - 1]!.exception_id;
      }
    }
    await client.query('COMMIT');
    return {
      partnerId: cycle.partner_id,
      version: cycle.version === null ? 0 : Number(cycle.version),
      optionalColumns: [...has],
    };
  } catch (err) {
    await client.query('ROLLBACK').catch((e: unknown) => {
      broken = e instanceof Error ? e : new Error(String(e));
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

export interface StoredImport {
  importId: string;
  cycleId: string;
  items: ImportItem[];
  lineCount: number;
  digest: string;
  uploadedBy: string;
}

/** Stores an import once: the same decisions uploaded again find the row stored first. */
export async function storeImport(db: Queryable, imp: StoredImport): Promise<StoredImport> {
  await db.query(
    `INSERT INTO exception_imports (import_id, cycle_id, items, line_count, digest, uploaded_by)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (import_id) DO NOTHING`,
    [imp.importId, imp.cycleId, JSON.stringify(imp.items), imp.lineCount, imp.digest, imp.uploadedBy],
  );
  const stored = await importOf(db, imp.cycleId, imp.importId);
  if (!stored) throw new Error(`import ${imp.importId} was not stored`);
  return stored;
}

/** An import of this cycle (an id of another cycle's import is not found here). */
export async function importOf(
  db: Queryable,
  cycleId: string,
  importId: string,
): Promise<StoredImport | null> {
  const { rows } = await db.query<{
    import_id: string;
    cycle_id: string;
    items: ImportItem[];
    line_count: number;
    digest: string;
    uploaded_by: string;
  }>(
    `SELECT import_id, cycle_id, items, line_count, digest, uploaded_by
       FROM exception_imports WHERE import_id = $1 AND cycle_id = $2`,
    [importId, cycleId],
  );
  const r = rows[0];
  return r
    ? {
        importId: r.import_id,
        cycleId: r.cycle_id,
        items: r.items,
        lineCount: r.line_count,
        digest: r.digest,
        uploadedBy: r.uploaded_by,
      }
    : null;
}

/** Where an import's exceptions stand in the book's current generation, before it is sent. */
export interface ImportStanding {
  /** Ids the current generation does not have (a file of an earlier run, a typo). */
  unknown: string[];
  /** Resolved by anyone or anything but this import applied by this decider: why. */
  conflicts: { exceptionId: string; reason: string }[];
  /** Resolved by this very import, by this decider: a re-import of what was applied. */
  appliedByIt: number;
  /** Open exceptions in the book. */
  open: number;
}

/**
 * The book's view of an import's items, by the rule resolveInBook applies under its lock (an
 * item resolved through the same Update id by the same decider counts as applied): what lets
 * the API answer a re-import without sending an Update, and refuse a conflicting file naming
 * its lines. Advisory: the book decides again, atomically, when the import is applied.
 */
export async function importStanding(
  db: Queryable,
  cycleId: string,
  importId: string,
  exceptionIds: string[],
  decider: string,
): Promise<ImportStanding> {
  const { rows } = await db.query<{
    exception_id: string;
    resolution: string | null;
    operator: string | null;
    decider: string | null;
    update_id: string | null;
    open: number;
  }>(
    `SELECT e.exception_id, e.resolution, e.operator, coalesce(e.actor, e.operator) AS decider, e.update_id, b.open
       FROM exception_books b
       JOIN settlement_exceptions e ON e.cycle_id = b.cycle_id AND e.generation = b.generation
      WHERE b.cycle_id = $1 AND e.exception_id = ANY($2::text[])`,
    [cycleId, exceptionIds],
  );
  const found = new Map(rows.map((r) => [r.exception_id, r]));
  const standing: ImportStanding = { unknown: [], conflicts: [], appliedByIt: 0, open: 0 };
  for (const id of exceptionIds) {
    const e = found.get(id);
    if (!e) standing.unknown.push(id);
    else if (e.resolution === null) continue;
    else if (e.update_id === importUpdateId(importId) && e.decider === decider) standing.appliedByIt++;
    // A rule's, the matcher's or reconciliation's decision: the book lets a person reverse it
    // (db/exception-book.ts isSystemDecision), so the import may too.
    else if (isSystemDecision(e.decider)) continue;
    else
      standing.conflicts.push({
        exceptionId: id,
        reason: `exception ${id} was already resolved (${e.resolution}) by ${e.operator ?? 'someone'}${
          e.update_id === importUpdateId(importId) ? ' through this same import' : ''
        }`,
      });
  }
  if (rows[0]) standing.open = rows[0].open;
  else {
    const { rows: book } = await db.query<{ open: number }>(
      'SELECT open FROM exception_books WHERE cycle_id = $1',
      [cycleId],
    );
    standing.open = book[0]?.open ?? 0;
  }
  return standing;
}

/** The partner a cycle settles, or null when there is no such cycle. */
export async function cyclePartner(db: Queryable, cycleId: string): Promise<string | null> {
  const { rows } = await db.query<{ partner_id: string }>(
    'SELECT partner_id FROM settlement_cycles WHERE id = $1',
    [cycleId],
  );
  return rows[0]?.partner_id ?? null;
}
