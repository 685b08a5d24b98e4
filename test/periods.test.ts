import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { digestOf, listAudit } from '../db/audit';
import { storeJournal, postJournal } from '../db/journals';
import { balanceAsOf, ensureAccounts, getAccount, postEntries } from '../db/ledger';
import { activatePartner, registerPartner, storeApiKeyHash } from '../db/partners';
import { openPostingDate, periodState } from '../db/periods';
import { withTransaction } from '../db/retry';
import { freezeCycle, registerCycle, setCycleStatus } from '../db/settlement';
import { partnerAccount } from '../domain/accounts';
import { payoutJournal, settlementJournal } from '../domain/journal';
import { formatAmount } from '../domain/money';
import { monthBounds, type PeriodReport } from '../domain/periods';
import type { SettlementStatus } from '../domain/settlement';
import { issueApiKey } from '../platform/credentials';
import { toIngestItem } from '../providers/simulated/generator';
import { periodCloseWorkflowId, settlementWorkflowId } from '../workflows/ids';
import type { PeriodCloseResult } from '../workflows/period-close';
import { uniqueId } from './support/env';
import { dayOfTransactions } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// Periods and their close against the real Postgres and Temporal: cycles are listed and their
// journals posted directly (the cheap way: the close reads the cycles' mirrored status and the
// ledger, not the cycle workflows), transactions go through the API.
describe('periods and their close', () => {
  let stack: Stack;
  let approver: string;
  beforeAll(async () => {
    stack = await startStack();
    approver = await stack.tokenFor('alice', 'approver');
  });
  afterAll(async () => {
    await stack.close();
  });

  interface P {
    id: string;
    apiKey: string;
  }
  async function newPartner(timezone = 'UTC'): Promise<P> {
    const id = uniqueId('period');
    await registerPartner(stack.db.pool, {
      id,
      name: 'Period Partner',
      kind: 'provider',
      timezone,
      settlementCurrency: 'EUR',
    });
    await activatePartner(stack.db.pool, id);
    const key = issueApiKey();
    await storeApiKeyHash(stack.db.pool, id, key.keyId, key.hash);
    return { id, apiKey: key.plaintext };
  }

  async function ingest(p: P, prefix: string, day: string, n: number) {
    const body = {
      batchId: uniqueId('b'),
      transactions: dayOfTransactions(`${p.id}-${prefix}`, day, n).map((t) => toIngestItem(t)),
    };
    const res = await stack.api('/v1/transactions', { body, token: p.apiKey });
    expect(res.status).toBe(200);
    return res.body;
  }

  /** A daily cycle listed with its status, its settlement (gaming tax MT) and payout journals posted. */
  async function cycle(p: P, day: string, status: SettlementStatus, taxMinor = 321n) {
    const c = {
      cycleId: settlementWorkflowId(p.id, day),
      partnerId: p.id,
      periodStart: day,
      periodEnd: day,
      currency: 'EUR',
    };
    await registerCycle(stack.db.appPool, c);
    await freezeCycle(stack.db.appPool, c);
    await setCycleStatus(stack.db.appPool, c.cycleId, status);
    const jc = c;
    const settlement = settlementJournal(jc, {
      scale: 2,
      resolutionEffects: [{ exceptionId: `amount_mismatch:${day}`, ledgerMinor: -50n }],
      carriedIn: [],
      carriedOutMinor: 0n,
      gamingTax: { jurisdiction: 'MT', amountMinor: taxMinor },
      grossFeeMinor: 1000n,
      taxWithheldMinor: 50n,
      netPayableMinor: 950n,
    });
    const payout = payoutJournal(jc, 950n, ['bob', 'carol']);
    for (const j of [settlement, payout]) {
      await storeJournal(stack.db.appPool, j);
      await withTransaction(stack.db.appPool, (client) => postJournal(client, j.id));
    }
    await stack.db.pool.query(
      `INSERT INTO statement_versions (cycle_id, version, statement_text, digest, journal_id, contract_version)
       VALUES ($1, 1, $2, encode(sha256(convert_to($2, 'UTF8')), 'hex'), $3, 1) ON CONFLICT DO NOTHING`,
      [c.cycleId, JSON.stringify({ statementVersion: 1, settlementId: c.cycleId }), settlement.id],
    );
    return c.cycleId;
  }

  async function close(p: P, month: string): Promise<PeriodCloseResult> {
    const res = await stack.api(`/v1/periods/${p.id}/${month}/close`, { method: 'POST', token: approver });
    expect(res.status).toBe(202);
    expect(res.body.workflowId).toBe(periodCloseWorkflowId(p.id, month));
    return stack.temporal.workflow.getHandle(res.body.workflowId).result();
  }

  /** Every account of the report against the ledger's own balance at the instant, on both axes. */
  async function expectReportEqualsLedger(report: PeriodReport, instant: string) {
    const { to } = monthBounds(report.month);
    let accounts = 0;
    for (const c of report.currencies)
      for (const a of c.accounts) {
        const account = (await getAccount(stack.db.pool, a.code))!;
        expect(a.byEffectiveDate.closing).toBe(
          formatAmount(await balanceAsOf(stack.db.pool, account.id, { date: to, instant }), 2),
        );
        expect(a.asRecorded.closing).toBe(
          formatAmount(await balanceAsOf(stack.db.pool, account.id, { instant }), 2),
        );
        accounts++;
      }
    expect(accounts).toBeGreaterThanOrEqual(6);
  }

  it('a close blocked by an open cycle lists it and leaves the period open; after the cycles complete it closes', async () => {
    const p = await newPartner();
    await ingest(p, 'a', '2026-10-05', 30);
    await ingest(p, 'b', '2026-10-06', 30);
    await cycle(p, '2026-10-05', 'Completed');
    const open = await cycle(p, '2026-10-06', 'AwaitingPayoutApproval');

    // Only an approver closes; the bootstrap admin is none.
    const refused = await stack.api(`/v1/periods/${p.id}/2026-10/close`, { method: 'POST' });
    expect(refused.status).toBe(403);

    const blocked = await close(p, '2026-10');
    expect(blocked).toEqual({
      state: 'open',
      blockers: [expect.objectContaining({ kind: 'cycle_not_completed', ref: open })],
    });
    const shown = await stack.api(`/v1/periods/${p.id}/2026-10`);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({
      state: 'open',
      blockers: [{ kind: 'cycle_not_completed', ref: open }],
      closeRequestedBy: { name: 'alice' },
    });
    // Open: nothing is locked.
    expect(await openPostingDate(stack.db.pool, p.id, '2026-10-06')).toBe('2026-10-06');

    await setCycleStatus(stack.db.appPool, open, 'Completed');
    const closed = await close(p, '2026-10');
    if (closed.state !== 'closed') throw new Error(JSON.stringify(closed));
    expect(closed.reportDigest).toMatch(/^[0-9a-f]{64}$/);
    // In the Temporal UI: who asked, in the summary; where it stands, in the current details.
    const described = await stack.temporal.workflow
      .getHandle(periodCloseWorkflowId(p.id, '2026-10'))
      .describe();
    expect(await described.staticSummary()).toBe(`Close 2026-10 of ${p.id} (requested by alice)`);

    const period = await stack.api(`/v1/periods/${p.id}/2026-10`);
    expect(period.body).toMatchObject({
      state: 'closed',
      blockers: [],
      closedAt: closed.closedAt,
      reportDigest: closed.reportDigest,
      closedBy: { name: 'alice' },
    });
    const report = period.body.report as PeriodReport;
    expect(digestOf(report)).toBe(closed.reportDigest);
    expect(report.cycles.map((c) => c.status)).toEqual(['Completed', 'Completed']);
    // Both axes equal the ledger's balances at the close instant.
    await expectReportEqualsLedger(report, closed.closedAt);
    const eur = report.currencies.find((c) => c.currency === 'EUR')!;
    const byName = (n: string) => eur.accounts.find((a) => a.name === n)!;
    // Movements by kind: the fee, the tax withheld, the gaming tax, the payout, the resolutions.
    expect(byName('provider_fees').byEffectiveDate.movements).toMatchObject({ fees: '19.00', taxes: '1.00' });
    expect(byName('fees_payable').byEffectiveDate).toMatchObject({ opening: '0.00', closing: '0.00' });
    expect(byName('fees_payable').byEffectiveDate.movements).toMatchObject({
      fees: '-19.00',
      payouts: '19.00',
    });
    expect(byName('gaming_tax').byEffectiveDate.movements.taxes).toBe('6.42');
    expect(byName('game_activity').byEffectiveDate.movements.adjustments).toBe('-1.00');
    expect(Number(byName('game_activity').byEffectiveDate.movements.ggr)).toBeGreaterThan(0);

    // The close is audited with the approver who asked for it.
    const audit = await listAudit(
      stack.db.pool,
      { action: 'period.close', target: `period:${p.id}:2026-10` },
      null,
      10,
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ role: 'approver', afterDigest: closed.reportDigest });
    expect(audit[0]!.actor).toContain('alice');

    // Closing again: 409; the state stays.
    const again = await stack.api(`/v1/periods/${p.id}/2026-10/close`, { method: 'POST', token: approver });
    expect(again.status).toBe(409);
    expect((await periodState(stack.db.pool, p.id, '2026-10')).state).toBe('closed');
  });

  it('refuses, in Postgres, every posting dated in a closed month; late ingest lands in the open month with lateFor', async () => {
    const p = await newPartner();
    await ingest(p, 'a', '2026-10-20', 12);
    await cycle(p, '2026-10-20', 'Completed');
    const closed = await close(p, '2026-10');
    expect(closed.state).toBe('closed');
    expect(await openPostingDate(stack.db.pool, p.id, '2026-10-20')).toBe('2026-11-01');
    expect(await openPostingDate(stack.db.pool, p.id, '2026-11-03')).toBe('2026-11-03');

    const ids = await ensureAccounts(stack.db.appPool, [
      partnerAccount(p.id, 'game_activity', 'EUR'),
      partnerAccount(p.id, 'gaming_revenue', 'EUR'),
    ]);
    const entry = (key: string, effectiveDate: string) => ({
      idempotencyKey: key,
      effectiveDate,
      sourceKind: 'adjustment' as const,
      sourceRef: 'test',
      postings: [
        {
          debitAccountId: ids.get(partnerAccount(p.id, 'game_activity', 'EUR').code)!,
          creditAccountId: ids.get(partnerAccount(p.id, 'gaming_revenue', 'EUR').code)!,
          currency: 'EUR',
          amountMinor: 100n,
        },
      ],
    });
    // Raw SQL through ledger_post: refused by the trigger with the period's own SQLSTATE, whoever calls.
    for (const pool of [stack.db.appPool, stack.db.pool])
      await expect(
        pool.query(
          `SELECT * FROM ledger_post(0::smallint, ARRAY[$1::text], ARRAY['2026-10-31'::date], ARRAY['adjustment'], ARRAY['test'],
                  ARRAY['{}'::jsonb], ARRAY[NULL::bigint], ARRAY[1], ARRAY[$2::bigint], ARRAY[$3::bigint], ARRAY['EUR'], ARRAY[100::bigint])`,
          [
            uniqueId('raw'),
            ids.get(partnerAccount(p.id, 'game_activity', 'EUR').code)!,
            ids.get(partnerAccount(p.id, 'gaming_revenue', 'EUR').code)!,
          ],
        ),
      ).rejects.toMatchObject({ code: 'CH423', message: expect.stringContaining('closed period') });
    // Through postEntries (the code's path; db/ledger.ts may map the SQLSTATE to a ConflictError).
    await expect(postEntries(stack.db.appPool, [entry(uniqueId('late'), '2026-10-01')])).rejects.toThrow(
      /inside partner .* closed period/,
    );
    // A cycle of the closed month posting late (a journal dated in it) is refused too.
    const lateCycle = settlementJournal(
      {
        cycleId: settlementWorkflowId(p.id, '2026-10-21'),
        partnerId: p.id,
        currency: 'EUR',
        periodStart: '2026-10-21',
        periodEnd: '2026-10-21',
      },
      {
        scale: 2,
        resolutionEffects: [],
        carriedIn: [],
        carriedOutMinor: 0n,
        gamingTax: null,
        grossFeeMinor: 10n,
        taxWithheldMinor: 0n,
        netPayableMinor: 10n,
      },
    );
    await storeJournal(stack.db.appPool, lateCycle);
    await expect(withTransaction(stack.db.appPool, (c) => postJournal(c, lateCycle.id))).rejects.toThrow(
      /inside partner .* closed period/,
    );
    // The first open day is accepted.
    const [ok] = await postEntries(stack.db.appPool, [entry(uniqueId('open'), '2026-11-01')]);
    expect(ok!.status).toBe('posted');
    // A closed period never changes again, and the closed-through date is the trigger's alone.
    await expect(
      stack.db.appPool.query(
        `UPDATE accounting_periods SET state = 'open' WHERE partner_id = $1 AND month = '2026-10'`,
        [p.id],
      ),
    ).rejects.toMatchObject({ code: 'CH423' });
    await expect(
      stack.db.appPool.query(
        `UPDATE partner_closed_through SET closed_through = '2026-01-01' WHERE partner_id = $1`,
        [p.id],
      ),
    ).rejects.toMatchObject({ code: '42501' });

    // Late transactions of the closed day: kept on their own day (positions, business date), their
    // GGR dated in the first open day with the day they belong to.
    const before = (await stack.api(`/v1/periods/${p.id}/2026-10/report`)).body as PeriodReport;
    await ingest(p, 'late', '2026-10-20', 6);
    const { rows: tx } = await stack.db.pool.query<{ d: string }>(
      `SELECT DISTINCT business_date::text AS d FROM game_transactions WHERE partner_id = $1 AND tx_id LIKE '%-late-%'`,
      [p.id],
    );
    expect(tx).toEqual([{ d: '2026-10-20' }]);
    const { rows: entries } = await stack.db.pool.query<{
      effective_date: string;
      metadata: Record<string, string>;
    }>(
      `SELECT effective_date::text, metadata FROM ledger_entries WHERE source_kind = 'ingest_batch' AND metadata->>'partnerId' = $1 ORDER BY id`,
      [p.id],
    );
    expect(entries[0]).toMatchObject({ effective_date: '2026-10-20' });
    expect(entries[entries.length - 1]).toMatchObject({
      effective_date: '2026-11-01',
      metadata: expect.objectContaining({ lateFor: '2026-10-20' }),
    });
    // The closed month's report is what it was; November's lists the late entry for its day.
    const after = (await stack.api(`/v1/periods/${p.id}/2026-10/report`)).body as PeriodReport;
    expect(digestOf(after)).toBe(digestOf(before));
    expect(digestOf(after)).toBe(closed.state === 'closed' ? closed.reportDigest : '');
    const november = (await stack.api(`/v1/periods/${p.id}/2026-11`)).body;
    expect(november.state).toBe('open');
    expect(november.report.late).toEqual([
      expect.objectContaining({
        kind: 'redated',
        forDay: '2026-10-20',
        effectiveDate: '2026-11-01',
        currency: 'EUR',
      }),
    ]);
    expect(november.report.lateCount).toBe(1);
    // As recorded at the close instant, November had none of it; now it has.
    const atClose = await stack.api(
      `/v1/periods/${p.id}/2026-11/report?asRecordedAt=${encodeURIComponent(closed.state === 'closed' ? closed.closedAt : '')}`,
    );
    expect(atClose.status).toBe(200);
    expect(atClose.body.late).toEqual([]);
    await expectReportEqualsLedger(november.report as PeriodReport, november.report.asRecordedAt);
    const bad = await stack.api(`/v1/periods/${p.id}/2026-11/report?asRecordedAt=yesterday`);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('asRecordedAt');
  });

  it('partners read their own periods only; months close in order', async () => {
    const p = await newPartner();
    const other = await newPartner();
    await ingest(p, 'sep', '2026-09-10', 6);
    await ingest(p, 'oct', '2026-10-10', 6);
    await cycle(p, '2026-09-10', 'Completed');
    await cycle(p, '2026-10-10', 'Completed');
    const blocked = await close(p, '2026-10');
    expect(blocked).toEqual({
      state: 'open',
      blockers: [expect.objectContaining({ kind: 'earlier_month_open', ref: '2026-09' })],
    });
    expect((await close(p, '2026-09')).state).toBe('closed');
    expect((await close(p, '2026-10')).state).toBe('closed');

    const own = await stack.api(`/v1/periods/${p.id}/2026-10`, { token: p.apiKey });
    expect(own.status).toBe(200);
    // A partner sees the role, never the operator's name.
    expect(own.body.closedBy).toBe('operations');
    expect(own.body.closeWorkflowId).toBeUndefined();
    expect((await stack.api(`/v1/periods/${p.id}/2026-10`, { token: other.apiKey })).status).toBe(404);
    expect((await stack.api(`/v1/periods/${p.id}/2026-10/report`, { token: other.apiKey })).status).toBe(404);
    const list = await stack.api(`/v1/periods?state=closed`, { token: p.apiKey });
    expect(list.status).toBe(200);
    expect(list.body.periods.map((r: { month: string }) => r.month)).toEqual(['2026-09', '2026-10']);
    expect((await stack.api(`/v1/periods?partnerId=${p.id}`, { token: other.apiKey })).status).toBe(404);
    const ops = await stack.api(`/v1/periods?partnerId=${p.id}`);
    expect(ops.body.periods).toHaveLength(2);
    const badMonth = await stack.api(`/v1/periods/${p.id}/2026-13`);
    expect(badMonth.status).toBe(400);
    expect(JSON.stringify(badMonth.body)).toContain('month');
  });

  it('closes a month for every partner with activity, each at its own instant; the tax return sums their gaming tax', async () => {
    const a = await newPartner();
    const b = await newPartner('Europe/Malta');
    await ingest(a, 'x', '2026-08-03', 6);
    await ingest(b, 'x', '2026-08-04', 6);
    await cycle(a, '2026-08-03', 'Completed', 1000n);
    await cycle(b, '2026-08-04', 'Completed', 2500n);
    const res = await stack.api('/v1/month-closes/2026-08', { method: 'POST', token: approver });
    expect(res.status).toBe(202);
    const started = res.body.partners as { partnerId: string; outcome: string; workflowId: string }[];
    expect(started.filter((s) => [a.id, b.id].includes(s.partnerId)).map((s) => s.outcome)).toEqual([
      'started',
      'started',
    ]);
    const results = await Promise.all(
      [a, b].map((p) => stack.temporal.workflow.getHandle(periodCloseWorkflowId(p.id, '2026-08')).result()),
    );
    expect(results.map((r) => r.state)).toEqual(['closed', 'closed']);
    const instants = results.map((r) => (r.state === 'closed' ? r.closedAt : ''));
    expect(instants[0]).not.toBe(instants[1]);

    const ret = await stack.api('/v1/tax-returns/MT/2026-08');
    expect(ret.status).toBe(200);
    expect(ret.body).toMatchObject({ jurisdiction: 'MT', month: '2026-08', dueDate: '2026-09-20' });
    const eur = ret.body.currencies.find((c: { currency: string }) => c.currency === 'EUR');
    expect(eur.partners).toEqual(
      expect.arrayContaining([
        { partnerId: a.id, gamingTax: '10.00', entries: 1, periodState: 'closed' },
        { partnerId: b.id, gamingTax: '25.00', entries: 1, periodState: 'closed' },
      ]),
    );
    const csv = await fetch(`${stack.baseUrl}/v1/tax-returns/mt/2026-08`, {
      headers: { authorization: `Bearer ${stack.operatorToken}`, accept: 'text/csv' },
    });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const text = await csv.text();
    expect(text.split('\n')[0]).toBe(
      'jurisdiction,month,due_date,currency,partner,period_state,item,amount,entries',
    );
    expect(text).toContain(`MT,2026-08,2026-09-20,EUR,${a.id},closed,gaming_tax,10.00,1`);
    // Partners never read tax returns; a jurisdiction that is none is a 400 naming it.
    expect((await stack.api('/v1/tax-returns/MT/2026-08', { token: a.apiKey })).status).toBe(403);
    const bad = await stack.api('/v1/tax-returns/M1T/2026-08');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('jurisdiction');
  });

  it("serves the auditor's pack as one document whose digest matches its bytes", async () => {
    const p = await newPartner();
    await ingest(p, 'a', '2026-07-14', 9);
    const cycleId = await cycle(p, '2026-07-14', 'Completed');
    // Arrived after its cycle froze, the month still open: in the month's ledger on its own day,
    // in no statement, and listed as late for that cycle.
    await ingest(p, 'after', '2026-07-14', 3);
    const closed = await close(p, '2026-07');
    expect(closed.state).toBe('closed');
    const res = await fetch(`${stack.baseUrl}/v1/periods/${p.id}/2026-07/pack`, {
      headers: { authorization: `Bearer ${stack.operatorToken}` },
    });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('x-content-sha256')).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(res.headers.get('digest')).toBe(`sha-256=${createHash('sha256').update(bytes).digest('base64')}`);
    const pack = JSON.parse(bytes.toString('utf8'));
    expect(pack).toMatchObject({
      packVersion: 1,
      partnerId: p.id,
      month: '2026-07',
      period: { state: 'closed' },
      reportDigestMatches: true,
      verification: { ledger: { ok: true }, audit: { ok: true } },
    });
    expect(pack.reportDigest).toBe(closed.state === 'closed' ? closed.reportDigest : '');
    expect(pack.report.late).toEqual([
      expect.objectContaining({
        kind: 'after_cycle',
        forDay: '2026-07-14',
        effectiveDate: '2026-07-14',
        cycleId,
      }),
    ]);
    expect(pack.statements).toEqual([expect.objectContaining({ cycleId, version: 1, digestMatches: true })]);
    expect(pack.journals.map((j: { id: string }) => j.id).sort()).toEqual([
      `${cycleId}:payout`,
      `${cycleId}:settlement`,
    ]);
    expect(pack.auditEvents.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(['period.close', 'POST /v1/periods/{partnerId}/{month}/close']),
    );
    // Operators only.
    expect((await stack.api(`/v1/periods/${p.id}/2026-07/pack`, { token: p.apiKey })).status).toBe(403);
  });
  it('waits for a writer that posted into the month before it locked: the report misses nothing', async () => {
    const p = await newPartner();
    await ingest(p, 'a', '2026-06-10', 6);
    await cycle(p, '2026-06-10', 'Completed');
    const ga = partnerAccount(p.id, 'game_activity', 'EUR');
    const rev = partnerAccount(p.id, 'gaming_revenue', 'EUR');
    const ids = await ensureAccounts(stack.db.appPool, [ga, rev]);
    // A writer inside its transaction has posted into June (allowed: June is open) and not committed.
    const writer = await stack.db.appPool.connect();
    try {
      await writer.query('BEGIN');
      await postEntries(writer, [
        {
          idempotencyKey: uniqueId('in-flight'),
          effectiveDate: '2026-06-30',
          sourceKind: 'adjustment',
          sourceRef: 'test',
          postings: [
            {
              debitAccountId: ids.get(ga.code)!,
              creditAccountId: ids.get(rev.code)!,
              currency: 'EUR',
              amountMinor: 777n,
            },
          ],
        },
      ]);
      const res = await stack.api(`/v1/periods/${p.id}/2026-06/close`, { method: 'POST', token: approver });
      expect(res.status).toBe(202);
      for (let i = 0; i < 100 && (await periodState(stack.db.pool, p.id, '2026-06')).state !== 'closing'; i++)
        await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      // Locked, and waiting for the writer before it computes the report.
      expect((await periodState(stack.db.pool, p.id, '2026-06')).state).toBe('closing');
      await writer.query('COMMIT');
    } finally {
      writer.release();
    }
    const closed: PeriodCloseResult = await stack.temporal.workflow
      .getHandle(periodCloseWorkflowId(p.id, '2026-06'))
      .result();
    if (closed.state !== 'closed') throw new Error(JSON.stringify(closed));
    const report = (await stack.api(`/v1/periods/${p.id}/2026-06`)).body.report as PeriodReport;
    await expectReportEqualsLedger(report, closed.closedAt);
    const account = report.currencies[0]!.accounts.find((a) => a.name === 'game_activity')!;
    expect(account.byEffectiveDate.movements.adjustments).toBe('7.27'); // 7.77 posted, −0.50 the cycle's resolution
  });

  // Last: it drops and re-creates this file's database's period tables.
  it('its Down migration restores ingest_batch as 1764000031000 defined it, and its Up applies again', async () => {
    const migration = (name: string) =>
      readFileSync(path.join(__dirname, '..', 'db', 'migrations', name), 'utf8').split('-- Down Migration');
    const [up, down] = migration('1764000033000_periods.sql') as [string, string];
    const [before] = migration('1764000031000_watching-the-money.sql') as [string];
    const body = (sql: string) =>
      sql.slice(sql.indexOf('CREATE OR REPLACE FUNCTION ingest_batch')).split('$$')[1];
    const source = async () =>
      (
        await stack.db.pool.query<{ prosrc: string }>(
          `SELECT prosrc FROM pg_proc WHERE proname = 'ingest_batch'`,
        )
      ).rows[0]!.prosrc;
    const table = async (name: string) =>
      (await stack.db.pool.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name])).rows[0]!
        .t;
    expect(await source()).toBe(body(up));
    await stack.db.pool.query(down);
    expect(await source()).toBe(body(before));
    expect(await table('accounting_periods')).toBeNull();
    expect(await table('partner_closed_through')).toBeNull();
    await stack.db.pool.query(up);
    expect(await source()).toBe(body(up));
    expect(await table('accounting_periods')).toBe('accounting_periods');
  });
});
