import { dayTransactionsSql } from '../db/drill-down';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { settlementStatus } from '../workflows/settlement';
import { uniqueId } from './support/env';
import { onboardPartner, type TestPartner } from './support/partners';
import { dayOfTransactions, settlingPartner } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// The console's figures and drill-down on the real stack. Partner A pushes two days of play in
// EUR and USD (bets, wins, a rollback, bonus play, jackpot contributions) through the API; the
// revenue per day, game and hour must equal what was pushed, computed here by hand; its USD
// converts at a stored reference rate (indicative) and at a cycle's locked rate once one exists.
// Its transactions page with cursors and filter; the ledger account its batches accrued to leads
// to each batch and back to its transactions. Partner B settles a day with two exceptions, one
// resolved by a named operator: the exception's two sides and history, the cycle's record, the
// exceptions over time and the stuck cycles. A partner reads only its own, without operator
// names; bad dates and ranges are 4xx naming the field.

const D1 = '2026-11-23';
const D2 = '2026-11-24';
const B_DAY = '2026-11-20';
const REQUESTER = 'olga-requester-m3';
const RESOLVER = 'rita-resolver-p9';

let stack: Stack;
let provider: SimulatedProvider;
let a: TestPartner;
let b: TestPartner;
let bCycle: string;
const batches: string[] = [];

const at = (day: string, time: string) => `${day}T${time}Z`;
/** Partner A's play, by hand: [id, type, round, player, game, amount, currency, occurredAt, refId?]. */
const PLAY: [string, string, string, string, string, string, string, string, string?][] = [
  ['a01', 'bet', 'r1', 'p1', 'g1', '10.00', 'EUR', at(D1, '08:00:00')],
  ['a02', 'win', 'r1', 'p1', 'g1', '25.50', 'EUR', at(D1, '08:00:05')],
  ['a03', 'bet', 'r2', 'p2', 'g1', '20.00', 'EUR', at(D1, '08:10:00')],
  ['a04', 'win', 'r2', 'p2', 'g1', '5.00', 'EUR', at(D1, '08:10:05')],
  ['a05', 'rollback', 'r2', 'p2', 'g1', '5.00', 'EUR', at(D1, '08:10:09'), 'a04'],
  ['a06', 'bet', 'r3', 'p1', 'g2', '7.00', 'EUR', at(D1, '09:00:00')],
  ['a07', 'bonus_bet', 'r3', 'p1', 'g2', '3.00', 'EUR', at(D1, '09:00:01')],
  ['a08', 'bonus_win', 'r3', 'p1', 'g2', '4.00', 'EUR', at(D1, '09:00:02')],
  ['a09', 'jackpot_contribution', 'r3', 'p1', 'g2', '0.50', 'EUR', at(D1, '09:00:03')],
  ['a10', 'bet', 'r4', 'p3', 'g2', '100.00', 'USD', at(D1, '09:30:00')],
  ['a11', 'win', 'r4', 'p3', 'g2', '40.00', 'USD', at(D1, '09:30:05')],
  ['a12', 'bet', 'r5', 'p1', 'g1', '50.00', 'EUR', at(D2, '10:00:00')],
  ['a13', 'win', 'r5', 'p1', 'g1', '60.00', 'EUR', at(D2, '10:00:05')],
  ['a14', 'bet', 'r6', 'p2', 'g1', '5.00', 'EUR', at(D2, '10:05:00')],
  ['a15', 'rollback', 'r6', 'p2', 'g1', '5.00', 'EUR', at(D2, '10:05:09'), 'a14'],
  ['a16', 'bet', 'r7', 'p3', 'g2', '30.00', 'USD', at(D2, '10:30:00')],
  ['a17', 'jackpot_contribution', 'r7', 'p3', 'g2', '1.00', 'USD', at(D2, '10:30:01')],
];
const item = ([
  id,
  type,
  roundId,
  playerId,
  gameId,
  amount,
  currency,
  occurredAt,
  refId,
]: (typeof PLAY)[number]) => ({
  id,
  type,
  roundId,
  playerId,
  gameId,
  amount,
  currency,
  occurredAt,
  ...(refId ? { refId } : {}),
});

async function until<T>(what: string, read: () => Promise<T | null>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await read();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never: ${what}`);
}

/** A 4xx whose details name `path`. */
async function refused(url: string, status: number, path: string, token?: string) {
  const res = await stack.api(url, token ? { token } : {});
  expect({ url, status: res.status }).toEqual({ url, status });
  expect({ url, paths: (res.body.error.details as { path: string }[]).map((d) => d.path) }).toEqual({
    url,
    paths: expect.arrayContaining([path]),
  });
}

beforeAll(async () => {
  stack = await startStack();
  provider = await startJsonCursorProvider();
  const bTxs = dayOfTransactions('ins', B_DAY, 8);
  const settleB = async () => {
    const p = await settlingPartner(stack, provider, bTxs, {
      period: 'daily',
      cutoffGraceMinutes: 0,
      payoutApprovalThresholdMinor: '0',
    });
    provider.setTransactions(bTxs);
    provider.setFaults({ missing: [bTxs[0]!.id], altered: { [bTxs[2]!.id]: 99_999n } });
    const started = await stack.api('/v1/settlements', {
      body: { partnerId: p.id, periodStart: B_DAY },
      token: await stack.tokenFor(REQUESTER, 'admin'),
    });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const h = stack.temporal.workflow.getHandle(id);
    await until('B to await resolution', async () =>
      (await h.query(settlementStatus).catch(() => null))?.status === 'AwaitingResolution' ? true : null,
    );
    const done = await stack.api(
      `/v1/settlements/${encodeURIComponent(id)}/exceptions/${encodeURIComponent(`amount_mismatch:${bTxs[2]!.id}`)}/resolution`,
      {
        body: { resolution: 'accept_ours', reason: 'our round log is complete' },
        token: await stack.tokenFor(RESOLVER, 'resolver'),
      },
    );
    expect(done.status).toBe(200);
    return { p, id };
  };
  const onboardA = async () => {
    const p = await onboardPartner(stack, { timezone: 'UTC' });
    // Day 1 in one batch, day 2 in another, then an exact duplicate of a01 alone.
    for (const rows of [PLAY.slice(0, 11), PLAY.slice(11), PLAY.slice(0, 1)]) {
      const batchId = uniqueId('batch');
      const res = await stack.api('/v1/transactions', {
        body: { batchId, transactions: rows.map(item) },
        token: p.apiKey,
      });
      expect(res.status).toBe(200);
      batches.push(batchId);
    }
    return p;
  };
  const [pa, settled] = await Promise.all([onboardA(), settleB()]);
  a = pa;
  b = settled.p;
  bCycle = settled.id;
}, 120_000);

afterAll(async () => {
  await provider?.close();
  await stack?.close();
});

const revenue = (query: string, token?: string) =>
  stack.api(`/v1/insights/revenue?${query}`, token ? { token } : {});

describe('revenue', () => {
  it('equals what was pushed per day, game and currency, NGR before gaming tax', async () => {
    const res = await revenue(`from=${D1}&to=${D2}&partnerId=${a.id}&groupBy=day`);
    expect(res.status).toBe(200);
    expect(res.body.ngrBasis).toBe('before_gaming_tax');
    const rows = (res.body.rows as Record<string, unknown>[]).map(({ inSettlement: _, ...r }) => r);
    const row = (businessDate: string, currency: string, txCount: string, figures: string[]) => {
      const [bets, wins, ggr, bonusCost, jackpotContributions, ngr] = figures;
      return {
        partnerId: a.id,
        businessDate,
        currency,
        txCount,
        bets,
        wins,
        ggr,
        bonusCost,
        jackpotContributions,
        ngr,
      };
    };
    expect(rows).toEqual([
      // Bets 10 + 20 + 7 (a bonus bet is no stake); wins 25.50 + 5 − 5 (rolled back); NGR = GGR − 4 − 0.50.
      row(D1, 'EUR', '9', ['37.00', '25.50', '11.50', '4.00', '0.50', '7.00']),
      row(D1, 'USD', '2', ['100.00', '40.00', '60.00', '0.00', '0.00', '60.00']),
      row(D2, 'EUR', '4', ['50.00', '60.00', '-10.00', '0.00', '0.00', '-10.00']),
      row(D2, 'USD', '2', ['30.00', '0.00', '30.00', '0.00', '1.00', '29.00']),
    ]);
    // No rate yet for USD: its rows have no settlement-currency figure, and the totals say so.
    expect(res.body.rows.map((r: { inSettlement: unknown }) => r.inSettlement === null)).toEqual([
      false,
      true,
      false,
      true,
    ]);
    expect(res.body.rows[0].inSettlement).toMatchObject({
      basis: 'same_currency',
      ggr: '11.50',
      ngr: '7.00',
    });
    expect(res.body.totals).toEqual([
      {
        partnerId: a.id,
        currency: 'EUR',
        ggr: '1.50',
        ngr: '-3.00',
        indicative: true,
        complete: false,
        unconverted: ['USD'],
      },
    ]);

    const byGame = await revenue(`date=${D1}&partnerId=${a.id}&groupBy=game`);
    expect(byGame.status).toBe(200);
    expect(
      byGame.body.rows.map((r: Record<string, string>) => [
        r.gameId,
        r.currency,
        r.txCount,
        r.bets,
        r.wins,
        r.ggr,
        r.ngr,
      ]),
    ).toEqual([
      ['g1', 'EUR', '5', '30.00', '25.50', '4.50', '4.50'],
      ['g2', 'EUR', '4', '7.00', '0.00', '7.00', '2.50'],
      ['g2', 'USD', '2', '100.00', '40.00', '60.00', '60.00'],
    ]);
    expect(byGame.body.rows[0].businessDate).toBeUndefined();
  });

  it('converts at the reference rate (indicative), then at the rate a cycle locked', async () => {
    await stack.db.pool.query(
      `INSERT INTO fx_reference_rates (from_ccy, to_ccy, day, rate, source, as_of)
       VALUES ('USD', 'EUR', $1, 0.9, 'test-fx', $2)`,
      [D1, at(D1, '00:05:00')],
    );
    const ref = await revenue(`from=${D1}&to=${D2}&partnerId=${a.id}&groupBy=day`);
    const usd = ref.body.rows.filter((r: { currency: string }) => r.currency === 'USD');
    expect(usd.map((r: { inSettlement: unknown }) => r.inSettlement)).toEqual([
      {
        currency: 'EUR',
        ggr: '54.00',
        ngr: '54.00',
        rate: '0.9',
        rateDay: D1,
        source: 'test-fx',
        asOf: '2026-11-23T00:05:00.000Z',
        basis: 'reference',
        ratesUsed: 1,
      },
      // Day 2 has no rate of its own: the latest before it, labelled with its day.
      expect.objectContaining({ ggr: '27.00', ngr: '26.10', rate: '0.9', rateDay: D1, basis: 'reference' }),
    ]);
    expect(ref.body.totals[0]).toEqual({
      partnerId: a.id,
      currency: 'EUR',
      ggr: '82.50',
      ngr: '77.10',
      indicative: true,
      complete: true,
      unconverted: [],
    });

    // A cycle covering day 1 locks 0.95: day 1 converts at it; day 2 stays indicative.
    const lock = async (day: string) => {
      const id = `settlement:${a.id}:${day}`;
      await stack.db.pool.query(
        `INSERT INTO settlement_cycles (id, partner_id, period_start, period_end, status) VALUES ($1, $2, $3, $3, 'Completed')`,
        [id, a.id, day],
      );
      await stack.db.pool.query(
        `INSERT INTO settlement_fx_rates (cycle_id, from_ccy, to_ccy, rate, source, as_of) VALUES ($1, 'USD', 'EUR', 0.95, 'locked-fx', $2)`,
        [id, at(day, '23:59:00')],
      );
    };
    await lock(D1);
    const half = await revenue(`from=${D1}&to=${D2}&partnerId=${a.id}&groupBy=day`);
    const halfUsd = half.body.rows.filter((r: { currency: string }) => r.currency === 'USD');
    expect(
      halfUsd.map((r: { inSettlement: { basis: string; ggr: string; rate: string } }) => r.inSettlement),
    ).toEqual([
      expect.objectContaining({ basis: 'locked', ggr: '57.00', rate: '0.95', source: 'locked-fx' }),
      expect.objectContaining({ basis: 'reference', ggr: '27.00', rate: '0.9' }),
    ]);
    expect(half.body.totals[0]).toMatchObject({ ggr: '85.50', indicative: true, complete: true });
    // Per partner over both days: one row per currency; the USD row spans two rates.
    const perPartner = await revenue(`from=${D1}&to=${D2}&partnerId=${a.id}`);
    expect(perPartner.body.rows.map((r: { currency: string; ggr: string }) => [r.currency, r.ggr])).toEqual([
      ['EUR', '1.50'],
      ['USD', '90.00'],
    ]);
    expect(perPartner.body.rows[1].inSettlement).toMatchObject({
      ggr: '84.00',
      rate: null,
      ratesUsed: 2,
      basis: 'reference',
    });

    await lock(D2);
    const locked = await revenue(`from=${D1}&to=${D2}&partnerId=${a.id}&groupBy=day`);
    expect(locked.body.totals[0]).toEqual({
      partnerId: a.id,
      currency: 'EUR',
      ggr: '87.00',
      ngr: '81.55',
      indicative: false,
      complete: true,
      unconverted: [],
    });
  });

  it('answers GGR per hour of occurrence from the hourly rollup', async () => {
    const res = await stack.api(
      `/v1/insights/revenue/hourly?from=${at(D1, '00:00:00')}&to=${at('2026-11-25', '00:00:00')}&partnerId=${a.id}`,
    );
    expect(res.status).toBe(200);
    expect(
      res.body.hours.map((h: Record<string, string>) => [
        h.hour,
        h.currency,
        h.txCount,
        h.betCount,
        h.bets,
        h.wins,
        h.ggr,
      ]),
    ).toEqual([
      // Bets and wins as received; GGR after rollbacks, in the rollback's own hour.
      ['2026-11-23T08:00:00.000Z', 'EUR', '5', '2', '30.00', '30.50', '4.50'],
      ['2026-11-23T09:00:00.000Z', 'EUR', '4', '1', '7.00', '0.00', '7.00'],
      ['2026-11-23T09:00:00.000Z', 'USD', '2', '1', '100.00', '40.00', '60.00'],
      ['2026-11-24T10:00:00.000Z', 'EUR', '4', '2', '55.00', '60.00', '-10.00'],
      ['2026-11-24T10:00:00.000Z', 'USD', '2', '1', '30.00', '0.00', '30.00'],
    ]);
  });

  it('names the field of a bad date or range', async () => {
    await refused(`/v1/insights/revenue?from=${D2}&to=${D1}`, 400, 'query.to');
    await refused(`/v1/insights/revenue?from=2026-02-30&to=${D1}`, 400, 'query.from');
    await refused(`/v1/insights/revenue?date=${D1}&from=${D1}&to=${D1}`, 400, 'query.date');
    await refused(`/v1/insights/revenue?to=${D1}`, 400, 'query.from');
    await refused(`/v1/insights/revenue?from=2025-01-01&to=${D1}&partnerId=${a.id}`, 400, 'query.to');
    await refused(`/v1/insights/revenue?from=2026-10-01&to=${D1}`, 400, 'query.to');
    await refused(`/v1/insights/revenue?date=${D1}&groupBy=game`, 400, 'query.partnerId');
    await refused(`/v1/insights/revenue?date=${D1}&groupBy=hour`, 400, 'query.groupBy');
    await refused(
      `/v1/insights/revenue/hourly?from=${at(D1, '00:00:00')}&to=${at('2026-12-20', '00:00:00')}`,
      400,
      'query.to',
    );
    await refused(`/v1/insights/revenue/hourly?from=${D1}&to=${D2}`, 400, 'query.from');
    await refused(`/v1/partners/${a.id}/transactions?date=23-11-2026`, 400, 'query.date');
    await refused(`/v1/partners/${a.id}/transactions?date=${D1}&type=jackpot`, 400, 'query.type');
    await refused(`/v1/partners/${a.id}/transactions?date=${D1}&cursor=bm90LW91cnM`, 400, 'query.cursor');
    await refused(`/v1/partners/${a.id}/forecast?month=1969-12`, 400, 'query.month');
    await refused(`/v1/partners/${a.id}/forecast?month=2026-13`, 400, 'query.month');
    await refused('/v1/insights/ingest-rate?minutes=0', 400, 'query.minutes');
    await refused('/v1/insights/exceptions-over-time?days=400', 400, 'query.days');
  });
});

describe('drill-down to the transactions', () => {
  const ids = (body: { transactions: { id: string }[] }) => body.transactions.map((t) => t.id);

  it("pages a day's transactions by game, round and id, and filters them", async () => {
    const day1 = PLAY.filter((p) => p[7].startsWith(D1))
      .sort((x, y) => (x[4] + x[2] + x[0] < y[4] + y[2] + y[0] ? -1 : 1))
      .map((p) => p[0]);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let n = 0; n < 10; n++) {
      const res = await stack.api(
        `/v1/partners/${a.id}/transactions?date=${D1}&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.transactions.length).toBeLessThanOrEqual(3);
      seen.push(...ids(res.body));
      cursor = res.body.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(day1);
    const first = await stack.api(`/v1/partners/${a.id}/transactions?date=${D1}&limit=1`);
    expect(first.body.transactions[0]).toEqual({
      id: 'a01',
      type: 'bet',
      roundId: 'r1',
      playerId: 'p1',
      gameId: 'g1',
      amount: '10.00',
      currency: 'EUR',
      occurredAt: '2026-11-23T08:00:00.000Z',
      businessDate: D1,
      refId: null,
      orphan: false,
      reason: null,
      batchId: batches[0],
      receivedAt: expect.any(String),
    });

    const filtered = async (q: string) =>
      ids((await stack.api(`/v1/partners/${a.id}/transactions?date=${D1}&${q}`)).body);
    expect(await filtered('type=win')).toEqual(['a02', 'a04', 'a11']);
    expect(await filtered('playerId=p1')).toEqual(['a01', 'a02', 'a06', 'a07', 'a08', 'a09']);
    expect(await filtered('roundId=r2')).toEqual(['a03', 'a04', 'a05']);
    expect(await filtered('gameId=g2&type=bet')).toEqual(['a06', 'a10']);
    expect(await filtered('type=rollback&limit=1')).toEqual(['a05']);
    expect(await filtered(`batchId=${batches[1]}`)).toEqual([]);
    expect(
      ids((await stack.api(`/v1/partners/${a.id}/transactions?date=${D2}&batchId=${batches[1]}`)).body),
    ).toEqual(['a12', 'a13', 'a14', 'a15', 'a16', 'a17']);
  });

  it('reads a page through the day-and-game index (never a scan of the partner history)', async () => {
    const client = await stack.db.pool.connect();
    try {
      await client.query('BEGIN');
      // Planner costs on a table this small prefer anything; what matters is that the index bounds the read to the day.
      await client.query('SET LOCAL enable_seqscan = off');
      await client.query('ANALYZE game_transactions');
      for (const q of [
        { after: null },
        { after: { gameId: 'g1', roundId: 'r2', txId: 'a04' }, type: 'win', playerId: 'p2' },
        { gameId: 'g2', after: { gameId: 'g2', roundId: 'r3', txId: 'a07' } },
      ]) {
        const { text, values } = dayTransactionsSql({ partnerId: a.id, date: D1, limit: 3, ...q });
        const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
          `EXPLAIN (FORMAT JSON) ${text}`,
          values,
        );
        const plan = JSON.stringify(rows[0]!['QUERY PLAN']);
        expect(plan).toContain('"Index Name":"game_transactions_day_game"');
        expect(plan).not.toContain('Seq Scan');
      }
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('follows a ledger account to its postings, an entry and the batch behind it', async () => {
    const code = `partner:${a.id}:game_activity:EUR`;
    const first = await stack.api(`/v1/ledger/accounts/${encodeURIComponent(code)}/entries?limit=1`);
    expect(first.status).toBe(200);
    expect(first.body.postings).toEqual([
      expect.objectContaining({
        effectiveDate: D2,
        direction: 'credit',
        amount: '10.00',
        currency: 'EUR',
        otherAccount: `partner:${a.id}:gaming_revenue:EUR`,
        sourceKind: 'ingest_batch',
        sourceRef: `${a.id}/${batches[1]}`,
      }),
    ]);
    const second = await stack.api(
      `/v1/ledger/accounts/${encodeURIComponent(code)}/entries?limit=1&cursor=${first.body.nextCursor}`,
    );
    expect(second.body.postings).toEqual([
      expect.objectContaining({ effectiveDate: D1, direction: 'debit', amount: '11.50' }),
    ]);
    expect(second.body.nextCursor).toBeNull();

    const entry = await stack.api(`/v1/ledger/entries/${second.body.postings[0].entryId}`);
    expect(entry.status).toBe(200);
    expect(entry.body.postings).toEqual([
      {
        line: 0,
        debit: code,
        credit: `partner:${a.id}:gaming_revenue:EUR`,
        amount: '11.50',
        currency: 'EUR',
      },
    ]);
    expect(entry.body.source).toEqual({
      kind: 'ingest_batch',
      partnerId: a.id,
      batchId: batches[0],
      receivedAt: expect.any(String),
      received: 11,
      accepted: 11,
      duplicates: 0,
      stale: 11,
      transactions: `/v1/partners/${a.id}/transactions?date=${D1}&batchId=${batches[0]}`,
    });
    const behind = await stack.api(entry.body.source.transactions);
    expect(behind.body.transactions).toHaveLength(11);

    await refused('/v1/ledger/entries/999999999', 404, 'params.id');
    await refused('/v1/ledger/accounts/partner:nobody:game_activity:EUR/entries', 404, 'params.code');
    const partnerToken = a.apiKey;
    expect(
      (await stack.api(`/v1/ledger/entries/${second.body.postings[0].entryId}`, { token: partnerToken }))
        .status,
    ).toBe(403);
  });

  it('counts the ingest rate per minute: received, accepted, duplicates, stale', async () => {
    const res = await stack.api(`/v1/insights/ingest-rate?minutes=15&partnerId=${a.id}`);
    expect(res.status).toBe(200);
    expect(res.body.perMinute).toHaveLength(15);
    // 11 + 6 transactions, then a01 again: an exact duplicate. All occurred weeks ago: stale.
    expect(res.body.total).toMatchObject({
      batches: 3,
      received: 18,
      accepted: 17,
      duplicates: 1,
      stale: 17,
    });
    expect(res.body.total.perSecond).toBeGreaterThan(0);
  });
});

describe('a settled cycle, its exceptions and the forecast', () => {
  const mismatch = () => `amount_mismatch:ins-2`;
  const path = () => `/v1/settlements/${encodeURIComponent(bCycle)}`;

  it('shows an exception with both sides and its history; a partner reads decisions by role', async () => {
    const url = `${path()}/exceptions/${encodeURIComponent(mismatch())}/detail`;
    const op = await stack.api(url);
    expect(op.status).toBe(200);
    expect(op.body.exception).toMatchObject({
      settlementId: bCycle,
      exceptionId: mismatch(),
      kind: 'amount_mismatch',
      txId: 'ins-2',
      currency: 'EUR',
      theirs: '999.99',
      state: 'resolved',
      resolution: { resolution: 'accept_ours', by: RESOLVER, reason: 'our round log is complete' },
    });
    expect(op.body.ours).toMatchObject({ id: 'ins-2', currency: 'EUR', amount: op.body.exception.ours });
    expect(op.body.theirs).toEqual([expect.objectContaining({ txId: 'ins-2', amount: '999.99' })]);
    expect(op.body.history.map((h: { event: string; by: string }) => [h.event, h.by])).toEqual([
      ['found', 'reconciliation'],
      ['resolved', RESOLVER],
    ]);
    expect(op.body.temporalUiUrl).toBe(
      `${stack.config.temporal.uiUrl}/namespaces/${stack.config.temporal.namespace}/workflows/${encodeURIComponent(bCycle)}`,
    );

    const mine = await stack.api(url, { token: b.apiKey });
    expect(mine.status).toBe(200);
    expect(mine.body.exception.resolution.by).toBe('operations');
    expect(mine.body.history.map((h: { event: string; by: string }) => [h.event, h.by])).toEqual([
      ['found', 'reconciliation'],
      ['resolved', 'operations'],
    ]);
    const text = JSON.stringify(mine.body);
    for (const leak of [RESOLVER, REQUESTER, 'temporalUiUrl', '"actor"', 'assignee', 'clearhouse#'])
      expect({ leak, found: text.includes(leak) }).toEqual({ leak, found: false });
    expect(mine.body.ours.id).toBe('ins-2');

    // Another partner's cycle, and an exception the cycle does not have, are 404s.
    expect((await stack.api(url, { token: a.apiKey })).status).toBe(404);
    await refused(`${path()}/exceptions/missing_theirs:nope/detail`, 404, 'params.exceptionId');
  });

  it("reads the cycle's record from Postgres, with its Temporal UI link for operators only", async () => {
    const op = await stack.api(`${path()}/record`);
    expect(op.status).toBe(200);
    expect(op.body).toMatchObject({
      id: bCycle,
      partnerId: b.id,
      status: 'AwaitingResolution',
      period: { start: B_DAY, end: B_DAY },
      currency: 'EUR',
      book: { total: 2, open: 1 },
      journal: null,
      requestedBy: { name: REQUESTER, plannedBy: 'api' },
    });
    expect(op.body.temporalUiUrl).toMatch(/\/namespaces\/[^/]+\/workflows\/settlement%3A/);
    const mine = await stack.api(`${path()}/record`, { token: b.apiKey });
    expect(mine.status).toBe(200);
    expect(mine.body.book).toEqual(op.body.book);
    expect(JSON.stringify(mine.body)).not.toMatch(new RegExp(`${REQUESTER}|temporalUiUrl|requestedBy`));
    expect((await stack.api(`${path()}/record`, { token: a.apiKey })).status).toBe(404);

    // A's cycle inserted with its lock: the FX lock is on its record.
    const aRecord = await stack.api(
      `/v1/settlements/${encodeURIComponent(`settlement:${a.id}:${D1}`)}/record`,
      {
        token: a.apiKey,
      },
    );
    expect(aRecord.status).toBe(200);
    expect(aRecord.body.fxLocks).toEqual([
      { from: 'USD', to: 'EUR', rate: '0.95', source: 'locked-fx', asOf: '2026-11-23T23:59:00.000Z' },
    ]);
  });

  it('counts exceptions over time and says why a cycle is stuck', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const res = await stack.api(`/v1/insights/exceptions-over-time?days=7&partnerId=${b.id}`);
    expect(res.status).toBe(200);
    expect(res.body.days).toHaveLength(7);
    expect(res.body.openNow).toBe(1);
    expect(res.body.days[6]).toEqual({ date: today, found: 2, resolved: 1, voided: 0, open: 1 });
    expect(res.body.days[5]).toMatchObject({ found: 0, open: 0 });
    const own = await stack.api('/v1/insights/exceptions-over-time?days=7', { token: b.apiKey });
    expect(own.body).toEqual(res.body);
    expect(
      (await stack.api(`/v1/insights/exceptions-over-time?partnerId=${b.id}`, { token: a.apiKey })).status,
    ).toBe(404);

    const cycles = await stack.api('/v1/insights/cycles?olderThanMinutes=0');
    expect(cycles.status).toBe(200);
    expect(cycles.body.byStatus).toEqual(
      expect.arrayContaining([
        { status: 'AwaitingResolution', count: 1 },
        { status: 'Completed', count: 2 },
      ]),
    );
    const stuck = cycles.body.stuck.find((c: { id: string }) => c.id === bCycle);
    expect(stuck).toMatchObject({ partnerId: b.id, status: 'AwaitingResolution', openExceptions: 1 });
    expect(stuck.why).toMatch(/^1 open exception\(s\) of 2/);
    expect((await stack.api('/v1/insights/cycles', { token: b.apiKey })).status).toBe(403);
  });

  it("forecasts a month beside last month's actual, labelled a forecast", async () => {
    // A has no contract: daily GGR in EUR, its USD at the locked rates. November is over.
    const nov = await stack.api(`/v1/partners/${a.id}/forecast?month=2026-11`);
    expect(nov.status).toBe(200);
    expect(nov.body).toMatchObject({
      label: 'forecast',
      basis: 'ggr',
      currency: 'EUR',
      month: '2026-11',
      asOf: '2026-11-30',
      forecast: { monthToDate: '87.00', projected: '87.00', low: '87.00', high: '87.00', remainingDays: 0 },
      lastMonth: { label: 'actual', month: '2026-10', actual: '0.00', days: 0 },
    });
    const dec = await stack.api(`/v1/partners/${a.id}/forecast?month=2026-12`, { token: a.apiKey });
    expect(dec.status).toBe(200);
    expect(dec.body.lastMonth).toEqual({ label: 'actual', month: '2026-11', actual: '87.00', days: 2 });
    expect(dec.body.forecast === null ? dec.body.unavailable : dec.body.forecast.method).toEqual(
      expect.any(String),
    );

    // A month still to come is projected whole (nothing of it to date).
    const later = await stack.api(`/v1/partners/${a.id}/forecast?month=2999-01`);
    expect(later.status).toBe(200);
    if (later.body.forecast === null) expect(later.body.unavailable).toEqual(expect.any(String));
    else expect(later.body.forecast).toMatchObject({ monthToDate: '0.00', remainingDays: 31 });

    // B settles daily: the net payables of its settled cycles (none yet) are its figures.
    const bForecast = await stack.api(`/v1/partners/${b.id}/forecast`, { token: b.apiKey });
    expect(bForecast.body).toMatchObject({ basis: 'net_payable', forecast: null });
    expect(bForecast.body.unavailable).toEqual(expect.any(String));
    expect((await stack.api(`/v1/partners/${a.id}/forecast`, { token: b.apiKey })).status).toBe(404);
  });
});

describe('partners read only their own', () => {
  it('scopes every figure to the partner, and answers 404 for another', async () => {
    const own = await revenue(`date=${B_DAY}&groupBy=game`, b.apiKey);
    expect(own.status).toBe(200);
    expect(new Set(own.body.rows.map((r: { partnerId: string }) => r.partnerId))).toEqual(new Set([b.id]));
    expect(own.body.partnerId).toBe(b.id);
    expect((await revenue(`date=${D1}&partnerId=${a.id}`, b.apiKey)).status).toBe(404);
    expect((await revenue(`date=${D1}&partnerId=nobody-here`)).status).toBe(404);
    const all = await revenue(`from=${B_DAY}&to=${D2}`);
    expect(new Set(all.body.rows.map((r: { partnerId: string }) => r.partnerId))).toEqual(
      new Set([a.id, b.id]),
    );

    const hours = await stack.api(
      `/v1/insights/revenue/hourly?from=${at(B_DAY, '00:00:00')}&to=${at(D2, '23:00:00')}`,
      {
        token: b.apiKey,
      },
    );
    expect(new Set(hours.body.hours.map((h: { partnerId: string }) => h.partnerId))).toEqual(new Set([b.id]));
    expect(
      (
        await stack.api(
          `/v1/insights/revenue/hourly?from=${at(D1, '00:00:00')}&to=${at(D2, '00:00:00')}&partnerId=${a.id}`,
          {
            token: b.apiKey,
          },
        )
      ).status,
    ).toBe(404);

    expect(
      (await stack.api(`/v1/partners/${a.id}/transactions?date=${D1}`, { token: b.apiKey })).status,
    ).toBe(404);
    const mine = await stack.api(`/v1/partners/${b.id}/transactions?date=${B_DAY}&limit=500`, {
      token: b.apiKey,
    });
    expect(mine.status).toBe(200);
    expect(mine.body.transactions).toHaveLength(8);
    expect((await stack.api('/v1/insights/ingest-rate', { token: b.apiKey })).status).toBe(403);
  });

  it('documents every route in the OpenAPI spec', async () => {
    const spec = (await stack.api('/openapi.json', { token: null })).body as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    for (const p of [
      '/v1/insights/revenue',
      '/v1/insights/revenue/hourly',
      '/v1/insights/ingest-rate',
      '/v1/insights/cycles',
      '/v1/insights/exceptions-over-time',
      '/v1/partners/{partnerId}/transactions',
      '/v1/settlements/{id}/exceptions/{exceptionId}/detail',
      '/v1/settlements/{id}/record',
      '/v1/ledger/accounts/{code}/entries',
      '/v1/ledger/entries/{id}',
      '/v1/partners/{partnerId}/forecast',
    ])
      expect({ p, documented: p in spec.paths }).toEqual({ p, documented: true });
    for (const id of [
      'Revenue',
      'RevenueRow',
      'HourlyRevenue',
      'IngestRate',
      'ExceptionDetail',
      'CycleRecord',
      'PayoutForecast',
    ])
      expect({ id, present: id in spec.components.schemas }).toEqual({ id, present: true });
  });
});
