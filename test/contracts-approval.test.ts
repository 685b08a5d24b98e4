import { contractInForce } from '../db/settlement';
import { mintOperatorToken } from '../platform/operators';
import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import { toIngestItem } from '../providers/simulated/generator';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { uniqueId } from './support/env';
import { onboardPartner, type TestPartner } from './support/partners';
import { dayOfTransactions } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// Issue 16, point 6: one admin no longer sets the money rules alone. A contract version is
// proposed by an admin and in force only once another actor (by issuer and subject, never by
// display name) with the approver role approves it; the payout-approval threshold has a
// ceiling; and no version may reach back into a period already frozen.
const DAY = '2026-11-18';

describe('contracts under maker-checker', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let fx: SimulatedFx;
  let partner: TestPartner;
  const token = (name: string, subject: string, ...roles: ('admin' | 'approver')[]) =>
    mintOperatorToken(stack.config.api.operatorTokens, { name, subject, roles });
  const key = (subject: string) => `${stack.config.api.operatorTokens.issuer}#${subject}`;
  const terms = (rate: string, threshold = '100000000') => ({
    base: 'ggr',
    tiers: [{ upToMinor: null, rate }],
    tierMode: 'marginal',
    negativeBase: 'floor',
    jackpots: 'exclude',
    settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: threshold },
  });
  const put = (partnerId: string, version: number, body: unknown, as?: string) =>
    stack.api(`/v1/partners/${partnerId}/contracts/${version}`, {
      method: 'PUT',
      body,
      ...(as ? { token: as } : {}),
    });
  const approve = (partnerId: string, version: number, as: string | undefined) =>
    stack.api(`/v1/partners/${partnerId}/contracts/${version}/approval`, {
      body: {},
      ...(as === undefined ? {} : { token: as }),
    });

  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    provider = await startJsonCursorProvider();
    partner = await onboardPartner(stack, { timezone: 'UTC' });
    const txs = dayOfTransactions(uniqueId('ca'), DAY, 12);
    const pushed = await stack.api('/v1/transactions', {
      body: { batchId: uniqueId('b'), transactions: txs.map((t) => toIngestItem(t)) },
      token: partner.apiKey,
    });
    expect(pushed.status).toBe(200);
    provider.setTransactions(txs);
    const connection = await stack.api(`/v1/partners/${partner.id}/provider-connection`, {
      method: 'PUT',
      body: { format: 'json-cursor', baseUrl: provider.url },
    });
    expect(connection.status).toBe(200);
  });
  afterAll(async () => {
    await provider?.close();
    await fx?.close();
    await stack?.close();
  });

  it('a proposal is not in force; a second operator approves it and the cycle settles on it, not on a later proposal', async () => {
    const proposed = await put(partner.id, 1, { effectiveFrom: '2026-01-01', terms: terms('0.10') });
    expect(proposed.status).toBe(202);
    expect(proposed.body).toMatchObject({
      status: 'proposed',
      proposedBy: { key: 'bootstrap-admin' },
      approvedBy: null,
    });
    // Idempotent for the same body, 409 for another one on the same version.
    expect((await put(partner.id, 1, { effectiveFrom: '2026-01-01', terms: terms('0.10') })).status).toBe(
      202,
    );
    expect((await put(partner.id, 1, { effectiveFrom: '2026-01-01', terms: terms('0.11') })).status).toBe(
      409,
    );

    // Proposed only: nothing is in force, for the fee step nor for starting a cycle.
    expect(await contractInForce(stack.db.pool, partner.id, DAY)).toBeNull();
    const refused = await stack.api('/v1/settlements', { body: { partnerId: partner.id, periodStart: DAY } });
    expect([refused.status, refused.body.error.message]).toEqual([
      409,
      expect.stringContaining('no contract in force'),
    ]);

    const approved = await approve(partner.id, 1, await token('ana', 'ana-1', 'approver'));
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      status: 'approved',
      approvedThrough: 'api',
      proposedBy: { key: 'bootstrap-admin' },
      approvedBy: { key: key('ana-1'), name: 'ana' },
    });
    expect((await contractInForce(stack.db.pool, partner.id, DAY))?.version).toBe(1);

    // A later version proposed for the same day (a 50 % rate) is not in force while proposed.
    expect((await put(partner.id, 2, { effectiveFrom: DAY, terms: terms('0.50') })).status).toBe(202);
    expect((await contractInForce(stack.db.pool, partner.id, DAY))?.version).toBe(1);
    const listed = await stack.api(`/v1/partners/${partner.id}/contracts`);
    expect(listed.body.items.map((c: any) => [c.version, c.status])).toEqual([
      [1, 'approved'],
      [2, 'proposed'],
    ]);
    // Operators' identities are for operators: a partner cannot read its contract versions.
    expect((await stack.api(`/v1/partners/${partner.id}/contracts`, { token: partner.apiKey })).status).toBe(
      403,
    );

    const started = await stack.api('/v1/settlements', { body: { partnerId: partner.id, periodStart: DAY } });
    expect(started.status).toBe(202);
    const result = await stack.temporal.workflow.getHandle(started.body.id as string).result();
    expect(result.fees?.contractVersion).toBe(1);
  });

  it('refuses an effectiveFrom on or before the last day of a frozen period (409 naming it), at proposal and at approval', async () => {
    // Version 2 was proposed before the cycle of DAY froze: approving it now would change it.
    const late = await approve(partner.id, 2, await token('bo', 'bo-1', 'approver'));
    expect(late.status).toBe(409);
    expect(late.body.error.message).toContain(`frozen period ${DAY}`);
    expect((await contractInForce(stack.db.pool, partner.id, DAY))?.version).toBe(1);

    for (const effectiveFrom of [DAY, '2026-11-01']) {
      const backdated = await put(partner.id, 3, { effectiveFrom, terms: terms('0.05') });
      expect(backdated.status).toBe(409);
      expect(backdated.body.error.message).toContain(
        `frozen period ${DAY} (settlement:${partner.id}:${DAY})`,
      );
      expect(backdated.body.error.details).toEqual([
        { path: 'effectiveFrom', message: expect.stringContaining(DAY) },
      ]);
    }
    const after = await put(partner.id, 3, { effectiveFrom: '2026-11-19', terms: terms('0.05') });
    expect([after.status, after.body.status]).toEqual([202, 'proposed']);
  });

  it('the proposer cannot approve its own proposal, not even under another display name; the bootstrap admin never approves', async () => {
    const p = await onboardPartner(stack);
    const mallory = await token('mallory', 'mallory-7', 'admin', 'approver');
    const sameSubject = await token('Mallory.Other', 'mallory-7', 'approver');
    const proposed = await put(p.id, 1, { effectiveFrom: '2026-12-01', terms: terms('0.10') }, mallory);
    expect(proposed.body.proposedBy).toEqual({ key: key('mallory-7'), name: 'mallory' });

    for (const as of [mallory, sameSubject]) {
      const own = await approve(p.id, 1, as);
      expect(own.status).toBe(403);
      expect(own.body.error.message).toContain('the maker cannot approve it');
    }
    // The bootstrap administrator holds no approver role, and is refused by name besides.
    const bootstrap = await approve(p.id, 1, undefined);
    expect(bootstrap.status).toBe(403);
    expect((await stack.api(`/v1/partners/${p.id}/contracts/1`)).body.status).toBe('proposed');

    const approved = await approve(p.id, 1, await token('ana', 'ana-1', 'approver'));
    expect([approved.status, approved.body.approvedBy.key]).toEqual([200, key('ana-1')]);
    // Again: nothing changes.
    expect((await approve(p.id, 1, await token('bo', 'bo-1', 'approver'))).body.approvedBy.key).toBe(
      key('ana-1'),
    );

    // Both actors, by key, in the contract's audit events (and the calls' own).
    const audit = await stack.api(`/v1/audit?target=${encodeURIComponent(`contract:${p.id}:1`)}&limit=10`);
    expect(audit.status).toBe(200);
    const events = (audit.body.events as any[]).map((e) => ({
      actor: e.actor,
      action: e.action,
      proposedBy: e.details.proposedBy,
      approvedBy: e.details.approvedBy,
    }));
    expect(events).toEqual([
      {
        actor: key('ana-1'),
        action: 'contract.approve',
        proposedBy: key('mallory-7'),
        approvedBy: key('ana-1'),
      },
      { actor: key('mallory-7'), action: 'contract.propose', proposedBy: key('mallory-7'), approvedBy: null },
    ]);
  });

  it('refuses a payout-approval threshold above the configured ceiling (422 naming the field)', async () => {
    const ceiling = BigInt(stack.config.contracts.maxPayoutApprovalThresholdMinor);
    const above = await put(partner.id, 4, {
      effectiveFrom: '2026-12-01',
      terms: terms('0.10', String(ceiling + 1n)),
    });
    expect(above.status).toBe(422);
    expect(above.body.error.details).toEqual([
      {
        path: 'terms.settlement.payoutApprovalThresholdMinor',
        message: expect.stringContaining(String(ceiling)),
      },
    ]);
    expect(
      (await put(partner.id, 4, { effectiveFrom: '2026-12-01', terms: terms('0.10', String(ceiling)) }))
        .status,
    ).toBe(202);
  });
});
