import {
  startJsonCursorProvider,
  type Faults,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { volumeFaultEffects } from '../providers/simulated/volume-faults';
import { settlementStatus, type CycleView } from '../workflows/settlement';
import { uniqueId } from './support/env';
import { dayOfTransactions, settlingPartner } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// Rules before people, on the real Temporal server and Postgres: a provider that rounds wins its
// own way and dates late rounds after midnight. The contract's tolerance rule settles the
// rounding (recorded as the rule version's decision, one aggregated journal entry linked to
// every exception), the late rounds are expected (settled at our figure, not holding the cycle)
// and close when the next day's report brings them; a dry run over a settled period says exactly
// what enabling the rules then does; what is left is resolved in bulk, previewed, digest-checked,
// and above the contract's threshold by two people.
describe('reconciliation rules, expected items and bulk resolution', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  beforeAll(async () => {
    stack = await startStack();
    provider = await startJsonCursorProvider();
  });
  afterAll(async () => {
    await provider.close();
    await stack.close();
  });

  const D1 = '2026-11-24';
  const D2 = '2026-11-25';
  const SETTLEMENT = {
    period: 'daily' as const,
    cutoffGraceMinutes: 0,
    payoutApprovalThresholdMinor: '100000000',
  };
  const RULES = {
    rules: [
      {
        id: 'rounding',
        kinds: ['amount_mismatch'],
        tolerance: { absoluteMinor: '3', percent: '0', base: 'larger', rounding: 'half_up' },
        action: 'accept_theirs',
      },
      { id: 'late-rounds', kinds: ['missing_ours'], dateLag: { hours: 2 }, action: 'accept_ours' },
    ],
    expected: { withinMinutesOfCutoff: 30, ageLimitHours: 48 },
  };

  /** A day of transactions with five late rounds in its last 20 minutes (UTC). */
  function day(prefix: string, d: string, n: number): SimulatedTx[] {
    const late = Array.from({ length: 5 }, (_, i) => ({
      id: `${prefix}-late-${i}`,
      type: 'bet',
      roundId: `${prefix}-lr-${i}`,
      gameId: 'game-0',
      currency: 'EUR',
      amountMinor: 500n + BigInt(i),
      occurredAtMs: Date.parse(`${d}T23:45:00Z`) + i * 60_000,
    }));
    return [...dayOfTransactions(prefix, d, n), ...late];
  }

  function faultsFor(altered: string): Faults {
    return {
      roundOwnWay: { everyNth: 4, deltaMinor: 3n },
      lateRoundsAfterMidnight: { withinMinutes: 20, shiftMinutes: 25, timezone: 'UTC' },
      altered: { [altered]: 99_999n },
    };
  }

  async function waitFor(id: string, statuses: string[]): Promise<CycleView> {
    const h = stack.temporal.workflow.getHandle(id);
    for (let i = 0; ; i++) {
      const view = await h.query(settlementStatus).catch(() => null);
      if (view && statuses.includes(view.status)) return view;
      if (i > 600) throw new Error(`${id} never reached ${statuses.join('/')} (last: ${view?.status})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function start(partnerId: string, periodStart: string): Promise<string> {
    const res = await stack.api('/v1/settlements', { body: { partnerId, periodStart } });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }

  async function exceptions(id: string, status?: 'open' | 'resolved'): Promise<any[]> {
    const out: any[] = [];
    for (let cursor: string | null = null; ;) {
      const page = await stack.api(
        `/v1/exceptions?settlementId=${encodeURIComponent(id)}&limit=500${status ? `&status=${status}` : ''}${cursor ? `&cursor=${cursor}` : ''}`,
      );
      out.push(...(page.body.exceptions as any[]));
      cursor = page.body.nextCursor as string | null;
      if (!cursor) return out;
    }
  }

  /** A day whose planted rounding the oracle below can follow (see the first test). */
  function plantedDay(prefix: string) {
    const txs = [...day(prefix, D1, 400), ...dayOfTransactions(`${prefix}-d2`, D2, 200)];
    const altered = `${prefix}-7`;
    const faults = faultsFor(altered);
    const fx = volumeFaultEffects(txs, faults);
    const d1Ids = new Set(txs.filter((t) => t.occurredAtMs < Date.parse(`${D2}T00:00:00Z`)).map((t) => t.id));
    const shifted = fx.shifted.filter((s) => d1Ids.has(s.txId)).map((s) => s.txId);
    // Reconciliation compares totals per (day, game, currency) first: rounding that nets to zero
    // within a game whose totals otherwise agree is never looked at (nor does it move money).
    const game = new Map(txs.map((t) => [t.id, t.gameId]));
    const net = new Map<string, bigint>();
    for (const r of fx.rounded)
      if (d1Ids.has(r.txId) && !shifted.includes(r.txId))
        net.set(game.get(r.txId)!, (net.get(game.get(r.txId)!) ?? 0n) + r.deltaMinor);
    const differing = new Set([
      ...[...net].filter(([, d]) => d !== 0n).map(([g]) => g),
      game.get(altered)!,
      ...shifted.map((id) => game.get(id)!),
    ]);
    const rounded = fx.rounded.filter(
      (r) => d1Ids.has(r.txId) && !shifted.includes(r.txId) && differing.has(game.get(r.txId)!),
    );
    return { txs, altered, faults, shifted, rounded };
  }

  it('rules settle what the contract says, late rounds are expected and arrive the next day, a dry run says the same', async () => {
    // A day whose rounding, less the one decision reversed below, moves GGR (a zero net moves
    // nothing and posts no entry, which the assertions on the entry need).
    let planted = plantedDay(uniqueId('rr'));
    while (planted.rounded.slice(1).reduce((s, r) => s + r.deltaMinor, 0n) === 0n)
      planted = plantedDay(uniqueId('rr'));
    const { txs, altered, faults, shifted, rounded } = planted;
    expect(shifted.length).toBeGreaterThanOrEqual(4);
    expect(rounded.length).toBeGreaterThan(10);

    // Two partners with the same day and the same provider: one under the default rules (a
    // person decides), one whose contract enables the rules.
    provider.setTransactions(txs);
    provider.setFaults(faults);
    const plain = await settlingPartner(stack, provider, txs, SETTLEMENT, {
      reconciliation: { bulkApprovalThresholdMinor: '50000', expected: RULES.expected },
    });
    const ruled = await settlingPartner(stack, provider, txs, SETTLEMENT, { reconciliation: RULES });

    // --- The partner with rules: only the altered transaction waits for a person.
    const c1 = await start(ruled.id, D1);
    const waiting = await waitFor(c1, ['AwaitingResolution']);
    expect(waiting.exceptionsOpen).toBe(1);
    expect(waiting.exceptions.map((e) => e.exceptionId)).toEqual([`amount_mismatch:${altered}`]);
    const all = await exceptions(c1);
    const byId = new Map(all.map((e) => [e.exceptionId as string, e]));
    for (const r of rounded) {
      const e = byId.get(`amount_mismatch:${r.txId}`);
      expect(e).toMatchObject({
        resolution: 'accept_theirs',
        actor: `rule:${ruled.id}:v1:rounding`,
        resolutionGroup: 'rule:rounding',
        differenceMinor: r.deltaMinor.toString(),
      });
      expect(e.evidence).toMatchObject({ ruleId: 'rounding', thresholdMinor: '3', contractVersion: 1 });
    }
    for (const id of shifted) {
      const e = byId.get(`missing_theirs:${id}`);
      expect(e).toMatchObject({ resolution: 'accept_ours', actor: 'reconciliation' });
      expect(Date.parse(e.expectedUntil as string)).toBe(Date.parse(`${D2}T00:00:00Z`) + 48 * 3_600_000);
    }
    // Nothing else was found: rules and expected items account for every exception.
    expect(all).toHaveLength(rounded.length + shifted.length + 1);
    const history = await stack.api(
      `/v1/settlements/${encodeURIComponent(c1)}/exceptions/${encodeURIComponent(`amount_mismatch:${rounded[0]!.txId}`)}/history`,
    );
    expect(history.body.events.map((e: any) => [e.event, e.actor])).toEqual([
      ['found', 'reconciliation'],
      ['resolved', `rule:${ruled.id}:v1:rounding`],
    ]);

    // A resolver reverses one rule decision before the fee (it becomes a person's own).
    const ana = await stack.tokenFor('ana', 'resolver');
    const reversedId = `amount_mismatch:${rounded[0]!.txId}`;
    const base = `/v1/settlements/${encodeURIComponent(c1)}/exceptions`;
    const reversal = await stack.api(`${base}/resolutions`, {
      body: {
        items: [
          { exceptionId: reversedId, resolution: 'accept_ours', reason: 'our log is right here' },
          { exceptionId: `amount_mismatch:${altered}`, resolution: 'accept_ours', reason: 'provider typo' },
        ],
      },
      token: ana,
    });
    expect(reversal.status).toBe(200);
    expect(reversal.body).toMatchObject({ applied: 2, refused: [], open: 0 });
    const reversedHistory = await stack.api(`${base}/${encodeURIComponent(reversedId)}/history`);
    expect(reversedHistory.body.events.map((e: any) => e.event)).toEqual([
      'found',
      'resolved',
      'reversed',
      'resolved',
    ]);

    const done = await stack.temporal.workflow.getHandle(c1).result();
    expect(done.status).toBe('Completed');
    const statement = (await stack.api(`/v1/settlements/${encodeURIComponent(c1)}/statement`)).body;
    // One line (and one journal entry) for the rule's decisions, linked to each exception.
    const kept = rounded.slice(1);
    const effect = kept.reduce((s, r) => s - r.deltaMinor, 0n); // accepting their win moves GGR by −delta
    const line = statement.revenue.resolutions.find(
      (r: any) => r.exceptionId === 'rule:rounding:accept_theirs',
    );
    expect(line).toMatchObject({ covers: kept.length, resolution: 'accept_theirs' });
    expect(line.effect).toBe((Number(effect) / 100).toFixed(2));
    expect(statement.expected).toHaveLength(shifted.length);
    const links = await stack.db.pool.query<{ n: string; sum: string }>(
      `SELECT count(*)::text AS n, sum(amount_minor)::text AS sum FROM journal_entry_exceptions WHERE entry_key = $1`,
      [`${c1}:resolution:rule:rounding:accept_theirs`],
    );
    expect(links.rows[0]).toEqual({ n: String(kept.length), sum: effect.toString() });
    // The ledger posted that one entry for them: game activity ↔ gaming revenue, |effect|.
    const entry = await stack.db.pool.query<{ amount: string; postings: string }>(
      `SELECT sum(p.amount_minor)::text AS amount, count(*)::text AS postings
         FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id WHERE e.idempotency_key = $1`,
      [`${c1}:resolution:rule:rounding:accept_theirs`],
    );
    expect(entry.rows[0]).toEqual({ amount: (effect < 0n ? -effect : effect).toString(), postings: '1' });

    // --- The next day: the provider reports yesterday's late rounds; no person is needed.
    const c2 = await start(ruled.id, D2);
    const day2 = await stack.temporal.workflow.getHandle(c2).result();
    expect(day2.status).toBe('Completed');
    const d2 = new Map((await exceptions(c2)).map((e) => [e.exceptionId as string, e]));
    for (const id of shifted) {
      expect(d2.get(`missing_ours:${id}`)).toMatchObject({
        resolution: 'accept_ours',
        actor: 'reconciliation',
      });
      const arrived = await stack.api(
        `/v1/settlements/${encodeURIComponent(c1)}/exceptions/${encodeURIComponent(`missing_theirs:${id}`)}/history`,
      );
      expect(arrived.body.events.map((e: any) => e.event)).toEqual(['found', 'expected', 'arrived']);
    }
    const states = await stack.db.pool.query<{ state: string; n: string }>(
      `SELECT state, count(*)::text AS n FROM expected_items WHERE partner_id = $1 GROUP BY state`,
      [ruled.id],
    );
    expect(states.rows).toEqual([{ state: 'arrived', n: String(shifted.length) }]);

    // --- The partner under the default rules waits for people on the same day ...
    const p1 = await start(plain.id, D1);
    const plainView = await waitFor(p1, ['AwaitingResolution']);
    expect(plainView.exceptionsOpen).toBe(rounded.length + 1);

    // ... and resolves them in bulk: previewed, refused when the set changed since, and above
    // its contract's threshold (50,000 minor units) applied only by a second person.
    const pbase = `/v1/settlements/${encodeURIComponent(p1)}/exceptions`;
    const filter = { kinds: ['amount_mismatch'] };
    const preview = await stack.api(`${pbase}/bulk/preview`, { body: { filter }, token: ana });
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({
      count: rounded.length + 1,
      needsSecondActor: true,
      thresholdMinor: '50000',
    });
    const absTotal =
      rounded.reduce((s, r) => s + (r.deltaMinor < 0n ? -r.deltaMinor : r.deltaMinor), 0n) +
      99_999n -
      BigInt(txs.find((t) => t.id === altered)!.amountMinor);
    expect(BigInt(preview.body.totals[0].absoluteMinor)).toBe(absTotal < 0n ? -absTotal : absTotal);
    // The set changes: one is resolved on its own; the old digest is refused.
    const one = await stack.api(
      `${pbase}/${encodeURIComponent(`amount_mismatch:${rounded[0]!.txId}`)}/resolution`,
      {
        body: { resolution: 'accept_ours', reason: 'checked' },
        token: ana,
      },
    );
    expect(one.status).toBe(200);
    const request = {
      filter,
      resolution: 'accept_ours',
      reason: 'provider rounds its own way',
      digest: preview.body.digest as string,
    };
    const stale = await stack.api(`${pbase}/bulk`, { body: request, token: ana });
    expect(stale.status).toBe(409);
    expect(stale.body.error.message).toMatch(/changed since the preview/);
    const fresh = await stack.api(`${pbase}/bulk/preview`, { body: { filter }, token: ana });
    const proposal = await stack.api(`${pbase}/bulk`, {
      body: { ...request, digest: fresh.body.digest },
      token: ana,
    });
    expect(proposal.status).toBe(200);
    expect(proposal.body).toMatchObject({ state: 'awaiting_approval', count: rounded.length, applied: 0 });
    const self = await stack.api(`${pbase}/bulk`, {
      body: { ...request, digest: fresh.body.digest },
      token: ana,
    });
    expect(self.status).toBe(403);
    const bo = await stack.tokenFor('bo', 'resolver');
    const applied = await stack.api(`${pbase}/bulk`, {
      body: { ...request, digest: fresh.body.digest },
      token: bo,
    });
    expect(applied.status).toBe(200);
    expect(applied.body).toMatchObject({
      state: 'applied',
      count: rounded.length,
      applied: rounded.length,
      open: 0,
    });
    expect((await stack.temporal.workflow.getHandle(p1).result()).status).toBe('Completed');

    // --- The dry run of the rules over that settled day says what enabling them did.
    const dry = await stack.api(`/v1/partners/${plain.id}/reconciliation-rules/dry-run`, {
      body: { reconciliation: RULES, periods: 3 },
    });
    expect(dry.status).toBe(200);
    expect(dry.body.periods).toHaveLength(1);
    const count = (kind: string, action: string) =>
      dry.body.total.byKindAndAction.find((r: any) => r.kind === kind && r.action === action)?.count ?? 0;
    expect(count('amount_mismatch', 'accept_theirs')).toBe(rounded.length);
    expect(count('amount_mismatch', 'none')).toBe(1);
    expect(dry.body.total.expected.count).toBe(shifted.length);
    // Exactly what the rules did for the partner that enabled them (before the reversal).
    const decidedByRule = all.filter((e) => e.actor === `rule:${ruled.id}:v1:rounding`).length;
    expect(decidedByRule).toBe(rounded.length);
    const expectedThere = all.filter((e) => e.expectedUntil).length;
    expect(expectedThere).toBe(shifted.length);
    // Nothing was written by the dry run.
    const audit = await stack.api(
      `/v1/audit?target=${encodeURIComponent(`/v1/partners/${plain.id}/reconciliation-rules/dry-run`)}`,
    );
    expect(audit.body.events ?? []).toEqual([]);
  }, 300_000);

  it('an expected item that arrives with another amount is settled in the later period; one past its age limit is mismatched there; neither side can be undone alone', async () => {
    const prefix = uniqueId('ex');
    const txs = day(prefix, D1, 20);
    const never = `${prefix}-late-2`;
    const other = txs.find((t) => t.id === `${prefix}-late-3`)!;
    provider.setTransactions(txs);
    // One late bet the provider never reports; another it reports the next day, 7 minor units more.
    provider.setFaults({ missing: [never, other.id] });
    const p = await settlingPartner(stack, provider, txs, SETTLEMENT, { reconciliation: RULES });
    const c1 = await start(p.id, D1);
    expect((await stack.temporal.workflow.getHandle(c1).result()).status).toBe('Completed');
    const s1 = (await stack.api(`/v1/settlements/${encodeURIComponent(c1)}/statement`)).body;
    expect(s1.expected.map((e: any) => e.txId).sort()).toEqual([never, other.id].sort());
    // Both were expected until 48 hours after D1's cut-off, long past by the time D2 reconciles
    // here; the one the provider reports on D2 arrives first (an arrival is claimed before expiries).
    provider.setFaults({
      missing: [never],
      extra: [{ ...other, amountMinor: other.amountMinor + 7n, occurredAtMs: Date.parse(`${D2}T00:10:00Z`) }],
    });
    const c2 = await start(p.id, D2);
    const view = await waitFor(c2, ['AwaitingResolution']);
    const expired = `missing_theirs:${never}:expected-in:${c1}`;
    const differs = `amount_mismatch:${other.id}:after:${c1}`;
    expect(view.exceptions.map((e) => [e.exceptionId, e.differenceMinor])).toEqual([
      [differs, '7'],
      [expired, '-502'],
    ]);
    const states = await stack.db.pool.query(
      `SELECT tx_id, state, closed_by_cycle FROM expected_items WHERE partner_id = $1 ORDER BY tx_id`,
      [p.id],
    );
    expect(states.rows).toEqual(
      [
        { tx_id: never, state: 'expired', closed_by_cycle: c2 },
        { tx_id: other.id, state: 'arrived', closed_by_cycle: c2 },
      ].sort((a, b) => (a.tx_id < b.tx_id ? -1 : 1)),
    );
    // The arrival (settled at our figure in c1, accept_ours here) cannot be reversed alone.
    const ana = await stack.tokenFor('ana', 'resolver');
    const base = `/v1/settlements/${encodeURIComponent(c2)}/exceptions`;
    const undo = await stack.api(`${base}/${encodeURIComponent(`missing_ours:${other.id}`)}/resolution`, {
      body: { resolution: 'accept_theirs', reason: 'try' },
      token: ana,
    });
    expect(undo.status).toBe(409);
    expect(undo.body.error.message).toMatch(
      /cannot be reversed: it is the counterpart of an expected item settled in/,
    );
    // Accepting the provider's word: the bet leaves this (open) period's GGR; the other gains 7.
    const res = await stack.api(`${base}/resolutions`, {
      body: {
        items: [
          {
            exceptionId: expired,
            resolution: 'accept_theirs',
            reason: 'never reported: no bet on their side',
          },
          {
            exceptionId: differs,
            resolution: 'accept_theirs',
            reason: 'the provider settled the round at 7 more',
          },
        ],
      },
      token: ana,
    });
    expect(res.body).toMatchObject({ applied: 2, refused: [], open: 0 });
    expect((await stack.temporal.workflow.getHandle(c2).result()).status).toBe('Completed');
    const statement = (await stack.api(`/v1/settlements/${encodeURIComponent(c2)}/statement`)).body;
    expect(statement.revenue.resolutions).toEqual([
      expect.objectContaining({ exceptionId: differs, resolution: 'accept_theirs', effect: '0.07' }),
      expect.objectContaining({ exceptionId: expired, resolution: 'accept_theirs', effect: '-5.02' }),
    ]);
    // Both days together count each late bet once: ours in c1, the provider's corrections in c2.
    expect(s1.revenue.ggr).toBe(
      (
        Number(txs.reduce((sum, t) => sum + (t.type === 'bet' ? t.amountMinor : -t.amountMinor), 0n)) / 100
      ).toFixed(2),
    );
  }, 180_000);

  /** Rounds of two bets and a win on one game: the shapes a provider splits and aggregates. */
  function matchedDay(prefix: string) {
    const txs: SimulatedTx[] = Array.from({ length: 300 }, (_, i) => ({
      id: `${prefix}-${i}`,
      type: i % 3 === 2 ? 'win' : 'bet',
      roundId: `${prefix}-r${Math.floor(i / 3)}`,
      gameId: `game-${Math.floor(i / 3) % 4}`,
      currency: 'EUR',
      amountMinor: BigInt(100 + ((i * 37) % 900)),
      occurredAtMs: Date.parse(`${D1}T08:00:00Z`) + i * 1000,
    }));
    const faults: Faults = {
      splitWins: { everyNth: 5, parts: 2 },
      aggregateRounds: { everyNth: 4 },
      roundOwnWay: { everyNth: 3, deltaMinor: 2n },
    };
    const fx = volumeFaultEffects(txs, faults);
    // Only games whose totals differ are compared transaction by transaction: a split keeps a
    // game's totals, an aggregated round changes its bet count, rounding may net to zero.
    const gameOf = new Map(txs.map((t) => [t.id, t.gameId]));
    const splitOrAggregated = new Set([
      ...fx.split.map((x) => x.txId),
      ...fx.aggregated.flatMap((a) => a.txIds),
    ]);
    const net = new Map<string, bigint>();
    for (const r of fx.rounded)
      if (!splitOrAggregated.has(r.txId))
        net.set(gameOf.get(r.txId)!, (net.get(gameOf.get(r.txId)!) ?? 0n) + r.deltaMinor);
    const differing = new Set([
      ...fx.aggregated.map((a) => gameOf.get(a.txIds[0]!)!),
      ...[...net].filter(([, d]) => d !== 0n).map(([g]) => g),
    ]);
    const split = fx.split.find((x) => differing.has(gameOf.get(x.txId)!));
    const rounded = fx.rounded.filter(
      (r) => !splitOrAggregated.has(r.txId) && differing.has(gameOf.get(r.txId)!),
    );
    return { txs, faults, fx, split, rounded };
  }

  it('matches split wins and aggregated rounds with their evidence, writes rounding off to a named account, and holds a review window', async () => {
    // A day with a split in a game the comparison looks at and rounding that does not net to zero.
    let day = matchedDay(uniqueId('mm'));
    while (
      !day.split ||
      day.rounded.length < 2 ||
      day.rounded.slice(1).reduce((s, r) => s + r.deltaMinor, 0n) === 0n
    )
      day = matchedDay(uniqueId('mm'));
    const { txs, faults, fx, rounded } = day;
    const split = day.split;
    expect(fx.aggregated.length).toBeGreaterThan(3);
    provider.setTransactions(txs);
    provider.setFaults(faults);
    const p = await settlingPartner(stack, provider, txs, SETTLEMENT, {
      reconciliation: {
        matching: { enabled: true },
        // A minute in which a resolver may reverse what was decided before people.
        reviewMinutes: 1,
        rules: [
          {
            id: 'small',
            kinds: ['amount_mismatch'],
            tolerance: { absoluteMinor: '2', percent: '0', base: 'larger', rounding: 'half_up' },
            action: 'write_off',
            writeOffAccount: 'rounding_differences',
          },
        ],
      },
    });
    const c = await start(p.id, D1);
    // Nothing is left for people: the matcher and the rule decided everything, and the cycle
    // waits out the contract's review window, in which a resolver reverses one write-off.
    const review = await waitFor(c, ['AwaitingResolution']);
    expect(review.exceptionsOpen).toBe(0);
    expect(review.beforePeople).toMatchObject({
      reviewMinutes: 1,
      resolvedByRule: { small: rounded.length },
    });
    const reversed = await stack.api(
      `/v1/settlements/${encodeURIComponent(c)}/exceptions/${encodeURIComponent(`amount_mismatch:${rounded[0]!.txId}`)}/resolution`,
      {
        body: { resolution: 'accept_ours', reason: 'checked: ours is right' },
        token: await stack.tokenFor('ana', 'resolver'),
      },
    );
    expect(reversed.status).toBe(200);
    expect((await stack.temporal.workflow.getHandle(c).result()).status).toBe('Completed');
    const all = new Map((await exceptions(c)).map((e) => [e.exceptionId as string, e]));
    expect(all.get(`amount_mismatch:${rounded[0]!.txId}`)).toMatchObject({
      resolution: 'accept_ours',
      actor: 'clearhouse#ana',
    });
    const kept = rounded.slice(1);
    expect(all.get(`missing_theirs:${split.txId}`)).toMatchObject({
      resolution: 'accept_ours',
      actor: 'matcher',
    });
    for (const part of split.parts)
      expect(all.get(`missing_ours:${part.id}`)).toMatchObject({
        resolution: 'accept_ours',
        actor: 'matcher',
      });
    const history = await stack.api(
      `/v1/settlements/${encodeURIComponent(c)}/exceptions/${encodeURIComponent(`missing_theirs:${split.txId}`)}/history`,
    );
    expect(history.body.groups).toEqual([
      expect.objectContaining({
        shape: '1:N',
        confidence: 100,
        decision: 'confirmed',
        evidence: expect.objectContaining({
          fieldsAgreed: expect.arrayContaining(['amount', 'currency', 'time', 'reference']),
          amountDriftMinor: '0',
          referenceAgreement: 'split',
        }),
      }),
    ]);
    const agg = fx.aggregated[0]!;
    expect(all.get(`missing_ours:${agg.id}`)).toMatchObject({ resolution: 'accept_ours', actor: 'matcher' });
    for (const t of agg.txIds) expect(all.get(`missing_theirs:${t}`)).toMatchObject({ actor: 'matcher' });

    // The rounding differences: written off to the named account, one memo entry for them all.
    for (const r of kept)
      expect(all.get(`amount_mismatch:${r.txId}`)).toMatchObject({
        resolution: 'write_off',
        actor: `rule:${p.id}:v1:small`,
      });
    const written = kept.reduce((s, r) => s - r.deltaMinor, 0n); // wins: GGR moves by −delta
    const statement = (await stack.api(`/v1/settlements/${encodeURIComponent(c)}/statement`)).body;
    expect(statement.writtenOff).toEqual([
      { account: 'rounding_differences', amount: (Number(written) / 100).toFixed(2), covers: kept.length },
    ]);
    // Settled on our figure: the write-off moves no GGR.
    expect(statement.revenue.resolutions).toEqual([]);
    const links = await stack.db.pool.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM journal_entry_exceptions WHERE entry_key = $1',
      [`${c}:write-off:rounding_differences`],
    );
    expect(links.rows[0]!.n).toBe(String(kept.length));
    const balance = await stack.db.pool.query<{ code: string }>(
      `SELECT a.code FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
         JOIN ledger_accounts a ON a.id IN (p.debit_account_id, p.credit_account_id)
        WHERE e.idempotency_key = $1 ORDER BY a.code`,
      [`${c}:write-off:rounding_differences`],
    );
    expect(balance.rows.map((r) => r.code)).toEqual([
      `partner:${p.id}:write_off:rounding_differences:EUR`,
      `partner:${p.id}:write_off_offset:EUR`,
    ]);
  }, 180_000);
});
