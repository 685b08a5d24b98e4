import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  createDispute,
  disputeContentDigest,
  disputeHoldMinor,
  newDisputeId,
  openDisputesByAge,
} from '../db/disputes';
import { startDisputeProcess } from '../api/routes/disputes';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../platform/webhooks';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { disputeWorkflowId } from '../workflows/ids';
import { decideDispute, disputeStatus, provideEvidence, type DisputeView } from '../workflows/dispute';
import { SettlementStatus } from '../workflows/search-attributes';
import { person, sendSealed } from './support/decisions';
import { onboardPartner, type TestPartner } from './support/partners';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// Disputes end to end: a partner's cycle settled for real (API, provider, workflow), then its
// statement's lines disputed through the API, each dispute a workflow on the real Temporal
// server, decided by sealed Updates (API and, as the UI and CLI send them, through Temporal),
// its history in Postgres, the audit trail and the partner's signed webhooks.
const DAY = '2026-11-23';
const hasRestatements = existsSync(path.join(__dirname, '..', 'services', 'restatements.ts'));

let stack: Stack;
let provider: SimulatedProvider;
let partner: TestPartner;
let other: TestPartner;
let cycleId: string;
let tierFee: string;
let receiver: Server;
let webhookSecret: string;
const received: { verified: boolean; body: any }[] = [];
let resolver: string;

async function until<T>(
  what: string,
  read: () => Promise<T | null | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  stack = await startStack();
  provider = await startJsonCursorProvider();
  const txs = dayOfTransactions('dsp', DAY, 24);
  partner = await settlingPartner(stack, provider, txs);
  provider.setTransactions(txs);
  receiver = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const verified = verifyWebhook(
        webhookSecret,
        {
          timestamp: req.headers[TIMESTAMP_HEADER] as string,
          signature: req.headers[SIGNATURE_HEADER] as string,
        },
        raw,
        Math.floor(Date.now() / 1000),
      );
      received.push({ verified, body: JSON.parse(raw) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = await stack.api(`/v1/partners/${partner.id}/webhook`, {
    method: 'PUT',
    body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` },
  });
  expect(hook.status).toBe(200);
  webhookSecret = hook.body.secret as string;
  const h = await startPlannedCycle(stack, partner.id, DAY, {
    over: { cutoffAt: '2026-11-24T00:00:00Z', reminderIntervalMs: 60_000 },
  });
  const result = await h.result();
  expect(result.status).toBe('Completed');
  cycleId = h.workflowId;
  const statement = await stack.api(`/v1/settlements/${encodeURIComponent(cycleId)}/statement`);
  tierFee = (statement.body.lines as { code: string; amount: string }[]).find(
    (l) => l.code === 'tier',
  )!.amount;
  other = await onboardPartner(stack, { timezone: 'UTC' });
  resolver = await stack.tokenFor('rita-resolver', 'resolver');
}, 120_000);

afterAll(async () => {
  await new Promise((r) => receiver?.close(r));
  await provider?.close();
  await stack?.close();
});

const disputesOf = (id: string) => `/v1/settlements/${encodeURIComponent(id)}/disputes`;
let refSeq = 0;
function body(over: Record<string, unknown> = {}) {
  return {
    line: 'tier_fee',
    amountClaimed: add(tierFee, '25.00'),
    reason: 'the tier rate is 12 % from 2026-11-01 (amendment 3)',
    evidence: ['amendment-3.pdf'],
    reference: `REF-${++refSeq}-${Date.now()}`,
    ...over,
  };
}
/** a + b for two-decimal strings. */
function add(a: string, b: string): string {
  const minor = (s: string) => BigInt(s.replace('.', ''));
  const sum = minor(a) + minor(b);
  const neg = sum < 0n;
  const d = (neg ? -sum : sum).toString().padStart(3, '0');
  return `${neg ? '-' : ''}${d.slice(0, -2)}.${d.slice(-2)}`;
}
async function open(over: Record<string, unknown> = {}): Promise<any> {
  const res = await stack.api(disputesOf(cycleId), { body: body(over), token: partner.apiKey });
  expect(res.status).toBe(201);
  return res.body;
}
const handleOf = (id: string) => stack.temporal.workflow.getHandle(disputeWorkflowId(id));
const webhooks = (id: string) => received.filter((r) => r.body.dispute?.id === id);

it('opens a dispute on a line of its published statement, idempotently by reference, and acknowledges it by signed webhook', async () => {
  const sent = body();
  const first = await stack.api(disputesOf(cycleId), { body: sent, token: partner.apiKey });
  expect(first.status).toBe(201);
  expect(first.body).toMatchObject({
    settlementId: cycleId,
    statementVersion: 1,
    line: 'tier_fee',
    statedAmount: tierFee, // from the statement, never from the body
    amountClaimed: sent.amountClaimed,
    claimedChange: '25.00',
    holdAmount: '0.00',
    state: 'open',
    events: [expect.objectContaining({ kind: 'opened', toState: 'open', actor: `partner:${partner.id}` })],
  });
  // Deadline: 10 days after opening.
  expect(Date.parse(first.body.deadline) - Date.parse(first.body.createdAt)).toBe(10 * 86_400_000);
  const again = await stack.api(disputesOf(cycleId), { body: sent, token: partner.apiKey });
  expect(again.status).toBe(200);
  expect(again.body.id).toBe(first.body.id);
  const changed = await stack.api(disputesOf(cycleId), {
    body: { ...sent, amountClaimed: add(tierFee, '30.00') },
    token: partner.apiKey,
  });
  expect(changed.status).toBe(409);
  expect(changed.body.error.message).toContain(first.body.id);
  // The workflow runs and the partner hears of it.
  const view = await until('loaded', async () => {
    const v = await handleOf(first.body.id).query(disputeStatus);
    return v.partnerId ? v : null;
  });
  expect(view).toMatchObject({ state: 'open', statedAmount: tierFee, line: 'tier_fee' });
  const desc = await handleOf(first.body.id).describe();
  expect(desc.typedSearchAttributes.get(SettlementStatus)).toBe('DisputeOpen');
  const hook = await until('dispute.opened', async () =>
    webhooks(first.body.id).find((r) => r.body.type === 'dispute.opened'),
  );
  expect(hook.verified).toBe(true);
  expect(hook.body.dispute).toMatchObject({
    state: 'open',
    statedAmount: tierFee,
    amountClaimed: sent.amountClaimed,
  });
  // One undecided dispute per line: another reference on the same line waits for this one.
  const second = await stack.api(disputesOf(cycleId), {
    body: body({ reference: 'second-on-the-line' }),
    token: partner.apiKey,
  });
  expect(second.status).toBe(409);
  expect(JSON.stringify(second.body)).toMatch(/undecided dispute of its tier_fee/);
  const rejected = await stack.api(`/v1/disputes/${first.body.id}/decision`, {
    body: { outcome: 'reject', reason: 'the statement stands' },
    token: resolver,
  });
  expect(rejected.status).toBe(200);
});

it("refuses bad input naming the field, another partner's cycle (404), and a claim equal to the statement", async () => {
  const bad = await stack.api(disputesOf(cycleId), { body: body({ line: 'ggr' }), token: partner.apiKey });
  expect(bad.status).toBe(422);
  expect(JSON.stringify(bad.body.error.details)).toContain('line');
  const many = await stack.api(disputesOf(cycleId), {
    body: body({ evidence: Array.from({ length: 21 }, (_, i) => `e${i}`) }),
    token: partner.apiKey,
  });
  expect(many.status).toBe(422);
  const same = await stack.api(disputesOf(cycleId), {
    body: body({ amountClaimed: tierFee }),
    token: partner.apiKey,
  });
  expect(same.status).toBe(422);
  expect(same.body.error.message).toContain('nothing to dispute');
  const decimals = await stack.api(disputesOf(cycleId), {
    body: body({ amountClaimed: '1.001' }),
    token: partner.apiKey,
  });
  expect(decimals.status).toBe(422);
  // Another partner: the cycle is none of its business, indistinguishable from none.
  const foreign = await stack.api(disputesOf(cycleId), { body: body(), token: other.apiKey });
  expect(foreign.status).toBe(404);
  const unknown = await stack.api(disputesOf(`settlement:${partner.id}:2026-01-01`), {
    body: body(),
    token: partner.apiKey,
  });
  expect(unknown.status).toBe(404);
  // Operators do not open disputes (the partner does).
  const operator = await stack.api(disputesOf(cycleId), { body: body() });
  expect(operator.status).toBe(403);
});

it('accepts a dispute in full through the API: the claim is granted, audited, notified and restated', async () => {
  const d = await open();
  const res = await stack.api(`/v1/disputes/${d.id}/decision`, {
    body: { outcome: 'accept', reason: 'amendment 3 is signed and in force' },
    token: resolver,
  });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({
    state: 'accepted',
    decision: {
      outcome: 'accepted',
      amount: '25.00',
      reason: 'amendment 3 is signed and in force',
      decidedBy: { name: 'rita-resolver', actor: expect.stringContaining('#') },
    },
  });
  expect(res.body.events.map((e: any) => e.kind)).toEqual(['opened', 'decided']);
  const audit = await stack.db.pool.query<{ actor: string; role: string; source: string }>(
    `SELECT actor, actor_role AS role, source FROM audit_events WHERE action = 'dispute.decideDispute' AND target = $1`,
    [disputeWorkflowId(d.id)],
  );
  expect(audit.rows).toEqual([expect.objectContaining({ role: 'resolver', source: 'api' })]);
  expect(audit.rows[0]!.actor).toContain('rita-resolver');
  const hook = await until('dispute.decided', async () =>
    webhooks(d.id).find((r) => r.body.type === 'dispute.decided'),
  );
  expect(hook.body.dispute.decision).toMatchObject({ outcome: 'accepted', amount: '25.00' });
  // A second decision: the dispute is decided (409), whoever sends it.
  const twice = await stack.api(`/v1/disputes/${d.id}/decision`, {
    body: { outcome: 'reject', reason: 'changed my mind' },
    token: resolver,
  });
  expect(twice.status).toBe(409);
  if (hasRestatements) {
    const result = await handleOf(d.id).result();
    expect(result.restatement).toMatchObject({ restatementId: expect.stringMatching(/^rst-/) });
    const stored = await stack.db.pool.query(
      `SELECT reason, requested_by_name, change_key FROM restatements WHERE change_key = $1`,
      [`dispute:${d.id}`],
    );
    expect(stored.rows[0]).toMatchObject({
      requested_by_name: 'rita-resolver',
      reason: expect.objectContaining({
        kind: 'dispute',
        disputeId: d.id,
        line: 'tier_fee',
        amountMinor: '2500',
      }),
    });
  }
});

it('accepts in part by the sealed Update the Temporal UI and CLI send, refusing an amount beyond the claim with the validator’s words', async () => {
  const d = await open({ amountClaimed: add(tierFee, '40.00') });
  const h = handleOf(d.id);
  await until('loaded', async () => (await h.query(disputeStatus)).partnerId);
  // Through the API: the workflow's validator answers, with its words and 422.
  const beyond = await stack.api(`/v1/disputes/${d.id}/decision`, {
    body: { outcome: 'accept_in_part', amount: '40.00', reason: 'all of it' },
    token: resolver,
  });
  expect(beyond.status).toBe(422);
  expect(beyond.body.error.message).toContain('between 0 and the claim of 40.00 EUR');
  // As the UI/CLI send it, sealed through the codec by a resolver.
  const view = await sendSealed(
    stack.config,
    h,
    decideDispute,
    person(stack.config, 'tom-resolver', ['resolver']),
    {
      outcome: 'accept_in_part',
      amount: '15.00',
      reason: 'amendment 3 applies from 2026-11-15 only',
    },
  );
  expect(view).toMatchObject({
    state: 'partly_accepted',
    decision: { amount: '15.00', decidedBy: 'tom-resolver' },
  });
  const stored = await stack.api(`/v1/disputes/${d.id}`);
  expect(stored.body).toMatchObject({
    state: 'partly_accepted',
    decision: { outcome: 'partly_accepted', amount: '15.00', decidedBy: { name: 'tom-resolver' } },
  });
  const audit = await stack.db.pool.query<{ source: string }>(
    `SELECT source FROM audit_events WHERE action = 'dispute.decideDispute' AND target = $1`,
    [disputeWorkflowId(d.id)],
  );
  expect(audit.rows).toEqual([{ source: 'temporal-cli' }]);
  // The partner reads the decision by role, never the person.
  const seen = await stack.api(`/v1/disputes/${d.id}`, { token: partner.apiKey });
  expect(seen.body.decision.decidedBy).toBe('operations');
  expect(JSON.stringify(seen.body)).not.toContain('tom-resolver');
  if (hasRestatements) {
    // The restatement carries the part granted, requested by the decider.
    const result = await h.result();
    expect(result.restatement).toMatchObject({ restatementId: expect.stringMatching(/^rst-/) });
    const stored = await stack.db.pool.query(
      `SELECT reason, requested_by_name FROM restatements WHERE change_key = $1`,
      [`dispute:${d.id}`],
    );
    expect(stored.rows[0]).toMatchObject({
      requested_by_name: 'tom-resolver',
      reason: expect.objectContaining({ kind: 'dispute', amountMinor: '1500' }),
    });
  }
});

it('refuses a decision without a seal or without the resolver role, and rejects with a reason', async () => {
  const d = await open({ line: 'fixed_fee', amountClaimed: '100.00' });
  const h = handleOf(d.id);
  await until('loaded', async () => (await h.query(disputeStatus)).partnerId);
  // Typed JSON, as someone would send it from the UI without Clearhouse's codec.
  const unsealed = await h
    .executeUpdate(decideDispute, { args: [{ outcome: 'reject', reason: 'no' } as never] })
    .catch((e: unknown) => e);
  expect(unsealed).toBeInstanceOf(WorkflowUpdateFailedError);
  expect((unsealed as WorkflowUpdateFailedError).cause?.message).toContain('not sealed');
  // Sealed, but by an approver who is not a resolver: the validator names the role.
  const approverOnly = await sendSealed(
    stack.config,
    h,
    decideDispute,
    person(stack.config, 'ana-approver', ['approver']),
    { outcome: 'reject', reason: 'no' },
  ).catch((e: unknown) => e);
  expect((approverOnly as WorkflowUpdateFailedError).cause?.message).toContain(
    'does not hold the resolver role',
  );
  // Through the API: the role is checked before anything is sent (403).
  const viaApi = await stack.api(`/v1/disputes/${d.id}/decision`, {
    body: { outcome: 'reject', reason: 'no' },
    token: await stack.tokenFor('ana-approver', 'approver'),
  });
  expect(viaApi.status).toBe(403);
  const byPartner = await stack.api(`/v1/disputes/${d.id}/decision`, {
    body: { outcome: 'accept', reason: 'yes please' },
    token: partner.apiKey,
  });
  expect(byPartner.status).toBe(403);
  const blank = await stack.api(`/v1/disputes/${d.id}/decision`, {
    body: { outcome: 'reject', reason: '  ' },
    token: resolver,
  });
  expect(blank.status).toBe(422);
  const rejected = await stack.api(`/v1/disputes/${d.id}/decision`, {
    body: { outcome: 'reject', reason: 'no fixed fee is agreed in the contract' },
    token: resolver,
  });
  expect(rejected.status).toBe(200);
  expect(rejected.body).toMatchObject({
    state: 'rejected',
    decision: { outcome: 'rejected', amount: null, reason: 'no fixed fee is agreed in the contract' },
  });
  const result = await h.result();
  expect(result.state).toBe('rejected');
  expect(result.restatement).toBeNull();
  expect(webhooks(d.id).map((r) => r.body.type)).toEqual(
    expect.arrayContaining(['dispute.opened', 'dispute.decided']),
  );
});

it('asks the partner for evidence and takes it back to open (only from the partner, only when asked)', async () => {
  const d = await open({ line: 'minimum_guarantee_top_up', amountClaimed: '50.00' });
  const early = await stack.api(`/v1/disputes/${d.id}/evidence`, {
    body: { evidence: ['x.pdf'] },
    token: partner.apiKey,
  });
  expect(early.status).toBe(409);
  const asked = await stack.api(`/v1/disputes/${d.id}/evidence-request`, {
    body: { note: 'send the guarantee schedule signed by both sides' },
    token: resolver,
  });
  expect(asked.status).toBe(200);
  expect(asked.body.state).toBe('waiting_for_evidence');
  const seenByPartner = await stack.api(`/v1/disputes/${d.id}`, { token: partner.apiKey });
  expect(seenByPartner.body.events.at(-1)).toMatchObject({
    kind: 'evidence_requested',
    actor: 'operations',
    details: expect.objectContaining({ note: 'send the guarantee schedule signed by both sides' }),
  });
  // Another partner cannot see it nor answer it.
  expect((await stack.api(`/v1/disputes/${d.id}`, { token: other.apiKey })).status).toBe(404);
  expect(
    (await stack.api(`/v1/disputes/${d.id}/evidence`, { body: { evidence: ['x'] }, token: other.apiKey }))
      .status,
  ).toBe(404);
  // Nobody poses as the partner straight on Temporal: an operator's seal is refused.
  const posing = await sendSealed(stack.config, handleOf(d.id), provideEvidence, 'mallory', {
    evidence: ['forged.pdf'],
  }).catch((e: unknown) => e);
  expect((posing as WorkflowUpdateFailedError).cause?.message).toContain(`only partner ${partner.id}`);
  const given = await stack.api(`/v1/disputes/${d.id}/evidence`, {
    body: { evidence: ['guarantee-schedule.pdf', 'email-2026-10-02'], note: 'signed copy' },
    token: partner.apiKey,
  });
  expect(given.status).toBe(200);
  expect(given.body).toMatchObject({
    state: 'open',
    evidence: ['amendment-3.pdf', 'guarantee-schedule.pdf', 'email-2026-10-02'],
  });
  expect(given.body.events.map((e: any) => e.kind)).toEqual([
    'opened',
    'evidence_requested',
    'evidence_provided',
  ]);
  const types = await until('reopened webhook', async () => {
    const t = webhooks(d.id).map((r) => r.body.type);
    return t.includes('dispute.reopened') ? t : null;
  });
  expect(types).toEqual(expect.arrayContaining(['dispute.evidence_requested', 'dispute.reopened']));
  const audit = await stack.db.pool.query<{ actor: string }>(
    `SELECT actor FROM audit_events WHERE action = 'dispute.provideEvidence' AND target = $1`,
    [disputeWorkflowId(d.id)],
  );
  expect(audit.rows).toEqual([{ actor: `partner:${partner.id}` }]);
});

it('holds back from the payout what the partner says it is not owed, until decided', async () => {
  // A fresh cycle id with no disputes holds nothing.
  const before = await disputeHoldMinor(stack.db.pool, cycleId);
  const lower = await open({ amountClaimed: add(tierFee, '-7.50') });
  expect(lower.holdAmount).toBe('7.50');
  expect(await disputeHoldMinor(stack.db.pool, cycleId)).toBe(before + 750n);
  await stack.api(`/v1/disputes/${lower.id}/decision`, {
    body: { outcome: 'accept', reason: 'we overstated the tier fee' },
    token: resolver,
  });
  expect(await disputeHoldMinor(stack.db.pool, cycleId)).toBe(before);
});

it('expires an undecided dispute at its deadline, reminding and escalating on the way', async () => {
  // Stored as the API stores it, with a 4-second SLA; reminders every second, escalated after 2.
  const id = newDisputeId();
  const stored = await createDispute(stack.db.pool, {
    id,
    partnerId: partner.id,
    cycleId,
    reference: `EXP-${Date.now()}`,
    contentDigest: disputeContentDigest({
      cycleId,
      line: 'adjustment',
      claimedMinor: 1000n,
      reason: 'r',
      evidence: [],
    }),
    statementVersion: 1,
    currency: 'EUR',
    scale: 2,
    line: 'adjustment',
    statedMinor: 0n,
    claimedMinor: -1000n,
    reason: 'an adjustment we never agreed',
    evidence: [],
    slaMs: 4_000,
    createdBy: `partner:${partner.id}`,
  });
  expect('dispute' in stored && stored.created).toBe(true);
  expect((await openDisputesByAge(stack.db.pool, 500)).some((d) => d.id === id)).toBe(true);
  await startDisputeProcess(stack, id, { reminderEveryMs: 1_000, escalateAfterReminders: 2 });
  await startDisputeProcess(stack, id, { reminderEveryMs: 1_000 }); // twice: the same process
  const result: DisputeView = await handleOf(id).result();
  expect(result.state).toBe('expired');
  expect(result.decision).toBeNull();
  expect(result.remindersSent).toBeGreaterThanOrEqual(2);
  expect(result.escalated).toBe(true);
  const res = await stack.api(`/v1/disputes/${id}`);
  expect(res.body).toMatchObject({ state: 'expired', escalated: true, holdAmount: '0.00' });
  const kinds = res.body.events.map((e: any) => e.kind);
  expect(kinds[0]).toBe('opened');
  expect(kinds).toEqual(expect.arrayContaining(['reminder', 'escalated']));
  expect(kinds.at(-1)).toBe('expired');
  // The partner does not read the operators' reminders.
  const partnerView = await stack.api(`/v1/disputes/${id}`, { token: partner.apiKey });
  expect(partnerView.body.events.map((e: any) => e.kind)).toEqual(['opened', 'expired']);
  expect(JSON.stringify(partnerView.body)).not.toContain('"remindersSent"');
  const hook = await until('dispute.expired', async () =>
    webhooks(id).find((r) => r.body.type === 'dispute.expired'),
  );
  expect(hook).toMatchObject({ verified: true, body: { dispute: { state: 'expired' } } });
  const audit = await stack.db.pool.query<{ action: string }>(
    `SELECT action FROM audit_events WHERE target = $1 ORDER BY action`,
    [disputeWorkflowId(id)],
  );
  expect(audit.rows.map((r) => r.action)).toEqual(['dispute.escalated', 'dispute.expired']);
  // Decided after expiry: refused.
  const late = await stack.api(`/v1/disputes/${id}/decision`, {
    body: { outcome: 'accept', reason: 'too late' },
    token: resolver,
  });
  expect(late.status).toBe(409);
}, 30_000);

it('lists a partner its own disputes, and operators the undecided ones oldest first with their age', async () => {
  const mine = await stack.api('/v1/disputes', { token: partner.apiKey });
  expect(mine.status).toBe(200);
  expect(mine.body.disputes.length).toBeGreaterThan(3);
  expect(mine.body.disputes.every((d: any) => d.settlementId === cycleId && !('partnerId' in d))).toBe(true);
  expect((await stack.api('/v1/disputes', { token: other.apiKey })).body.disputes).toEqual([]);
  const queue = await stack.api('/v1/disputes?state=undecided&order=age');
  expect(queue.status).toBe(200);
  const ages = queue.body.disputes.map((d: any) => d.createdAt as string);
  expect([...ages].sort()).toEqual(ages);
  expect(queue.body.disputes.every((d: any) => ['open', 'waiting_for_evidence'].includes(d.state))).toBe(
    true,
  );
  expect(queue.body.disputes[0]).toHaveProperty('ageHours', 0);
  const paged = await stack.api('/v1/disputes?order=age&limit=2');
  expect(paged.body.disputes).toHaveLength(2);
  const next = await stack.api(`/v1/disputes?order=age&limit=2&cursor=${paged.body.nextCursor}`);
  expect(next.body.disputes[0].createdAt >= paged.body.disputes[1].createdAt).toBe(true);
  expect((await stack.api('/v1/disputes?state=closed')).status).toBe(400);
});
