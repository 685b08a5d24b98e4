import type pg from 'pg';
import { statementDigest, type Statement } from '../domain/statement';
import type { RestatementAdjustment } from '../domain/restatement';

// Statement versions (1764000032000_restatements.sql): version 1 is the cycle's own statement,
// stored with its fee step; each restatement adds the next. Never edited (a trigger refuses).

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export interface StatementVersion {
  cycleId: string;
  version: number;
  statement: Statement;
  text: string;
  digest: string;
  journalId: string | null;
  contractVersion: number;
  adjustments: RestatementAdjustment[];
  /** What a later version took from the periods before it; null for version 1. */
  overrides: StoredOverrides | null;
  restatementId: string | null;
  createdAt: string;
}

/** A version's month-to-date and carries claimed, as stored (amounts as digit strings). */
export interface StoredOverrides {
  monthToDate: Record<string, string | boolean>;
  carriedIn: { fromSettlementId: string; amountMinor: string }[];
}

interface Row {
  cycle_id: string;
  version: number;
  statement_text: string;
  digest: string;
  journal_id: string | null;
  contract_version: number;
  adjustments: RestatementAdjustment[];
  overrides: StoredOverrides | null;
  restatement_id: string | null;
  created_at: Date;
}

const COLUMNS =
  'cycle_id, version, statement_text, digest, journal_id, contract_version, adjustments, overrides, restatement_id, created_at';

const fromRow = (r: Row): StatementVersion => ({
  cycleId: r.cycle_id,
  version: r.version,
  statement: JSON.parse(r.statement_text) as Statement,
  text: r.statement_text,
  digest: r.digest,
  journalId: r.journal_id,
  contractVersion: r.contract_version,
  adjustments: r.adjustments,
  overrides: r.overrides,
  restatementId: r.restatement_id,
  createdAt: r.created_at.toISOString(),
});

/** Stores a version once: the same (cycle, version) with the same digest is a no-op. */
export async function storeStatementVersion(
  q: Queryable,
  v: {
    cycleId: string;
    version: number;
    text: string;
    journalId: string | null;
    contractVersion: number;
    adjustments: RestatementAdjustment[];
    overrides?: StoredOverrides | null;
    restatementId: string | null;
  },
): Promise<{ digest: string }> {
  const digest = statementDigest(v.text);
  await q.query(
    `INSERT INTO statement_versions (cycle_id, version, statement_text, digest, journal_id, contract_version, adjustments, overrides, restatement_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9)
     ON CONFLICT (cycle_id, version) DO NOTHING`,
    [
      v.cycleId,
      v.version,
      v.text,
      digest,
      v.journalId,
      v.contractVersion,
      JSON.stringify(v.adjustments),
      v.overrides ? JSON.stringify(v.overrides) : null,
      v.restatementId,
    ],
  );
  return { digest };
}

/** The latest version of a cycle's statement; null before its fee step. */
export async function latestStatement(q: Queryable, cycleId: string): Promise<StatementVersion | null> {
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM statement_versions WHERE cycle_id = $1 ORDER BY version DESC LIMIT 1`,
    [cycleId],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

/** One version of a cycle's statement, or null. */
export async function statementVersion(
  q: Queryable,
  cycleId: string,
  version: number,
): Promise<StatementVersion | null> {
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM statement_versions WHERE cycle_id = $1 AND version = $2`,
    [cycleId, version],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

/** Every version of a cycle's statement, oldest first (without their texts' parse when many). */
export async function statementVersions(q: Queryable, cycleId: string): Promise<StatementVersion[]> {
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM statement_versions WHERE cycle_id = $1 ORDER BY version`,
    [cycleId],
  );
  return rows.map(fromRow);
}
