import { onboardPartner, tx, type TestPartner } from './support/partners';
import { uniqueId } from './support/env';
import { startStack, type Stack } from './support/stack';

describe('POST /v1/transactions: atomic, idempotent batches on real Postgres', () => {
  let stack: Stack;
  let partner: TestPartner;
  beforeAll(async () => {
    stack = await startStack({ overrides: { API_BODY_LIMIT_BYTES: String(4 * 1024 * 1024) } });
    partner = await onboardPartner(stack, { timezone: 'Europe/Malta' });
  });
  afterAll(async () => {
    await stack.close();
  });

  const push = (body: unknown, p: TestPartner = partner) =>
    stack.api('/v1/transactions', { body, token: p.apiKey });
  const countRows = async (partnerId = partner.id) =>
    Number(
      (await stack.db.pool.query('SELECT count(*) FROM game_transactions WHERE partner_id = $1', [partnerId]))
        .rows[0].count,
    );
  const snapshot = async (partnerId = partner.id) => ({
    rows: await countRows(partnerId),
    positions: (
      await stack.db.pool.query(
        'SELECT sum(tx_count)::text AS n, sum(ggr_minor)::text AS ggr FROM positions WHERE partner_id = $1',
        [partnerId],
      )
    ).rows[0],
    batches: Number(
      (await stack.db.pool.query('SELECT count(*) FROM ingest_batches WHERE partner_id = $1', [partnerId]))
        .rows[0].count,
    ),
    entries: Number(
      (
        await stack.db.pool.query("SELECT count(*) FROM ledger_entries WHERE source_ref LIKE $1 || '/%'", [
          partnerId,
        ])
      ).rows[0].count,
    ),
  });

  it('stores a batch, updates positions in the partner timezone and accrues GGR in the ledger', async () => {
    const p = await onboardPartner(stack, { timezone: 'Europe/Malta' });
    const bet = tx({ amount: '100.00', occurredAt: '2026-11-23T23:30:00Z' }); // 00:30 on the 24th in Malta
    const win = tx({
      type: 'win',
      amount: '30.25',
      roundId: bet.roundId,
      occurredAt: '2026-11-23T23:31:00+00:00',
    });
    const jackpot = tx({
      type: 'jackpot_contribution',
      amount: '0.50',
      occurredAt: '2026-11-24T08:00:00+01:00',
    });
    const res = await push({ batchId: uniqueId('b'), transactions: [bet, win, jackpot] }, p);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      received: 3,
      accepted: 3,
      duplicates: 0,
      orphanRollbacks: 0,
      ledgerEntries: 1,
    });

    const positions = await stack.api(`/v1/positions?from=2026-11-24&to=2026-11-24`, { token: p.apiKey });
    expect(positions.status).toBe(200);
    expect(positions.body.positions).toEqual([
      expect.objectContaining({
        businessDate: '2026-11-24',
        currency: 'EUR',
        gameId: 'book-of-sun',
        txCount: '3',
        betAmount: '100.00',
        winAmount: '30.25',
        jackpotContributionAmount: '0.50',
        ggr: '69.75',
      }),
    ]);
    const accounts = await stack.db.pool.query<{ code: string; balance: string }>(
      `SELECT code, (debits_minor - credits_minor)::text AS balance FROM ledger_accounts WHERE code = $1`,
      [`partner:${p.id}:game_activity:EUR`],
    );
    expect(accounts.rows).toEqual([{ code: `partner:${p.id}:game_activity:EUR`, balance: '6975' }]);

    const one = await stack.api(`/v1/transactions/${String(win.id)}`, { token: p.apiKey });
    expect(one.body).toMatchObject({
      id: win.id,
      type: 'win',
      amount: '30.25',
      businessDate: '2026-11-24',
      occurredAt: '2026-11-23T23:31:00.000Z',
    });
  });

  it('serves ledger balances, now and as of a business date, to the partner that owns them', async () => {
    const p = await onboardPartner(stack);
    await push(
      { batchId: uniqueId('b'), transactions: [tx({ amount: '20.00', occurredAt: '2026-11-20T10:00:00Z' })] },
      p,
    );
    await push(
      {
        batchId: uniqueId('b'),
        transactions: [
          tx({ amount: '5.00', occurredAt: '2026-11-22T10:00:00Z' }),
          tx({ currency: 'USDC', amount: '1.234567' }),
        ],
      },
      p,
    );
    const code = `partner:${p.id}:game_activity:EUR`;
    const list = await stack.api('/v1/ledger/accounts', { token: p.apiKey });
    expect(list.body.accounts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code, kind: 'asset', balance: '25.00' }),
        expect.objectContaining({
          code: `partner:${p.id}:gaming_revenue:EUR`,
          kind: 'revenue',
          balance: '-25.00',
        }),
        expect.objectContaining({ code: `partner:${p.id}:game_activity:USDC`, balance: '1.234567' }),
      ]),
    );
    const asOf = await stack.api(
      `/v1/ledger/accounts/${encodeURIComponent(code)}/balance?asOfDate=2026-11-21`,
      { token: p.apiKey },
    );
    expect(asOf.body).toEqual({ code, currency: 'EUR', asOf: { date: '2026-11-21' }, balance: '20.00' });
    expect(
      (await stack.api(`/v1/ledger/accounts/${encodeURIComponent(code)}/balance`, { token: partner.apiKey }))
        .status,
    ).toBe(404);
    // Both axes at once: what the books said at an instant about the days up to a date.
    const both = (time: string) =>
      stack.api(
        `/v1/ledger/accounts/${encodeURIComponent(code)}/balance?asOfDate=2026-11-21&asOfTime=${encodeURIComponent(time)}`,
        { token: p.apiKey },
      );
    expect((await both(new Date(Date.now() + 60_000).toISOString())).body).toMatchObject({
      asOf: { date: '2026-11-21' },
      balance: '20.00',
    });
    expect((await both('2020-01-01T00:00:00Z')).body).toMatchObject({
      asOf: { date: '2026-11-21', time: '2020-01-01T00:00:00.000Z' },
      balance: '0.00',
    });
  });

  it('acknowledges exact duplicates, in the batch and from earlier batches, without storing them twice', async () => {
    const a = tx();
    const b = tx();
    const before = await countRows();
    const first = await push({ batchId: uniqueId('b'), transactions: [a, b, a] });
    expect(first.body).toMatchObject({ received: 3, accepted: 2, duplicates: 1 });
    const second = await push({ batchId: uniqueId('b'), transactions: [b, tx()] });
    expect(second.body).toMatchObject({ received: 2, accepted: 1, duplicates: 1 });
    expect((await countRows()) - before).toBe(3);
  });

  it('refuses a batch with conflicting duplicates (409 listing the ids) and writes nothing', async () => {
    const original = tx({ amount: '5.00' });
    expect((await push({ batchId: uniqueId('b'), transactions: [original] })).status).toBe(200);
    const before = await snapshot();
    const batchId = uniqueId('b');
    const fresh = tx();
    const res = await push({ batchId, transactions: [fresh, { ...original, amount: '6.00' }] });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('conflict');
    expect(res.body.error.details).toEqual([
      { path: `transactions[id=${String(original.id)}]`, message: expect.stringContaining('conflicting') },
    ]);
    expect(await snapshot()).toEqual(before);
    // The batch id was not consumed: the corrected batch goes through under the same id.
    const fixed = await push({ batchId, transactions: [fresh, original] });
    expect(fixed.body).toMatchObject({ accepted: 1, duplicates: 1 });
  });

  it('refuses conflicting duplicates inside one batch', async () => {
    const a = tx();
    const res = await push({ batchId: uniqueId('b'), transactions: [a, { ...a, amount: '11.00' }] });
    expect(res.status).toBe(409);
    expect(res.body.error.details[0].path).toBe(`transactions[id=${String(a.id)}]`);
  });

  it('replays a batchId with the first response, and refuses its reuse for other content', async () => {
    const body = { batchId: uniqueId('b'), transactions: [tx(), tx({ type: 'win', amount: '1.00' })] };
    const first = await push(body);
    const replay = await push(body);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    const reuse = await push({ batchId: body.batchId, transactions: [tx()] });
    expect(reuse.status).toBe(409);
    expect(reuse.body.error.details).toEqual([
      { path: 'batchId', message: 'already used with different content' },
    ]);
  });

  it('keeps orphan rollbacks flagged, then resolves them when the original arrives', async () => {
    const p = await onboardPartner(stack);
    const bet = tx({ amount: '40.00' });
    const rollback = tx({ type: 'rollback', refId: bet.id, amount: '40.00' });
    const first = await push({ batchId: uniqueId('b'), transactions: [rollback] }, p);
    expect(first.body).toMatchObject({ accepted: 1, orphanRollbacks: 1 });
    expect(
      (await stack.api(`/v1/transactions/${String(rollback.id)}`, { token: p.apiKey })).body.orphan,
    ).toBe(true);

    const second = await push({ batchId: uniqueId('b'), transactions: [bet] }, p);
    expect(second.body).toMatchObject({ accepted: 1, resolvedOrphanRollbacks: 1 });
    expect(
      (await stack.api(`/v1/transactions/${String(rollback.id)}`, { token: p.apiKey })).body.orphan,
    ).toBe(false);
    const pos = await stack.api('/v1/positions?from=2026-11-23&to=2026-11-23', { token: p.apiKey });
    expect(pos.body.positions[0]).toMatchObject({
      betAmount: '40.00',
      rollbackBetAmount: '40.00',
      orphanRollbackAmount: '0.00',
      ggr: '0.00',
    });
    const ledger = await stack.db.pool.query(
      `SELECT debits_minor - credits_minor AS b FROM ledger_accounts WHERE code = $1`,
      [`partner:${p.id}:game_activity:EUR`],
    );
    expect(String(ledger.rows[0]?.b ?? '0')).toBe('0');
  });

  it('applies a rollback of a win sent in the same batch', async () => {
    const p = await onboardPartner(stack);
    const bet = tx({ amount: '10.00' });
    const win = tx({ type: 'win', amount: '50.00' });
    const rb = tx({ type: 'rollback', refId: win.id, amount: '50.00' });
    const res = await push({ batchId: uniqueId('b'), transactions: [bet, win, rb] }, p);
    expect(res.body).toMatchObject({ accepted: 3, orphanRollbacks: 0 });
    const pos = await stack.api('/v1/positions?from=2026-11-23&to=2026-11-23', { token: p.apiKey });
    expect(pos.body.positions[0]).toMatchObject({
      winAmount: '50.00',
      rollbackWinAmount: '50.00',
      ggr: '10.00',
    });
  });

  it('stores two concurrent batches with overlapping ids once, with no 5xx', async () => {
    const p = await onboardPartner(stack);
    const shared = Array.from({ length: 200 }, () => tx());
    const onlyA = Array.from({ length: 50 }, () => tx());
    const onlyB = Array.from({ length: 50 }, () => tx());
    const results = await Promise.all([
      push({ batchId: uniqueId('a'), transactions: [...shared, ...onlyA] }, p),
      push({ batchId: uniqueId('b'), transactions: [...onlyB, ...shared.slice().reverse()] }, p),
      push({ batchId: uniqueId('c'), transactions: shared.slice(0, 100) }, p),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const accepted = results.reduce((s, r) => s + Number(r.body.accepted), 0);
    expect(accepted).toBe(300);
    expect(await countRows(p.id)).toBe(300);
    const pos = await stack.db.pool.query(
      'SELECT sum(tx_count)::int AS n FROM positions WHERE partner_id = $1',
      [p.id],
    );
    expect(pos.rows[0].n).toBe(300);
  });

  it('takes the partner from the credential, never the body, and scopes reads', async () => {
    const other = await onboardPartner(stack);
    const t = tx();
    await push({ batchId: uniqueId('b'), transactions: [t] }, other);
    expect((await stack.api(`/v1/transactions/${String(t.id)}`, { token: partner.apiKey })).status).toBe(404);
    expect((await stack.api(`/v1/transactions/${String(t.id)}`, { token: other.apiKey })).status).toBe(200);
    // An operator names the partner in the path; a partner reads another's as if it did not exist.
    expect((await stack.api(`/v1/partners/${other.id}/transactions/${String(t.id)}`)).status).toBe(200);
    expect(
      (await stack.api(`/v1/partners/${other.id}/transactions/${String(t.id)}`, { token: partner.apiKey }))
        .status,
    ).toBe(404);
    expect(
      (await stack.api(`/v1/partners/${other.id}/transactions/${String(t.id)}`, { token: other.apiKey }))
        .status,
    ).toBe(200);
    expect((await stack.api(`/v1/transactions/${String(t.id)}`)).status).toBe(403); // the partner's own route
    const smuggled = await push({ batchId: uniqueId('b'), partnerId: other.id, transactions: [tx()] });
    expect(smuggled.status).toBe(422);
  });

  describe('every 4xx path writes nothing', () => {
    const rows: [string, () => unknown, number, string][] = [
      [
        'an amount sent as a JSON number',
        () => ({ batchId: uniqueId('b'), transactions: [tx(), tx({ amount: 12.34 })] }),
        422,
        'transactions.1.amount',
      ],
      [
        'more decimals than the currency has',
        () => ({ batchId: uniqueId('b'), transactions: [tx({ amount: '1.001' })] }),
        422,
        'transactions.0.amount',
      ],
      [
        'a zero-decimal currency with decimals',
        () => ({ batchId: uniqueId('b'), transactions: [tx({ currency: 'JPY', amount: '100.5' })] }),
        422,
        'transactions.0.amount',
      ],
      [
        'an exponent',
        () => ({ batchId: uniqueId('b'), transactions: [tx({ amount: '1e3' })] }),
        422,
        'transactions.0.amount',
      ],
      [
        'a negative bet',
        () => ({ batchId: uniqueId('b'), transactions: [tx({ amount: '-5.00' })] }),
        422,
        'transactions.0.amount',
      ],
      [
        'an unknown currency',
        () => ({ batchId: uniqueId('b'), transactions: [tx({ currency: 'XYZ' })] }),
        422,
        'transactions.0.currency',
      ],
      [
        'an unknown type',
        () => ({ batchId: uniqueId('b'), transactions: [tx({ type: 'refund' })] }),
        422,
        'transactions.0.type',
      ],
      [
        'a timestamp without offset',
        () => ({ batchId: uniqueId('b'), transactions: [tx({ occurredAt: '2026-11-23T12:00:00' })] }),
        422,
        'transactions.0.occurredAt',
      ],
      [
        'a rollback without refId',
        () => ({ batchId: uniqueId('b'), transactions: [tx({ type: 'rollback' })] }),
        422,
        'transactions.0.refId',
      ],
      [
        'an adjustment without reason',
        () => ({ batchId: uniqueId('b'), transactions: [tx({ type: 'adjustment', amount: '-1.00' })] }),
        422,
        'transactions.0.reason',
      ],
      [
        'a missing field',
        () => ({ batchId: uniqueId('b'), transactions: [{ ...tx(), gameId: undefined }] }),
        422,
        'transactions.0.gameId',
      ],
      [
        'an unknown field',
        () => ({ batchId: uniqueId('b'), transactions: [{ ...tx(), colour: 'red' }] }),
        422,
        'transactions.0.colour',
      ],
      ['an empty batch', () => ({ batchId: uniqueId('b'), transactions: [] }), 422, 'transactions'],
      [
        'more than 10,000 items',
        () => ({ batchId: uniqueId('b'), transactions: Array.from({ length: 10_001 }, () => ({ id: 'x' })) }),
        422,
        'transactions',
      ],
      ['a missing batchId', () => ({ transactions: [tx()] }), 422, 'batchId'],
    ];
    const cases = rows.map(([name, body, status, path]) => ({ name, body, status, path }));
    it.each(cases)('$name → $status naming $path', async ({ body, status, path }) => {
      const before = await snapshot();
      const res = await push(body());
      expect(res.status).toBe(status);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContainEqual(path);
      expect(await snapshot()).toEqual(before);
    });

    it('malformed JSON → 400, oversized → 413, no key → 401, operator token → 403', async () => {
      const before = await snapshot();
      expect(
        (
          await stack.api('/v1/transactions', {
            rawBody: '{"batchId":',
            token: partner.apiKey,
            headers: { 'content-type': 'application/json' },
          })
        ).status,
      ).toBe(400);
      const big = {
        batchId: uniqueId('b'),
        transactions: Array.from({ length: 9000 }, () =>
          tx({ gameId: 'g'.repeat(120), playerId: 'p'.repeat(120), roundId: 'r'.repeat(120) }),
        ),
      };
      const tooLarge = await push(big);
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.body.error.code).toBe('payload_too_large');
      expect(
        (await stack.api('/v1/transactions', { body: { batchId: 'x', transactions: [tx()] }, token: null }))
          .status,
      ).toBe(401);
      expect(
        (await stack.api('/v1/transactions', { body: { batchId: 'x', transactions: [tx()] } })).status,
      ).toBe(403);
      expect(await snapshot()).toEqual(before);
    });
  });
});
