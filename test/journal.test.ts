import type { PoolClient } from 'pg';
import { MockActivityEnvironment } from '@temporalio/testing';
import { journalActivities } from '../activities/journal';
import { journalOf, postJournal, storeJournal } from '../db/journals';
import { ensureAccounts, getAccount, postEntries, verifyLedger, type EntryInput } from '../db/ledger';
import { listAudit } from '../db/audit';
import { registerPartner } from '../db/partners';
import { withTransaction } from '../db/retry';
import { partnerAccount } from '../domain/accounts';
import { ConflictError } from '../domain/errors';
import {
  journalAccounts,
  payoutJournal,
  settlementJournal,
  type Journal,
  type SettlementFigures,
} from '../domain/journal';
import { createTestDatabase, uniqueId, type TestDatabase } from './support/env';

// Journals against the real Postgres, as the application's role (clearhouse_app) runs them:
// stored once, posted from what was stored through ledger_post_entries, idempotently.
describe('journals on real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  const cycleOf = async () => {
    const partnerId = uniqueId('journal');
    await registerPartner(db.appPool, {
      id: partnerId,
      name: 'Journal Partner',
      kind: 'provider',
      timezone: 'Europe/Malta',
      settlementCurrency: 'EUR',
    });
    const cycleId = `settlement:${partnerId}:2026-11-30`;
    return { cycleId, partnerId, currency: 'EUR', periodStart: '2026-11-30', periodEnd: '2026-11-30' };
  };
  const figures = (over: Partial<SettlementFigures> = {}): SettlementFigures => ({
    scale: 2,
    resolutionEffects: [
      { exceptionId: 'amount_mismatch:t-7', ledgerMinor: -250n },
      { exceptionId: 'missing_theirs:t-11', ledgerMinor: 1200n },
    ],
    carriedIn: [{ fromSettlementId: 'settlement:x:2026-11-29', amountMinor: -5000n }],
    carriedOutMinor: 700n,
    gamingTax: { jurisdiction: 'MT', amountMinor: 321n },
    grossFeeMinor: 10_500n,
    taxWithheldMinor: 525n,
    netPayableMinor: 9975n,
    ...over,
  });
  const balance = async (code: string) => (await getAccount(db.appPool, code))?.balanceMinor ?? null;
  const tx = <T>(f: (c: PoolClient) => Promise<T>) => withTransaction(db.appPool, f);

  it('stores once: the same journal again is a no-op, a different one under its id a conflict', async () => {
    const cycle = await cycleOf();
    const journal = settlementJournal(cycle, figures());
    const first = await storeJournal(db.appPool, journal);
    expect(first.stored).toBe(true);
    expect(await storeJournal(db.appPool, journal)).toEqual({ ...first, stored: false });
    const other = settlementJournal(cycle, figures({ netPayableMinor: 9976n, grossFeeMinor: 10_501n }));
    await expect(storeJournal(db.appPool, other)).rejects.toBeInstanceOf(ConflictError);
    // Read back exactly, amounts as bigint, whatever order jsonb keeps the keys in.
    expect(await journalOf(db.appPool, journal.id)).toEqual({ ...journal, digest: first.digest });
    expect(await journalOf(db.appPool, 'no-such-journal')).toBeNull();
    // Append-only for the application.
    await expect(
      db.appPool.query(`UPDATE journals SET kind = 'x' WHERE id = $1`, [journal.id]),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(db.appPool.query('DELETE FROM journals WHERE id = $1', [journal.id])).rejects.toMatchObject({
      code: '42501',
    });
  });

  it('posts a stored journal once: again posts nothing and returns the same entry ids', async () => {
    const cycle = await cycleOf();
    const journal = settlementJournal(cycle, figures());
    await storeJournal(db.appPool, journal);
    const acct = (name: Parameters<typeof partnerAccount>[1]) =>
      partnerAccount(cycle.partnerId, name, 'EUR').code;
    const taxBefore = (await balance('house:gaming_tax_payable:mt:EUR')) ?? 0n;

    const first = await tx((c) => postJournal(c, journal.id));
    expect(first.entryIds).toHaveLength(journal.entries.length);
    const again = await tx((c) => postJournal(c, journal.id));
    expect(again.entryIds).toEqual(first.entryIds);

    const { rows } = await db.appPool.query<{ id: string; idempotency_key: string; metadata: unknown }>(
      'SELECT id::text, idempotency_key, metadata FROM ledger_entries WHERE source_ref = $1 ORDER BY id',
      [cycle.cycleId],
    );
    expect(rows.map((r) => r.idempotency_key)).toEqual(journal.entries.map((e) => e.key));
    expect(rows.map((r) => r.id)).toEqual(first.entryIds);
    expect(rows.map((r) => r.metadata)).toEqual(journal.entries.map((e) => e.metadata));

    // Balances (debit-positive): every figure where the journal put it, once.
    expect(await balance(acct('game_activity'))).toBe(1200n - 250n);
    expect(await balance(acct('gaming_revenue'))).toBe(-(1200n - 250n));
    expect(await balance(acct('carry_forward'))).toBe(-(-5000n) + 700n);
    expect(await balance(acct('carry_forward_offset'))).toBe(-5000n - 700n);
    expect(await balance(acct('gaming_tax'))).toBe(321n);
    expect((await balance('house:gaming_tax_payable:mt:EUR'))! - taxBefore).toBe(-321n);
    expect(await balance(acct('provider_fees'))).toBe(10_500n);
    expect(await balance(acct('fees_payable'))).toBe(-9975n);
    expect(await balance(acct('tax_withheld'))).toBe(-525n);

    // The same entries through the parallel-array path are duplicates of these: the rows
    // carried the same content, so they hashed the same.
    const ids = await ensureAccounts(db.appPool, journalAccounts(journal));
    const asInputs: EntryInput[] = journal.entries.map((e) => ({
      idempotencyKey: e.key,
      effectiveDate: e.effectiveDate,
      sourceKind: e.sourceKind,
      sourceRef: journal.sourceRef,
      metadata: e.metadata,
      postings: e.postings.map((p) => ({
        debitAccountId: ids.get(p.debit.code)!,
        creditAccountId: ids.get(p.credit.code)!,
        currency: p.currency,
        amountMinor: p.amountMinor,
      })),
    }));
    const viaArrays = await postEntries(db.appPool, asInputs);
    expect(viaArrays.map((r) => [r.entryId, r.status])).toEqual(
      first.entryIds.map((id) => [id, 'duplicate']),
    );

    const sums = await db.appPool.query<{ d: string; c: string }>(
      'SELECT sum(debits_minor)::text AS d, sum(credits_minor)::text AS c FROM ledger_accounts',
    );
    expect(sums.rows[0]!.d).toBe(sums.rows[0]!.c);
    const verified = await verifyLedger(db.pool);
    expect(verified.firstBroken).toBeNull();
    expect(verified.ok).toBe(true);
  });

  it('carries any text through the rows intact (quotes, backslashes, braces, commas, newlines)', async () => {
    const cycle = await cycleOf();
    const awkward = `a "quoted", (paren) {brace} back\\slash\nnew line, 'single' ü ∑ NULL`;
    const journal: Journal = {
      ...settlementJournal(cycle, figures({ resolutionEffects: [] })),
      id: `${cycle.cycleId}:awkward`,
    };
    journal.entries = journal.entries.map((e) => ({
      ...e,
      key: `${e.key}:awkward "x",{y}`,
      metadata: { ...e.metadata, note: awkward, nested: { list: [awkward, null, 1.5, true] } },
    }));
    await storeJournal(db.appPool, journal);
    const { entryIds } = await tx((c) => postJournal(c, journal.id));
    const { rows } = await db.appPool.query<{ idempotency_key: string; metadata: unknown }>(
      'SELECT idempotency_key, metadata FROM ledger_entries WHERE id = ANY($1::bigint[]) ORDER BY id',
      [entryIds],
    );
    expect(rows).toEqual(journal.entries.map((e) => ({ idempotency_key: e.key, metadata: e.metadata })));
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });

  it('refuses a journal whose entry key was posted with other content, writing nothing of it', async () => {
    const cycle = await cycleOf();
    const posted = settlementJournal(cycle, figures());
    await storeJournal(db.appPool, posted);
    await tx((c) => postJournal(c, posted.id));
    const before = await db.appPool.query('SELECT count(*)::int AS n FROM ledger_entries');
    // A restated journal (another id) that reuses the original keys with other amounts.
    const restated = {
      ...settlementJournal(cycle, figures({ carriedOutMinor: 0n, netPayableMinor: 9000n })),
      id: `${cycle.cycleId}:restated`,
    };
    await storeJournal(db.appPool, restated);
    await expect(tx((c) => postJournal(c, restated.id))).rejects.toBeInstanceOf(ConflictError);
    expect(await db.appPool.query('SELECT count(*)::int AS n FROM ledger_entries')).toMatchObject({
      rows: before.rows,
    });
  });

  it('posts nothing for an empty journal (nothing owed)', async () => {
    const cycle = await cycleOf();
    const journal = payoutJournal(cycle, 0n, ['ana', 'bo']);
    await storeJournal(db.appPool, journal);
    expect(await tx((c) => postJournal(c, journal.id))).toMatchObject({ entryIds: [] });
  });

  it('the activity posts and audits in one transaction, as settlement.post and settlement.payout', async () => {
    const cycle = await cycleOf();
    const acts = journalActivities({ db: db.appPool });
    const env = new MockActivityEnvironment({
      workflowExecution: { workflowId: cycle.cycleId, runId: 'journal-test' },
    });
    // As the workflow's activity runs it (its audit event is per workflow id and action).
    const post = (id: string) =>
      env.run<[string], { entries: number }, typeof acts.postJournal>((x) => acts.postJournal(x), id);
    const settlement = settlementJournal(cycle, figures());
    const payout = payoutJournal(cycle, 9975n, ['ana', 'bo']);
    await storeJournal(db.appPool, settlement);
    await storeJournal(db.appPool, payout);

    const posted = await post(settlement.id);
    expect(await post(settlement.id)).toEqual(posted);
    const paid = await post(payout.id);
    expect(paid).toEqual({ entries: 1 });
    expect(await post(payout.id)).toEqual(paid);
    expect(await balance(partnerAccount(cycle.partnerId, 'fees_payable', 'EUR').code)).toBe(0n);

    const events = await listAudit(db.appPool, { target: cycle.cycleId }, null, 10);
    expect(events.map((e) => [e.actor, e.role, e.source, e.action])).toEqual([
      [`workflow:${cycle.cycleId}`, 'workflow', 'workflow', 'settlement.payout'],
      [`workflow:${cycle.cycleId}`, 'workflow', 'workflow', 'settlement.post'],
    ]);
    // The ids go to the audit trail (a count into history).
    const posting = await db.pool.query<{ id: string; idempotency_key: string }>(
      'SELECT id::text, idempotency_key FROM ledger_entries WHERE source_ref = $1 ORDER BY id',
      [cycle.cycleId],
    );
    expect(posted.entries).toBe(posting.rows.length - 1);
    expect(events[1]!.details).toEqual({
      netPayable: '99.75',
      currency: 'EUR',
      journalId: settlement.id,
      entryIds: posting.rows.filter((r) => !r.idempotency_key.endsWith(':payout')).map((r) => r.id),
    });
    expect(events[0]!.details).toEqual({
      amountMinor: '9975',
      currency: 'EUR',
      approvers: ['ana', 'bo'],
      entryId: posting.rows.find((r) => r.idempotency_key.endsWith(':payout'))!.id,
    });
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });
});
