import { spawnSync } from 'node:child_process';
import path from 'node:path';
import fc from 'fast-check';
import {
  balanceAsOf,
  ensureAccounts,
  getAccount,
  postEntries,
  reverseEntry,
  verifyLedger,
  type EntryInput,
} from '../db/ledger';
import { withTransaction } from '../db/retry';
import { createTestDatabase, type TestDatabase } from './support/env';

describe('ledger on real Postgres', () => {
  let db: TestDatabase;
  let ids: Map<string, string>;
  beforeAll(async () => {
    db = await createTestDatabase();
    ids = await ensureAccounts(db.pool, [
      { code: 'house:cash:EUR', ownerKind: 'house', kind: 'asset', currency: 'EUR' },
      { code: 'house:revenue:EUR', ownerKind: 'house', kind: 'revenue', currency: 'EUR' },
      { code: 'house:cash:USD', ownerKind: 'house', kind: 'asset', currency: 'USD' },
      ...Array.from({ length: 8 }, (_, i) => ({
        code: `house:cold-${i}:EUR`,
        ownerKind: 'house' as const,
        kind: 'asset' as const,
        currency: 'EUR',
      })),
    ]);
  });
  afterAll(async () => {
    await db.drop();
  });

  const id = (code: string) => ids.get(code)!;
  const transfer = (
    key: string,
    from: string,
    to: string,
    amount: bigint,
    effectiveDate = '2026-11-23',
  ): EntryInput => ({
    idempotencyKey: key,
    effectiveDate,
    sourceKind: 'transfer',
    sourceRef: 'test',
    postings: [{ debitAccountId: id(from), creditAccountId: id(to), currency: 'EUR', amountMinor: amount }],
  });
  const totals = async () =>
    (
      await db.pool.query<{ d: string; c: string }>(
        'SELECT sum(debits_minor)::text AS d, sum(credits_minor)::text AS c FROM ledger_accounts',
      )
    ).rows[0]!;

  it('posts balanced entries and is idempotent per key', async () => {
    const [first] = await postEntries(db.pool, [
      transfer('t-1', 'house:cash:EUR', 'house:revenue:EUR', 1234n),
    ]);
    expect(first!.status).toBe('posted');
    const [again] = await postEntries(db.pool, [
      transfer('t-1', 'house:cash:EUR', 'house:revenue:EUR', 1234n),
    ]);
    expect(again).toEqual({ ...first, status: 'duplicate' });
    expect((await getAccount(db.pool, 'house:cash:EUR'))!.balanceMinor).toBe(1234n);
    const t = await totals();
    expect(t.d).toBe(t.c);
  });

  it('refuses a reused key with different content, writing nothing of the call', async () => {
    const before = await totals();
    await expect(
      postEntries(db.pool, [
        transfer('t-new', 'house:cash:EUR', 'house:revenue:EUR', 5n),
        transfer('t-1', 'house:cash:EUR', 'house:revenue:EUR', 999n),
      ]),
    ).rejects.toMatchObject({ code: 'conflict' });
    expect(await totals()).toEqual(before);
    expect(
      (await db.pool.query("SELECT 1 FROM ledger_entries WHERE idempotency_key = 't-new'")).rowCount,
    ).toBe(0);
  });

  it('makes wrong states unrepresentable in the database itself', async () => {
    const cash = id('house:cash:EUR');
    const usd = id('house:cash:USD');
    const entry = (
      await db.pool.query<{ id: string }>("SELECT id::text FROM ledger_entries WHERE idempotency_key = 't-1'")
    ).rows[0]!.id;
    const insert = (debit: string, credit: string, currency: string, amount: string) =>
      db.pool.query(
        `INSERT INTO ledger_postings (entry_id, line, debit_account_id, credit_account_id, currency, amount_minor, effective_date, posted_at)
         VALUES ($1, 99, $2, $3, $4, $5, current_date, now())`,
        [entry, debit, credit, currency, amount],
      );
    await expect(insert(cash, cash, 'EUR', '1')).rejects.toThrow(/check constraint/); // same account both sides
    await expect(insert(cash, id('house:revenue:EUR'), 'EUR', '-5')).rejects.toThrow(/check constraint/); // non-positive
    await expect(insert(cash, usd, 'EUR', '5')).rejects.toThrow(/does not exist in EUR/); // currency mismatch
    await expect(insert(cash, '999999', 'EUR', '5')).rejects.toThrow(/does not exist/); // no such account
    await expect(db.pool.query('UPDATE ledger_postings SET amount_minor = 1')).rejects.toThrow(/append-only/);
    await expect(db.pool.query('DELETE FROM ledger_entries')).rejects.toThrow(/append-only/);
  });

  it('corrects only by reversing entries', async () => {
    const [posted] = await postEntries(db.pool, [
      transfer('t-rev', 'house:cold-0:EUR', 'house:revenue:EUR', 700n),
    ]);
    const reversal = await reverseEntry(
      db.pool,
      posted!.entryId,
      't-rev:reversal',
      'posted to the wrong account',
    );
    expect(reversal.status).toBe('posted');
    expect((await getAccount(db.pool, 'house:cold-0:EUR'))!.balanceMinor).toBe(0n);
    // One reversal per entry.
    await expect(reverseEntry(db.pool, posted!.entryId, 't-rev:reversal-2', 'again')).rejects.toThrow(
      /duplicate key|unique/i,
    );
  });

  it('answers point-in-time balances by business date and by instant', async () => {
    const acct = 'house:cold-1:EUR';
    await postEntries(db.pool, [transfer('pit-1', acct, 'house:revenue:EUR', 100n, '2026-10-31')]);
    const between = (await db.pool.query<{ now: Date }>('SELECT now()')).rows[0]!.now;
    await new Promise((r) => setTimeout(r, 20));
    await postEntries(db.pool, [
      transfer('pit-2', acct, 'house:revenue:EUR', 40n, '2026-11-01'),
      transfer('pit-3', 'house:revenue:EUR', acct, 15n, '2026-11-02'),
    ]);
    expect(await balanceAsOf(db.pool, id(acct), { date: '2026-10-30' })).toBe(0n);
    expect(await balanceAsOf(db.pool, id(acct), { date: '2026-10-31' })).toBe(100n);
    expect(await balanceAsOf(db.pool, id(acct), { date: '2026-11-01' })).toBe(140n);
    expect(await balanceAsOf(db.pool, id(acct), { date: '2026-11-30' })).toBe(125n);
    expect(await balanceAsOf(db.pool, id(acct), { instant: between.toISOString() })).toBe(100n);
    expect((await getAccount(db.pool, acct))!.balanceMinor).toBe(125n);
  });

  it('keeps every balance equal to its postings under concurrent posting to a hot account', async () => {
    const hot = 'house:cash:EUR';
    const before = (await getAccount(db.pool, hot))!;
    const writers = Array.from({ length: 12 }, (_, w) =>
      withTransaction(db.pool, (client) =>
        postEntries(
          client,
          Array.from({ length: 50 }, (_, i) =>
            transfer(`hot-${w}-${i}`, hot, `house:cold-${(w + i) % 8}:EUR`, BigInt(1 + ((w * 50 + i) % 97))),
          ),
        ),
      ),
    );
    await Promise.all(writers);
    let expected = 0n;
    for (let w = 0; w < 12; w++) for (let i = 0; i < 50; i++) expected += BigInt(1 + ((w * 50 + i) % 97));
    expect((await getAccount(db.pool, hot))!.debitsMinor - before.debitsMinor).toBe(expected);
    const mismatched = await db.pool.query(`
      SELECT a.code FROM ledger_accounts a
       WHERE a.debits_minor <> (SELECT coalesce(sum(amount_minor), 0) FROM ledger_postings WHERE debit_account_id = a.id)
          OR a.credits_minor <> (SELECT coalesce(sum(amount_minor), 0) FROM ledger_postings WHERE credit_account_id = a.id)`);
    expect(mismatched.rows).toEqual([]);
  });

  it('property: any sequence of postings keeps Σdebits = Σcredits and balances = Σpostings', async () => {
    const codes = [
      'house:cash:EUR',
      'house:revenue:EUR',
      ...Array.from({ length: 8 }, (_, i) => `house:cold-${i}:EUR`),
    ];
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 9 }),
            fc.integer({ min: 0, max: 9 }),
            fc.bigInt({ min: 1n, max: 10n ** 12n }),
          ),
          { minLength: 1, maxLength: 30 },
        ),
        async (moves) => {
          run++;
          const entries = moves
            .filter(([a, b]) => a !== b)
            .map(([a, b, amount], i) => transfer(`prop-${run}-${i}`, codes[a]!, codes[b]!, amount));
          if (entries.length) await postEntries(db.pool, entries);
          const t = await totals();
          expect(t.d).toBe(t.c);
          const drift = await db.pool.query(`
            SELECT 1 FROM ledger_accounts a
             WHERE a.debits_minor - a.credits_minor <>
                   (SELECT coalesce(sum(amount_minor), 0) FROM ledger_postings WHERE debit_account_id = a.id)
                 - (SELECT coalesce(sum(amount_minor), 0) FROM ledger_postings WHERE credit_account_id = a.id)`);
          expect(drift.rowCount).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('detects tampering with a hash chain and names the first broken entry', async () => {
    expect((await verifyLedger(db.pool)).ok).toBe(true);
    const [victim] = await postEntries(db.pool, [
      transfer('tamper-me', 'house:cold-2:EUR', 'house:revenue:EUR', 500n),
    ]);
    await postEntries(db.pool, [transfer('after-victim', 'house:cold-2:EUR', 'house:revenue:EUR', 1n)]);
    const intact = await verifyLedger(db.pool);
    expect(intact).toMatchObject({ ok: true, firstBroken: null });
    expect(intact.entries).toBeGreaterThan(0);

    // A DBA with superuser rights edits a posting, bypassing the append-only trigger.
    const client = await db.pool.connect();
    try {
      await client.query('SET session_replication_role = replica');
      await client.query('UPDATE ledger_postings SET amount_minor = 50 WHERE entry_id = $1', [
        victim!.entryId,
      ]);
      await client.query('SET session_replication_role = origin');
    } finally {
      client.release();
    }
    const report = await verifyLedger(db.pool);
    expect(report.ok).toBe(false);
    expect(report.firstBroken).toMatchObject({
      entryId: victim!.entryId,
      reason: expect.stringContaining('content'),
    });

    // The command-line check reports it too, with a failing exit code.
    const cli = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, '..', 'scripts', 'ledger-verify.ts')],
      {
        env: { ...process.env, DATABASE_URL: db.url },
        encoding: 'utf8',
      },
    );
    expect(cli.status).toBe(2);
    expect(cli.stdout).toContain(`first broken entry ${victim!.entryId}`);
  });
});
