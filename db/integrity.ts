import type pg from 'pg';

// Read-only questions the fault-injection runner (`npm run chaos`) asks of a database after a
// run, to compare it with a fault-free run of the same workload. Nothing here writes.

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Every ledger entry's postings ("debit > credit amount currency" per line), by idempotency key. */
export async function ledgerPostings(db: Queryable): Promise<Map<string, string>> {
  const { rows } = await db.query<{ k: string; lines: string }>(
    `SELECT e.idempotency_key AS k,
            string_agg(d.code || ' > ' || c.code || ' ' || p.amount_minor || ' ' || p.currency, '; ' ORDER BY p.line) AS lines
       FROM ledger_entries e
       JOIN ledger_postings p ON p.entry_id = e.id
       JOIN ledger_accounts d ON d.id = p.debit_account_id
       JOIN ledger_accounts c ON c.id = p.credit_account_id
      GROUP BY e.idempotency_key`,
  );
  return new Map(rows.map((r) => [r.k, r.lines]));
}

/** Balance (debits − credits, minor units) of every ledger account, by account code. */
export async function accountBalances(db: Queryable): Promise<Map<string, bigint>> {
  const { rows } = await db.query<{ code: string; balance: string }>(
    `SELECT code, (debits_minor - credits_minor)::text AS balance FROM ledger_accounts ORDER BY code COLLATE "C"`,
  );
  return new Map(rows.map((r) => [r.code, BigInt(r.balance)]));
}

/** Per currency, total debits minus total credits over all postings (0 when the ledger balances). */
export async function trialBalance(db: Queryable): Promise<Map<string, bigint>> {
  const { rows } = await db.query<{ currency: string; diff: string }>(
    `SELECT currency, (sum(debits_minor) - sum(credits_minor))::text AS diff FROM ledger_accounts GROUP BY currency`,
  );
  return new Map(rows.map((r) => [r.currency, BigInt(r.diff)]));
}

/** Of these transaction ids, the ones a partner does not have stored (each id is stored at most once: the key). */
export async function missingTransactions(
  db: Queryable,
  partnerId: string,
  txIds: string[],
): Promise<string[]> {
  if (txIds.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM unnest($2::text[]) AS ids(id)
      WHERE NOT EXISTS (SELECT 1 FROM game_transactions t WHERE t.partner_id = $1 AND t.tx_id = ids.id)`,
    [partnerId, txIds],
  );
  return rows.map((r) => r.id);
}

/** Transactions stored for a partner. */
export async function storedTransactionCount(db: Queryable, partnerId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM game_transactions WHERE partner_id = $1',
    [partnerId],
  );
  return rows[0]!.n;
}
