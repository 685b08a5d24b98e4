import { invoiceActivities } from '../activities/invoices';
import { createCurrencyRegistry, formatAmount } from '../domain/money';
import { statementLineTotals, type Statement } from '../domain/statement';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import type { TestPartner } from './support/partners';
import { onboardPartner } from './support/partners';
import { dayOfTransactions, settlingPartner, startPlannedCycle } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// Partner invoices on the real stack: a partner with two settled daily cycles (through the API,
// a real provider report and Temporal) submits invoices through the API. An invoice for one
// cycle's period is compared at once; within the contract's tolerance (1.00 by default) it
// raises nothing, beyond it exactly one fee_variance per line, in the book of that cycle: in
// GET /v1/exceptions and the exception queue, with ours, theirs and the difference. Resubmission
// is idempotent, other content under the same reference a 409, bad input a 422 naming the field
// with nothing written, another partner a 404. The month's comparison (the close's activity)
// sums both cycles' statements, records its variances in the last cycle's book, and is
// idempotent; an invoice submitted into a closed month is compared at once.
describe('partner invoices and fee variance', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let partner: TestPartner;
  let other: TestPartner;
  const DAYS = ['2026-11-23', '2026-11-24'] as const;
  const cycle = (day: string) => `settlement:${partner.id}:${day}`;
  /** Our tier fee per cycle, from its stored statement (minor units). */
  const tierFee: Record<string, bigint> = {};
  const scale = 2;
  const eur = (minor: bigint) => formatAmount(minor, scale);

  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
    const txs = DAYS.flatMap((d, i) => dayOfTransactions(`inv${i}`, d, 40));
    provider.setTransactions(txs);
    partner = await settlingPartner(stack, provider, txs);
    for (const day of DAYS) {
      const h = await startPlannedCycle(stack, partner.id, day, {
        over: { cutoffAt: '2026-11-25T00:00:00Z', reminderIntervalMs: 60_000 },
      });
      const result = await h.result();
      expect(result.status).toBe('Completed');
      const st = await stack.api(`/v1/settlements/${cycle(day)}/statement`);
      expect(st.status).toBe(200);
      tierFee[day] = statementLineTotals(st.body as Statement, scale).tier_fee;
      expect(tierFee[day]).toBeGreaterThan(300n); // a fee to be over and under by
    }
    other = await onboardPartner(stack, { timezone: 'UTC' });
  }, 300_000);
  afterAll(async () => {
    await provider?.close();
    await stack?.close();
  });

  const submit = (body: unknown, token: string | null = partner.apiKey, partnerId = partner.id) =>
    stack.api(`/v1/partners/${partnerId}/invoices`, { body, token });
  const dayInvoice = (reference: string, tierFeeMinor: bigint, day: string = DAYS[0]) => ({
    reference,
    period: { start: day, end: day },
    currency: 'EUR',
    lines: [
      { line: 'tier_fee', amount: eur(tierFeeMinor) },
      { line: 'fixed_fee', amount: '0.00' },
    ],
  });
  const feeVariances = async (cycleId: string) => {
    const res = await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(cycleId)}`);
    expect(res.status).toBe(200);
    return (res.body.exceptions as { exceptionId: string; kind: string; differenceMinor: string }[]).filter(
      (e) => e.kind === 'fee_variance',
    );
  };
  const bookVersion = async (cycleId: string) =>
    Number(
      (
        await stack.db.pool.query<{ version: string }>(
          'SELECT version::text FROM exception_books WHERE cycle_id = $1',
          [cycleId],
        )
      ).rows[0]!.version,
    );

  it("within the tolerance: compared at once against the cycle's statement, no exception", async () => {
    const res = await submit(dayInvoice('INV-D1-A', tierFee[DAYS[0]]! + 50n)); // 0.50 over
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      reference: 'INV-D1-A',
      period: { start: DAYS[0], end: DAYS[0] },
      comparisonPending: null,
      comparison: {
        trigger: 'cycle',
        contractVersion: 1,
        tolerance: { absoluteMinor: '100' },
        statements: [{ settlementId: cycle(DAYS[0]), version: 1 }],
        variances: 0,
        exceptions: [],
      },
    });
    expect(res.body.submittedBy).toBeUndefined(); // a partner does not read who submitted
    expect(res.body.comparison.lines).toContainEqual({
      line: 'tier_fee',
      ours: eur(tierFee[DAYS[0]]!),
      theirs: eur(tierFee[DAYS[0]]! + 50n),
      difference: '0.50',
      tolerance: '1.00',
      exceptionId: null,
    });
    expect(await feeVariances(cycle(DAYS[0]))).toEqual([]);
  });

  let beyond: { invoiceId: string; exceptionId: string };
  it("one line beyond it: exactly one fee_variance, in the cycle's book, the queue and the partner's exceptions", async () => {
    const before = await bookVersion(cycle(DAYS[0]));
    const res = await submit(dayInvoice('INV-D1-B', tierFee[DAYS[0]]! + 2_500n)); // 25.00 over
    expect(res.status).toBe(201);
    const id = res.body.invoiceId as string;
    const exceptionId = `fee_variance:${id}:tier_fee`;
    beyond = { invoiceId: id, exceptionId };
    expect(res.body.comparison).toMatchObject({ variances: 1 });
    expect(res.body.comparison.exceptions).toEqual([
      {
        exceptionId,
        settlementId: cycle(DAYS[0]),
        line: 'tier_fee',
        ours: eur(tierFee[DAYS[0]]!),
        theirs: eur(tierFee[DAYS[0]]! + 2_500n),
        difference: '25.00',
        resolution: null,
        amount: null,
        reason: null,
        resolvedAt: null,
      },
    ]);
    expect(await bookVersion(cycle(DAYS[0]))).toBe(before + 1);
    const stored = await stack.db.pool.query(
      `SELECT ours_minor::text, theirs_minor::text, difference_minor::text, currency, tx_id, game_id
         FROM settlement_exceptions WHERE cycle_id = $1 AND exception_id = $2`,
      [cycle(DAYS[0]), exceptionId],
    );
    expect(stored.rows).toEqual([
      {
        ours_minor: tierFee[DAYS[0]]!.toString(),
        theirs_minor: (tierFee[DAYS[0]]! + 2_500n).toString(),
        difference_minor: '2500',
        currency: 'EUR',
        tx_id: null,
        game_id: null,
      },
    ]);
    // Operators: GET /v1/exceptions and the queue with its SLA tier; its history says who found it.
    expect(await feeVariances(cycle(DAYS[0]))).toEqual([
      expect.objectContaining({ exceptionId, differenceMinor: '2500' }),
    ]);
    const queue = await stack.api(`/v1/exception-queue?kind=fee_variance&partnerId=${partner.id}`);
    expect(queue.status).toBe(200);
    expect(queue.body.items).toEqual([
      expect.objectContaining({
        settlementId: cycle(DAYS[0]),
        exceptionId,
        currency: 'EUR',
        differenceMinor: '2500',
        tier: expect.any(String),
        dueAt: expect.any(String),
      }),
    ]);
    const history = await stack.api(
      `/v1/settlements/${cycle(DAYS[0])}/exceptions/${encodeURIComponent(exceptionId)}/history`,
    );
    expect(history.body.events).toEqual([
      expect.objectContaining({ event: 'found', actor: 'invoice-comparison' }),
    ]);
    // The partner reads its own exception.
    const mine = await stack.api(`/v1/exceptions?settlementId=${cycle(DAYS[0])}`, { token: partner.apiKey });
    expect(mine.body.exceptions).toEqual([expect.objectContaining({ exceptionId, kind: 'fee_variance' })]);
  });

  // Needs db/accruals.ts exceptionRecords to leave fee_variance out of a statement's frozen
  // inputs (a variance is found after the statement and compares it; it is never an input of it):
  // otherwise the dry run, and every restatement of the cycle, no longer recompute its bytes.
  it("a fee_variance in the cycle's book leaves its statement's dry run identical", async () => {
    const dry = await stack.api(`/v1/settlements/${cycle(DAYS[0])}/statement/recompute`, { method: 'POST' });
    expect(dry.status).toBe(200);
    expect(dry.body.identical).toBe(true);
  });

  it('the same reference and content is the same invoice (200), compared once; other content is a 409', async () => {
    const version = await bookVersion(cycle(DAYS[0]));
    const again = await submit(dayInvoice('INV-D1-B', tierFee[DAYS[0]]! + 2_500n));
    expect(again.status).toBe(200);
    expect(again.body.invoiceId).toBe(beyond.invoiceId);
    expect(again.body.comparison.variances).toBe(1);
    // 25 is 25.00: the same content.
    const sameAmount = await submit({
      ...dayInvoice('INV-D1-B', 0n),
      lines: [
        { line: 'fixed_fee', amount: '0' },
        { line: 'tier_fee', amount: eur(tierFee[DAYS[0]]! + 2_500n).replace(/0$/, '') },
      ],
    });
    expect(sameAmount.status).toBe(200);
    // Compared again on purpose (resolver): the same exception, not another.
    const compared = await stack.api(`/v1/partners/${partner.id}/invoices/${beyond.invoiceId}/comparison`, {
      method: 'POST',
    });
    expect(compared.status).toBe(200);
    expect(await feeVariances(cycle(DAYS[0]))).toHaveLength(1);
    expect(await bookVersion(cycle(DAYS[0]))).toBe(version);

    const changed = await submit(dayInvoice('INV-D1-B', tierFee[DAYS[0]]! + 2_600n));
    expect(changed.status).toBe(409);
    expect(changed.body.error.details).toEqual([expect.objectContaining({ path: 'reference' })]);
  });

  it('bad input is a 422 naming the field, and nothing is written', async () => {
    const count = async () =>
      Number(
        (
          await stack.db.pool.query<{ n: string }>(
            'SELECT count(*)::text AS n FROM partner_invoices WHERE partner_id = $1',
            [partner.id],
          )
        ).rows[0]!.n,
      );
    const before = await count();
    const cases: [unknown, string][] = [
      [{ ...dayInvoice('BAD-1', 100n), currency: 'USD' }, 'currency'],
      [{ ...dayInvoice('BAD-2', 100n), lines: [{ line: 'tier_fee', amount: '1.001' }] }, 'lines.0.amount'],
      [{ ...dayInvoice('BAD-3', 100n), lines: [{ line: 'ggr', amount: '1.00' }] }, 'lines.0.line'],
      [
        {
          ...dayInvoice('BAD-4', 100n),
          lines: [
            { line: 'tier_fee', amount: '1.00' },
            { line: 'tier_fee', amount: '2.00' },
          ],
        },
        'lines.1.line',
      ],
      [{ ...dayInvoice('BAD-5', 100n), period: { start: '2026-11-24', end: '2026-11-23' } }, 'period.end'],
      [{ ...dayInvoice('', 100n) }, 'reference'],
      [{ ...dayInvoice('BAD-7', 100n), period: { start: '2026-11-31', end: '2026-12-01' } }, 'period.start'],
    ];
    for (const [body, field] of cases) {
      const res = await submit(body);
      expect({ field, status: res.status }).toEqual({ field, status: 422 });
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
    }
    expect(await count()).toBe(before);
  });

  it("a partner sees only its own invoices: another partner's are a 404", async () => {
    const path = `/v1/partners/${partner.id}/invoices`;
    expect((await stack.api(`${path}/${beyond.invoiceId}`, { token: other.apiKey })).status).toBe(404);
    expect((await stack.api(path, { token: other.apiKey })).status).toBe(404);
    expect((await submit(dayInvoice('X-1', 1n), other.apiKey)).status).toBe(404);
    const own = await stack.api(path, { token: partner.apiKey });
    expect(own.status).toBe(200);
    expect(own.body.invoices.map((i: { reference: string }) => i.reference).sort()).toEqual([
      'INV-D1-A',
      'INV-D1-B',
    ]);
    expect((await stack.api(`${path}/${beyond.invoiceId}`, { token: partner.apiKey })).status).toBe(200);
    // The other partner's own list is empty.
    const theirs = await stack.api(`/v1/partners/${other.id}/invoices`, { token: other.apiKey });
    expect(theirs.body).toEqual({ invoices: [], nextCursor: null });
  });

  it("an operator with the resolver role submits on the partner's behalf; a viewer may not", async () => {
    const viewer = await stack.tokenFor('invoice-viewer', 'viewer');
    expect((await submit(dayInvoice('OPS-1', tierFee[DAYS[1]]!, DAYS[1]), viewer)).status).toBe(403);
    const res = await submit(dayInvoice('OPS-1', tierFee[DAYS[1]]!, DAYS[1]), stack.operatorToken);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ submittedBy: expect.any(String), comparison: { variances: 0 } });
  });

  it('accept_ours resolves a fee_variance in its book, nothing restated; a second decision is a 409', async () => {
    const url = `/v1/partners/${partner.id}/invoices/${beyond.invoiceId}/variances/tier_fee/resolution`;
    expect(
      (await stack.api(url, { body: { resolution: 'accept_ours', reason: 'x' }, token: partner.apiKey }))
        .status,
    ).toBe(403);
    const bad = await stack.api(url, { body: { resolution: 'accept_ours', amount: '1.00', reason: 'x' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ path: 'amount' })]);
    const ours = await stack.api(url, {
      body: { resolution: 'accept_ours', reason: 'contract rate applies' },
    });
    expect(ours.status).toBe(200);
    expect(ours.body.restatement).toBeNull();
    expect(ours.body.comparison.exceptions).toEqual([
      expect.objectContaining({ resolution: 'accept_ours', reason: 'contract rate applies' }),
    ]);
    const twice = await stack.api(url, { body: { resolution: 'accept_theirs', reason: 'again' } });
    expect(twice.status).toBe(409);
    const history = await stack.api(
      `/v1/settlements/${cycle(DAYS[0])}/exceptions/${encodeURIComponent(beyond.exceptionId)}/history`,
    );
    expect(history.body.events.map((e: { event: string }) => e.event)).toEqual(['found', 'resolved']);
    const restated = await stack.db.pool.query('SELECT 1 FROM restatements WHERE partner_id = $1', [
      partner.id,
    ]);
    expect(restated.rows).toEqual([]);
  });

  it("the month's comparison sums every cycle's statement, books into the last cycle, and is idempotent", async () => {
    const month = {
      reference: 'INV-2026-11',
      period: { start: '2026-11-01', end: '2026-11-30' },
      currency: 'EUR',
      lines: [
        { line: 'tier_fee', amount: eur(tierFee[DAYS[0]]! + tierFee[DAYS[1]]! - 300n) }, // 3.00 under
        { line: 'fixed_fee', amount: '0.50' }, // within
      ],
    };
    const res = await submit(month);
    expect(res.status).toBe(201);
    expect(res.body.comparison).toBeNull();
    expect(res.body.comparisonPending).toContain('2026-11');

    const activities = invoiceActivities({
      db: stack.db.appPool,
      currencies: createCurrencyRegistry(),
    });
    const first = await activities.compareInvoicesForPeriod({ partnerId: partner.id, month: '2026-11' });
    // Four invoices end in November (two days, the operator's, the month's); one line beyond in
    // two of them (INV-D1-B's, resolved, and the month's).
    expect(first).toEqual({ compared: 4, variances: 2 });
    const again = await activities.compareInvoicesForPeriod({ partnerId: partner.id, month: '2026-11' });
    expect(again).toEqual(first);
    const monthly = (await feeVariances(cycle(DAYS[1]))).filter((e) =>
      e.exceptionId.includes(res.body.invoiceId),
    );
    expect(monthly).toEqual([
      expect.objectContaining({
        exceptionId: `fee_variance:${res.body.invoiceId}:tier_fee`,
        differenceMinor: '-300',
      }),
    ]);
    const view = await stack.api(`/v1/partners/${partner.id}/invoices/${res.body.invoiceId}`, {
      token: partner.apiKey,
    });
    expect(view.body.comparison).toMatchObject({
      trigger: 'period_close',
      statements: [
        { settlementId: cycle(DAYS[0]), version: 1 },
        { settlementId: cycle(DAYS[1]), version: 1 },
      ],
      variances: 1,
    });
    expect(
      (await activities.compareInvoicesForPeriod({ partnerId: partner.id, month: '2026-10' })).compared,
    ).toBe(0);

    // accept_theirs: a restatement of the last cycle by the difference (owed to the partner: −3.00),
    // reason kind `invoice`, requested once whatever the retries.
    const url = `/v1/partners/${partner.id}/invoices/${res.body.invoiceId}/variances/tier_fee/resolution`;
    const theirs = await stack.api(url, {
      body: { resolution: 'accept_theirs', reason: 'partner figure agreed' },
    });
    expect(theirs.status).toBe(200);
    expect(theirs.body.restatement).toEqual({
      restatementId: expect.stringMatching(/^rst-/),
      workflowId: expect.any(String),
    });
    expect(theirs.body.comparison.exceptions).toEqual([
      expect.objectContaining({ resolution: 'accept_theirs', difference: '-3.00' }),
    ]);
    const rows = await stack.db.pool.query<{ cycle_id: string; reason: Record<string, unknown> }>(
      'SELECT cycle_id, reason FROM restatements WHERE partner_id = $1',
      [partner.id],
    );
    expect(rows.rows).toEqual([
      {
        cycle_id: cycle(DAYS[1]),
        reason: {
          kind: 'invoice',
          invoiceId: res.body.invoiceId,
          line: 'tier_fee',
          amountMinor: '-300',
          note: 'partner figure agreed',
        },
      },
    ]);
  });

  it('the restatement an accepted variance asks for, once approved and posted, settles the line on a new comparison', async () => {
    const { rows } = await stack.db.pool.query<{ id: string }>(
      'SELECT id FROM restatements WHERE partner_id = $1',
      [partner.id],
    );
    const id = rows[0]!.id;
    const stateOf = async () =>
      (await stack.api(`/v1/restatements/${id}`)).body as { state: string; detail?: string | null };
    const until = async (state: string) => {
      for (let i = 0; i < 400; i++) {
        const r = await stateOf();
        if (r.state === state) return;
        if (['failed', 'rejected'].includes(r.state)) throw new Error(`restatement ${r.state}: ${r.detail}`);
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`restatement never ${state}: ${JSON.stringify(await stateOf())}`);
    };
    await until('awaiting_approval');
    for (const name of ['rs-approver-a', 'rs-approver-b']) {
      const ok = await stack.api(`/v1/restatements/${id}/approvals`, {
        body: {},
        token: await stack.tokenFor(name, 'approver'),
      });
      expect({ name, status: ok.status }).toEqual({ name, status: 200 });
    }
    await until('posted');
    const monthly = (
      await stack.db.pool.query<{ id: string }>(
        `SELECT id FROM partner_invoices WHERE partner_id = $1 AND reference = 'INV-2026-11'`,
        [partner.id],
      )
    ).rows[0]!.id;
    const again = await stack.api(`/v1/partners/${partner.id}/invoices/${monthly}/comparison`, {
      method: 'POST',
    });
    expect(again.status).toBe(200);
    expect(again.body.comparison.statements).toEqual([
      { settlementId: cycle(DAYS[0]), version: 1 },
      { settlementId: cycle(DAYS[1]), version: 2 },
    ]);
    // The restatement's adjustment counts on the line it corrects: ours is theirs now.
    expect(again.body.comparison.lines).toContainEqual(
      expect.objectContaining({ line: 'tier_fee', difference: '0.00', exceptionId: null }),
    );
    expect(again.body.comparison.variances).toBe(0);
    // The exception stays as decided, once.
    expect((await feeVariances(cycle(DAYS[1]))).filter((e) => e.exceptionId.includes(monthly))).toHaveLength(
      1,
    );
  });

  it('an invoice submitted into a closed month is compared at once', async () => {
    await stack.db.pool.query(
      `INSERT INTO accounting_periods (partner_id, month, state, closing_at, closed_at, closed_by, closed_name, report, report_digest)
       VALUES ($1, '2026-11', 'closed', now(), now(), 'test', 'test', '{}', repeat('0', 64))`,
      [partner.id],
    );
    const res = await submit({
      reference: 'INV-2026-11-LATE',
      period: { start: '2026-11-16', end: '2026-11-30' },
      currency: 'EUR',
      lines: [{ line: 'tier_fee', amount: eur(tierFee[DAYS[0]]! + tierFee[DAYS[1]]!) }],
    });
    expect(res.status).toBe(201);
    expect(res.body.comparison).toMatchObject({
      trigger: 'period_close',
      statements: [{ settlementId: cycle(DAYS[0]) }, { settlementId: cycle(DAYS[1]) }],
    });
  });

  it('documents its routes in the OpenAPI document', async () => {
    const spec = (await stack.api('/openapi.json', { token: null })).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(spec.paths['/v1/partners/{partnerId}/invoices']!).sort()).toEqual(['get', 'post']);
    for (const path of [
      '/v1/partners/{partnerId}/invoices/{invoiceId}',
      '/v1/partners/{partnerId}/invoices/{invoiceId}/comparison',
      '/v1/partners/{partnerId}/invoices/{invoiceId}/variances/{line}/resolution',
    ])
      expect(spec.paths[path]).toBeDefined();
  });
});
