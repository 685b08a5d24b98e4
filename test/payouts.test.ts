import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getAccount, verifyLedger } from '../db/ledger';
import { trialBalance } from '../db/integrity';
import { formatAmount } from '../domain/money';
import { statementLineTotals, type Statement } from '../domain/statement';
import { settlementStatus } from '../workflows/settlement';
import { startBankServer, type SimulatedBank } from '../providers/simulated/bank-server';
import {
  startJsonCursorProvider,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../platform/webhooks';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import type { TestPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// Statement acknowledgement and the payout's life, end to end: cycles settled on a real Temporal
// server, the statement issued with a signed webhook, acknowledged (or accepted by silence), the
// payouts recorded sent through the API and confirmed, partly paid or left unmatched by a
// camt.053 from the simulated bank (a real HTTP server), failed and overdue ones, the carries
// they leave, and a ledger that stays balanced with its chains intact.

const DAYS = ['2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05', '2026-11-06'];

let stack: Stack;
let provider: SimulatedProvider;
let bank: SimulatedBank;
let partner: TestPartner;
let receiver: Server;
let secret = '';
const received: { verified: boolean; body: any }[] = [];
const cycles: string[] = [];
let resolver = '';
let approverOnly = '';

const enc = encodeURIComponent;

async function settle(day: string): Promise<string> {
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString();
  const h = await startPlannedCycle(stack, partner.id, day, {
    over: { cutoffAt: next, reminderIntervalMs: 60_000 },
  });
  const view = await h.result();
  expect(view.status).toBe('Completed');
  return h.workflowId;
}

const payout = async (cycleId: string, token?: string) =>
  stack.api(`/v1/payouts/${enc(cycleId)}`, token === undefined ? {} : { token });

beforeAll(async () => {
  stack = await startStack();
  provider = await startJsonCursorProvider();
  bank = await startBankServer();
  // Whole euros and more: every day's fee is well above the amounts moved around below.
  const txs: SimulatedTx[] = DAYS.flatMap((d, i) =>
    dayOfTransactions(`po${i}`, d, 12).map((t) => ({ ...t, amountMinor: t.amountMinor * 100n })),
  );
  partner = await settlingPartner(stack, provider, txs, {
    period: 'daily',
    cutoffGraceMinutes: 0,
    payoutApprovalThresholdMinor: '100000000',
  });
  provider.setTransactions(txs);
  receiver = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const verified = verifyWebhook(
        secret,
        {
          timestamp: req.headers[TIMESTAMP_HEADER] as string,
          signature: req.headers[SIGNATURE_HEADER] as string,
        },
        raw,
        Math.floor(Date.now() / 1000),
      );
      received.push({ verified, body: JSON.parse(raw) });
      res.writeHead(verified ? 204 : 401).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = await stack.api(`/v1/partners/${partner.id}/webhook`, {
    method: 'PUT',
    body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` },
  });
  expect(hook.status).toBe(200);
  secret = hook.body.secret as string;
  resolver = await stack.tokenFor('rita-resolver', 'resolver');
  approverOnly = await stack.tokenFor('amos-approver', 'approver');
  for (const d of DAYS.slice(0, 4)) cycles.push(await settle(d));
}, 240_000);

afterAll(async () => {
  await new Promise((r) => receiver?.close(r));
  await bank?.close();
  await provider?.close();
  await stack?.close();
});

describe('statement acknowledgement', () => {
  it('issues the statement with a signed webhook carrying its digest, before the completion webhook', async () => {
    const cycleId = cycles[0]!;
    // The operator reads the stored bytes: the digest is theirs.
    const bytes = await (
      await fetch(`${stack.baseUrl}/v1/settlements/${enc(cycleId)}/statement`, {
        headers: { authorization: `Bearer ${stack.operatorToken}` },
      })
    ).text();
    const digest = createHash('sha256').update(bytes).digest('hex');
    const mine = received.filter((r) => r.body.settlementId === cycleId);
    expect(mine.map((r) => [r.body.type, r.verified])).toEqual([
      ['statement.issued', true],
      ['settlement.completed', true],
    ]);
    const issued = mine[0]!.body;
    expect(issued).toMatchObject({ version: 1, digest, settlementId: cycleId, partnerId: partner.id });
    expect(Date.parse(issued.acknowledgeBy) - Date.parse(issued.issuedAt)).toBe(14 * 86_400_000);

    const view = await stack.api(`/v1/settlements/${enc(cycleId)}/acknowledgement`, {
      token: partner.apiKey,
    });
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({
      state: 'issued',
      version: 1,
      digest,
      webhook: 'sent',
      openDisputes: 0,
    });
  });

  it('is acknowledged by the partner for its version and digest only', async () => {
    const cycleId = cycles[0]!;
    const path = `/v1/settlements/${enc(cycleId)}/acknowledgement`;
    const digest = (await stack.api(path, { token: partner.apiKey })).body.digest as string;
    const wrongDigest = await stack.api(path, {
      token: partner.apiKey,
      body: { version: 1, digest: '0'.repeat(64) },
    });
    expect(wrongDigest.status).toBe(409);
    expect(wrongDigest.body.error.details[0].path).toBe('digest');
    const wrongVersion = await stack.api(path, { token: partner.apiKey, body: { version: 2, digest } });
    expect(wrongVersion.status).toBe(409);
    expect(wrongVersion.body.error.details[0].path).toBe('version');
    const bad = await stack.api(path, { token: partner.apiKey, body: { version: 1, digest: 'nope' } });
    expect(bad.status).toBe(422);
    // Only a partner acknowledges: an operator's token is refused.
    expect((await stack.api(path, { body: { version: 1, digest } })).status).toBe(403);
    const ok = await stack.api(path, { token: partner.apiKey, body: { version: 1, digest } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: `partner:${partner.id}` });
    expect((await stack.api(path, { token: partner.apiKey, body: { version: 1, digest } })).body.state).toBe(
      'acknowledged',
    );
    expect((await stack.api(path)).body.state).toBe('acknowledged');
  });

  it('reads accepted by silence once the deadline passed, and says so', async () => {
    const cycleId = cycles[1]!;
    const path = `/v1/settlements/${enc(cycleId)}/acknowledgement`;
    expect((await stack.api(path, { token: partner.apiKey })).body.state).toBe('issued');
    // Fifteen days later (the deadline is 14 days after issue): moved back in time.
    await stack.db.pool.query(
      `UPDATE statement_issues SET issued_at = issued_at - interval '15 days',
              acknowledge_by = acknowledge_by - interval '15 days' WHERE cycle_id = $1`,
      [cycleId],
    );
    const view = await stack.api(path, { token: partner.apiKey });
    expect(view.body.state).toBe('accepted_by_silence');
    expect(view.body.note).toMatch(
      /accepted by silence: neither acknowledged nor disputed by .* \(14 days after issue/,
    );
  });

  it("hides another partner's statement (404)", async () => {
    const other = await stack.api(
      `/v1/settlements/${enc(cycles[0]!.replace(partner.id, 'someone-else'))}/acknowledgement`,
      {
        token: partner.apiKey,
      },
    );
    expect(other.status).toBe(404);
  });
});

describe("the payout's life", () => {
  it('records the payout approved, with its amount from the ledger and its due date', async () => {
    const res = await payout(cycles[0]!);
    expect(res.status).toBe(200);
    const net = (await stack.api(`/v1/settlements/${enc(cycles[0]!)}`)).body.fees.netPayable as string;
    const today = new Date().toISOString().slice(0, 10); // the partner's timezone is UTC
    expect(res.body).toMatchObject({
      state: 'approved',
      amount: net,
      toPay: net,
      held: '0.00',
      overdue: false,
      dueDate: new Date(Date.parse(`${today}T00:00:00Z`) + 30 * 86_400_000).toISOString().slice(0, 10),
      journals: [`${cycles[0]}:payout`],
    });
    // The partner reads its own, operators as roles.
    const mine = await payout(cycles[0]!, partner.apiKey);
    expect(mine.status).toBe(200);
    expect(mine.body.approvedBy).toEqual([]);
  });

  it('is sent through the API (resolver), then confirmed, partly paid or left unmatched by a camt.053 of the simulated bank', async () => {
    const [a, b] = [cycles[0]!, cycles[1]!];
    const sent = (cycleId: string, ref: string, token = resolver) =>
      stack.api(`/v1/payouts/${enc(cycleId)}/sent`, { token, body: { paymentReference: ref } });
    expect((await sent(a, 'CH-A', approverOnly)).status).toBe(403);
    const bad = await sent(a, 'ü'.repeat(3));
    expect(bad.status).toBe(422);
    expect(bad.body.error.details[0].path).toMatch(/paymentReference/);
    const sa = await sent(a, 'CH-A');
    expect(sa.status).toBe(200);
    expect(sa.body).toMatchObject({
      state: 'sent',
      paymentReference: 'CH-A',
      sentBy: expect.stringContaining('rita-resolver'),
    });
    expect((await sent(a, 'CH-A')).status).toBe(200); // the same again: nothing twice
    expect((await sent(a, 'CH-OTHER')).status).toBe(409);
    expect((await sent(b, 'CH-A')).status).toBe(409); // a reference names one payout
    expect((await sent(b, 'CH-B')).status).toBe(200);
    const amountA = (await payout(a)).body.amount as string;
    const amountB = (await payout(b)).body.amount as string;

    const day = new Date().toISOString().slice(0, 10);
    bank.pay({ reference: 'CH-A', amount: amountA, currency: 'EUR', bookingDate: day });
    bank.pay({ reference: 'CH-B', amount: amountB, currency: 'EUR', bookingDate: day });
    bank.pay({ reference: 'NOBODY-1', amount: '5.00', currency: 'EUR', bookingDate: day });
    // The demo's short payment: ten cents less arrive for B.
    const shortB = (Number(amountB) - 0.1).toFixed(2);
    const faults = await fetch(`${bank.url}/faults`, {
      method: 'POST',
      body: JSON.stringify({ shortPay: { 'CH-B': shortB } }),
    });
    expect(faults.status).toBe(200);
    const xml = await (await fetch(`${bank.url}/camt053?date=${day}`)).text();
    // Deterministic: the same payments, the same document.
    expect(await (await fetch(`${bank.url}/camt053?date=${day}`)).text()).toBe(xml);

    const entriesBefore = (await stack.db.pool.query('SELECT count(*)::int AS n FROM ledger_entries')).rows[0]
      .n;
    const imported = await stack.api('/v1/bank-statements', {
      token: resolver,
      rawBody: xml,
      headers: { 'content-type': 'application/xml' },
    });
    expect(imported.status).toBe(200);
    const [st] = imported.body.statements;
    expect(st).toMatchObject({
      id: `STMT-${day.replace(/-/g, '')}`,
      created: true,
      newLines: 3,
      exceptions: 1,
    });
    const byRef = Object.fromEntries(st.lines.map((l: any) => [l.reference, l]));
    expect(byRef['CH-A']).toMatchObject({ outcome: 'confirmed', exception: false, settlementId: a });
    expect(byRef['CH-B']).toMatchObject({ outcome: 'partly_paid', difference: '-0.10', settlementId: b });
    expect(byRef['NOBODY-1']).toMatchObject({ outcome: 'unmatched', exception: true, settlementId: null });
    expect(byRef['NOBODY-1'].reason).toMatch(/no payout has the payment reference NOBODY-1/);

    expect((await payout(a)).body).toMatchObject({
      state: 'confirmed',
      paid: amountA,
      source: 'bank_statement',
      journals: [`${a}:payout`, `${a}:payout-sent`, `${a}:payout-confirmed`],
    });
    expect((await payout(b)).body).toMatchObject({ state: 'partly_paid', paid: shortB, remainder: '0.10' });
    // The remainder is owed to the partner on its next statement.
    const carry = await stack.db.pool.query(
      'SELECT amount_minor::text AS amount, source_kind FROM payable_carries WHERE id = $1',
      [`payout:${b}`],
    );
    expect(carry.rows).toEqual([{ amount: '10', source_kind: 'payout_partly_paid' }]);

    // Importing it again changes nothing.
    const entriesAfter = (await stack.db.pool.query('SELECT count(*)::int AS n FROM ledger_entries')).rows[0]
      .n;
    expect(entriesAfter - entriesBefore).toBe(2); // one confirmed, one partly paid
    const again = await stack.api('/v1/bank-statements', {
      token: resolver,
      rawBody: xml,
      headers: { 'content-type': 'application/xml' },
    });
    expect(again.status).toBe(200);
    expect(again.body.statements[0]).toMatchObject({ created: false, newLines: 0, exceptions: 1 });
    expect((await stack.db.pool.query('SELECT count(*)::int AS n FROM ledger_entries')).rows[0].n).toBe(
      entriesAfter,
    );

    // Listed for operators, with its lines and exceptions.
    const listed = await stack.api(`/v1/bank-statements/${st.id}`);
    expect(listed.status).toBe(200);
    expect(listed.body.lines).toHaveLength(3);
    expect((await stack.api(`/v1/bank-statements/${st.id}`, { token: partner.apiKey })).status).toBe(403);

    // The bank's money left; nothing waits in transit or clearing for these two.
    const transit = await getAccount(stack.db.pool, 'house:payouts_in_transit:EUR');
    expect(transit!.balanceMinor).toBe(0n);
  });

  it('fails a sent payout back to fees payable, carried to the next statement', async () => {
    const c = cycles[2]!;
    const early = await stack.api(`/v1/payouts/${enc(c)}/failed`, { token: resolver, body: { reason: 'x' } });
    expect(early.status).toBe(409); // not sent: nothing left the bank
    expect(
      (await stack.api(`/v1/payouts/${enc(c)}/failed`, { token: resolver, body: { reason: ' ' } })).status,
    ).toBe(422);
    expect(
      (await stack.api(`/v1/payouts/${enc(c)}/sent`, { token: resolver, body: { paymentReference: 'CH-C' } }))
        .status,
    ).toBe(200);
    const failed = await stack.api(`/v1/payouts/${enc(c)}/failed`, {
      token: resolver,
      body: { reason: 'returned: account closed (AC04)' },
    });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({
      state: 'failed',
      failureReason: 'returned: account closed (AC04)',
      paid: '0.00',
    });
    expect(failed.body.remainder).toBe(failed.body.amount);
    const carry = await stack.db.pool.query('SELECT source_kind FROM payable_carries WHERE id = $1', [
      `payout:${c}`,
    ]);
    expect(carry.rows).toEqual([{ source_kind: 'payout_failed' }]);
    // A partner sees its own failed payout, the operator as a role.
    const mine = await stack.api(`/v1/payouts?state=failed`, { token: partner.apiKey });
    expect(mine.body.payouts.map((p: any) => [p.settlementId, p.failedBy])).toEqual([[c, 'operations']]);
  });

  it('lists overdue payouts, then confirms one with more than it was owed (an overpayment the partner owes back)', async () => {
    const d = cycles[3]!;
    expect((await stack.api(`/v1/payouts?overdue=true`)).body.payouts).toEqual([]);
    await stack.db.pool.query(`UPDATE payouts SET due_date = due_date - 40 WHERE cycle_id = $1`, [d]);
    const overdue = await stack.api(`/v1/payouts?overdue=true&partnerId=${partner.id}`);
    expect(overdue.body.payouts.map((p: any) => [p.settlementId, p.overdue])).toEqual([[d, true]]);
    expect(
      (await stack.api(`/v1/payouts?overdue=true`, { token: partner.apiKey })).body.payouts,
    ).toHaveLength(1);
    expect((await stack.api(`/v1/payouts?partnerId=someone-else`, { token: partner.apiKey })).status).toBe(
      404,
    );

    expect(
      (await stack.api(`/v1/payouts/${enc(d)}/sent`, { token: resolver, body: { paymentReference: 'CH-D' } }))
        .status,
    ).toBe(200);
    const amount = (await payout(d)).body.amount as string;
    const more = (Number(amount) + 2.5).toFixed(2);
    const bad = await stack.api(`/v1/payouts/${enc(d)}/confirmed`, {
      token: resolver,
      body: { amount: '1.234' },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details[0].path).toBe('amount');
    const ok = await stack.api(`/v1/payouts/${enc(d)}/confirmed`, {
      token: resolver,
      body: { amount: more },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      state: 'confirmed',
      overdue: false,
      overpaid: '2.50',
      source: 'operator',
    });
    const carry = await stack.db.pool.query(
      'SELECT amount_minor::text AS amount, source_kind FROM payable_carries WHERE id = $1',
      [`payout:${d}`],
    );
    expect(carry.rows).toEqual([{ amount: '-250', source_kind: 'overpaid' }]);
    expect((await stack.api(`/v1/payouts?overdue=true`)).body.payouts).toEqual([]);
    // A bank line for it now is an exception (paid twice?), moving nothing.
    bank.pay({ reference: 'CH-D', amount: more, currency: 'EUR', bookingDate: '2026-12-31' });
    const xml = bank.statement('2026-12-31');
    const res = await stack.api('/v1/bank-statements', {
      token: resolver,
      rawBody: xml,
      headers: { 'content-type': 'application/xml' },
    });
    expect(res.body.statements[0].lines[0]).toMatchObject({ outcome: 'already_settled', exception: true });
  });

  it('brings the failed, partly paid and overpaid amounts forward on the next statement', async () => {
    cycles.push(await settle(DAYS[4]!));
    const e = cycles[4]!;
    const statement = (await stack.api(`/v1/settlements/${enc(e)}/statement`)).body;
    const s = typeof statement === 'string' ? JSON.parse(statement) : statement;
    const ids = (s.payout?.broughtForward ?? []).map((b: any) => b.id).sort();
    expect(ids).toEqual([`payout:${cycles[1]}`, `payout:${cycles[2]}`, `payout:${cycles[3]}`].sort());
    // Paid out with them: the next payout's amount is the net plus what was brought forward.
    expect((await payout(e)).body.amount).toBe(s.payout.toPay);
  });

  it('keeps the ledger balanced and its chains intact', async () => {
    for (const [, diff] of await trialBalance(stack.db.pool)) expect(diff).toBe(0n);
    expect((await verifyLedger(stack.db.pool)).ok).toBe(true);
    const payable = await getAccount(stack.db.pool, `partner:${partner.id}:fees_payable:EUR`);
    // Everything owed was paid out or brought forward into the last payout: nothing left.
    expect(payable!.balanceMinor).toBe(0n);
  });

  it('names the problems of a malformed bank statement (422, nothing imported) and wants XML (415)', async () => {
    const notXml = await stack.api('/v1/bank-statements', { token: resolver, body: { a: 1 } });
    expect(notXml.status).toBe(415);
    const broken = await stack.api('/v1/bank-statements', {
      token: resolver,
      rawBody:
        '<Document><BkToCstmrStmt><Stmt><Id>S</Id><Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>X</CdtDbtInd></Ntry></Stmt></BkToCstmrStmt></Document>',
      headers: { 'content-type': 'application/xml' },
    });
    expect(broken.status).toBe(422);
    expect(broken.body.error.details[0].path).toBe('Stmt[0].Ntry[0].CdtDbtInd');
    expect((await stack.api('/v1/bank-statements/S')).status).toBe(404);
  });
});

describe('a dispute raised before approval', () => {
  it('holds its amount from the payout, which pays the rest; the statement reads disputed', async () => {
    const day = '2026-11-10';
    const own = await startJsonCursorProvider();
    try {
      const txs = dayOfTransactions('hold', day, 12).map((t) => ({
        ...t,
        amountMinor: t.amountMinor * 100n,
      }));
      // Every payout needs its two approvers: the cycle waits, its statement issued.
      const p2 = await settlingPartner(stack, own, txs, {
        period: 'daily',
        cutoffGraceMinutes: 0,
        payoutApprovalThresholdMinor: '0',
      });
      own.setTransactions(txs);
      const h = await startPlannedCycle(stack, p2.id, day, {
        over: { cutoffAt: '2026-11-11T00:00:00Z', reminderIntervalMs: 60_000 },
      });
      for (let i = 0; i < 300 && (await h.query(settlementStatus)).status !== 'AwaitingPayoutApproval'; i++)
        await new Promise((r) => setTimeout(r, 100));
      expect((await h.query(settlementStatus)).statement).toMatchObject({ version: 1 });
      const path = `/v1/settlements/${enc(h.workflowId)}`;
      const text = await (
        await fetch(`${stack.baseUrl}${path}/statement`, {
          headers: { authorization: `Bearer ${stack.operatorToken}` },
        })
      ).text();
      const tier = statementLineTotals(JSON.parse(text) as Statement, 2).tier_fee;
      const dispute = await stack.api(`${path}/disputes`, {
        token: p2.apiKey,
        body: {
          line: 'tier_fee',
          amountClaimed: formatAmount(tier - 100n, 2),
          reason: 'the tier rate is lower',
          reference: 'HOLD-1',
        },
      });
      expect(dispute.status).toBe(201);
      expect((await stack.api(`${path}/acknowledgement`, { token: p2.apiKey })).body).toMatchObject({
        state: 'disputed',
        openDisputes: 1,
      });
      for (const name of ['hana-approver', 'ivo-approver']) {
        const ok = await stack.api(`${path}/payout-approvals`, {
          token: await stack.tokenFor(name, 'approver'),
          body: { comment: 'checked' },
        });
        expect(ok.status).toBe(200);
      }
      expect((await h.result()).status).toBe('Completed');
      const p = (await payout(h.workflowId)).body;
      const toPay = BigInt(p.toPay.replace('.', ''));
      expect(p).toMatchObject({
        held: '1.00',
        amount: formatAmount(toPay - 100n, 2),
        state: 'approved',
        journals: [`${h.workflowId}:payout`, `${h.workflowId}:payout-held`],
      });
      // What is held stays owed: in the partner's fees payable, not on its way out.
      const payable = await getAccount(stack.db.pool, `partner:${p2.id}:fees_payable:EUR`);
      expect(payable!.balanceMinor).toBe(-100n);
      // The dispute accepted in full: the hold is released only with its restatement's delta,
      // so the two land on the same next statement and cancel out (nothing paid that was not owed).
      const decided = await stack.api(`/v1/disputes/${dispute.body.id}/decision`, {
        token: await stack.tokenFor('jo-resolver', 'resolver'),
        body: { outcome: 'accept', reason: 'the tier rate is lower indeed' },
      });
      expect(decided.status).toBe(200);
      const carries = async () =>
        (
          await stack.db.pool.query<{ id: string; amount: string; kind: string }>(
            'SELECT id, amount_minor::text AS amount, source_kind AS kind FROM payable_carries WHERE partner_id = $1 ORDER BY kind',
            [p2.id],
          )
        ).rows;
      let restatementId = '';
      for (let i = 0; i < 300 && !restatementId; i++) {
        const list = await stack.api(`/v1/restatements?partnerId=${p2.id}&state=awaiting_approval`);
        restatementId = (list.body.restatements as { id: string }[])[0]?.id ?? '';
        if (!restatementId) await new Promise((r) => setTimeout(r, 100));
      }
      expect(restatementId).not.toBe('');
      expect(await carries()).toEqual([]);
      for (const name of ['kai-approver', 'lea-approver'])
        expect(
          (
            await stack.api(`/v1/restatements/${restatementId}/approvals`, {
              token: await stack.tokenFor(name, 'approver'),
              body: {},
            })
          ).status,
        ).toBe(200);
      for (let i = 0; i < 300 && (await carries()).length < 2; i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(await carries()).toEqual([
        { id: `${h.workflowId}:hold-released`, amount: '100', kind: 'dispute_released' },
        { id: restatementId, amount: '-100', kind: 'restatement' },
      ]);
      expect((await getAccount(stack.db.pool, `partner:${p2.id}:fees_payable:EUR`))!.balanceMinor).toBe(0n);
      for (const [, diff] of await trialBalance(stack.db.pool)) expect(diff).toBe(0n);
      expect((await verifyLedger(stack.db.pool)).ok).toBe(true);
    } finally {
      await own.close();
    }
  });
});
