import { raiseAlert } from '../db/alerts';
import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { Router } from 'express';
import { z } from 'zod';
import { mountRoute } from '../api/route';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { dayOfTransactions, settlingPartner } from './support/settlement';
import type { TestPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// What a partner reads, whatever route it reads it from. One cycle is taken through every
// operator decision by named operators — started by one, its exceptions resolved by another,
// its payout approved by two more — and then every GET of the OpenAPI route table a partner's
// key may call is called with that key (the statement as JSON and as CSV too). No answer may
// carry an operator's name or a field only operators read. A partner-facing route added later
// is walked the day it is added: the test fails until it knows how to fill its parameters.

const DAY = '2026-11-23';
const REQUESTER = 'yuri-requester-k2';
const RESOLVER = 'zelda-resolver-q7';
const APPROVERS = ['amara-approver-x1', 'bjorn-approver-x2'];
const NAMES = [REQUESTER, RESOLVER, ...APPROVERS];
/** Fields of operators' own: who requested a cycle, approval policy, reminders, postings. */
const OPERATOR_FIELDS = [
  'requestedBy',
  'payoutApprovalThresholdMinor',
  'reminderIntervalMs',
  'remindersSent',
  'escalated',
  'reportFetchAttempts',
  'posting',
];

let stack: Stack;
let provider: SimulatedProvider;
let partner: TestPartner;
let cycleId: string;
let txId: string;
let exceptionId: string;
let invoiceId: string;
let disputeId: string;
let restatementId: string;

async function until<T>(what: string, read: () => Promise<T | null>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await read();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never: ${what}`);
}

beforeAll(async () => {
  stack = await startStack();
  provider = await startJsonCursorProvider();
  const txs = dayOfTransactions('pv', DAY, 12);
  // No grace, and every payout needs its two approvers.
  partner = await settlingPartner(stack, provider, txs, {
    period: 'daily',
    cutoffGraceMinutes: 0,
    payoutApprovalThresholdMinor: '0',
  });
  txId = txs[1]!.id;
  provider.setTransactions(txs);
  provider.setFaults({ missing: [txs[0]!.id], altered: { [txs[2]!.id]: 99_999n } });

  const as = async (name: string, role: 'admin' | 'resolver' | 'approver') => stack.tokenFor(name, role);
  const started = await stack.api('/v1/settlements', {
    body: { partnerId: partner.id, periodStart: DAY },
    token: await as(REQUESTER, 'admin'),
  });
  expect(started.status).toBe(202);
  cycleId = started.body.id as string;
  const path = `/v1/settlements/${encodeURIComponent(cycleId)}`;
  const open = await until('exceptions to resolve', async () => {
    const view = await stack.api(path);
    return view.body?.status === 'AwaitingResolution'
      ? (view.body.exceptions as { exceptionId: string }[])
      : null;
  });
  expect(open.length).toBe(2);
  exceptionId = open[0]!.exceptionId;
  const resolver = await as(RESOLVER, 'resolver');
  for (const e of open) {
    const done = await stack.api(`${path}/exceptions/${encodeURIComponent(e.exceptionId)}/resolution`, {
      body: { resolution: 'accept_ours', reason: 'our round log is complete' },
      token: resolver,
    });
    expect(done.status).toBe(200);
  }
  await until('the payout approval', async () =>
    (await stack.api(path)).body?.status === 'AwaitingPayoutApproval' ? true : null,
  );
  for (const name of APPROVERS) {
    const approved = await stack.api(`${path}/payout-approvals`, {
      body: {},
      token: await as(name, 'approver'),
    });
    expect(approved.status).toBe(200);
  }
  await until('completion', async () => ((await stack.api(path)).body?.status === 'Completed' ? true : null));

  // What follows a statement, each decided by a named operator: an invoice that agrees with it,
  // a dispute rejected by the resolver, a restatement the resolver asked for.
  const statement = (await stack.api(`${path}/statement`)).body as {
    lines: { code: string; amount: string }[];
  };
  const tier = statement.lines.find((l) => l.code === 'tier')!.amount;
  const invoice = await stack.api(`/v1/partners/${partner.id}/invoices`, {
    token: partner.apiKey,
    body: {
      reference: 'PV-1',
      period: { start: DAY, end: DAY },
      currency: 'EUR',
      lines: [{ line: 'tier_fee', amount: tier }],
    },
  });
  expect(invoice.status).toBe(201);
  invoiceId = invoice.body.invoiceId as string;
  const dispute = await stack.api(`${path}/disputes`, {
    token: partner.apiKey,
    body: { line: 'fixed_fee', amountClaimed: '1.00', reason: 'pv', evidence: [], reference: 'pv-1' },
  });
  expect(dispute.status).toBe(201);
  disputeId = dispute.body.id as string;
  const decided = await stack.api(`/v1/disputes/${disputeId}/decision`, {
    token: resolver,
    body: { outcome: 'reject', reason: 'the contract has no fixed fee to dispute' },
  });
  expect(decided.status).toBe(200);
  const restated = await stack.api('/v1/restatements', {
    token: resolver,
    body: {
      settlementId: cycleId,
      reason: { kind: 'manual', line: 'tier_fee', amount: '-1.00', reference: 'pv-credit', note: 'goodwill' },
    },
  });
  expect(restated.status).toBe(202);
  restatementId = restated.body.restatementId as string;
  await until('the restatement computed', async () =>
    (await stack.api(`/v1/restatements/${restatementId}`)).body?.state === 'awaiting_approval' ? true : null,
  );
}, 120_000);

afterAll(async () => {
  await provider?.close();
  await stack?.close();
});

it('shows operators the names a partner must not see (so the walk below can fail)', async () => {
  // The cycle names who requested and approved; the exception book, who resolved.
  const view = JSON.stringify([
    (await stack.api(`/v1/settlements/${encodeURIComponent(cycleId)}`)).body,
    (await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(cycleId)}`)).body,
  ]);
  for (const name of NAMES) expect(view).toContain(name);
  expect(view).toContain('requestedBy');
});

it('answers every GET a partner may call without an operator name or an operator-only field', async () => {
  const spec = (await stack.api('/openapi.json', { token: null })).body as {
    paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
  };
  const account = (await stack.api('/v1/ledger/accounts', { token: partner.apiKey })).body.accounts[0]
    .code as string;
  // An operational alert of the partner's, acknowledged by a named operator with a note.
  const alert = await raiseAlert(stack.db.pool, {
    kind: 'late_report',
    dedupKey: `late_report:${cycleId}:pv`,
    partnerId: partner.id,
    subject: `cycle:${cycleId}`,
    severity: 'warning',
    disclosure: 'operational',
    title: 'the provider report is late',
    evidence: { explanation: 'no report 125 minutes after the grace', minutesLate: 125, query: 'SELECT 1' },
    windowStart: null,
    windowEnd: null,
  });
  const ack = await stack.api(`/v1/alerts/${alert.id}/acknowledgement`, {
    token: await stack.tokenFor(RESOLVER, 'resolver'),
    body: { note: `${RESOLVER} called the provider` },
  });
  expect(ack.status).toBe(200);
  const values: Record<string, string> = {
    partnerId: partner.id,
    code: account,
    exceptionId,
    alertId: alert.id,
    month: '2026-11',
    cycleId,
    invoiceId,
    disputeId,
    version: '1',
  };
  const query: Record<string, string> = {
    '/v1/positions': `from=${DAY}&to=${DAY}`,
    '/v1/partners/{partnerId}/positions': `from=${DAY}&to=${DAY}`,
    '/v1/ledger/accounts/{code}/balance': `asOfDate=${DAY}`,
    '/v1/insights/revenue': `date=${DAY}&groupBy=game`,
    '/v1/insights/revenue/hourly': `from=${DAY}T00:00:00Z&to=${DAY}T23:59:59Z`,
    '/v1/partners/{partnerId}/transactions': `date=${DAY}`,
  };
  const walked: string[] = [];
  for (const [template, operations] of Object.entries(spec.paths)) {
    const get = operations.get;
    if (!get?.security?.some((s) => 'partnerApiKey' in s)) continue;
    const url = template.replace(/\{(\w+)\}/g, (_m, name: string) => {
      const value =
        name === 'id'
          ? template.startsWith('/v1/settlements')
            ? cycleId
            : template.startsWith('/v1/restatements')
              ? restatementId
              : txId
          : values[name];
      if (value === undefined) throw new Error(`${template}: this test does not know a value for {${name}}`);
      return encodeURIComponent(value);
    });
    const full = query[template] ? `${url}?${query[template]}` : url;
    const accepts = template.endsWith('/statement') ? ['application/json', 'text/csv'] : ['application/json'];
    for (const accept of accepts) {
      const res = await fetch(`${stack.baseUrl}${full}`, {
        headers: { authorization: `Bearer ${partner.apiKey}`, accept },
      });
      const text = await res.text();
      expect({ route: `GET ${template} (${accept})`, status: res.status }).toEqual({
        route: `GET ${template} (${accept})`,
        status: 200,
      });
      for (const name of NAMES)
        expect({ route: template, leaks: text.includes(name) }).toEqual({ route: template, leaks: false });
      for (const field of OPERATOR_FIELDS)
        expect({ route: template, field, present: text.includes(`"${field}"`) }).toEqual({
          route: template,
          field,
          present: false,
        });
      walked.push(`${template} ${accept}`);
    }
  }
  // The partner-facing reads of the cycle are among those walked (a spec that lost them would pass vacuously).
  expect(walked).toEqual(
    expect.arrayContaining([
      '/v1/settlements/{id} application/json',
      '/v1/settlements/{id}/statement text/csv',
      '/v1/exceptions application/json',
      '/v1/settlements application/json',
    ]),
  );
  // A decision reads as a role.
  const live = (await stack.api(`/v1/settlements/${encodeURIComponent(cycleId)}`, { token: partner.apiKey }))
    .body;
  expect(live.approvals).toEqual(['approver 1', 'approver 2']);
  // The book's exceptions: decided by `operations`, never a person's name or actor.
  const book = (
    await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(cycleId)}`, { token: partner.apiKey })
  ).body;
  expect(book.exceptions.map((e: { operator: string }) => e.operator)).toEqual(['operations', 'operations']);
  expect(JSON.stringify(book)).not.toMatch(/clearhouse#/);
  expect(live.exceptions).toEqual([]);
  expect(live.exceptionsOpen).toBe(0);
});

it('refuses to mount a route partners may call without a partner view', () => {
  const mount = () =>
    mountRoute(Router(), new OpenAPIRegistry(), stack.config.api as never, {
      method: 'get',
      path: '/v1/anything',
      summary: 'x',
      tags: ['x'],
      auth: 'any',
      responses: { 200: { description: 'x', content: { 'application/json': { schema: z.object({}) } } } },
      handler: () => Promise.resolve({ status: 200, body: {} }),
    });
  expect(mount).toThrow(/needs a partnerView/);
});
