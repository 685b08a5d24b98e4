import type pg from 'pg';
import type { StoredTransaction } from './positions';

// Drill-down reads for the console (api/routes/insights-drill-down.ts): from a day and game to
// its transactions, from an exception to both sides, from a cycle to its record, from a ledger
// account to its postings and their source. Each is keyed: the day-and-game index of the
// transactions, a cycle's own keys, an account's posting indexes, an entry's id.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

const TX_COLUMNS = `partner_id, tx_id, type, round_id, player_id, game_id, amount_minor::text, currency, occurred_at,
                    business_date::text, ref_id, ref_type, reason, batch_id, received_at`;

export interface DayTransactionsQuery {
  partnerId: string;
  date: string;
  gameId?: string | undefined;
  type?: string | undefined;
  playerId?: string | undefined;
  roundId?: string | undefined;
  batchId?: string | undefined;
  /** The key of the last row of the previous page. */
  after: { gameId: string; roundId: string; txId: string } | null;
  limit: number;
}

/**
 * One business day's transactions of a partner, in (game, round, transaction) order, `limit`
 * after `after`: game_transactions_day_game (partner_id, business_date, game_id) reads the day
 * (the game, when one is asked for) and the page is sorted from those rows: a page costs the
 * day's game, never the partner's history (round and transaction ids are not in the index: they
 * made ingest 45 % slower, see the migration). Only the conditions asked for are in the
 * statement; the other filters are checked on the day's rows as the scan passes them.
 */
export function dayTransactionsSql(q: DayTransactionsQuery): { text: string; values: unknown[] } {
  const values: unknown[] = [q.partnerId, q.date];
  const where = ['partner_id = $1', 'business_date = $2::date'];
  const add = (sql: (n: number) => string, value: unknown) => {
    values.push(value);
    where.push(sql(values.length));
  };
  if (q.gameId !== undefined) add((n) => `game_id = $${n}`, q.gameId);
  if (q.type !== undefined) add((n) => `type = $${n}`, q.type);
  if (q.playerId !== undefined) add((n) => `player_id = $${n}`, q.playerId);
  if (q.roundId !== undefined) add((n) => `round_id = $${n}`, q.roundId);
  if (q.batchId !== undefined) add((n) => `batch_id = $${n}`, q.batchId);
  if (q.after) {
    values.push(q.after.gameId, q.after.roundId, q.after.txId);
    const n = values.length;
    where.push(`(game_id, round_id, tx_id) > ($${n - 2}, $${n - 1}, $${n})`);
  }
  values.push(q.limit);
  return {
    text: `SELECT ${TX_COLUMNS} FROM game_transactions WHERE ${where.join(' AND ')}
            ORDER BY game_id, round_id, tx_id LIMIT $${values.length}`,
    values,
  };
}

export async function dayTransactions(db: Queryable, q: DayTransactionsQuery): Promise<StoredTransaction[]> {
  const { text, values } = dayTransactionsSql(q);
  const { rows } = await db.query<StoredTransaction>(text, values);
  return rows;
}

export interface ExceptionRow {
  cycleId: string;
  partnerId: string;
  settlementCurrency: string;
  generation: number;
  currentGeneration: number;
  exceptionId: string;
  kind: string;
  txId: string | null;
  businessDate: string | null;
  gameId: string | null;
  currency: string | null;
  oursMinor: string | null;
  theirsMinor: string | null;
  differenceMinor: string;
  detail: string;
  resolution: string | null;
  resolutionAmountMinor: string | null;
  reason: string | null;
  operator: string | null;
  actor: string | null;
  resolvedAt: string | null;
  foundAt: string;
  assignee: string | null;
  assigneeName: string | null;
  escalatedTier: string | null;
  expectedUntil: string | null;
  evidence: unknown;
  suggestion: unknown;
  resolutionGroup: string | null;
  writeOffAccount: string | null;
}

/**
 * An exception of a cycle: the current generation's, else the latest (a replaced run's, voided),
 * with the cycle's partner and settlement currency. Keyed by the exceptions' primary key.
 */
export async function exceptionOf(
  db: Queryable,
  cycleId: string,
  exceptionId: string,
): Promise<ExceptionRow | null> {
  const { rows } = await db.query<{
    cycle_id: string;
    partner_id: string;
    settlement_currency: string;
    generation: number;
    current_generation: number | null;
    exception_id: string;
    kind: string;
    tx_id: string | null;
    business_date: string | null;
    game_id: string | null;
    currency: string | null;
    ours: string | null;
    theirs: string | null;
    difference: string;
    detail: string;
    resolution: string | null;
    resolution_amount: string | null;
    reason: string | null;
    operator: string | null;
    actor: string | null;
    resolved_at: Date | null;
    found_at: Date;
    assignee: string | null;
    assignee_name: string | null;
    escalated_tier: string | null;
    expected_until: Date | null;
    evidence: unknown;
    suggestion: unknown;
    resolution_group: string | null;
    write_off_account: string | null;
  }>(
    `SELECT e.cycle_id, c.partner_id, p.settlement_currency, e.generation, b.generation AS current_generation,
            e.exception_id, e.kind, e.tx_id, e.business_date::text, e.game_id, e.currency,
            e.ours_minor::text AS ours, e.theirs_minor::text AS theirs, e.difference_minor::text AS difference,
            e.detail, e.resolution, e.resolution_amount_minor::text AS resolution_amount, e.reason, e.operator,
            e.actor, e.resolved_at, e.found_at, e.assignee, e.assignee_name, e.escalated_tier, e.expected_until,
            e.evidence, e.suggestion, e.resolution_group, e.write_off_account
       FROM settlement_exceptions e
       JOIN settlement_cycles c ON c.id = e.cycle_id
       JOIN partners p ON p.id = c.partner_id
       LEFT JOIN exception_books b ON b.cycle_id = e.cycle_id
      WHERE e.cycle_id = $1 AND e.exception_id = $2
      ORDER BY (e.generation = b.generation) DESC NULLS LAST, e.generation DESC
      LIMIT 1`,
    [cycleId, exceptionId],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    cycleId: r.cycle_id,
    partnerId: r.partner_id,
    settlementCurrency: r.settlement_currency,
    generation: r.generation,
    currentGeneration: r.current_generation ?? r.generation,
    exceptionId: r.exception_id,
    kind: r.kind,
    txId: r.tx_id,
    businessDate: r.business_date,
    gameId: r.game_id,
    currency: r.currency,
    oursMinor: r.ours,
    theirsMinor: r.theirs,
    differenceMinor: r.difference,
    detail: r.detail,
    resolution: r.resolution,
    resolutionAmountMinor: r.resolution_amount,
    reason: r.reason,
    operator: r.operator,
    actor: r.actor,
    resolvedAt: r.resolved_at?.toISOString() ?? null,
    foundAt: r.found_at.toISOString(),
    assignee: r.assignee,
    assigneeName: r.assignee_name,
    escalatedTier: r.escalated_tier,
    expectedUntil: r.expected_until?.toISOString() ?? null,
    evidence: r.evidence,
    suggestion: r.suggestion,
    resolutionGroup: r.resolution_group,
    writeOffAccount: r.write_off_account,
  };
}

export interface ReportRow {
  ord: number;
  txId: string;
  type: string;
  roundId: string;
  gameId: string;
  currency: string;
  amountMinor: string;
  occurredAt: string;
  businessDate: string;
  roundStatus: string | null;
}

/**
 * The provider's report rows behind exceptions of a cycle (exception_matches, side theirs), by
 * the report's primary key (cycle_id, ord, period_start): never a search of the report by id.
 */
export async function theirRows(
  db: Queryable,
  cycleId: string,
  generation: number,
  exceptionIds: string[],
): Promise<(ReportRow & { exceptionId: string })[]> {
  if (exceptionIds.length === 0) return [];
  const { rows } = await db.query<{
    exception_id: string;
    ord: number;
    tx_id: string;
    type: string;
    round_id: string;
    game_id: string;
    currency: string;
    amount: string;
    occurred_at: Date;
    business_date: string;
    round_status: string | null;
  }>(
    `SELECT m.exception_id, r.ord, r.tx_id, r.type, r.round_id, r.game_id, r.currency, r.amount_minor::text AS amount,
            r.occurred_at, r.business_date::text, r.round_status
       FROM exception_matches m
       JOIN settlement_cycles c ON c.id = m.cycle_id
       JOIN provider_report_rows r ON r.cycle_id = m.cycle_id AND r.ord = m.report_ord AND r.period_start = c.period_start
      WHERE m.cycle_id = $1 AND m.generation = $2 AND m.exception_id = ANY($3::text[]) AND m.side = 'theirs'
      ORDER BY m.exception_id, r.ord`,
    [cycleId, generation, exceptionIds],
  );
  return rows.map((r) => ({
    exceptionId: r.exception_id,
    ord: r.ord,
    txId: r.tx_id,
    type: r.type,
    roundId: r.round_id,
    gameId: r.game_id,
    currency: r.currency,
    amountMinor: r.amount,
    occurredAt: r.occurred_at.toISOString(),
    businessDate: r.business_date,
    roundStatus: r.round_status,
  }));
}

/** The provider's aggregate for a day, game and currency (aggregator reports), by its primary key. */
export async function theirAggregate(
  db: Queryable,
  cycleId: string,
  key: { businessDate: string; gameId: string; currency: string },
): Promise<{ betCount: string; betMinor: string; winMinor: string } | null> {
  const { rows } = await db.query<{ bet_count: string; bet_minor: string; win_minor: string }>(
    `SELECT bet_count::text, bet_minor::text, win_minor::text FROM provider_report_aggregates
      WHERE cycle_id = $1 AND business_date = $2 AND game_id = $3 AND currency = $4`,
    [cycleId, key.businessDate, key.gameId, key.currency],
  );
  const r = rows[0];
  return r ? { betCount: r.bet_count, betMinor: r.bet_minor, winMinor: r.win_minor } : null;
}

/** Our transaction ids behind exceptions of a cycle (exception_matches, side ours). */
export async function ourTxIds(
  db: Queryable,
  cycleId: string,
  generation: number,
  exceptionIds: string[],
): Promise<{ exceptionId: string; txId: string }[]> {
  if (exceptionIds.length === 0) return [];
  const { rows } = await db.query<{ exception_id: string; tx_id: string }>(
    `SELECT exception_id, tx_id FROM exception_matches
      WHERE cycle_id = $1 AND generation = $2 AND exception_id = ANY($3::text[]) AND side = 'ours'
      ORDER BY exception_id, tx_id`,
    [cycleId, generation, exceptionIds],
  );
  return rows.map((r) => ({ exceptionId: r.exception_id, txId: r.tx_id }));
}

/** Transactions of a partner by id (the primary key). */
export async function transactionsById(
  db: Queryable,
  partnerId: string,
  txIds: string[],
): Promise<StoredTransaction[]> {
  if (txIds.length === 0) return [];
  const { rows } = await db.query<StoredTransaction>(
    `SELECT ${TX_COLUMNS} FROM game_transactions WHERE partner_id = $1 AND tx_id = ANY($2::text[]) ORDER BY tx_id`,
    [partnerId, txIds],
  );
  return rows;
}

export interface CycleRecordRow {
  id: string;
  partnerId: string;
  currency: string;
  timezone: string;
  periodStart: string;
  periodEnd: string;
  status: string;
  frozenAt: string | null;
  fees: unknown;
  updatedAt: string;
  statementPublishedAt: string | null;
  requestedByName: string | null;
  plannedBy: string | null;
  book: { version: number; generation: number; total: number; open: number } | null;
  feesComputedAt: string | null;
}

/** A cycle as Postgres holds it (never its workflow): its row, its book's counts, its accrual's time. */
export async function cycleRecord(db: Queryable, cycleId: string): Promise<CycleRecordRow | null> {
  const { rows } = await db.query<{
    id: string;
    partner_id: string;
    currency: string;
    timezone: string;
    period_start: string;
    period_end: string;
    status: string;
    frozen_at: Date | null;
    fees: unknown;
    updated_at: Date;
    statement_published_at: Date | null;
    requested_by_name: string | null;
    planned_by: string | null;
    version: string | null;
    generation: number | null;
    total: number | null;
    open: number | null;
    computed_at: Date | null;
  }>(
    `SELECT c.id, c.partner_id, p.settlement_currency AS currency, p.timezone, c.period_start::text, c.period_end::text,
            c.status, c.frozen_at, c.fees, c.updated_at, c.statement_published_at, c.requested_by_name, c.planned_by,
            b.version::text, b.generation, b.total, b.open, a.computed_at
       FROM settlement_cycles c
       JOIN partners p ON p.id = c.partner_id
       LEFT JOIN exception_books b ON b.cycle_id = c.id
       LEFT JOIN settlement_accruals a ON a.cycle_id = c.id
      WHERE c.id = $1`,
    [cycleId],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    partnerId: r.partner_id,
    currency: r.currency,
    timezone: r.timezone,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    status: r.status,
    frozenAt: r.frozen_at?.toISOString() ?? null,
    fees: r.fees ?? null,
    updatedAt: r.updated_at.toISOString(),
    statementPublishedAt: r.statement_published_at?.toISOString() ?? null,
    requestedByName: r.requested_by_name,
    plannedBy: r.planned_by,
    book:
      r.version === null
        ? null
        : { version: Number(r.version), generation: r.generation!, total: r.total!, open: r.open! },
    feesComputedAt: r.computed_at?.toISOString() ?? null,
  };
}

/** The ledger entries a cycle posted (its source_ref), by the entries' (source_kind, source_ref) index. */
export async function cycleLedgerEntries(
  db: Queryable,
  cycleId: string,
): Promise<{ id: string; key: string; sourceKind: string; effectiveDate: string; postedAt: string }[]> {
  const { rows } = await db.query<{
    id: string;
    idempotency_key: string;
    source_kind: string;
    effective_date: string;
    posted_at: Date;
  }>(
    `SELECT id::text, idempotency_key, source_kind, effective_date::text, posted_at FROM ledger_entries
      WHERE source_kind = ANY(ARRAY['settlement', 'adjustment', 'reversal', 'transfer']) AND source_ref = $1
      ORDER BY id`,
    [cycleId],
  );
  return rows.map((r) => ({
    id: r.id,
    key: r.idempotency_key,
    sourceKind: r.source_kind,
    effectiveDate: r.effective_date,
    postedAt: r.posted_at.toISOString(),
  }));
}

export interface PostingRow {
  entryId: string;
  line: number;
  entryKey: string;
  effectiveDate: string;
  postedAt: string;
  direction: 'debit' | 'credit';
  amountMinor: string;
  currency: string;
  otherAccount: string;
  sourceKind: string;
  sourceRef: string;
}

export interface PostingKey {
  effectiveDate: string;
  entryId: string;
  line: number;
}

/**
 * An account's postings, newest effective date first (then newest entry), `limit` after
 * `after`: the two posting indexes (debit_account_id, effective_date) and (credit_account_id,
 * effective_date) read backwards from the cursor's date, merged.
 */
export async function accountPostings(
  db: Queryable,
  accountId: string,
  page: { after: PostingKey | null; limit: number },
): Promise<PostingRow[]> {
  const side = (column: 'debit_account_id' | 'credit_account_id') => `
    (SELECT p.entry_id, p.line, p.effective_date, p.posted_at, p.amount_minor, p.currency,
            '${column === 'debit_account_id' ? 'debit' : 'credit'}' AS direction,
            ${column === 'debit_account_id' ? 'p.credit_account_id' : 'p.debit_account_id'} AS other_id
       FROM ledger_postings p
      WHERE p.${column} = $1
        AND ($2::date IS NULL OR (p.effective_date <= $2::date
             AND (p.effective_date < $2::date OR (p.entry_id, p.line) < ($3::bigint, $4::int))))
      ORDER BY p.effective_date DESC, p.entry_id DESC, p.line DESC
      LIMIT $5)`;
  const { rows } = await db.query<{
    entry_id: string;
    line: number;
    effective_date: string;
    posted_at: Date;
    amount_minor: string;
    currency: string;
    direction: 'debit' | 'credit';
    other_code: string;
    idempotency_key: string;
    source_kind: string;
    source_ref: string;
  }>(
    `SELECT x.entry_id::text, x.line, x.effective_date::text, x.posted_at, x.amount_minor::text, x.currency,
            x.direction, o.code AS other_code, e.idempotency_key, e.source_kind, e.source_ref
       FROM (${side('debit_account_id')} UNION ALL ${side('credit_account_id')}) x
       JOIN ledger_entries e ON e.id = x.entry_id
       JOIN ledger_accounts o ON o.id = x.other_id
      ORDER BY x.effective_date DESC, x.entry_id DESC, x.line DESC
      LIMIT $5`,
    [
      accountId,
      page.after?.effectiveDate ?? null,
      page.after?.entryId ?? null,
      page.after?.line ?? null,
      page.limit,
    ],
  );
  return rows.map((r) => ({
    entryId: r.entry_id,
    line: r.line,
    entryKey: r.idempotency_key,
    effectiveDate: r.effective_date,
    postedAt: r.posted_at.toISOString(),
    direction: r.direction,
    amountMinor: r.amount_minor,
    currency: r.currency,
    otherAccount: r.other_code,
    sourceKind: r.source_kind,
    sourceRef: r.source_ref,
  }));
}

export interface LedgerEntryRow {
  id: string;
  key: string;
  effectiveDate: string;
  postedAt: string;
  sourceKind: string;
  sourceRef: string;
  metadata: Record<string, unknown>;
  reversesEntryId: string | null;
  reversedBy: string | null;
  postings: { line: number; debit: string; credit: string; currency: string; amountMinor: string }[];
}

/** One ledger entry with its postings (account codes), by id. */
export async function ledgerEntry(db: Queryable, id: string): Promise<LedgerEntryRow | null> {
  const { rows } = await db.query<{
    id: string;
    idempotency_key: string;
    effective_date: string;
    posted_at: Date;
    source_kind: string;
    source_ref: string;
    metadata: Record<string, unknown>;
    reverses_entry_id: string | null;
    reversed_by: string | null;
    postings: LedgerEntryRow['postings'];
  }>(
    `SELECT e.id::text, e.idempotency_key, e.effective_date::text, e.posted_at, e.source_kind, e.source_ref, e.metadata,
            e.reverses_entry_id::text, (SELECT r.id::text FROM ledger_entries r WHERE r.reverses_entry_id = e.id) AS reversed_by,
            (SELECT json_agg(json_build_object('line', p.line, 'debit', d.code, 'credit', c.code, 'currency', p.currency,
                                               'amountMinor', p.amount_minor::text) ORDER BY p.line)
               FROM ledger_postings p
               JOIN ledger_accounts d ON d.id = p.debit_account_id
               JOIN ledger_accounts c ON c.id = p.credit_account_id
              WHERE p.entry_id = e.id) AS postings
       FROM ledger_entries e WHERE e.id = $1`,
    [id],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    key: r.idempotency_key,
    effectiveDate: r.effective_date,
    postedAt: r.posted_at.toISOString(),
    sourceKind: r.source_kind,
    sourceRef: r.source_ref,
    metadata: r.metadata,
    reversesEntryId: r.reverses_entry_id,
    reversedBy: r.reversed_by,
    postings: r.postings ?? [],
  };
}

/** An ingest batch's record (what its response said, when it arrived), by its primary key. */
export async function ingestBatchOf(
  db: Queryable,
  partnerId: string,
  batchId: string,
): Promise<{
  receivedAt: string;
  received: number | null;
  accepted: number | null;
  stale: number | null;
  response: Record<string, unknown> | null;
} | null> {
  const { rows } = await db.query<{
    received_at: Date;
    received_count: number | null;
    accepted_count: number | null;
    stale_count: number | null;
    response: Record<string, unknown> | null;
  }>(
    `SELECT received_at, received_count, accepted_count, stale_count, response FROM ingest_batches
      WHERE partner_id = $1 AND batch_id = $2`,
    [partnerId, batchId],
  );
  const r = rows[0];
  return r
    ? {
        receivedAt: r.received_at.toISOString(),
        received: r.received_count,
        accepted: r.accepted_count,
        stale: r.stale_count,
        response: r.response,
      }
    : null;
}
