import { createActivities } from '../activities';
import { DEFAULT_SLA_TIERS, slaTiersJson, tierOf } from '../domain/sla';
import { loadConfig } from '../platform/config';
import { taskQueue } from '../platform/temporal';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { exceptionSlaSweepScheduleId, upsertExceptionSlaSweepSchedule } from '../services/schedules';
import { settlementStatus, type CycleView } from '../workflows/settlement';
import { uniqueId } from './support/env';
import { dayOfTransactions, settlingPartner } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// The exception work queue on the real stack: two partners' cycles waiting on exceptions of
// different amounts and kinds; the queue filtered, sorted and paged (every sort, both orders,
// pages of 3: no item twice, none lost, in order); assignment by a resolver (audited, in the
// exception's history, the book's version unchanged), refused to a viewer and for a resolved
// exception; the SLA sweep escalating an exception made old, once.

interface Item {
  settlementId: string;
  exceptionId: string;
  kind: string;
  partnerId: string;
  currency: string | null;
  differenceMinor: string;
  foundAt: string;
  ageHours: number;
  tier: string;
  dueAt: string;
  overdue: boolean;
  assignee: { actor: string; name: string } | null;
  escalatedTier: string | null;
}

describe('the exception work queue', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  const DAY = '2026-11-24';
  const ids: { p1: string; p2: string; c1: string; c2: string } = { p1: '', p2: '', c1: '', c2: '' };

  async function waitFor(id: string, status: string): Promise<CycleView> {
    const h = stack.temporal.workflow.getHandle(id);
    for (let i = 0; ; i++) {
      const view = await h.query(settlementStatus).catch(() => null);
      if (view?.status === status) return view;
      if (i > 600) throw new Error(`${id} never reached ${status} (last: ${view?.status})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Every page of a queue query, `limit` at a time. */
  async function allPages(query: string, limit = 3): Promise<Item[]> {
    const out: Item[] = [];
    for (let cursor: string | null = null, n = 0; ; n++) {
      const res = await stack.api(
        `/v1/exception-queue?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 200 });
      out.push(...(res.body.items as Item[]));
      cursor = res.body.nextCursor as string | null;
      if (!cursor) return out;
      if (n > 1000) throw new Error('paging never ends');
    }
  }

  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
    // Partner 1: ten transactions, four of them big; the provider reports the first three with
    // other amounts (amount_mismatch) and none of the rest (missing_theirs). Partner 2: five
    // of its own, none reported (and the three of partner 1 its report holds: missing_ours).
    const tx1 = dayOfTransactions(uniqueId('q1'), DAY, 10).map((t, i) => ({
      ...t,
      amountMinor: [300n, 400n, 500n, 150_000n, 20_000n, 2_500n, 600n, 700n, 800n, 120_000n][i]!,
    }));
    const tx2 = dayOfTransactions(uniqueId('q2'), DAY, 5);
    const p1 = await settlingPartner(stack, provider, tx1);
    const p2 = await settlingPartner(stack, provider, tx2);
    provider.setTransactions(
      tx1.slice(0, 3).map((t, i) => ({ ...t, amountMinor: t.amountMinor + [5n, 12_000n, 200_000n][i]! })),
    );
    const started = await Promise.all(
      [p1, p2].map((p) => stack.api('/v1/settlements', { body: { partnerId: p.id, periodStart: DAY } })),
    );
    expect(started.map((s) => s.status)).toEqual([202, 202]);
    Object.assign(ids, {
      p1: p1.id,
      p2: p2.id,
      c1: started[0]!.body.id as string,
      c2: started[1]!.body.id as string,
    });
    await Promise.all([waitFor(ids.c1, 'AwaitingResolution'), waitFor(ids.c2, 'AwaitingResolution')]);
  }, 300_000);
  afterAll(async () => {
    await provider.close();
    await stack.close();
  });

  const abs = (s: string) => (BigInt(s) < 0n ? -BigInt(s) : BigInt(s));

  it('lists open exceptions with tiers and due times, every sort paged without repeats or losses', async () => {
    const everything = await allPages('sort=age&order=desc', 500);
    const { rows } = await stack.db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM settlement_exceptions WHERE resolved_at IS NULL',
    );
    expect(everything.length).toBe(rows[0]!.n);
    expect(everything.length).toBeGreaterThanOrEqual(15);
    expect(new Set(everything.map((e) => e.partnerId))).toEqual(new Set([ids.p1, ids.p2]));
    expect(everything.map((e) => e.kind)).toEqual(
      expect.arrayContaining(['amount_mismatch', 'missing_theirs']),
    );
    // Each item's tier is domain/sla.ts's for its amount and age (all found moments ago).
    for (const e of everything) {
      expect(e.tier).toBe(tierOf({ amountMinor: BigInt(e.differenceMinor), ageMs: e.ageHours * 3_600_000 }));
      expect(Date.parse(e.dueAt) - Date.parse(e.foundAt)).toBe(
        (e.tier === 'low' ? DEFAULT_SLA_TIERS.low : DEFAULT_SLA_TIERS[e.tier as 'high']).dueHours * 3_600_000,
      );
      expect({ overdue: e.overdue, assignee: e.assignee, escalatedTier: e.escalatedTier }).toEqual({
        overdue: false,
        assignee: null,
        escalatedTier: null,
      });
    }
    expect(new Set(everything.map((e) => e.tier))).toEqual(new Set(['critical', 'high', 'medium', 'low']));

    const keyOf = (e: Item) => `${e.settlementId}|${e.exceptionId}`;
    const sortValue: Record<string, (e: Item) => string | bigint | number> = {
      age: (e) => -Date.parse(e.foundAt), // ascending age: the youngest (latest found) first
      amount: (e) => abs(e.differenceMinor),
      partner: (e) => e.partnerId,
      kind: (e) => e.kind,
      assignee: (e) => e.assignee?.actor ?? '',
    };
    for (const sort of Object.keys(sortValue))
      for (const order of ['asc', 'desc'] as const) {
        const items = await allPages(`sort=${sort}&order=${order}`);
        const where = `${sort} ${order}`;
        expect({ where, n: items.length }).toEqual({ where, n: everything.length });
        expect({ where, distinct: new Set(items.map(keyOf)).size }).toEqual({
          where,
          distinct: everything.length,
        });
        for (let i = 1; i < items.length; i++) {
          const [a, b] = [sortValue[sort]!(items[i - 1]!), sortValue[sort]!(items[i]!)];
          const inOrder = order === 'asc' ? a <= b : a >= b;
          expect({ where, i, inOrder }).toEqual({ where, i, inOrder: true });
        }
      }

    // A cursor is only good for the sort and order it was given with.
    const first = await stack.api('/v1/exception-queue?sort=amount&order=asc&limit=2');
    const wrong = await stack.api(
      `/v1/exception-queue?sort=kind&order=asc&limit=2&cursor=${first.body.nextCursor}`,
    );
    expect(wrong.status).toBe(400);
    expect((await stack.api('/v1/exception-queue?cursor=bm90LW91cnM')).status).toBe(400);
  });

  it('filters by partner, kind, tier, amount, currency and age', async () => {
    const everything = await allPages('sort=amount&order=desc', 500);
    const check = async (query: string, pick: (e: Item) => boolean) => {
      const got = (await allPages(query, 4)).map((e) => e.exceptionId + e.settlementId).sort();
      const want = everything
        .filter(pick)
        .map((e) => e.exceptionId + e.settlementId)
        .sort();
      expect({ query, got }).toEqual({ query, got: want });
      return got.length;
    };
    expect(await check(`partnerId=${ids.p2}`, (e) => e.partnerId === ids.p2)).toBeGreaterThan(0);
    expect(await check('kind=amount_mismatch', (e) => e.kind === 'amount_mismatch')).toBeGreaterThan(0);
    expect(await check('tier=critical', (e) => e.tier === 'critical')).toBeGreaterThanOrEqual(3);
    expect(
      await check(
        'minAmount=10000&maxAmount=150000',
        (e) => abs(e.differenceMinor) >= 10_000n && abs(e.differenceMinor) <= 150_000n,
      ),
    ).toBeGreaterThan(0);
    expect(await check('currency=EUR&sort=partner', (e) => e.currency === 'EUR')).toBeGreaterThan(0);
    expect(await check('assignee=none&sort=kind&order=asc', () => true)).toBe(everything.length);
    expect(await check('olderThanHours=1', () => false)).toBe(0);
    expect(
      await check(
        `partnerId=${ids.p1}&tier=low&kind=missing_theirs`,
        (e) => e.partnerId === ids.p1 && e.tier === 'low' && e.kind === 'missing_theirs',
      ),
    ).toBeGreaterThan(0);
    expect((await stack.api('/v1/exception-queue?tier=urgent')).status).toBe(400);
    expect((await stack.api('/v1/exception-queue?minAmount=-5')).status).toBe(400);
    // Operators only.
    expect((await stack.api('/v1/exception-queue', { token: null })).status).toBe(401);
  });

  it('assigns by a resolver, audited and in the history, the book version unchanged; refuses viewers and resolved ones', async () => {
    const [ana, viewer] = await Promise.all([
      stack.tokenFor('ana', 'resolver'),
      stack.tokenFor('vic', 'viewer'),
    ]);
    const items = await allPages(`partnerId=${ids.p1}&sort=amount&order=desc`, 500);
    const target = items[0]!;
    const base = `/v1/settlements/${encodeURIComponent(target.settlementId)}/exceptions`;
    const url = `${base}/${encodeURIComponent(target.exceptionId)}/assignment`;
    const version = async () =>
      (
        await stack.db.pool.query<{ version: string }>(
          'SELECT version::text FROM exception_books WHERE cycle_id = $1',
          [target.settlementId],
        )
      ).rows[0]!.version;
    const before = await version();

    const refused = await stack.api(url, { body: { assignee: 'bo' }, token: viewer });
    expect(refused.status).toBe(403);

    const assigned = await stack.api(url, {
      body: { assignee: 'Bo', reason: 'big ones are his' },
      token: ana,
    });
    expect({ status: assigned.status, error: assigned.body.error }).toEqual({ status: 200 });
    expect(assigned.body).toMatchObject({
      assignee: { actor: 'clearhouse#bo', name: 'Bo' },
      changed: true,
      bookVersion: Number(before),
    });
    // The same again changes nothing; to someone else (by actor key) and back out are recorded.
    expect((await stack.api(url, { body: { assignee: 'clearhouse#bo' }, token: ana })).body.changed).toBe(
      false,
    );
    expect((await stack.api(url, { body: { assignee: 'clearhouse#cy' }, token: ana })).body).toMatchObject({
      assignee: { actor: 'clearhouse#cy', name: 'cy' },
      changed: true,
    });
    expect((await stack.api(url, { body: { assignee: 'clearhouse#bo' }, token: ana })).status).toBe(200);
    expect(await version()).toBe(before);

    const mine = await allPages('assignee=clearhouse%23bo');
    expect(mine.map((e) => e.exceptionId)).toEqual([target.exceptionId]);
    expect(mine[0]!.assignee).toEqual({ actor: 'clearhouse#bo', name: 'bo' });
    expect((await allPages('assignee=none', 500)).length).toBe((await allPages('sort=age', 500)).length - 1);

    const history = await stack.api(`${base}/${encodeURIComponent(target.exceptionId)}/history`);
    expect(history.status).toBe(200);
    const events = history.body.events as {
      event: string;
      actor: string;
      actorName: string;
      reason: string | null;
    }[];
    expect(events.filter((e) => e.event === 'assigned')).toEqual([
      expect.objectContaining({ actor: 'clearhouse#ana', actorName: 'ana', reason: 'big ones are his' }),
      expect.objectContaining({ actor: 'clearhouse#ana' }),
      expect.objectContaining({ actor: 'clearhouse#ana' }),
    ]);
    const { rows: stored } = await stack.db.pool.query(
      `SELECT assignee, assignee_name, seq FROM exception_events
        WHERE cycle_id = $1 AND exception_id = $2 AND event = 'assigned' ORDER BY seq`,
      [target.settlementId, target.exceptionId],
    );
    expect(stored).toEqual([
      { assignee: 'clearhouse#bo', assignee_name: 'Bo', seq: 0 },
      { assignee: 'clearhouse#cy', assignee_name: 'cy', seq: 1 },
      { assignee: 'clearhouse#bo', assignee_name: 'bo', seq: 2 },
    ]);
    const { rows: audit } = await stack.db.pool.query<{ actor: string; target: string }>(
      `SELECT actor, target FROM audit_events WHERE action = 'POST /v1/settlements/{id}/exceptions/{exceptionId}/assignment' ORDER BY seq`,
    );
    // Every call that answered 200 (the unchanged one too), none of the viewer's refused one.
    expect(audit).toHaveLength(4);
    expect(audit[0]).toEqual({
      actor: 'clearhouse#ana',
      target: expect.stringMatching(/\/assignment$/) as string,
    });

    // Resolved: 409. Unknown: 404.
    const other = items[1]!;
    const resolved = await stack.api(`${base}/${encodeURIComponent(other.exceptionId)}/resolution`, {
      body: { resolution: 'accept_ours', reason: 'in our logs' },
      token: ana,
    });
    expect(resolved.status).toBe(200);
    const late = await stack.api(`${base}/${encodeURIComponent(other.exceptionId)}/assignment`, {
      body: { assignee: 'bo' },
      token: ana,
    });
    expect(late.status).toBe(409);
    expect(late.body.error.message).toMatch(/already resolved \(accept_ours\) by ana/);
    expect(
      (await stack.api(`${base}/missing_theirs%3Anope/assignment`, { body: { assignee: 'bo' }, token: ana }))
        .status,
    ).toBe(404);
    expect(
      (
        await stack.api(`/v1/settlements/settlement:nobody:2026-11-24/exceptions/x/assignment`, {
          body: { assignee: null },
          token: ana,
        })
      ).status,
    ).toBe(404);
    expect((await stack.api(url, { body: { assignee: 'not a name!' }, token: ana })).status).toBe(422);
  });

  it('escalates an overdue exception once, by a scheduled sweep (activity and workflow), and shows it in the ageing view', async () => {
    const activities = createActivities({ db: stack.db.appPool, config: stack.config });
    // Everything was found moments ago: nothing is due yet.
    expect(await activities.sweepExceptionSla()).toMatchObject({ escalated: 0 });

    const open = await allPages(`partnerId=${ids.p2}&sort=amount&order=asc`, 500);
    const [old, older, oldest] = open as [Item, Item, Item];
    expect(old.tier).toBe('low');
    // Six days old: critical by age, due a day after it was found, so overdue.
    const age = async (e: Item, days: number) =>
      stack.db.pool.query(
        `UPDATE settlement_exceptions SET found_at = now() - $3 * interval '1 day' WHERE cycle_id = $1 AND exception_id = $2`,
        [e.settlementId, e.exceptionId, days],
      );
    await age(old, 6);
    const first = await activities.sweepExceptionSla();
    expect(first).toEqual({
      escalated: 1,
      byTier: { critical: 1, high: 0, medium: 0, low: 0 },
      limited: false,
    });

    // Run by the workflow the Schedule starts: nothing more to escalate.
    const again = await stack.temporal.workflow.execute('exceptionSlaSweep', {
      taskQueue: taskQueue(stack.config, 'settlement'),
      workflowId: uniqueId('sla-sweep'),
      args: [{}],
    });
    expect(again).toMatchObject({ escalated: 0 });

    const [item] = (await allPages('olderThanHours=100')) as [Item];
    expect(item).toMatchObject({
      exceptionId: old.exceptionId,
      tier: 'critical',
      overdue: true,
      escalatedTier: 'critical',
    });
    const history = await stack.api(
      `/v1/settlements/${encodeURIComponent(old.settlementId)}/exceptions/${encodeURIComponent(old.exceptionId)}/history`,
    );
    expect((history.body.events as { event: string }[]).filter((e) => e.event === 'escalated')).toEqual([
      expect.objectContaining({
        actor: 'sla-sweep',
        reason: expect.stringMatching(/^past due at .*\(critical\)$/) as string,
      }),
    ]);
    const { rows: audit } = await stack.db.pool.query<{ actor: string; details: Record<string, unknown> }>(
      `SELECT actor, details FROM audit_events WHERE action = 'exceptions.escalated'`,
    );
    expect(audit).toEqual([
      { actor: 'sla-sweep', details: expect.objectContaining({ escalated: 1, limited: false }) as unknown },
    ]);

    // Escalated at high (three days old: high by age, due at 72 h), it escalates again once
    // critical (the tier rose); a run's limit bounds it, the next run takes the rest.
    await age(older, 3.5);
    await age(oldest, 8);
    expect(await activities.sweepExceptionSla({ limit: 1 })).toMatchObject({
      escalated: 1,
      limited: true,
      byTier: { critical: 1 },
    });
    expect(await activities.sweepExceptionSla({ limit: 1 })).toMatchObject({
      escalated: 1,
      byTier: { high: 1 },
    });
    expect(await activities.sweepExceptionSla()).toMatchObject({ escalated: 0 });
    await age(older, 5.5);
    expect(await activities.sweepExceptionSla()).toMatchObject({ escalated: 1, byTier: { critical: 1 } });
    expect(await activities.sweepExceptionSla()).toMatchObject({ escalated: 0 });

    // The ageing view: every open exception in one bucket and one tier.
    const ageing = await stack.api('/v1/exception-queue/ageing?perPartner=true');
    expect(ageing.status).toBe(200);
    const total = (await allPages('sort=age', 500)).length;
    const sum = (groups: { count: number }[]) => groups.reduce((n, g) => n + g.count, 0);
    expect(ageing.body.open).toBe(total);
    expect(sum(ageing.body.buckets as { count: number }[])).toBe(total);
    expect(sum(ageing.body.tiers as { count: number }[])).toBe(total);
    expect(ageing.body.buckets).toEqual([
      expect.objectContaining({ bucket: '0-1d', count: total - 3 }),
      expect.objectContaining({ bucket: '1-3d', count: 0, amounts: [] }),
      expect.objectContaining({ bucket: '3-7d', count: 2, overdue: 2 }),
      expect.objectContaining({ bucket: '>7d', count: 1, overdue: 1 }),
    ]);
    expect((ageing.body.partners as { partnerId: string }[]).map((p) => p.partnerId)).toEqual(
      [ids.p1, ids.p2].sort(),
    );
    // Partner 2's critical ones: those critical by amount from the start, and the three made old.
    const one = await stack.api(`/v1/exception-queue/ageing?partnerId=${ids.p2}`);
    expect(one.body).toMatchObject({ partners: null, open: open.length });
    const critical = [...open.filter((e) => e.tier === 'critical'), old, older, oldest];
    expect(one.body.tiers.find((t: { tier: string }) => t.tier === 'critical')).toEqual({
      tier: 'critical',
      count: critical.length,
      overdue: 3,
      amounts: [
        { currency: 'EUR', absMinor: String(critical.reduce((n, e) => n + abs(e.differenceMinor), 0n)) },
      ],
    });
  });

  it('creates the sweep Schedule, every EXCEPTION_SLA_SWEEP_SECONDS', async () => {
    expect(stack.config.exceptionQueue.sweepSeconds).toBe(300);
    await upsertExceptionSlaSweepSchedule(stack.temporal, stack.config, 120);
    await upsertExceptionSlaSweepSchedule(stack.temporal, stack.config, 120); // again: an update
    const handle = stack.temporal.schedule.getHandle(exceptionSlaSweepScheduleId(stack.config));
    try {
      const d = await handle.describe();
      expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'exceptionSlaSweep' });
      expect(d.spec.intervals?.[0]?.every).toBe(120_000);
      expect(d.policies.overlap).toBe('SKIP');
    } finally {
      await handle.delete();
    }
  });
});

describe('the work queue settings', () => {
  it('reads EXCEPTION_SLA_TIERS and EXCEPTION_SLA_SWEEP_SECONDS, defaults as DOMAIN.md, nonsense refused by name', () => {
    const dev = { NODE_ENV: 'development' };
    expect(loadConfig(dev).exceptionQueue).toEqual({ slaTiers: DEFAULT_SLA_TIERS, sweepSeconds: 300 });
    const tiers = { ...DEFAULT_SLA_TIERS, low: { dueHours: 336 } };
    expect(
      loadConfig({ ...dev, EXCEPTION_SLA_TIERS: slaTiersJson(tiers), EXCEPTION_SLA_SWEEP_SECONDS: '0' })
        .exceptionQueue,
    ).toEqual({ slaTiers: tiers, sweepSeconds: 0 });
    expect(() => loadConfig({ ...dev, EXCEPTION_SLA_TIERS: '{' })).toThrow(
      /EXCEPTION_SLA_TIERS: is not JSON/,
    );
    expect(() =>
      loadConfig({
        ...dev,
        EXCEPTION_SLA_TIERS: JSON.stringify({ critical: {} }),
        EXCEPTION_SLA_SWEEP_SECONDS: '-1',
      }),
    ).toThrow(/EXCEPTION_SLA_TIERS: critical\.minAmountMinor[\s\S]*EXCEPTION_SLA_SWEEP_SECONDS/);
  });
});
