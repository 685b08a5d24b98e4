import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { verifyLedger } from '../db/ledger';
import { divideHalfEven, formatAmount } from '../domain/money';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { recordContract, type TestPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// Restatement by delta end to end: settled daily cycles, a manual credit and then a
// retroactive contract amendment restate them; two approvers other than the requester; the
// ledger receives only the deltas, dated in the open period; every version stays readable.
describe('settlementRestatement', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let fx: SimulatedFx;
  let p: TestPartner;
  let ana: string;
  let bo: string;
  let carla: string;
  const DAYS = ['2026-11-28', '2026-11-29', '2026-11-30'];
  const cycle = (day: string) => `settlement:${p.id}:${day}`;
  const terms = (rate: string) => ({
    base: 'ggr',
    tiers: [{ upToMinor: null, rate }],
    tierMode: 'marginal',
    minimumGuaranteeMinor: '0',
    fixedFeeMinor: '0',
    categoryRates: {},
    negativeBase: 'carry_forward',
    jackpots: 'exclude',
    taxWithholdingRate: '0',
  });

  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    provider = await startJsonCursorProvider();
    const txs = DAYS.flatMap((d, i) => dayOfTransactions(`rs${i}`, d, 12 + i * 3));
    p = await settlingPartner(stack, provider, txs);
    provider.setTransactions(txs);
    for (const day of DAYS) {
      const h = await startPlannedCycle(stack, p.id, day, {
        over: { reminderIntervalMs: 60_000 },
      });
      expect((await h.result()).status).toBe('Completed');
    }
    ana = await stack.tokenFor('ana', 'resolver', 'approver');
    bo = await stack.tokenFor('bo', 'approver');
    carla = await stack.tokenFor('carla', 'approver');
  }, 120_000);
  afterAll(async () => {
    await provider?.close();
    await fx?.close();
    await stack?.close();
  });

  async function settled(id: string, states: string[]): Promise<any> {
    for (let i = 0; i < 300; i++) {
      const r = await stack.api(`/v1/restatements/${id}`, { token: ana });
      if (states.includes(r.body.state as string)) return r.body;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`restatement ${id} never reached ${states.join('/')}`);
  }
  const approve = (id: string, token: string) =>
    stack.api(`/v1/restatements/${id}/approvals`, { body: { comment: 'checked' }, token });
  const versions = async (day: string) =>
    (await stack.api(`/v1/settlements/${encodeURIComponent(cycle(day))}/statements`, { token: ana })).body
      .versions as { version: number; netPayable: string; restatementId: string | null; digest: string }[];
  const deltaEntries = async () =>
    (
      await stack.db.pool.query<{ key: string; effective_date: string; amount: string }>(
        `SELECT e.idempotency_key AS key, e.effective_date::text, sum(p.amount_minor)::text AS amount
           FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id
          WHERE e.idempotency_key LIKE 'rst-%' AND e.metadata->>'partnerId' = $1
          GROUP BY 1, 2 ORDER BY 1`,
        [p.id],
      )
    ).rows;

  it('a manual credit: two approvers other than the requester, the delta posted once in the open period, version 2 issued', async () => {
    const body = {
      settlementId: cycle(DAYS[1]!),
      reason: {
        kind: 'manual',
        line: 'tier_fee',
        amount: '-5.00',
        reference: 'credit-note-7',
        note: 'goodwill credit',
      },
    };
    const first = await stack.api('/v1/restatements', { body, token: ana });
    expect(first.status).toBe(202);
    // The same change again is the same restatement; the same reference with other content a 409.
    const again = await stack.api('/v1/restatements', { body, token: ana });
    expect(again.status).toBe(200);
    expect(again.body.restatementId).toBe(first.body.restatementId);
    const other = await stack.api('/v1/restatements', {
      body: { ...body, reason: { ...body.reason, amount: '-6.00' } },
      token: ana,
    });
    expect(other.status).toBe(409);
    const zero = await stack.api('/v1/restatements', {
      body: { ...body, reason: { ...body.reason, amount: '0.00', reference: 'zero' } },
      token: ana,
    });
    expect(zero.status).toBe(422);
    expect(JSON.stringify(zero.body)).toContain('body.reason.amount');

    const id = first.body.restatementId as string;
    const computed = await settled(id, ['awaiting_approval']);
    expect(computed.computed.periods.map((x: any) => [x.settlementId, x.fromVersion, x.toVersion])).toEqual([
      [cycle(DAYS[1]!), 1, 2],
      [cycle(DAYS[2]!), 1, null],
    ]);
    expect(computed.computed.netPayableDelta).toBe('-5.00');
    expect(await deltaEntries()).toEqual([]); // nothing posted before approval

    // The requester cannot approve; nobody approves twice.
    const own = await approve(id, ana);
    expect(own.status).toBe(403);
    expect(JSON.stringify(own.body)).toMatch(/requested this restatement/);
    expect((await approve(id, bo)).status).toBe(200);
    expect((await approve(id, bo)).status).toBe(403);
    expect((await approve(id, carla)).status).toBe(200);
    const posted = await settled(id, ['posted']);
    expect(posted.approvals.map((a: any) => a.name)).toEqual(['bo', 'carla']);

    const v = await versions(DAYS[1]!);
    expect(v.map((x) => [x.version, x.restatementId])).toEqual([
      [1, null],
      [2, id],
    ]);
    const v1 = Number(v[0]!.netPayable);
    expect(Number(v[1]!.netPayable)).toBeCloseTo(v1 - 5, 2);
    const v2 = await stack.api(`/v1/settlements/${encodeURIComponent(cycle(DAYS[1]!))}/statements/2`, {
      token: ana,
    });
    expect(v2.status).toBe(200);
    expect(v2.body.restatement).toMatchObject({
      version: 2,
      restatementId: id,
      previousDigest: v[0]!.digest,
    });
    expect(v2.body.lines).toContainEqual(expect.objectContaining({ code: 'adjustment', amount: '-5.00' }));
    // Only the delta, dated in the open period (today, partner's timezone UTC), not in November.
    const today = new Date().toISOString().slice(0, 10);
    const delta = await deltaEntries();
    expect(delta).toEqual([
      { key: `${id}:${cycle(DAYS[1]!)}:adjustment:manual-${id}`, effective_date: today, amount: '500' },
    ]);
    // What the partner is owed less is brought forward to its next statement.
    const carry = await stack.db.pool.query(
      'SELECT amount_minor::text, source_kind FROM payable_carries WHERE id = $1',
      [id],
    );
    expect(carry.rows).toEqual([{ amount_minor: '-500', source_kind: 'restatement' }]);
    expect((await verifyLedger(stack.db.pool)).ok).toBe(true);
    // A partner reads its own versions; another partner's are a 404.
    const mine = await stack.api(`/v1/settlements/${encodeURIComponent(cycle(DAYS[1]!))}/statements/2`, {
      token: p.apiKey,
    });
    expect(mine.status).toBe(200);
    expect(mine.body.restatement.restatementId).toBe(id);
  });

  it('a retroactive contract amendment restates the month in one chain on top of the latest versions; v1–v3 all readable', async () => {
    // Reaching back into settled periods needs to say so (409 otherwise), through maker-checker.
    const backdated = await stack.api(`/v1/partners/${p.id}/contracts/2`, {
      method: 'PUT',
      body: { effectiveFrom: '2026-11-01', terms: terms('0.12') },
    });
    expect(backdated.status).toBe(409);
    const amended = await recordContract(stack, p.id, 2, {
      effectiveFrom: '2026-11-01',
      terms: terms('0.12'),
      retroactive: true,
    } as never);
    expect(amended.status).toBe(200);
    expect(amended.body.retroactive).toBe(true);
    const r = await stack.api('/v1/restatements', {
      body: {
        settlementId: cycle(DAYS[0]!),
        reason: { kind: 'contract_version', contractVersion: 2, note: 'November rate amended to 12 %' },
      },
      token: ana,
    });
    expect(r.status).toBe(202);
    const id = r.body.restatementId as string;
    const computed = await settled(id, ['awaiting_approval']);
    expect(computed.computed.periods.map((x: any) => [x.fromVersion, x.toVersion])).toEqual([
      [1, 2],
      [2, 3],
      [1, 2],
    ]);
    expect((await approve(id, bo)).status).toBe(200);
    expect((await approve(id, carla)).status).toBe(200);
    await settled(id, ['posted']);
    const v = await versions(DAYS[1]!);
    expect(v.map((x) => x.version)).toEqual([1, 2, 3]);
    for (const n of [1, 2, 3])
      expect(
        (
          await stack.api(`/v1/settlements/${encodeURIComponent(cycle(DAYS[1]!))}/statements/${n}`, {
            token: ana,
          })
        ).status,
      ).toBe(200);
    // v3 keeps v2's credit and charges 12 % of the same base, rounded half-even, less the credit.
    const v3 = (
      await stack.api(`/v1/settlements/${encodeURIComponent(cycle(DAYS[1]!))}/statements/3`, { token: ana })
    ).body;
    const base = BigInt((v3.base.feeBase as string).replace('.', ''));
    const fee = divideHalfEven(base * 12n, 100n).rounded;
    expect(v3.netPayable).toBe(formatAmount(fee - 500n, 2));
    expect(v3.contractVersion).toBe(2);
    expect(v3.lines).toContainEqual(expect.objectContaining({ code: 'adjustment', amount: '-5.00' }));
    // The ledger holds the two deltas and nothing else new, all dated in the open month.
    const delta = await deltaEntries();
    const ids = new Set(delta.map((e) => e.key.slice(0, 24)));
    expect(ids.size).toBe(2);
    expect(new Set(delta.map((e) => e.effective_date))).toEqual(
      new Set([new Date().toISOString().slice(0, 10)]),
    );
    expect((await verifyLedger(stack.db.pool)).ok).toBe(true);

    // The same amendment for the last period again: nothing changes, nothing is posted.
    const none = await stack.api('/v1/restatements', {
      body: {
        settlementId: cycle(DAYS[2]!),
        reason: { kind: 'contract_version', contractVersion: 2, note: 'again' },
      },
      token: ana,
    });
    expect(none.status).toBe(202);
    const empty = await settled(none.body.restatementId as string, ['empty']);
    expect(empty.computed.delta).toEqual([]);
    expect((await deltaEntries()).length).toBe(delta.length);
  });

  it('rejected: nothing posted, no new version', async () => {
    const before = await versions(DAYS[2]!);
    const r = await stack.api('/v1/restatements', {
      body: {
        settlementId: cycle(DAYS[2]!),
        reason: {
          kind: 'provider_correction',
          amount: '40.00',
          reference: 'late-rows-1',
          note: 'late provider rows',
        },
      },
      token: ana,
    });
    const id = r.body.restatementId as string;
    await settled(id, ['awaiting_approval']);
    const rejected = await stack.api(`/v1/restatements/${id}/rejections`, {
      body: { reason: 'rows already in December' },
      token: bo,
    });
    expect(rejected.status).toBe(200);
    const done = await settled(id, ['rejected']);
    expect(done.rejectedBy).toMatchObject({ name: 'bo', reason: 'rows already in December' });
    expect(await versions(DAYS[2]!)).toEqual(before);
    expect(
      (await stack.db.pool.query('SELECT 1 FROM ledger_entries WHERE idempotency_key LIKE $1', [`${id}:%`]))
        .rowCount,
    ).toBe(0);
  });
});
