import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureTemporalCli } from '../scripts/lib/temporal-cli.mjs';
import {
  startJsonCursorProvider,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import { onboardPartner, recordContract, type TestPartner } from './support/partners';
import { uniqueId } from './support/env';
import { startStack, type Stack } from './support/stack';

const run = promisify(execFile);

// Acceptance, as an independent client would do it: only the API and the Temporal CLI (no
// SQL). A partner with a tiered, minimum-guarantee, carry-forward contract with category
// rates and gaming tax; three business days, one with negative GGR; settled out of order
// (29th, 30th, then 28th); exceptions of every resolution kind resolved with the Temporal CLI;
// each statement checked against figures computed by hand; the carry appears exactly once;
// every statement recomputed from its frozen inputs gives the same bytes.
describe('settlement money, end to end through the API and the Temporal CLI', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let late: SimulatedProvider;
  let fx: SimulatedFx;
  let temporalCli: string;
  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    provider = await startJsonCursorProvider();
    late = await startJsonCursorProvider();
    temporalCli = ensureTemporalCli(() => {}) ?? 'temporal';
  });
  afterAll(async () => {
    await provider.close();
    await late.close();
    await fx.close();
    await stack.close();
  });

  /** One of our transactions, as the partner pushes it (amount in euros). */
  const at = (day: string, hour: number) => `${day}T${String(hour).padStart(2, '0')}:00:00.000Z`;
  let seq = 0;
  function t(
    day: string,
    type: string,
    gameId: string,
    amount: string,
    extra: { id?: string; refId?: string } = {},
  ) {
    seq++;
    return {
      id: extra.id ?? `m-${seq}`,
      type,
      roundId: `round-${seq}`,
      playerId: 'p-1',
      gameId,
      amount,
      currency: 'EUR',
      occurredAt: at(day, 8 + (seq % 10)),
      ...(extra.refId ? { refId: extra.refId } : {}),
    };
  }
  const minor = (amount: string) => BigInt(amount.replace('.', ''));
  /** The provider reports bets and wins (rolled-back bets included, as it does). */
  const reported = (items: ReturnType<typeof t>[]): SimulatedTx[] =>
    items
      .filter((i) => i.type === 'bet' || i.type === 'win')
      .map((i) => ({
        id: i.id,
        type: i.type,
        roundId: i.roundId,
        gameId: i.gameId,
        currency: i.currency,
        amountMinor: minor(i.amount),
        occurredAtMs: Date.parse(i.occurredAt),
      }));

  async function cli(args: string[]): Promise<string> {
    const { stdout } = await run(temporalCli, [
      ...args,
      '--address',
      stack.config.temporal.address,
      '--namespace',
      stack.config.temporal.namespace,
    ]);
    return stdout;
  }
  async function waitFor(id: string, status: string): Promise<{ exceptions: { exceptionId: string }[] }> {
    for (let i = 0; i < 150; i++) {
      const v = await stack.api(`/v1/settlements/${encodeURIComponent(id)}`);
      if (v.status === 200 && v.body.status === status) return v.body;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${id} never reached ${status}`);
  }
  /**
   * An operator's decision from the Temporal CLI, sealed on its way by Clearhouse's codec with
   * the person of the operator token it is given (ana, a resolver): the JSON names its target.
   */
  async function resolve(id: string, r: Record<string, string>) {
    const token = await stack.tokenFor('ana', 'resolver');
    await cli([
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      id,
      '--name',
      'resolveException',
      '--input',
      JSON.stringify({
        workflowId: id,
        update: 'resolveException',
        reason: 'checked against the provider back-office',
        ...r,
      }),
      '--codec-endpoint',
      `${stack.baseUrl}/codec`,
      '--codec-auth',
      `Bearer ${token}`,
    ]);
  }
  async function settle(p: TestPartner, day: string, resolutions: Record<string, Record<string, string>>) {
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: day } });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const waiting = await waitFor(id, 'AwaitingResolution');
    expect(waiting.exceptions.map((e) => e.exceptionId).sort()).toEqual(Object.keys(resolutions).sort());
    for (const [exceptionId, r] of Object.entries(resolutions)) await resolve(id, { exceptionId, ...r });
    await waitFor(id, 'Completed');
    const statement = await stack.api(`/v1/settlements/${encodeURIComponent(id)}/statement`);
    expect(statement.status).toBe(200);
    // The partner reads the same statement, its resolvers shown as a role, never a name.
    const theirs = await stack.api(`/v1/settlements/${encodeURIComponent(id)}/statement`, {
      token: p.apiKey,
    });
    expect(theirs.body.netPayable).toBe(statement.body.netPayable);
    const names = (x: unknown) => JSON.stringify(x).includes('"operator":"ana"');
    expect([names(statement.body), names(theirs.body)]).toEqual([true, false]);
    const view = await stack.api(`/v1/settlements/${encodeURIComponent(id)}`, { token: p.apiKey });
    const listed = await stack.api(`/v1/exceptions?limit=500`, { token: p.apiKey });
    expect([names(view.body), names(listed.body)]).toEqual([false, false]);
    return { id, statement: statement.body };
  }

  /** A partner on `late`'s report with a daily contract of the given tiers (10 % flat by default). */
  async function dailyPartner(
    effectiveFrom: string,
    tiers: { upToMinor: string | null; rate: string }[] = [{ upToMinor: null, rate: '0.10' }],
  ): Promise<TestPartner> {
    const p = await onboardPartner(stack, { timezone: 'UTC' });
    const put = async (path: string, body: unknown) =>
      expect((await stack.api(path, { method: 'PUT', body })).status).toBe(200);
    await put(`/v1/partners/${p.id}/provider-connection`, { format: 'json-cursor', baseUrl: late.url });
    expect(
      (
        await recordContract(stack, p.id, 1, {
          effectiveFrom,
          terms: {
            base: 'ggr',
            tiers,
            tierMode: 'marginal',
            negativeBase: 'floor',
            jackpots: 'exclude',
            settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '100000000' },
          },
        })
      ).status,
    ).toBe(200);
    return p;
  }

  it('settles three days out of order to the minor unit, carries once, and reproduces every statement', async () => {
    const p = await onboardPartner(stack, { timezone: 'UTC' });
    const put = async (path: string, body: unknown) => {
      const res = await stack.api(path, { method: 'PUT', body });
      expect([res.status, res.body]).toEqual([200, expect.anything()]);
    };
    await put(`/v1/partners/${p.id}/provider-connection`, { format: 'json-cursor', baseUrl: provider.url });
    await put(`/v1/partners/${p.id}/games`, {
      games: [
        { gameId: 'slot-1', category: 'slots' },
        { gameId: 'live-1', category: 'live' },
      ],
    });
    const contract = await recordContract(stack, p.id, 1, {
      effectiveFrom: '2026-11-01',
      terms: {
        base: 'ngr',
        tiers: [
          { upToMinor: '100000', rate: '0.12' },
          { upToMinor: null, rate: '0.10' },
        ],
        tierMode: 'marginal',
        minimumGuaranteeMinor: '60000',
        fixedFeeMinor: '5000',
        categoryRates: { live: '0.02' },
        negativeBase: 'carry_forward',
        jackpots: 'exclude',
        gamingTax: { jurisdiction: 'MT', rate: '0.05', on: 'ggr' },
        settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '100000000' },
      },
    });
    expect([contract.status, contract.body.status]).toEqual([200, 'approved']);

    // Day 28: GGR 800.00 (a 100.00 bet rolled back), bonus wins 50.00, jackpot contributions 20.00.
    const a = t('2026-11-28', 'bet', 'slot-1', '1200.00');
    const b = t('2026-11-28', 'bet', 'slot-1', '800.00');
    const r = t('2026-11-28', 'bet', 'slot-1', '100.00');
    const day28 = [
      a,
      b,
      r,
      t('2026-11-28', 'rollback', 'slot-1', '100.00', { refId: r.id }),
      t('2026-11-28', 'win', 'slot-1', '1500.00'),
      t('2026-11-28', 'bonus_win', 'slot-1', '50.00'),
      t('2026-11-28', 'jackpot_contribution', 'slot-1', '20.00'),
      t('2026-11-28', 'bet', 'live-1', '1000.00'),
      t('2026-11-28', 'win', 'live-1', '700.00'),
    ];
    // Day 29: players won: GGR −900.00.
    const w29 = t('2026-11-29', 'win', 'slot-1', '1400.00');
    const day29 = [t('2026-11-29', 'bet', 'slot-1', '500.00'), w29];
    // Day 30 (the month's last): GGR 1,500.00.
    const l30 = t('2026-11-30', 'bet', 'live-1', '800.00');
    const day30 = [
      t('2026-11-30', 'bet', 'slot-1', '3000.00'),
      t('2026-11-30', 'win', 'slot-1', '2000.00'),
      l30,
      t('2026-11-30', 'win', 'live-1', '300.00'),
    ];
    const ingest = await stack.api('/v1/transactions', {
      body: { batchId: uniqueId('b'), transactions: [...day28, ...day29, ...day30] },
      token: p.apiKey,
    });
    expect(ingest.status).toBe(200);
    const extra29: SimulatedTx = {
      id: 'only-theirs-29',
      type: 'bet',
      roundId: 'x',
      gameId: 'slot-1',
      currency: 'EUR',
      amountMinor: 500n,
      occurredAtMs: Date.parse(at('2026-11-29', 20)),
    };
    provider.setTransactions(reported([...day28, ...day29, ...day30]));
    provider.setFaults({
      altered: { [a.id]: 123000n, [w29.id]: 141000n, [l30.id]: 80500n },
      missing: [b.id],
      extra: [extra29],
    });

    // 29th first: NGR −900.00; the win they report 10.00 higher is deferred (carry_forward).
    const s29 = await settle(p, '2026-11-29', {
      [`amount_mismatch:${w29.id}`]: { resolution: 'carry_forward' },
      [`missing_ours:${extra29.id}`]: { resolution: 'write_off' },
    });
    expect(s29.statement.revenue).toMatchObject({
      ggr: '-900.00',
      gamingTax: { amount: '0.00' },
      ngr: '-900.00',
    });
    expect(s29.statement.base).toEqual({
      contractBase: 'ngr',
      jackpots: 'exclude',
      periodBase: '-900.00',
      carriedIn: [],
      feeBase: '0.00',
      carriedOut: {
        negativeBase: '-900.00',
        deferredResolutions: [{ exceptionId: `amount_mismatch:${w29.id}`, effect: '-10.00' }],
        total: '-910.00',
      },
    });
    expect([s29.statement.lines, s29.statement.netPayable]).toEqual([[], '0.00']);
    expect(s29.statement.month).toMatchObject({ closesMonth: false, guaranteeAssessed: false });

    // 30th, the month's last: GGR 1,500.00 + adjust 2.50 = 1,502.50; gaming tax on the month's
    // GGR −900.00 + 1,502.50 = 602.50 at 5 % = 30.125 → 30.12 (half-even); NGR 1,472.38; carry
    // −910.00 from the 29th → fee base 562.38. Tiers from a month volume of 0: 562.38 × 12 % =
    // 67.4856 → 67.49; live 500.00 × 2 % = 10.00; month variable 77.49 < guarantee 600.00 →
    // top-up 522.51; fixed fee 50.00 → 650.00.
    const s30 = await settle(p, '2026-11-30', {
      [`amount_mismatch:${l30.id}`]: { resolution: 'adjust', amount: '2.5' },
    });
    expect(s30.statement.revenue).toMatchObject({
      ggrBeforeResolutions: '1500.00',
      resolutions: [{ exceptionId: `amount_mismatch:${l30.id}`, resolution: 'adjust', effect: '2.50' }],
      ggr: '1502.50',
      gamingTax: { jurisdiction: 'MT', monthBase: '602.50', chargedEarlier: '0.00', amount: '30.12' },
      ngr: '1472.38',
    });
    expect(s30.statement.base).toMatchObject({
      periodBase: '1472.38',
      carriedIn: [{ fromSettlementId: s29.id, amount: '-910.00' }],
      feeBase: '562.38',
      carriedOut: { total: '0.00' },
    });
    expect(s30.statement.lines.map((l: { code: string; amount: string }) => [l.code, l.amount])).toEqual([
      ['tier', '67.49'],
      ['category', '10.00'],
      ['minimum_guarantee_top_up', '522.51'],
      ['fixed_fee', '50.00'],
    ]);
    expect(s30.statement.netPayable).toBe('650.00');
    expect(s30.statement.month).toMatchObject({
      volumeBefore: '0.00',
      volumeAfter: '562.38',
      fixedFee: 'charged',
    });

    // 28th, settled last: GGR 800.00 + 30.00 accepted from the provider = 830.00; the month's
    // GGR 1,432.50 at 5 % = 71.625 → 71.62, less 30.12 charged → tax 41.50; NGR 830.00 − 50.00
    // − 20.00 − 41.50 = 718.50; no carry left for it (the 29th's went to the 30th). Tiers
    // continue from 562.38: 437.62 × 12 % = 52.5144 → 52.51, 280.88 × 10 % = 28.088 → 28.09;
    // live 300.00 × 2 % = 6.00. Month variable 164.09: the guarantee top-up falls to 435.91, so
    // −86.60; no second fixed fee → 0.00.
    const s28 = await settle(p, '2026-11-28', {
      [`amount_mismatch:${a.id}`]: { resolution: 'accept_theirs' },
      [`missing_theirs:${b.id}`]: { resolution: 'accept_ours' },
    });
    expect(s28.statement.currencies).toEqual([
      expect.objectContaining({
        currency: 'EUR',
        stakes: '3000.00',
        wins: '2200.00',
        ggr: '800.00',
        fx: null,
      }),
    ]);
    expect(s28.statement.revenue).toMatchObject({
      ggrBeforeResolutions: '800.00',
      ggr: '830.00',
      bonusCost: '50.00',
      jackpotContributions: '20.00',
      gamingTax: { monthBase: '1432.50', chargedEarlier: '30.12', amount: '41.50' },
      ngr: '718.50',
    });
    expect(s28.statement.base).toMatchObject({ carriedIn: [], feeBase: '718.50' });
    expect(s28.statement.lines.map((l: { code: string; amount: string }) => [l.code, l.amount])).toEqual([
      ['tier', '52.51'],
      ['tier', '28.09'],
      ['category', '6.00'],
      ['minimum_guarantee_top_up', '-86.60'],
    ]);
    expect(s28.statement.month).toMatchObject({
      volumeAfter: '1280.88',
      fixedFee: 'charged earlier this month',
    });
    expect(s28.statement.netPayable).toBe('0.00');

    // The ledger agrees (read through the API): the carry was consumed once, gaming tax owed to
    // Malta, GGR = the statements' GGR, the partner paid the month's 650.00.
    const balance = async (code: string) => {
      const res = await stack.api(`/v1/ledger/accounts/${encodeURIComponent(code)}/balance`);
      expect(res.status).toBe(200);
      return res.body.balance as string;
    };
    expect(await balance(`partner:${p.id}:carry_forward:EUR`)).toBe('0.00');
    expect(await balance(`house:gaming_tax_payable:mt:EUR`)).toBe('-71.62');
    expect(await balance(`partner:${p.id}:game_activity:EUR`)).toBe('1432.50');
    expect(await balance(`house:payouts_clearing:EUR`)).toBeDefined();
    expect(s30.statement.ledgerEntries).toEqual([
      `${s30.id}:resolution:amount_mismatch:${l30.id}`,
      `${s30.id}:carry-in`,
      `${s30.id}:gaming-tax`,
      `${s30.id}:fees`,
      `${s30.id}:payout`,
    ]);

    // Recomputed from the frozen inputs (dry run, posts nothing): the same bytes.
    for (const s of [s28, s29, s30]) {
      const dry = await stack.api(`/v1/settlements/${encodeURIComponent(s.id)}/statement/recompute`, {
        method: 'POST',
      });
      expect(dry.status).toBe(200);
      expect(dry.body).toMatchObject({ settlementId: s.id, identical: true });
      expect(dry.body.statement).toEqual(s.statement);
    }
    // A frozen input that changed is caught: the dry run says the bytes differ.
    await stack.db.pool.query('UPDATE settlement_sources SET win_minor = win_minor + 1 WHERE cycle_id = $1', [
      s28.id,
    ]);
    const tampered = await stack.api(`/v1/settlements/${encodeURIComponent(s28.id)}/statement/recompute`, {
      method: 'POST',
    });
    expect(tampered.body).toMatchObject({ identical: false });
    expect(tampered.body.recomputedSha256).not.toBe(tampered.body.storedSha256);
    // The same dry run from the command line, on a process of its own.
    const cliRun = await run(
      process.execPath,
      [require.resolve('tsx/cli'), 'scripts/statement-recompute.ts', s30.id],
      { env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: stack.db.url } },
    );
    expect(JSON.parse(cliRun.stdout.trim().split('\n').pop()!)).toMatchObject({
      settlementId: s30.id,
      identical: true,
    });
  });

  it('counts a transaction that arrives after the freeze once, in the statement and in the ledger', async () => {
    const p = await dailyPartner('2026-11-01');
    const day = '2026-11-20';
    const bet = t(day, 'bet', 'slot-1', '100.00');
    const x = t(day, 'bet', 'slot-1', '40.00');
    expect(
      (
        await stack.api('/v1/transactions', {
          body: { batchId: uniqueId('b'), transactions: [bet] },
          token: p.apiKey,
        })
      ).status,
    ).toBe(200);
    // The provider has X; we receive it only after the period froze and was reconciled.
    late.setTransactions(reported([bet, x]));
    late.setFaults({});
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: day } });
    const id = started.body.id as string;
    const waiting = await waitFor(id, 'AwaitingResolution');
    expect(waiting.exceptions.map((e) => e.exceptionId)).toEqual([`missing_ours:${x.id}`]);
    expect(
      (
        await stack.api('/v1/transactions', {
          body: { batchId: uniqueId('b'), transactions: [x] },
          token: p.apiKey,
        })
      ).status,
    ).toBe(200);
    await resolve(id, { exceptionId: `missing_ours:${x.id}`, resolution: 'accept_theirs' });
    await waitFor(id, 'Completed');
    const statement = (await stack.api(`/v1/settlements/${encodeURIComponent(id)}/statement`)).body;
    expect(statement.revenue).toMatchObject({
      ggrBeforeResolutions: '100.00',
      resolutions: [{ exceptionId: `missing_ours:${x.id}`, effect: '40.00', posted: '0.00' }],
      ggr: '140.00',
    });
    expect(statement.netPayable).toBe('14.00');
    // Ingest accrued X in the ledger; the resolution posts nothing more: 140.00, not 180.00.
    const activity = await stack.api(
      `/v1/ledger/accounts/${encodeURIComponent(`partner:${p.id}:game_activity:EUR`)}/balance`,
    );
    expect(activity.body.balance).toBe('140.00');
    const dry = await stack.api(`/v1/settlements/${encodeURIComponent(id)}/statement/recompute`, {
      method: 'POST',
    });
    expect(dry.body).toMatchObject({ identical: true });
  });

  it("serialises the month: two of a partner's cycles computing at once see each other's volume", async () => {
    const p = await dailyPartner('2026-10-01', [
      { upToMinor: '15000', rate: '0.12' },
      { upToMinor: null, rate: '0.10' },
    ]);
    const days = ['2026-10-05', '2026-10-06'];
    const txs = days.map((d) => t(d, 'bet', 'slot-1', '100.00'));
    expect(
      (
        await stack.api('/v1/transactions', {
          body: { batchId: uniqueId('b'), transactions: txs },
          token: p.apiKey,
        })
      ).status,
    ).toBe(200);
    late.setTransactions(reported(txs));
    late.setFaults({});
    const ids = await Promise.all(
      days.map(
        async (d) =>
          (await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: d } })).body
            .id as string,
      ),
    );
    await Promise.all(ids.map((id) => waitFor(id, 'Completed')));
    const months = await Promise.all(
      ids.map(
        async (id) => (await stack.api(`/v1/settlements/${encodeURIComponent(id)}/statement`)).body.month,
      ),
    );
    // One computed first (from 0), the other from its volume: 100.00 at 12 % = 12.00, then 50.00
    // at 12 % + 50.00 at 10 % = 11.00 — the month's 200.00 charged 23.00 (150 × 12 % + 50 × 10 %),
    // never 24.00 (each day from zero).
    const [first, second] = months.sort((a, b) => (a.volumeBefore < b.volumeBefore ? -1 : 1));
    expect([first.volumeBefore, first.volumeAfter, second.volumeBefore, second.volumeAfter]).toEqual([
      '0.00',
      '100.00',
      '100.00',
      '200.00',
    ]);
    expect(second.variableFeesToDate).toBe('23.00');
  });

  it('stops a cycle that meets a data error in a Failed state at once, and lets the same id start again', async () => {
    const p = await dailyPartner('2026-10-01');
    const day = '2026-10-12';
    const tx = t(day, 'bet', `poison-${p.id}`, '10.00');
    expect(
      (
        await stack.api('/v1/transactions', {
          body: { batchId: uniqueId('b'), transactions: [tx] },
          token: p.apiKey,
        })
      ).status,
    ).toBe(200);
    late.setTransactions(reported([tx]));
    late.setFaults({});
    // A rule the period's data breaks (set up with SQL: the test's own database).
    const constraint = `poison_${p.id.replace(/-/g, '_')}`;
    await stack.db.pool.query(
      `ALTER TABLE settlement_sources ADD CONSTRAINT ${constraint} CHECK (game_id <> 'poison-${p.id}') NOT VALID`,
    );
    const started = Date.now();
    const first = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: day } });
    const id = first.body.id as string;
    const failed = await waitFor(id, 'Failed');
    expect(Date.now() - started).toBeLessThan(20_000); // not retried with backoff for minutes
    expect(JSON.stringify(failed)).not.toContain('.ts:');
    const listed = await stack.api(`/v1/settlements?partnerId=${p.id}`);
    expect(listed.body.settlements).toEqual([expect.objectContaining({ id, status: 'Failed' })]);
    // The status is published before the run ends (it waits for its handlers, then fails).
    await stack.temporal.workflow
      .getHandle(id)
      .result()
      .catch(() => undefined);
    const history = await stack.temporal.workflow.getHandle(id).describe();
    expect(history.status.name).toBe('FAILED');

    // Fixed, the same period starts again under the same id and settles.
    await stack.db.pool.query(`ALTER TABLE settlement_sources DROP CONSTRAINT ${constraint}`);
    const again = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: day } });
    expect([again.status, again.body.id]).toEqual([202, id]);
    await waitFor(id, 'Completed');
    const statement = (await stack.api(`/v1/settlements/${encodeURIComponent(id)}/statement`)).body;
    expect(statement.netPayable).toBe('1.00');
  });
});
