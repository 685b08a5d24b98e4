import {
  startJsonCursorProvider,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { toIngestItem } from '../providers/simulated/generator';
import { settlementStatus, type CycleView } from '../workflows/settlement';
import { uniqueId } from './support/env';
import { dayOfTransactions, settlingPartner } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// Big wins are held the moment they are ingested (in the batch's own transaction), with their
// round as evidence; each held win of a period, and each volume spike of the partner in it,
// becomes an exception of that period's cycle: one gate before payout, resolved by a person.
describe('the watch gates the payout: big wins held at ingest, volume spikes', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
  });
  afterAll(async () => {
    await provider?.close();
    await stack?.close();
  });

  const DAY = '2026-11-18';
  const at = (hhmm: string) => Date.parse(`${DAY}T${hhmm}:00Z`);
  const round = (id: string, betMinor: bigint, winMinor: bigint, currency = 'EUR'): SimulatedTx[] => [
    {
      id: `${id}-bet`,
      type: 'bet',
      roundId: id,
      gameId: 'game-1',
      currency,
      amountMinor: betMinor,
      occurredAtMs: at('14:00'),
    },
    {
      id: `${id}-win`,
      type: 'win',
      roundId: id,
      gameId: 'game-1',
      currency,
      amountMinor: winMinor,
      occurredAtMs: at('14:01'),
    },
  ];

  async function waitFor(id: string, statuses: string[]): Promise<CycleView> {
    const h = stack.temporal.workflow.getHandle(id);
    for (let i = 0; ; i++) {
      const view = await h.query(settlementStatus).catch(() => null);
      if (view && statuses.includes(view.status)) return view;
      if (i > 600) throw new Error(`${id} never reached ${statuses.join('/')} (last: ${view?.status})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('holds a win above 40,000 EUR and 350× its round, not one below either limit; the cycle waits for a person', async () => {
    const big = round('big', 10_000n, 4_500_000n); // 100.00 → 45,000.00 EUR: 450×
    const belowMultiple = round('rich', 20_000n, 5_000_000n); // 200.00 → 50,000.00: 250×
    const belowAmount = round('small', 10n, 3_900_000n); // 0.10 → 39,000.00: far above 350×, below 40,000
    const txs = [...dayOfTransactions(uniqueId('d'), DAY, 40), ...big, ...belowMultiple, ...belowAmount];
    provider.setTransactions(txs);
    provider.setFaults({});
    const p = await settlingPartner(stack, provider, txs, {
      period: 'daily',
      cutoffGraceMinutes: 0,
      payoutApprovalThresholdMinor: '100000000',
    });

    const held = await stack.db.pool.query(
      `SELECT tx_id, amount_settlement_minor::text, round_bets_minor::text, multiple::text, evidence
         FROM held_wins WHERE partner_id = $1`,
      [p.id],
    );
    expect(held.rows.map((r) => r.tx_id)).toEqual(['big-win']);
    expect(held.rows[0]).toMatchObject({
      amount_settlement_minor: '4500000',
      round_bets_minor: '10000',
      multiple: '450.00',
    });
    // The round's history is the evidence, with the query that reproduces it.
    expect(held.rows[0].evidence.round.map((t: { txId: string }) => t.txId)).toEqual(['big-bet', 'big-win']);
    expect(held.rows[0].evidence.query).toMatch(/round_id/);

    // Pushing the same batch again (a retry) holds nothing twice.
    const again = await stack.api('/v1/transactions', {
      body: { batchId: uniqueId('retry'), transactions: big.map((t) => toIngestItem(t)) },
      token: p.apiKey,
    });
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(
      (await stack.db.pool.query('SELECT 1 FROM held_wins WHERE partner_id = $1', [p.id])).rowCount,
    ).toBe(1);

    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const view = await waitFor(id, ['AwaitingResolution', 'AwaitingPayoutApproval', 'Completed']);
    expect(view.status).toBe('AwaitingResolution');
    const open = await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(id)}&status=open`);
    expect(open.body.exceptions).toEqual([
      expect.objectContaining({
        exceptionId: 'big_win:big-win',
        kind: 'big_win',
        txId: 'big-win',
        differenceMinor: '0',
      }),
    ]);
    expect(
      (await stack.db.pool.query('SELECT cycle_id FROM held_wins WHERE partner_id = $1', [p.id])).rows[0]
        .cycle_id,
    ).toBe(id);
    // The partner reads that its payout waits for a review, never the integrity signal behind it.
    const seen = await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(id)}&status=open`, {
      token: p.apiKey,
    });
    expect(seen.body.exceptions).toEqual([
      expect.objectContaining({ kind: 'review_hold', detail: 'held for a review before payout' }),
    ]);
    const detail = await stack.api(
      `/v1/settlements/${encodeURIComponent(id)}/exceptions/big_win%3Abig-win/detail`,
      {
        token: p.apiKey,
      },
    );
    expect(detail.status).toBe(200);
    expect(JSON.stringify(detail.body)).not.toMatch(/450\.00|big win|multiple/i);

    // A person releases it after review; the cycle goes on to its fee and completes.
    const resolved = await stack.api(
      `/v1/settlements/${encodeURIComponent(id)}/exceptions/big_win%3Abig-win/resolution`,
      {
        token: await stack.tokenFor('ana', 'resolver'),
        body: { resolution: 'accept_ours', reason: 'round history checked: a legitimate 450× win' },
      },
    );
    expect(resolved.status).toBe(200);
    expect((await waitFor(id, ['Completed'])).status).toBe('Completed');
  }, 120_000);

  it('converts a win in another currency at the day’s reference rate before comparing', async () => {
    const p = await settlingPartner(stack, provider, [], {
      period: 'daily',
      cutoffGraceMinutes: 0,
      payoutApprovalThresholdMinor: '100000000',
    });
    await stack.db.pool.query(
      `INSERT INTO fx_reference_rates (from_ccy, to_ccy, day, rate, source, as_of)
       VALUES ('USD', 'EUR', $1, 0.9000, 'test', now()) ON CONFLICT DO NOTHING`,
      [new Date().toISOString().slice(0, 10)],
    );
    // 44,000.00 USD is 39,600.00 EUR at 0.90 (not held); 45,000.00 USD is 40,500.00 EUR (held).
    const txs = [...round('usd-a', 1_000n, 4_400_000n, 'USD'), ...round('usd-b', 1_000n, 4_500_000n, 'USD')];
    const res = await stack.api('/v1/transactions', {
      body: { batchId: uniqueId('usd'), transactions: txs.map((t) => toIngestItem(t)) },
      token: p.apiKey,
    });
    expect(res.status).toBe(200);
    const held = await stack.db.pool.query(
      'SELECT tx_id, amount_settlement_minor::text, rate::text FROM held_wins WHERE partner_id = $1',
      [p.id],
    );
    expect(held.rows).toEqual([{ tx_id: 'usd-b-win', amount_settlement_minor: '4050000', rate: '0.9000' }]);
  }, 60_000);

  it('a volume spike of the partner in the period is an exception of its cycle: extra checks before payout', async () => {
    const txs = dayOfTransactions(uniqueId('v'), DAY, 30);
    provider.setTransactions(txs);
    provider.setFaults({});
    const p = await settlingPartner(stack, provider, txs, {
      period: 'daily',
      cutoffGraceMinutes: 0,
      payoutApprovalThresholdMinor: '100000000',
    });
    // What the watch's scan records for a spike (db/alerts.ts writes alerts; here one row as it would).
    const { rows } = await stack.db.pool.query(
      `INSERT INTO alerts (kind, dedup_key, partner_id, subject, severity, disclosure, title, evidence, window_start, window_end)
       VALUES ('volume_spike', $1, $2, $3, 'critical', 'integrity', '5.0× the usual volume', '{}'::jsonb, $4, $5)
       RETURNING id::text`,
      [`volume_spike:${p.id}`, p.id, `partner:${p.id}`, `${DAY}T15:00:00Z`, `${DAY}T16:00:00Z`],
    );
    const started = await stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } });
    const id = started.body.id as string;
    expect((await waitFor(id, ['AwaitingResolution', 'AwaitingPayoutApproval', 'Completed'])).status).toBe(
      'AwaitingResolution',
    );
    const open = await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(id)}&status=open`);
    expect(open.body.exceptions).toEqual([
      expect.objectContaining({ exceptionId: `volume_anomaly:alert-${rows[0].id}`, kind: 'volume_anomaly' }),
    ]);
  }, 120_000);
});
