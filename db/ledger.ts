import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors';
import { checkCheckpoints, type CheckpointCheck, type CheckpointOptions } from './checkpoints';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export const LEDGER_CHAINS = 64;
/** Entries per ledger_post call; larger batches are split (bounded statement size). */
export const MAX_ENTRIES_PER_CALL = 10_000;

import type { AccountKind, AccountSpec } from '../domain/accounts';
export type { AccountKind, AccountSpec };

export interface Account {
  id: string;
  code: string;
  kind: AccountKind;
  currency: string;
  partnerId: string | null;
  debitsMinor: bigint;
  creditsMinor: bigint;
  /** Debit-positive balance: debits − credits. */
  balanceMinor: bigint;
}

export interface PostingInput {
  debitAccountId: string;
  creditAccountId: string;
  currency: string;
  amountMinor: bigint;
}

export interface EntryInput {
  idempotencyKey: string;
  effectiveDate: string;
  sourceKind: 'ingest_batch' | 'settlement' | 'adjustment' | 'reversal' | 'transfer';
  sourceRef: string;
  metadata?: Record<string, unknown>;
  reversesEntryId?: string;
  postings: PostingInput[];
}

export interface PostResult {
  idempotencyKey: string;
  entryId: string;
  status: 'posted' | 'duplicate';
}

/** Creates accounts that do not exist yet (idempotent by code) and returns their ids by code. */
export async function ensureAccounts(db: Queryable, specs: AccountSpec[]): Promise<Map<string, string>> {
  if (specs.length === 0) return new Map();
  await db.query(
    `INSERT INTO ledger_accounts (code, owner_kind, partner_id, kind, currency)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
     ON CONFLICT (code) DO NOTHING`,
    [
      specs.map((s) => s.code),
      specs.map((s) => s.ownerKind),
      specs.map((s) => s.partnerId ?? null),
      specs.map((s) => s.kind),
      specs.map((s) => s.currency),
    ],
  );
  const { rows } = await db.query<{ id: string; code: string }>(
    'SELECT id::text, code FROM ledger_accounts WHERE code = ANY($1::text[])',
    [specs.map((s) => s.code)],
  );
  return new Map(rows.map((r) => [r.code, r.id]));
}

function chainFor(key: string): number {
  return createHash('sha256').update(key).digest().readUInt16BE(0) % LEDGER_CHAINS;
}

/**
 * Posts entries in one round trip per MAX_ENTRIES_PER_CALL (the database function checks
 * and hashes them). Idempotent per key: re-posting the same content reports 'duplicate';
 * the same key with different content is a ConflictError and nothing of the call is written.
 * Run it inside a transaction (db/retry.ts withTransaction) to make several calls atomic.
 */
export async function postEntries(db: Queryable, entries: EntryInput[]): Promise<PostResult[]> {
  const results: PostResult[] = [];
  for (let start = 0; start < entries.length; start += MAX_ENTRIES_PER_CALL) {
    const chunk = entries.slice(start, start + MAX_ENTRIES_PER_CALL);
    const idx: number[] = [];
    const debit: string[] = [];
    const credit: string[] = [];
    const currency: string[] = [];
    const amount: string[] = [];
    chunk.forEach((e, i) => {
      if (e.postings.length === 0) throw new ValidationError(`entry ${e.idempotencyKey} has no postings`);
      for (const p of e.postings) {
        if (p.amountMinor <= 0n)
          throw new ValidationError(`entry ${e.idempotencyKey}: posting amounts must be positive`);
        idx.push(i + 1);
        debit.push(p.debitAccountId);
        credit.push(p.creditAccountId);
        currency.push(p.currency);
        amount.push(p.amountMinor.toString());
      }
    });
    try {
      const { rows } = await db.query<{
        idempotency_key: string;
        entry_id: string;
        status: PostResult['status'];
      }>(
        `SELECT idempotency_key, entry_id::text, status FROM ledger_post($1::smallint, $2::text[], $3::date[], $4::text[], $5::text[],
                $6::jsonb[], $7::bigint[], $8::int[], $9::bigint[], $10::bigint[], $11::text[], $12::bigint[])`,
        [
          chainFor(chunk[0]!.idempotencyKey),
          chunk.map((e) => e.idempotencyKey),
          chunk.map((e) => e.effectiveDate),
          chunk.map((e) => e.sourceKind),
          chunk.map((e) => e.sourceRef),
          chunk.map((e) => JSON.stringify(e.metadata ?? {})),
          chunk.map((e) => e.reversesEntryId ?? null),
          idx,
          debit,
          credit,
          currency,
          amount,
        ],
      );
      results.push(
        ...rows.map((r) => ({ idempotencyKey: r.idempotency_key, entryId: r.entry_id, status: r.status })),
      );
    } catch (err) {
      throw postingFailure(err);
    }
  }
  return results;
}

/** The ledger functions' refusals as typed failures; anything else as it came. */
function postingFailure(err: unknown): unknown {
  const e = err as { code?: string; detail?: string; message?: string };
  if (e.code === 'CH409') {
    return new ConflictError(
      'idempotency keys reused with different content',
      (e.detail ?? '').split(',').map((k) => ({ path: `entries[key=${k}]`, message: 'different content' })),
    );
  }
  if (e.code === 'CH422') return new ValidationError(e.message ?? 'invalid entries');
  // A posting dated inside a partner's closing or closed period (1764000033000_periods.sql).
  if (e.code === 'CH423')
    return new ConflictError(e.message ?? 'period closed', [
      {
        path: 'effectiveDate',
        message: 'inside a closed period: date it with db/periods.ts openPostingDate',
      },
    ]);
  return err;
}

// Postgres' text form of composite values and arrays: every value double-quoted, with its
// quotes and backslashes escaped, so that nesting (a row inside an array inside a row inside
// an array) stays unambiguous whatever the text holds; an unquoted empty field is NULL.
const quoted = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
const rowLiteral = (fields: (string | null)[]) =>
  `(${fields.map((f) => (f === null ? '' : quoted(f))).join(',')})`;
const arrayLiteral = (items: string[]) => `{${items.map(quoted).join(',')}}`;

/** A batch as one `ledger_entry_in[]` value: each entry a row carrying its postings' rows. */
export function entryRowsLiteral(entries: EntryInput[]): string {
  return arrayLiteral(
    entries.map((e) => {
      if (e.postings.length === 0) throw new ValidationError(`entry ${e.idempotencyKey} has no postings`);
      return rowLiteral([
        e.idempotencyKey,
        e.effectiveDate,
        e.sourceKind,
        e.sourceRef,
        JSON.stringify(e.metadata ?? {}),
        e.reversesEntryId ?? null,
        arrayLiteral(
          e.postings.map((p) => {
            if (p.amountMinor <= 0n)
              throw new ValidationError(`entry ${e.idempotencyKey}: posting amounts must be positive`);
            return rowLiteral([p.debitAccountId, p.creditAccountId, p.currency, p.amountMinor.toString()]);
          }),
        ),
      ]);
    }),
  );
}

/**
 * Posts entries like postEntries, the batch crossing into SQL as one array of entry rows
 * (`ledger_entry_in[]`, each with its `ledger_posting_in[]`) through ledger_post_entries,
 * which hands them to ledger_post: the same checks, hashes, chains, idempotency and results.
 * Used by journals (db/journals.ts); ingest keeps its own path to ledger_post.
 */
export async function postEntryRows(db: Queryable, entries: EntryInput[]): Promise<PostResult[]> {
  const results: PostResult[] = [];
  for (let start = 0; start < entries.length; start += MAX_ENTRIES_PER_CALL) {
    const chunk = entries.slice(start, start + MAX_ENTRIES_PER_CALL);
    try {
      const { rows } = await db.query<{
        idempotency_key: string;
        entry_id: string;
        status: PostResult['status'];
      }>(
        `SELECT idempotency_key, entry_id::text, status FROM ledger_post_entries($1::smallint, $2::ledger_entry_in[])`,
        [chainFor(chunk[0]!.idempotencyKey), entryRowsLiteral(chunk)],
      );
      results.push(
        ...rows.map((r) => ({ idempotencyKey: r.idempotency_key, entryId: r.entry_id, status: r.status })),
      );
    } catch (err) {
      throw postingFailure(err);
    }
  }
  return results;
}

/** Corrections are reversing entries: the same postings with debit and credit swapped. */
export async function reverseEntry(
  db: Queryable,
  entryId: string,
  idempotencyKey: string,
  reason: string,
): Promise<PostResult> {
  const { rows } = await db.query<{
    debit_account_id: string;
    credit_account_id: string;
    currency: string;
    amount_minor: string;
    effective_date: string;
    source_ref: string;
  }>(
    `SELECT p.debit_account_id::text, p.credit_account_id::text, p.currency, p.amount_minor::text, e.effective_date::text, e.source_ref
       FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id WHERE p.entry_id = $1 ORDER BY p.line`,
    [entryId],
  );
  if (rows.length === 0) throw new NotFoundError(`ledger entry ${entryId} not found`);
  const [result] = await postEntries(db, [
    {
      idempotencyKey,
      effectiveDate: rows[0]!.effective_date,
      sourceKind: 'reversal',
      sourceRef: rows[0]!.source_ref,
      metadata: { reason },
      reversesEntryId: entryId,
      postings: rows.map((r) => ({
        debitAccountId: r.credit_account_id,
        creditAccountId: r.debit_account_id,
        currency: r.currency,
        amountMinor: BigInt(r.amount_minor),
      })),
    },
  ]);
  return result!;
}

interface AccountRow {
  id: string;
  code: string;
  kind: AccountKind;
  currency: string;
  partner_id: string | null;
  debits_minor: string;
  credits_minor: string;
}
const toAccount = (r: AccountRow): Account => ({
  id: r.id,
  code: r.code,
  kind: r.kind,
  currency: r.currency,
  partnerId: r.partner_id,
  debitsMinor: BigInt(r.debits_minor),
  creditsMinor: BigInt(r.credits_minor),
  balanceMinor: BigInt(r.debits_minor) - BigInt(r.credits_minor),
});
const ACCOUNT_COLUMNS = 'id::text, code, kind, currency, partner_id, debits_minor::text, credits_minor::text';

export async function getAccount(db: Queryable, code: string): Promise<Account | null> {
  const { rows } = await db.query<AccountRow>(
    `SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts WHERE code = $1`,
    [code],
  );
  return rows[0] ? toAccount(rows[0]) : null;
}

/** Accounts by code, for one partner or all: `limit` after the code `after`. */
export async function listAccounts(
  db: Queryable,
  filter: { partnerId?: string },
  pageOf: { limit: number; after: string | null },
): Promise<Account[]> {
  const { rows } = await db.query<AccountRow>(
    `SELECT ${ACCOUNT_COLUMNS} FROM ledger_accounts
      WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR code > $2)
      ORDER BY code LIMIT $3`,
    [filter.partnerId ?? null, pageOf.after, pageOf.limit],
  );
  return rows.map(toAccount);
}

/**
 * An account's balance as of a business date (postings effective on or before it: a closing
 * balance, backdated entries included), as recorded by an instant (postings written at or
 * before it: what the books said then), or both at once (what the books said at that instant
 * about the days up to that date: an auditor's question about a closed month).
 */
export async function balanceAsOf(
  db: Queryable,
  accountId: string,
  asOf: { date?: string; instant?: string },
): Promise<bigint> {
  const { rows } = await db.query<{ debits: string; credits: string }>(
    `SELECT (SELECT coalesce(sum(amount_minor), 0) FROM ledger_postings WHERE debit_account_id = $1
               AND ($2::date IS NULL OR effective_date <= $2) AND ($3::timestamptz IS NULL OR posted_at <= $3))::text AS debits,
            (SELECT coalesce(sum(amount_minor), 0) FROM ledger_postings WHERE credit_account_id = $1
               AND ($2::date IS NULL OR effective_date <= $2) AND ($3::timestamptz IS NULL OR posted_at <= $3))::text AS credits`,
    [accountId, asOf.date ?? null, asOf.instant ?? null],
  );
  return BigInt(rows[0]!.debits) - BigInt(rows[0]!.credits);
}

export interface VerifyReport {
  ok: boolean;
  chains: number;
  blocks: number;
  entries: number;
  /** The first broken entry (lowest id among the chains' first breaks), with why. */
  firstBroken: { chainId: number; blockSeq: number; entryId: string | null; reason: string } | null;
  heads: { chainId: number; seq: string; hash: string }[];
  /** The newest signed checkpoints checked against the chains (only when asked to; empty: none taken yet). */
  checkpoints?: CheckpointCheck[];
}

const BLOCK_PAGE = 500;

/**
 * Walks every chain block by block: recomputes each entry's content hash from its stored
 * columns and postings, each block's entries hash, its link to the previous block and its
 * own hash, and the chain head. Reports the first place where the stored ledger differs.
 */
export async function verifyLedger(
  db: Queryable,
  options: { checkpoints?: CheckpointOptions } = {},
): Promise<VerifyReport> {
  const genesis = (c: number) => createHash('sha256').update(`clearhouse-ledger-genesis-${c}`).digest();
  const { rows: chains } = await db.query<{ chain_id: number; head_seq: string; head_hash: Buffer }>(
    'SELECT chain_id, head_seq::text, head_hash FROM ledger_chains ORDER BY chain_id',
  );
  const breaks: NonNullable<VerifyReport['firstBroken']>[] = [];
  let blocks = 0;
  let entries = 0;
  for (const chain of chains) {
    let prevHash: Buffer = genesis(chain.chain_id);
    let lastSeq = 0n;
    let broken: VerifyReport['firstBroken'] = null;
    for (;;) {
      const { rows } = await db.query<{
        seq: string;
        prev_hash: Buffer;
        entries_hash: Buffer;
        hash: Buffer;
        entry_count: number;
        n: string;
        first_entry: string | null;
        stored_entries_hash: Buffer | null;
        first_bad_entry: string | null;
      }>(
        `WITH b AS (SELECT * FROM ledger_blocks WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT ${BLOCK_PAGE}),
              e AS (SELECT e.block_id, e.id, e.content_hash,
                           ledger_entry_content_hash(e.idempotency_key, e.effective_date, e.source_kind, e.source_ref, e.metadata,
                                                     e.reverses_entry_id, ledger_postings_text(e.id)) AS recomputed
                      FROM ledger_entries e WHERE e.block_id IN (SELECT id FROM b))
         SELECT b.seq::text, b.prev_hash, b.entries_hash, b.hash, b.entry_count, count(e.id)::text AS n, min(e.id)::text AS first_entry,
                sha256(string_agg(e.content_hash, ''::bytea ORDER BY e.id)) AS stored_entries_hash,
                (min(e.id) FILTER (WHERE e.content_hash IS DISTINCT FROM e.recomputed))::text AS first_bad_entry
           FROM b LEFT JOIN e ON e.block_id = b.id
          GROUP BY b.id, b.seq, b.prev_hash, b.entries_hash, b.hash, b.entry_count
          ORDER BY b.seq`,
        [chain.chain_id, lastSeq.toString()],
      );
      for (const b of rows) {
        blocks++;
        entries += Number(b.n);
        const seq = Number(b.seq);
        const fail = (entryId: string | null, reason: string) =>
          (broken ??= { chainId: chain.chain_id, blockSeq: seq, entryId, reason });
        if (BigInt(b.seq) !== lastSeq + 1n)
          fail(b.first_entry, `block sequence jumps from ${lastSeq} to ${b.seq}`);
        else if (b.first_bad_entry)
          fail(b.first_bad_entry, 'entry content does not match its hash (entry or postings altered)');
        else if (Number(b.n) !== b.entry_count)
          fail(b.first_entry, `block lists ${b.entry_count} entries, ${b.n} found`);
        else if (!b.stored_entries_hash?.equals(b.entries_hash))
          fail(b.first_entry, "entries' hashes do not match the block");
        else if (!b.prev_hash.equals(prevHash))
          fail(b.first_entry, 'block does not link to the previous block');
        else if (
          !createHash('sha256')
            .update(Buffer.concat([b.prev_hash, b.entries_hash]))
            .digest()
            .equals(b.hash)
        )
          fail(b.first_entry, 'block hash is wrong');
        if (broken) break;
        prevHash = b.hash;
        lastSeq = BigInt(b.seq);
      }
      if (broken || rows.length < BLOCK_PAGE) break;
    }
    if (!broken && (BigInt(chain.head_seq) !== lastSeq || !chain.head_hash.equals(prevHash))) {
      broken = {
        chainId: chain.chain_id,
        blockSeq: Number(lastSeq),
        entryId: null,
        reason: 'chain head does not match its last block',
      };
    }
    if (broken) breaks.push(broken);
  }
  breaks.sort((a, b) =>
    a.entryId === null ? 1 : b.entryId === null ? -1 : Number(BigInt(a.entryId) - BigInt(b.entryId)),
  );
  // A chain that walks intact may still have lost its tail: the signed checkpoint says how far it reached.
  let checkpoints: CheckpointCheck[] | undefined;
  if (options.checkpoints) {
    checkpoints = await checkCheckpoints(db, 'ledger', options.checkpoints);
    const cut = checkpoints.find((c) => c.problem)?.problem;
    if (breaks.length === 0 && cut)
      breaks.push({
        chainId: cut.chainId ?? -1,
        blockSeq: Number(cut.seq ?? 0),
        entryId: null,
        reason: cut.reason,
      });
  }
  return {
    ok: breaks.length === 0,
    chains: chains.length,
    blocks,
    entries,
    firstBroken: breaks[0] ?? null,
    heads: chains.map((c) => ({ chainId: c.chain_id, seq: c.head_seq, hash: c.head_hash.toString('hex') })),
    ...(checkpoints ? { checkpoints } : {}),
  };
}
