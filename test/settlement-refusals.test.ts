import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { BACKFILL_MAX_DAYS } from '../api/routes/settlements';
import { dayOfTransactions, settlingPartner } from './support/settlement';
import type { TestPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// What the settlement routes answer when a request cannot be carried out, and why: a request
// that breaks a rule of its own is a 422, one that conflicts with what is stored (the partner's
// contracts and calendar, where the cycle stands) a 409, one naming what the cycle does not
// have a 404 — through the API, from the same validators the Temporal UI meets.

const DAY = '2026-11-23';
let stack: Stack;
let provider: SimulatedProvider;
let partner: TestPartner;

beforeAll(async () => {
  stack = await startStack();
  provider = await startJsonCursorProvider();
  const txs = dayOfTransactions('sr', DAY, 9);
  // A contract from 2026-01-01 (UTC), no grace, and every payout needs two approvers.
  partner = await settlingPartner(stack, provider, txs, {
    period: 'daily',
    cutoffGraceMinutes: 0,
    payoutApprovalThresholdMinor: '0',
  });
  provider.setTransactions(txs);
  provider.setFaults({ missing: [txs[0]!.id] });
}, 120_000);

afterAll(async () => {
  await provider?.close();
  await stack?.close();
});

const utcDay = (offsetDays: number) =>
  new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

it(`bounds a backfill: at most ${BACKFILL_MAX_DAYS} days, from the first contract, up to the last day that ended`, async () => {
  expect(
    (await stack.api(`/v1/partners/${partner.id}/settlement-schedule`, { method: 'PUT', body: {} })).status,
  ).toBe(200);
  const backfill = (from: string, to: string) =>
    stack.api(`/v1/partners/${partner.id}/settlement-schedule/backfill`, { body: { from, to } });

  const tooLong = await backfill('2026-01-01', '2026-04-30');
  expect(tooLong.status).toBe(422);
  expect(tooLong.body.error.message).toBe(`a backfill covers at most ${BACKFILL_MAX_DAYS} days (120 asked)`);

  const beforeContract = await backfill('2025-12-30', '2026-01-02');
  expect(beforeContract.status).toBe(409);
  expect(beforeContract.body.error.details).toEqual([{ path: 'from', message: 'on or after 2026-01-01' }]);

  const notEnded = await backfill(utcDay(-1), utcDay(0));
  expect(notEnded.status).toBe(409);
  expect(notEnded.body.error.details).toEqual([{ path: 'to', message: `on or before ${utcDay(-1)}` }]);

  // A day no contract covers cannot be settled by hand either.
  const early = await stack.api('/v1/settlements', {
    body: { partnerId: partner.id, periodStart: '2025-12-31' },
  });
  expect(early.status).toBe(409);
  expect(early.body.error.message).toMatch(/no contract in force/);
});

it('answers 409, 404 or 422 for what a cycle cannot do now, naming why', async () => {
  const started = await stack.api('/v1/settlements', { body: { partnerId: partner.id, periodStart: DAY } });
  expect(started.status).toBe(202);
  const id = started.body.id as string;
  const cycle = `/v1/settlements/${encodeURIComponent(id)}`;

  // Started: no statement until the fees are computed.
  const statement = await stack.api(`${cycle}/statement`);
  expect(statement.status).toBe(409);
  expect(statement.body.error.message).toMatch(/has no statement yet/);
  expect(
    (
      await stack.api(
        `/v1/settlements/${encodeURIComponent(`settlement:${partner.id}:2026-01-05`)}/statement`,
      )
    ).status,
  ).toBe(404);

  let open: { exceptionId: string }[] = [];
  for (let i = 0; i < 600 && open.length === 0; i++) {
    const view = await stack.api(cycle);
    if (view.body.status === 'AwaitingResolution') open = view.body.exceptions;
    else await new Promise((r) => setTimeout(r, 100));
  }
  expect(open.length).toBe(1);
  // Decided by a person (the seal's actor): the bootstrap token is no one's, and decides nothing.
  const resolver = await stack.tokenFor('rita', 'resolver');
  const resolve = (exceptionId: string, body: Record<string, unknown>) =>
    stack.api(`${cycle}/exceptions/${encodeURIComponent(exceptionId)}/resolution`, { body, token: resolver });

  const unknown = await resolve('missing_theirs:nothing-here', { resolution: 'accept_ours', reason: 'x' });
  expect(unknown.status).toBe(404);
  expect(unknown.body.error.message).toMatch(/unknown exceptionId/);
  // An adjustment in more decimals than the cycle's currency has: the decision itself is wrong.
  const tooFine = await resolve(open[0]!.exceptionId, { resolution: 'adjust', amount: '1.001', reason: 'x' });
  expect(tooFine.status).toBe(422);
  const early = await stack.api(`${cycle}/payout-approvals`, {
    body: {},
    token: await stack.tokenFor('ana', 'approver'),
  });
  expect(early.status).toBe(409);
  expect(early.body.error.message).toBe('this cycle is not waiting for a payout approval');

  expect(
    (await resolve(open[0]!.exceptionId, { resolution: 'accept_ours', reason: 'in our logs' })).status,
  ).toBe(200);
  const again = await resolve(open[0]!.exceptionId, { resolution: 'write_off', reason: 'twice' });
  // Already resolved, or the cycle has moved on since: either way a conflict with where it stands.
  expect(again.status).toBe(409);
});
