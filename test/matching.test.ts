import { bookSummary, exceptionHistory, openBook, recordFound, resolveInBook } from '../db/exception-book';
import { applyMatchGroups, matchGroupsOf, recordMatchGroups, unmatchedForMatching } from '../db/matching';
import { registerPartner } from '../db/partners';
import { DEFAULT_MATCH_SETTINGS, matchWithinRounds, type MatchGroup } from '../domain/matching';
import { reconcileTransactions, type OurTx, type ReportedTx } from '../domain/reconciliation';
import { createTestDatabase, uniqueId, type TestDatabase } from './support/env';

// Many-to-many matching against the real Postgres, as the application's role runs it: the
// exceptions reconciliation by id leaves (missing_theirs for ours only, missing_ours for theirs
// only) are read set-based with their transactions, grouped within rounds, stored once, and
// applied to the book: confirmed groups resolved accept_ours by the matcher, a suggested group
// carried by one open suggested_match exception. Running it all again changes nothing.
describe('match groups on real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  const DAY = '2026-11-23';
  const at = (minute: number) => new Date(Date.parse(`${DAY}T10:00:00.000Z`) + minute * 60_000).toISOString();

  /** A cycle with our transactions and the provider's report rows, reconciled by id into its book. */
  async function reconciledCycle(ours: OurTx[], theirs: ReportedTx[]) {
    const app = db.appPool;
    const partnerId = uniqueId('match');
    await registerPartner(app, {
      id: partnerId,
      name: 'Match Partner',
      kind: 'provider',
      timezone: 'UTC',
      settlementCurrency: 'EUR',
    });
    const cycleId = `settlement:${partnerId}:${DAY}`;
    await app.query(
      `INSERT INTO settlement_cycles (id, partner_id, period_start, period_end, status)
       VALUES ($1, $2, $3, $3, 'Reconciling')`,
      [cycleId, partnerId, DAY],
    );
    for (const t of ours)
      await app.query(
        `INSERT INTO game_transactions (partner_id, tx_id, type, round_id, player_id, game_id, amount_minor, currency,
                                        occurred_at, business_date, batch_id, received_at)
         VALUES ($1, $2, $3, $4, 'p1', $5, $6, $7, $8, $9, 'b1', $10)`,
        [
          partnerId,
          t.id,
          t.type,
          t.roundId,
          t.gameId,
          t.amountMinor.toString(),
          t.currency,
          t.occurredAt,
          t.businessDate,
          t.receivedAt,
        ],
      );
    await app.query('SELECT ensure_report_rows_partition($1::date)', [DAY]);
    await app.query(
      `INSERT INTO provider_report_rows (cycle_id, period_start, ord, tx_id, type, round_id, game_id, currency, amount_minor,
                                         occurred_at, business_date)
       SELECT $1, $2, r.ord, r.tx_id, r.type, r.round_id, r.game_id, r.currency, r.amount, r.at, r.day
         FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::timestamptz[], $11::date[])
              AS r(ord, tx_id, type, round_id, game_id, currency, amount, at, day)`,
      [
        cycleId,
        DAY,
        theirs.map((_, i) => i + 1),
        theirs.map((t) => t.id),
        theirs.map((t) => t.type),
        theirs.map((t) => t.roundId),
        theirs.map((t) => t.gameId),
        theirs.map((t) => t.currency),
        theirs.map((t) => t.amountMinor.toString()),
        theirs.map((t) => t.occurredAt),
        theirs.map((t) => t.businessDate),
      ],
    );
    await openBook(app, cycleId, 'run-1');
    const found = reconcileTransactions(ours, theirs, { frozenAt: `${DAY}T23:59:59.999Z` });
    await recordFound(app, cycleId, found);
    return { cycleId, partnerId, found };
  }

  const tx = (
    id: string,
    type: string,
    roundId: string,
    amountMinor: bigint,
    minute: number,
  ): ReportedTx => ({
    id,
    type,
    roundId,
    gameId: 'g1',
    currency: 'EUR',
    amountMinor,
    occurredAt: at(minute),
    businessDate: DAY,
  });
  const our = (id: string, type: string, roundId: string, amountMinor: bigint, minute: number): OurTx => ({
    ...tx(id, type, roundId, amountMinor, minute),
    receivedAt: at(minute + 1),
  });

  const scenario = () => {
    const ours = [
      our('W', 'win', 'R1', 10_000n, 0), // split by the provider into W#1 + W#2
      our('B1', 'bet', 'R2', 300n, 1), // aggregated by the provider into R2:bet
      our('B2', 'bet', 'R2', 700n, 2),
      our('W3', 'win', 'R3', 10_000n, 3), // split with 0.5 % drift: suggested
      our('X', 'bet', 'R4', 500n, 4), // nothing of theirs: stays open
      our('OK', 'bet', 'R5', 100n, 5), // reported as is: no exception
    ];
    const theirs = [
      tx('W#1', 'win', 'R1', 6_000n, 0),
      tx('W#2', 'win', 'R1', 4_000n, 1),
      tx('R2:bet', 'bet', 'R2', 1_000n, 2),
      tx('W3#1', 'win', 'R3', 6_050n, 3),
      tx('W3#2', 'win', 'R3', 4_000n, 3),
      tx('OK', 'bet', 'R5', 100n, 5),
    ];
    return { ours, theirs };
  };

  it('groups a split win and an aggregated round, confirms them, suggests the drifting one; again: nothing', async () => {
    const { ours, theirs } = scenario();
    const { cycleId, found } = await reconciledCycle(ours, theirs);
    expect(found.map((d) => d.id)).toEqual([
      'missing_ours:R2:bet',
      'missing_ours:W#1',
      'missing_ours:W#2',
      'missing_ours:W3#1',
      'missing_ours:W3#2',
      'missing_theirs:B1',
      'missing_theirs:B2',
      'missing_theirs:W',
      'missing_theirs:W3',
      'missing_theirs:X',
    ]);
    const app = db.appPool;

    const unmatched = await unmatchedForMatching(app, cycleId, DEFAULT_MATCH_SETTINGS);
    expect(unmatched).toHaveLength(10);
    expect(unmatched.find((u) => u.exceptionId === 'missing_ours:W#2')).toEqual({
      exceptionId: 'missing_ours:W#2',
      side: 'theirs',
      txId: 'W#2',
      roundId: 'R1',
      gameId: 'g1',
      type: 'win',
      currency: 'EUR',
      amountMinor: 4_000n,
      occurredAtMs: Date.parse(at(1)),
    });
    expect(unmatched.find((u) => u.exceptionId === 'missing_theirs:B1')).toMatchObject({
      side: 'ours',
      txId: 'B1',
      roundId: 'R2',
      type: 'bet',
      amountMinor: 300n,
    });

    const { groups, truncated } = matchWithinRounds(unmatched, DEFAULT_MATCH_SETTINGS);
    expect(truncated).toEqual({ rounds: 0, candidates: 0 });
    const byRound = (r: string) => groups.find((g) => g.evidence.roundId === r)!;
    expect(groups).toHaveLength(3);
    expect(byRound('R1')).toMatchObject({
      shape: '1:N',
      ours: ['missing_theirs:W'],
      theirs: ['missing_ours:W#1', 'missing_ours:W#2'],
      confidence: 100,
      decision: 'confirmed',
      evidence: {
        amountOursMinor: '10000',
        amountTheirsMinor: '10000',
        amountDriftMinor: '0',
        referenceAgreement: 'split',
      },
    });
    expect(byRound('R2')).toMatchObject({
      shape: 'N:1',
      ours: ['missing_theirs:B1', 'missing_theirs:B2'],
      theirs: ['missing_ours:R2:bet'],
      confidence: 100,
      decision: 'confirmed',
      evidence: { referenceAgreement: 'round', timeWindowMs: 60_000 },
    });
    const suggested = byRound('R3');
    expect(suggested).toMatchObject({
      shape: '1:N',
      confidence: 80,
      decision: 'suggested',
      evidence: { amountDriftMinor: '50', fieldsAgreed: ['currency', 'time', 'reference'] },
    });

    const before = await bookSummary(app, cycleId);
    expect(before).toMatchObject({ total: 10, open: 10 });
    const applied = await applyMatchGroups(app, cycleId, groups);
    expect(applied).toMatchObject({ resolved: 6, conflicts: [], suggestions: 1 });
    expect(applied.stored.map((g) => g.groupId)).toEqual(groups.map((g) => g.groupId));

    // The book: confirmed members resolved accept_ours by the matcher; one open suggested_match.
    const { rows } = await app.query<{
      exception_id: string;
      kind: string;
      resolution: string | null;
      operator: string | null;
      actor: string | null;
      difference_minor: string;
    }>(
      `SELECT exception_id, kind, resolution, operator, actor, difference_minor::text
         FROM settlement_exceptions WHERE cycle_id = $1 ORDER BY exception_id`,
      [cycleId],
    );
    const resolved = rows.filter((r) => r.resolution !== null);
    expect(resolved.map((r) => r.exception_id)).toEqual([
      'missing_ours:R2:bet',
      'missing_ours:W#1',
      'missing_ours:W#2',
      'missing_theirs:B1',
      'missing_theirs:B2',
      'missing_theirs:W',
    ]);
    expect(
      resolved.every(
        (r) => r.resolution === 'accept_ours' && r.actor === 'matcher' && r.operator === 'matcher',
      ),
    ).toBe(true);
    const carrier = `suggested_match:${suggested.groupId}`;
    expect(rows.filter((r) => r.resolution === null)).toEqual([
      expect.objectContaining({ exception_id: 'missing_ours:W3#1' }),
      expect.objectContaining({ exception_id: 'missing_ours:W3#2' }),
      expect.objectContaining({ exception_id: 'missing_theirs:W3' }),
      expect.objectContaining({ exception_id: 'missing_theirs:X' }),
      {
        exception_id: carrier,
        kind: 'suggested_match',
        resolution: null,
        operator: null,
        actor: null,
        difference_minor: '50',
      },
    ]);
    const after = await bookSummary(app, cycleId);
    expect(after).toMatchObject({ total: 11, open: 5 });
    expect(await exceptionHistory(app, cycleId, 'missing_theirs:W')).toEqual([
      expect.objectContaining({ event: 'found', actor: 'reconciliation' }),
      expect.objectContaining({ event: 'resolved', resolution: 'accept_ours', actor: 'matcher' }),
    ]);

    // The history route: the groups of a member, and the group a suggested_match carries.
    const ofMember = await matchGroupsOf(app, cycleId, 'missing_theirs:W3');
    expect(ofMember).toEqual([
      {
        generation: 1,
        groupId: suggested.groupId,
        shape: '1:N',
        confidence: 80,
        decision: 'suggested',
        state: 'suggested',
        evidence: suggested.evidence,
        exceptionId: carrier,
        createdAt: expect.any(String),
        members: [
          { exceptionId: 'missing_theirs:W3', side: 'ours' },
          { exceptionId: 'missing_ours:W3#1', side: 'theirs' },
          { exceptionId: 'missing_ours:W3#2', side: 'theirs' },
        ],
      },
    ]);
    expect(await matchGroupsOf(app, cycleId, carrier)).toEqual(ofMember);
    expect((await matchGroupsOf(app, cycleId, 'missing_theirs:W'))[0]).toMatchObject({
      groupId: byRound('R1').groupId,
      state: 'confirmed',
      exceptionId: null,
    });
    expect(await matchGroupsOf(app, cycleId, 'missing_theirs:X')).toEqual([]);

    // Again, as a replayed or re-run activity would: nothing new, the book's version unchanged.
    const again = await unmatchedForMatching(app, cycleId, DEFAULT_MATCH_SETTINGS);
    expect(again.map((u) => u.exceptionId)).toEqual(['missing_theirs:X']);
    const rerun = matchWithinRounds(again, DEFAULT_MATCH_SETTINGS);
    expect(rerun.groups).toEqual([]);
    expect(await applyMatchGroups(app, cycleId, rerun.groups)).toEqual({
      stored: [],
      resolved: 0,
      conflicts: [],
      suggestions: 0,
    });
    // The very same groups once more (a retried activity that held them): stored already, applied already.
    const retried = await applyMatchGroups(app, cycleId, groups);
    expect(retried).toMatchObject({ resolved: 0, conflicts: [], suggestions: 0 });
    expect(retried.stored).toHaveLength(3);
    expect(await bookSummary(app, cycleId)).toEqual(after);
    const counts = await app.query<{ groups: number; members: number }>(
      `SELECT (SELECT count(*)::int FROM match_groups WHERE cycle_id = $1) AS groups,
              (SELECT count(*)::int FROM match_group_members WHERE cycle_id = $1) AS members`,
      [cycleId],
    );
    expect(counts.rows[0]).toEqual({ groups: 3, members: 9 });
  });

  it('finishes what an interrupted attempt stored, never puts a member in two groups, never half a group', async () => {
    const { ours, theirs } = scenario();
    const { cycleId } = await reconciledCycle(ours, theirs);
    const app = db.appPool;
    const { groups } = matchWithinRounds(
      await unmatchedForMatching(app, cycleId, DEFAULT_MATCH_SETTINGS),
      DEFAULT_MATCH_SETTINGS,
    );
    // Stored, then the attempt died before applying them.
    expect(await recordMatchGroups(app, cycleId, groups)).toHaveLength(3);
    // A different group claiming an already grouped member is refused.
    const w = groups.find((g) => g.evidence.roundId === 'R1')!;
    const rival: MatchGroup = {
      ...w,
      groupId: 'mg_00000000000000000000000000000000',
      theirs: ['missing_ours:W#1'],
    };
    expect(await recordMatchGroups(app, cycleId, [rival])).toEqual([]);
    // The retry matches nothing new (everything is grouped but X) and applies what was stored.
    const retry = matchWithinRounds(
      await unmatchedForMatching(app, cycleId, DEFAULT_MATCH_SETTINGS),
      DEFAULT_MATCH_SETTINGS,
    );
    expect(retry.groups).toEqual([]);
    // Meanwhile a person decided one member of the split win: that group is left whole, as a conflict.
    const person = await resolveInBook(app, cycleId, {
      items: [
        {
          exceptionId: 'missing_ours:W#1',
          resolution: 'accept_theirs',
          amountMinor: null,
          reason: 'checked',
        },
      ],
      actor: null,
      name: 'ana',
      updateId: 'u-ana',
      audit: null,
    });
    expect(person.applied).toBe(1);
    expect(await applyMatchGroups(app, cycleId, retry.groups)).toEqual({
      stored: [],
      resolved: 3,
      conflicts: [{ groupId: w.groupId, reason: '1 of its 3 members were resolved by someone else' }],
      suggestions: 1,
    });
    expect(await bookSummary(app, cycleId)).toMatchObject({ total: 11, open: 7 });
    const open = await app.query<{ exception_id: string }>(
      `SELECT exception_id FROM settlement_exceptions WHERE cycle_id = $1 AND resolved_at IS NULL
          AND exception_id IN ('missing_theirs:W', 'missing_ours:W#2')`,
      [cycleId],
    );
    expect(open.rows).toHaveLength(2);
  });

  it('bounds what it reads by the cycle limit, and says so through the matcher', async () => {
    const { ours, theirs } = scenario();
    const { cycleId } = await reconciledCycle(ours, theirs);
    const limits = { ...DEFAULT_MATCH_SETTINGS, maxCandidatesPerCycle: 4 };
    const read = await unmatchedForMatching(db.appPool, cycleId, limits);
    // Whole rounds in (game, round) order, one row past the limit.
    expect(read.map((u) => u.exceptionId)).toEqual([
      'missing_ours:W#1',
      'missing_ours:W#2',
      'missing_theirs:W',
      'missing_ours:R2:bet',
      'missing_theirs:B1',
    ]);
    const { groups, truncated } = matchWithinRounds(read, limits);
    expect(groups.map((g) => g.evidence.roundId)).toEqual(['R1']);
    expect(truncated).toEqual({ rounds: 1, candidates: 2 });
  });

  it('the application may not delete groups or rewrite their members', async () => {
    await expect(db.appPool.query('DELETE FROM match_groups')).rejects.toMatchObject({ code: '42501' });
    await expect(db.appPool.query("UPDATE match_group_members SET side = 'ours'")).rejects.toMatchObject({
      code: '42501',
    });
  });
});
