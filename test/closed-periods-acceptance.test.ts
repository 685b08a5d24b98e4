import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureTemporalCli } from '../scripts/lib/temporal-cli.mjs';
import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { recordContract, type TestPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';
import { temporalUpdate } from './support/temporal-cli';

const run = promisify(execFile);

// Issue 20's acceptance, as a new user would try it, with only the API and the Temporal CLI:
// a month of daily cycles settled; the month closed and its report checked against the ledger;
// the partner's invoice with one line off (one fee_variance) and a disputed line; the dispute
// accepted in part; a retroactive contract amendment restating the month; statement versions
// 1–3 readable, and the ledger holding exactly the two deltas as new entries, dated in the open
// month.
describe('after the statement, through the API and the Temporal CLI only', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let fx: SimulatedFx;
  let temporalCli: string;
  let p: TestPartner;
  const DAYS = Array.from({ length: 30 }, (_, i) => `2026-11-${String(i + 1).padStart(2, '0')}`);

  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    provider = await startJsonCursorProvider();
    temporalCli = ensureTemporalCli(() => {}) ?? 'temporal';
  });
  afterAll(async () => {
    await provider?.close();
    await fx?.close();
    await stack?.close();
  });

  const cli = async (args: string[]) =>
    (
      await run(temporalCli, [
        ...args,
        '--address',
        stack.config.temporal.address,
        '--namespace',
        stack.config.temporal.namespace,
      ])
    ).stdout;
  async function until<T>(what: string, read: () => Promise<T | null>): Promise<T> {
    for (let i = 0; i < 600; i++) {
      const v = await read();
      if (v !== null) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`never: ${what}`);
  }

  it('settles, closes, compares an invoice, decides a dispute and restates the month by two deltas', async () => {
    const txs = DAYS.flatMap((d, i) => dayOfTransactions(`acc${i}`, d, 6));
    p = await settlingPartner(stack, provider, txs);
    provider.setTransactions(txs);
    const cycle = (day: string) => `settlement:${p.id}:${day}`;
    const last = cycle('2026-11-30');
    const ana = await stack.tokenFor('ana', 'resolver');
    const bo = await stack.tokenFor('bo', 'approver');
    const carla = await stack.tokenFor('carla', 'approver');
    const dina = await stack.tokenFor('dina', 'approver');

    // 1. A month of daily cycles, each settled by its workflow.
    for (const day of DAYS) {
      const h = await startPlannedCycle(stack, p.id, day);
      expect((await h.result()).status).toBe('Completed');
    }

    // 2. The month closed by an approver; its report equals the ledger on the 30th.
    const close = await stack.api(`/v1/periods/${p.id}/2026-11/close`, { method: 'POST', token: bo });
    expect(close.status).toBe(202);
    const period = await until('the close', async () => {
      const r = await stack.api(`/v1/periods/${p.id}/2026-11`, { token: bo });
      return r.body.state === 'closed' ? r.body : null;
    });
    // The period reads closed once its transaction commits; the workflow then compares invoices
    // and completes: `temporal workflow result` waits for that.
    await cli(['workflow', 'result', '--workflow-id', close.body.workflowId as string]);
    const described = await cli(['workflow', 'describe', '--workflow-id', close.body.workflowId as string]);
    expect(described).toMatch(/Status\s+COMPLETED/);
    const accounts = period.report.currencies[0].accounts as {
      code: string;
      byEffectiveDate: { closing: string };
    }[];
    expect(accounts.length).toBeGreaterThan(0);
    for (const a of accounts) {
      const ledger = await stack.api(
        `/v1/ledger/accounts/${encodeURIComponent(a.code)}/balance?asOfDate=2026-11-30`,
        { token: bo },
      );
      expect({ code: a.code, balance: ledger.body.balance }).toEqual({
        code: a.code,
        balance: a.byEffectiveDate.closing,
      });
    }

    // 3. The partner's invoice for the month: the tier fee off by 25.00 (beyond the 1.00
    // tolerance), so exactly one fee_variance.
    const statements = await Promise.all(
      DAYS.map(
        async (d) => (await stack.api(`/v1/settlements/${encodeURIComponent(cycle(d))}/statement`)).body,
      ),
    );
    const tierMinor = statements
      .flatMap((s: { lines: { code: string; amount: string }[] }) => s.lines)
      .filter((l) => l.code === 'tier')
      .reduce((sum, l) => sum + BigInt(l.amount.replace('.', '')), 0n);
    const off = tierMinor + 2500n;
    const invoice = await stack.api(`/v1/partners/${p.id}/invoices`, {
      token: p.apiKey,
      body: {
        reference: 'NOV-2026',
        period: { start: '2026-11-01', end: '2026-11-30' },
        currency: 'EUR',
        lines: [{ line: 'tier_fee', amount: `${off / 100n}.${String(off % 100n).padStart(2, '0')}` }],
      },
    });
    expect(invoice.status).toBe(201);
    expect(invoice.body.comparison.variances).toBe(1);
    expect(invoice.body.comparison.exceptions).toEqual([
      expect.objectContaining({ line: 'tier_fee', difference: '25.00', settlementId: last }),
    ]);

    // 4. The partner disputes the last day's tier fee, claiming 3.00 more; a resolver accepts 1.50.
    const stated = (statements.at(-1) as { lines: { code: string; amount: string }[] }).lines.find(
      (l) => l.code === 'tier',
    )!.amount;
    const claimed = (BigInt(stated.replace('.', '')) + 300n).toString();
    const dispute = await stack.api(`/v1/settlements/${encodeURIComponent(last)}/disputes`, {
      token: p.apiKey,
      body: {
        line: 'tier_fee',
        amountClaimed: `${claimed.slice(0, -2) || '0'}.${claimed.slice(-2)}`,
        reason: 'our tier report counts three more rounds',
        evidence: ['rounds-2026-11-30.csv'],
        reference: 'D-1',
      },
    });
    expect(dispute.status).toBe(201);
    const decided = await stack.api(`/v1/disputes/${dispute.body.id}/decision`, {
      token: ana,
      body: { outcome: 'accept_in_part', amount: '1.50', reason: 'two of the three rounds are ours' },
    });
    expect(decided.status).toBe(200);
    const fromDispute = await until('the dispute restatement', async () => {
      const r = await stack.api(`/v1/restatements?settlementId=${encodeURIComponent(last)}`, { token: bo });
      const found = (r.body.restatements as { id: string; state: string; reason: { kind: string } }[]).find(
        (x) => x.reason.kind === 'dispute' && x.state === 'awaiting_approval',
      );
      return found ?? null;
    });
    // Approved once through the API and once from the Temporal CLI (through the codec).
    expect(
      (await stack.api(`/v1/restatements/${fromDispute.id}/approvals`, { body: {}, token: bo })).status,
    ).toBe(200);
    // As an operator types it, through Clearhouse's codec (test/support/temporal-cli.ts).
    const approveFromCli = async (token: string, id: string) =>
      expect(
        (
          await temporalUpdate(temporalCli, stack, [
            '--codec-endpoint',
            `${stack.baseUrl}/codec`,
            '--codec-auth',
            `Bearer ${token}`,
            '--workflow-id',
            `restatement:${id}`,
            '--name',
            'approveRestatement',
            '--input',
            JSON.stringify({
              workflowId: `restatement:${id}`,
              update: 'approveRestatement',
              comment: 'checked',
            }),
          ])
        ).status,
      ).toBe(0);
    await approveFromCli(carla, fromDispute.id);
    await until('the dispute delta posted', async () =>
      (await stack.api(`/v1/restatements/${fromDispute.id}`, { token: bo })).body.state === 'posted'
        ? true
        : null,
    );

    // 5. A retroactive amendment (12 % from 1 November), through the contract's maker-checker,
    // restates the whole month in one chain.
    const amended = await recordContract(stack, p.id, 2, {
      effectiveFrom: '2026-11-01',
      retroactive: true,
      terms: {
        base: 'ggr',
        tiers: [{ upToMinor: null, rate: '0.12' }],
        tierMode: 'marginal',
        minimumGuaranteeMinor: '0',
        fixedFeeMinor: '0',
        categoryRates: {},
        negativeBase: 'carry_forward',
        jackpots: 'exclude',
        taxWithholdingRate: '0',
      },
    } as never);
    expect(amended.status).toBe(200);
    const restate = await stack.api('/v1/restatements', {
      token: ana,
      body: {
        settlementId: cycle(DAYS[0]!),
        reason: { kind: 'contract_version', contractVersion: 2, note: 'November rate amended to 12 %' },
      },
    });
    expect(restate.status).toBe(202);
    const amendment = restate.body.restatementId as string;
    await until('the amendment computed', async () =>
      (await stack.api(`/v1/restatements/${amendment}`, { token: bo })).body.state === 'awaiting_approval'
        ? true
        : null,
    );
    await approveFromCli(dina, amendment);
    expect(
      (await stack.api(`/v1/restatements/${amendment}/approvals`, { body: {}, token: carla })).status,
    ).toBe(200);
    const posted = await until('the amendment posted', async () => {
      const r = await stack.api(`/v1/restatements/${amendment}`, { token: bo });
      return r.body.state === 'posted' ? r.body : null;
    });
    expect(posted.computed.periods).toHaveLength(30);

    // 6. Versions 1–3 of the last day, all readable; the ledger holds exactly the two deltas as
    // new entries, dated in the open month (the partner's timezone is UTC: today).
    const versions = (
      await stack.api(`/v1/settlements/${encodeURIComponent(last)}/statements`, { token: p.apiKey })
    ).body.versions as { version: number; restatementId: string | null }[];
    expect(versions.map((v) => [v.version, v.restatementId])).toEqual([
      [1, null],
      [2, fromDispute.id],
      [3, amendment],
    ]);
    for (const v of [1, 2, 3])
      expect(
        (await stack.api(`/v1/settlements/${encodeURIComponent(last)}/statements/${v}`, { token: p.apiKey }))
          .status,
      ).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    const { rows } = await stack.db.pool.query<{ restatement: string; dates: string[]; n: number }>(
      `SELECT split_part(idempotency_key, ':', 1) AS restatement, array_agg(DISTINCT effective_date::text) AS dates,
              count(*)::int AS n
         FROM ledger_entries WHERE posted_at > $1 AND metadata->>'partnerId' = $2 GROUP BY 1 ORDER BY 1`,
      [period.closedAt, p.id],
    );
    expect(rows.map((r) => r.restatement).sort()).toEqual([amendment, fromDispute.id].sort());
    for (const r of rows) expect(r.dates).toEqual([today]);
    // Nothing was posted into the closed month.
    const closedBalances = await Promise.all(
      accounts.map(
        async (a) =>
          (
            await stack.api(`/v1/ledger/accounts/${encodeURIComponent(a.code)}/balance?asOfDate=2026-11-30`, {
              token: bo,
            })
          ).body.balance as string,
      ),
    );
    expect(closedBalances).toEqual(accounts.map((a) => a.byEffectiveDate.closing));
  }, 240_000);
});
