import type pg from 'pg';
import { ConflictError, NotFoundError } from '../domain/errors';
import {
  decodeJournal,
  encodeJournal,
  journalAccounts,
  journalDigest,
  type Journal,
  type JsonValue,
} from '../domain/journal';
import { ensureAccounts, postEntryRows } from './ledger';

// Journals (domain/journal.ts): stored once, read back, posted from what was stored. The
// application may insert and read the table, never rewrite it (1764000023000_journals.sql).

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * Stores a journal once. Idempotent: the same id with the same content (digest) is a no-op;
 * the same id with different content is a ConflictError and the stored one stays. Returns
 * the digest and whether this call stored it.
 */
export async function storeJournal(
  client: Queryable,
  journal: Journal,
): Promise<{ digest: string; stored: boolean }> {
  const encoded = encodeJournal(journal);
  const digest = journalDigest(journal);
  const { rowCount } = await client.query(
    `INSERT INTO journals (id, kind, source_ref, journal_version, entries, summary, digest)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)
     ON CONFLICT (id) DO NOTHING`,
    [
      encoded.id,
      encoded.kind,
      encoded.sourceRef,
      encoded.journalVersion,
      JSON.stringify(encoded.entries),
      JSON.stringify(encoded.summary ?? {}),
      digest,
    ],
  );
  if (rowCount === 1) return { digest, stored: true };
  const { rows } = await client.query<{ digest: string }>('SELECT digest FROM journals WHERE id = $1', [
    journal.id,
  ]);
  if (rows[0]?.digest !== digest)
    throw new ConflictError(`journal ${journal.id} is stored already with different content`, [
      { path: 'journal', message: `stored digest ${rows[0]?.digest ?? 'none'}, this one ${digest}` },
    ]);
  return { digest, stored: false };
}

/** A stored journal, checked against its digest; null when none is stored under that id. */
export async function journalOf(db: Queryable, id: string): Promise<(Journal & { digest: string }) | null> {
  const { rows } = await db.query<{
    id: string;
    kind: string;
    source_ref: string;
    journal_version: number;
    entries: unknown;
    summary: Record<string, JsonValue>;
    digest: string;
  }>('SELECT id, kind, source_ref, journal_version, entries, summary, digest FROM journals WHERE id = $1', [
    id,
  ]);
  const r = rows[0];
  if (!r) return null;
  const journal = decodeJournal({
    journalVersion: r.journal_version,
    id: r.id,
    kind: r.kind,
    sourceRef: r.source_ref,
    entries: r.entries,
    // Stored as '{}' when the journal had none: read back as none, as it was digested.
    ...(Object.keys(r.summary).length === 0 ? {} : { summary: r.summary }),
  });
  // The row cannot be rewritten by the application; a mismatch means it was, some other way.
  if (journalDigest(journal) !== r.digest)
    throw new ConflictError(`stored journal ${id} does not match its digest`);
  return { ...journal, digest: r.digest };
}

/**
 * Posts a stored journal: opens the accounts its postings use, then posts its entries in one
 * call, the batch as one array of entry rows (db/ledger.ts postEntryRows). Idempotent per
 * entry key: posting it again posts nothing and returns the same entry ids. Run it in a
 * transaction (db/retry.ts withTransaction) with whatever must commit with it (the audit).
 * Returns the entry ids in the journal's order, and the journal as it was posted.
 */
export async function postJournal(
  client: Queryable,
  journalId: string,
): Promise<{ entryIds: string[]; journal: Journal }> {
  const journal = await journalOf(client, journalId);
  if (!journal) throw new NotFoundError(`no journal ${journalId} is stored`);
  if (journal.entries.length === 0) return { entryIds: [], journal };
  const ids = await ensureAccounts(client, journalAccounts(journal));
  const account = (code: string) => {
    const id = ids.get(code);
    if (id === undefined) throw new NotFoundError(`ledger account ${code} could not be opened`);
    return id;
  };
  const results = await postEntryRows(
    client,
    journal.entries.map((e) => ({
      idempotencyKey: e.key,
      effectiveDate: e.effectiveDate,
      sourceKind: e.sourceKind,
      sourceRef: journal.sourceRef,
      metadata: e.metadata,
      postings: e.postings.map((p) => ({
        debitAccountId: account(p.debit.code),
        creditAccountId: account(p.credit.code),
        currency: p.currency,
        amountMinor: p.amountMinor,
      })),
    })),
  );
  return { entryIds: results.map((r) => r.entryId), journal };
}

/**
 * Which exceptions each aggregated entry of a journal covers, and each one's part: stored with
 * the journal (same transaction), once. The entry key is the journal entry's.
 */
export async function linkEntryExceptions(
  client: Queryable,
  journalId: string,
  cycleId: string,
  links: { entryKey: string; exceptionId: string; amountMinor: bigint }[],
): Promise<void> {
  if (links.length === 0) return;
  await client.query(
    `INSERT INTO journal_entry_exceptions (journal_id, entry_key, cycle_id, generation, exception_id, amount_minor)
     SELECT $1, l.entry_key, $2, b.generation, l.exception_id, l.amount
       FROM unnest($3::text[], $4::text[], $5::bigint[]) AS l(entry_key, exception_id, amount)
       JOIN exception_books b ON b.cycle_id = $2
     ON CONFLICT DO NOTHING`,
    [
      journalId,
      cycleId,
      links.map((l) => l.entryKey),
      links.map((l) => l.exceptionId),
      links.map((l) => l.amountMinor.toString()),
    ],
  );
}

/** The exceptions behind one entry of a journal (the drill-down from a ledger entry). */
export async function entryExceptions(
  db: Queryable,
  entryKey: string,
): Promise<{ exceptionId: string; amountMinor: string }[]> {
  const { rows } = await db.query<{ exception_id: string; amount_minor: string }>(
    `SELECT exception_id, amount_minor::text FROM journal_entry_exceptions WHERE entry_key = $1 ORDER BY exception_id`,
    [entryKey],
  );
  return rows.map((r) => ({ exceptionId: r.exception_id, amountMinor: r.amount_minor }));
}
