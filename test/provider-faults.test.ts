import { parse } from 'csv-parse/sync';
import { defaultCurrencies, parseAmount } from '../domain/money';
import { localToUtcMs } from '../providers/timezone';
import { startCsvDailyProvider } from '../providers/simulated/csv-daily-server';
import { generateDay } from '../providers/simulated/generator';
import {
  startJsonCursorProvider,
  type Faults,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { volumeFaultEffects } from '../providers/simulated/planted';

// The volume faults of the simulated providers, read over the wire as an adapter reads them:
// wins rounded the provider's own way, rounds just before midnight dated the next day (and so
// in the next day's report), wins split into several rows, a round's bets reported as one
// total — each chosen deterministically, each listed by the oracle (volumeFaultEffects), and
// the explicit faults (missing, altered, duplicated) served exactly as before.

const ZONE = 'Europe/Berlin';
const DAY = '2026-11-23';
const PREV = '2026-11-22';
const NEXT = '2026-11-24';
/** A local time in Berlin (CET, UTC+1 in November) → epoch ms. */
const berlin = (day: string, time: string) => localToUtcMs(`${day} ${time}`, ZONE);
/** A business day in Berlin as the window the adapter asks for. */
const windowOf = (day: string) => ({
  fromMs: berlin(day, '00:00:00'),
  toMs: berlin(nextDay(day), '00:00:00'),
});
const nextDay = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

interface Row {
  id: string;
  type: string;
  roundId: string;
  gameId: string;
  currency: string;
  amountMinor: bigint;
  occurredAtMs: number;
}

const tx = (
  id: string,
  type: string,
  amountMinor: bigint,
  occurredAtMs: number,
  over: Partial<SimulatedTx> = {},
) =>
  ({
    id,
    type,
    roundId: `r-${id}`,
    gameId: 'g1',
    currency: 'EUR',
    amountMinor,
    occurredAtMs,
    ...over,
  }) satisfies Row;

/** Every page of a json-cursor report window (small pages, to cross page boundaries). */
async function jsonReport(url: string, w: { fromMs: number; toMs: number }, limit = 3) {
  const rows: Row[] = [];
  let cursor: string | null = null;
  let control: { record_count: number; sum_minor: string } | undefined;
  do {
    const u = new URL('/report', url);
    u.searchParams.set('from_ms', String(w.fromMs));
    u.searchParams.set('to_ms', String(w.toMs));
    u.searchParams.set('limit', String(limit));
    if (cursor) u.searchParams.set('cursor', cursor);
    const res = await fetch(u);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      items: {
        id: string;
        type: string;
        round_id: string;
        game_id: string;
        currency: string;
        amount_minor: string;
        occurred_at_ms: number;
      }[];
      next_cursor: string | null;
      control?: { record_count: number; sum_minor: string };
    };
    rows.push(
      ...body.items.map((i) => ({
        id: i.id,
        type: i.type,
        roundId: i.round_id,
        gameId: i.game_id,
        currency: i.currency,
        amountMinor: BigInt(i.amount_minor),
        occurredAtMs: i.occurred_at_ms,
      })),
    );
    cursor = body.next_cursor;
    control = body.control;
  } while (cursor);
  // The control totals still agree with the rows served.
  expect(control).toEqual({
    record_count: rows.length,
    sum_minor: rows.reduce((s, r) => s + r.amountMinor, 0n).toString(),
  });
  return rows;
}

/** One day's CSV file of a csv-daily provider, its times read back in the provider's zone. */
async function csvReport(url: string, day: string, zone: string) {
  const res = await fetch(`${url}/reports/${day}.csv`);
  expect(res.status).toBe(200);
  const records: string[][] = parse(await res.text(), { relax_column_count: true });
  const trailer = records.pop()!;
  const minor = (amount: string, currency: string) => {
    const r = parseAmount(amount, defaultCurrencies.requireScale(currency), { allowZero: true });
    if (!r.ok) throw new Error(`bad amount ${amount}: ${r.message}`);
    return r.minor;
  };
  const rows: Row[] = records.slice(1).map(([id, type, roundId, gameId, currency, amount, localTime]) => ({
    id: id!,
    type: type!,
    roundId: roundId!,
    gameId: gameId!,
    currency: currency!,
    amountMinor: minor(amount!, currency!),
    occurredAtMs: localToUtcMs(localTime!, zone),
  }));
  expect(trailer.slice(0, 2)).toEqual(['TOTAL', String(rows.length)]);
  expect(minor(trailer[2]!, 'EUR')).toBe(rows.reduce((s, r) => s + r.amountMinor, 0n));
  return rows;
}

const view = (rows: Row[]) => rows.map((r) => [r.id, r.amountMinor, r.occurredAtMs]);

describe('simulated provider volume faults', () => {
  let json: SimulatedProvider;
  let csv: SimulatedProvider;
  beforeAll(async () => {
    json = await startJsonCursorProvider();
    csv = await startCsvDailyProvider({ timezone: ZONE });
  });
  afterAll(async () => {
    await json?.close();
    await csv?.close();
  });
  const serve = (txs: SimulatedTx[], faults: Faults) => {
    for (const p of [json, csv]) {
      p.setTransactions(txs);
      p.setFaults(faults);
    }
  };

  it('dates rounds just before the partner midnight into the next day, in that day’s window', async () => {
    const txs = [
      tx('a', 'bet', 100n, berlin(DAY, '12:00:00')),
      tx('b', 'bet', 200n, berlin(DAY, '23:44:59')), // 15 min 1 s before midnight: not late
      tx('c', 'bet', 300n, berlin(DAY, '23:45:00')), // exactly 15 min before: late
      tx('d', 'win', 400n, berlin(DAY, '23:59:59')),
      tx('e', 'bet', 500n, berlin(PREV, '23:50:00')), // late the day before: lands in DAY
      tx('f', 'bet', 600n, berlin(NEXT, '00:01:00')),
    ];
    const faults: Faults = {
      lateRoundsAfterMidnight: { withinMinutes: 15, shiftMinutes: 20, timezone: ZONE },
    };
    serve(txs, faults);
    const min = 60_000;
    const expectedDay = [
      ['e', 500n, berlin(DAY, '00:10:00')],
      ['a', 100n, berlin(DAY, '12:00:00')],
      ['b', 200n, berlin(DAY, '23:44:59')],
    ];
    const expectedNext = [
      ['f', 600n, berlin(NEXT, '00:01:00')],
      ['c', 300n, berlin(NEXT, '00:05:00')],
      ['d', 400n, berlin(NEXT, '00:19:59')],
    ];
    expect(view(await jsonReport(json.url, windowOf(DAY)))).toEqual(expectedDay);
    expect(view(await jsonReport(json.url, windowOf(NEXT)))).toEqual(expectedNext);
    expect(view(await csvReport(csv.url, DAY, ZONE))).toEqual(expectedDay);
    expect(view(await csvReport(csv.url, NEXT, ZONE))).toEqual(expectedNext);
    // e is gone from the day before.
    expect(await jsonReport(json.url, windowOf(PREV))).toEqual([]);

    expect(volumeFaultEffects(txs, faults).shifted).toEqual([
      {
        txId: 'c',
        oursAtMs: txs[2]!.occurredAtMs,
        reportedAtMs: txs[2]!.occurredAtMs + 20 * min,
        oursDay: DAY,
        reportedDay: NEXT,
      },
      {
        txId: 'd',
        oursAtMs: txs[3]!.occurredAtMs,
        reportedAtMs: txs[3]!.occurredAtMs + 20 * min,
        oursDay: DAY,
        reportedDay: NEXT,
      },
      {
        txId: 'e',
        oursAtMs: txs[4]!.occurredAtMs,
        reportedAtMs: txs[4]!.occurredAtMs + 20 * min,
        oursDay: PREV,
        reportedDay: DAY,
      },
    ]);

    // Business days in UTC (the default) end an hour later than Berlin's: c and d (22:45 and
    // 22:59:59 UTC) are not late there, and a row 5 minutes before UTC midnight is.
    const utc = [...txs, tx('g', 'bet', 700n, Date.parse(`${DAY}T23:55:00Z`))];
    const utcFaults: Faults = { lateRoundsAfterMidnight: { withinMinutes: 15, shiftMinutes: 20 } };
    expect(volumeFaultEffects(utc, utcFaults).shifted.map((s) => [s.txId, s.reportedDay])).toEqual([
      ['g', NEXT],
    ]);
  });

  it('splits wins into <id>#1..#n rows that sum exactly to ours, the remainder on the last', async () => {
    const at = berlin(DAY, '10:00:00');
    const txs = [
      tx('w1', 'win', 1000n, at),
      tx('w2', 'win', 1001n, at + 1000),
      tx('w3', 'win', 2n, at + 2000), // fewer minor units than parts: not split
      tx('b1', 'bet', 1000n, at + 3000), // bets are never split
    ];
    const faults: Faults = { splitWins: { everyNth: 1, parts: 3 } };
    serve(txs, faults);
    const part = (id: string, amountMinor: bigint, ms: number) => ({
      id,
      type: 'win',
      roundId: `r-${id.split('#')[0]}`,
      gameId: 'g1',
      currency: 'EUR',
      amountMinor,
      occurredAtMs: ms,
    });
    const expected = [
      part('w1#1', 333n, at),
      part('w1#2', 333n, at),
      part('w1#3', 334n, at),
      part('w2#1', 333n, at + 1000),
      part('w2#2', 333n, at + 1000),
      part('w2#3', 335n, at + 1000),
      txs[2],
      txs[3],
    ];
    expect(await jsonReport(json.url, windowOf(DAY))).toEqual(expected);
    expect(await csvReport(csv.url, DAY, ZONE)).toEqual(expected);
    expect(volumeFaultEffects(txs, faults).split).toEqual([
      {
        txId: 'w1',
        oursMinor: 1000n,
        reportedAtMs: at,
        parts: [
          { id: 'w1#1', amountMinor: 333n },
          { id: 'w1#2', amountMinor: 333n },
          { id: 'w1#3', amountMinor: 334n },
        ],
      },
      {
        txId: 'w2',
        oursMinor: 1001n,
        reportedAtMs: at + 1000,
        parts: [
          { id: 'w2#1', amountMinor: 333n },
          { id: 'w2#2', amountMinor: 333n },
          { id: 'w2#3', amountMinor: 335n },
        ],
      },
    ]);
  });

  it('rounds wins its own way: ±1..deltaMinor, never equal, never below zero, bets untouched', async () => {
    const txs = generateDay('round', DAY, 400);
    txs.push(tx('zero', 'win', 0n, berlin(DAY, '09:00:00')), tx('one', 'win', 1n, berlin(DAY, '09:00:01')));
    const faults: Faults = { roundOwnWay: { everyNth: 1, deltaMinor: 3n } };
    serve(txs, faults);
    const served = new Map((await jsonReport(json.url, windowOf(DAY))).map((r) => [r.id, r]));
    expect(served.size).toBe(txs.length);
    const deltas = new Set<bigint>();
    for (const t of txs) {
      const theirs = served.get(t.id)!.amountMinor;
      if (t.type !== 'win' || t.amountMinor === 0n) {
        expect([t.id, theirs]).toEqual([t.id, t.amountMinor]);
        continue;
      }
      const delta = theirs - t.amountMinor;
      expect(delta !== 0n && delta >= -3n && delta <= 3n && theirs >= 0n).toBe(true);
      deltas.add(delta);
    }
    // Every size and both signs occur over a few hundred wins.
    expect([...deltas].sort((a, b) => (a < b ? -1 : 1))).toEqual([-3n, -2n, -1n, 1n, 2n, 3n]);
    // The oracle names every rounded win with exactly the served amount.
    const rounded = volumeFaultEffects(txs, faults).rounded;
    expect(rounded.length).toBe(txs.filter((t) => t.type === 'win' && t.amountMinor > 0n).length);
    for (const r of rounded) {
      expect(served.get(r.txId)!.amountMinor).toBe(r.theirsMinor);
      expect(r.theirsMinor - r.oursMinor).toBe(r.deltaMinor);
    }
    // The csv file serves the same amounts.
    const fromCsv = new Map((await csvReport(csv.url, DAY, ZONE)).map((r) => [r.id, r.amountMinor]));
    expect(fromCsv).toEqual(new Map([...served].map(([id, r]) => [id, r.amountMinor])));

    // One in four, by hash of the id: about a quarter of the wins, the same ones every time
    // and whatever the list's order or extent.
    const quarter: Faults = { roundOwnWay: { everyNth: 4, deltaMinor: 2n } };
    const some = volumeFaultEffects(txs, quarter).rounded;
    const wins = rounded.length;
    expect(some.length).toBeGreaterThan(wins * 0.15);
    expect(some.length).toBeLessThan(wins * 0.35);
    expect(
      volumeFaultEffects([...txs].reverse(), quarter)
        .rounded.map((r) => r.txId)
        .sort(),
    ).toEqual(some.map((r) => r.txId).sort());
    expect(volumeFaultEffects(txs.slice(0, 100), quarter).rounded).toEqual(
      some.filter((r) => txs.slice(0, 100).some((t) => t.id === r.txId)),
    );
  });

  it('reports a round’s several bets as one <roundId>:<type> row with their sum', async () => {
    const at = berlin(DAY, '15:00:00');
    const txs = [
      tx('b1', 'bet', 100n, at, { roundId: 'r1' }),
      tx('b2', 'bet', 200n, at + 1000, { roundId: 'r1' }),
      tx('b3', 'bet', 300n, at + 2000, { roundId: 'r1' }),
      tx('w1', 'win', 50n, at + 3000, { roundId: 'r1' }), // a single win: as it is
      tx('x1', 'bet', 10n, at + 4000, { roundId: 'r2' }),
      tx('x2', 'bet', 20n, at + 5000, { roundId: 'r2', currency: 'USD' }), // two currencies: as they are
      tx('y1', 'win', 7n, at + 6000, { roundId: 'r3' }),
      tx('y2', 'win', 8n, at + 7000, { roundId: 'r3' }),
    ];
    const faults: Faults = { aggregateRounds: { everyNth: 1 } };
    serve(txs, faults);
    const rows = await jsonReport(json.url, windowOf(DAY));
    expect(view(rows)).toEqual([
      ['r1:bet', 600n, at + 2000],
      ['w1', 50n, at + 3000],
      ['x1', 10n, at + 4000],
      ['x2', 20n, at + 5000],
      ['r3:win', 15n, at + 7000],
    ]);
    expect(rows[0]).toMatchObject({ type: 'bet', roundId: 'r1', gameId: 'g1', currency: 'EUR' });
    expect(volumeFaultEffects(txs, faults).aggregated).toEqual([
      {
        id: 'r1:bet',
        roundId: 'r1',
        type: 'bet',
        txIds: ['b1', 'b2', 'b3'],
        amountMinor: 600n,
        reportedAtMs: at + 2000,
      },
      {
        id: 'r3:win',
        roundId: 'r3',
        type: 'win',
        txIds: ['y1', 'y2'],
        amountMinor: 15n,
        reportedAtMs: at + 7000,
      },
    ]);
  });

  it('leaves the explicit faults as they were and applies one amount effect per transaction', async () => {
    const at = berlin(DAY, '08:00:00');
    const txs = [
      tx('alt', 'win', 1000n, at),
      tx('dup', 'win', 1000n, at + 1000),
      tx('gone', 'win', 1000n, at + 2000),
      tx('both', 'win', 1000n, at + 3000), // chosen for split and rounding: split only
      tx('late', 'win', 900n, berlin(DAY, '23:58:00')), // split and late: parts dated next day
    ];
    const faults: Faults = {
      altered: { alt: 1234n },
      duplicated: ['dup'],
      missing: ['gone'],
      extra: [tx('ext', 'bet', 5n, at + 4000)],
      splitWins: { everyNth: 1, parts: 2 },
      roundOwnWay: { everyNth: 1, deltaMinor: 5n },
      lateRoundsAfterMidnight: { withinMinutes: 5, shiftMinutes: 10, timezone: ZONE },
    };
    serve(txs, faults);
    const lateAt = berlin(NEXT, '00:08:00');
    for (const [day, rows] of [
      [DAY, await jsonReport(json.url, windowOf(DAY))],
      [NEXT, await jsonReport(json.url, windowOf(NEXT))],
      [DAY, await csvReport(csv.url, DAY, ZONE)],
      [NEXT, await csvReport(csv.url, NEXT, ZONE)],
    ] as const) {
      expect(view(rows)).toEqual(
        day === DAY
          ? [
              ['alt', 1234n, at],
              ['dup', 1000n, at + 1000],
              ['dup', 1000n, at + 1000],
              ['both#1', 500n, at + 3000],
              ['both#2', 500n, at + 3000],
              ['ext', 5n, at + 4000],
            ]
          : [
              ['late#1', 450n, lateAt],
              ['late#2', 450n, lateAt],
            ],
      );
    }
    const effects = volumeFaultEffects(txs, faults);
    expect(effects.rounded).toEqual([]);
    expect(effects.split.map((s) => [s.txId, s.reportedAtMs])).toEqual([
      ['both', at + 3000],
      ['late', lateAt],
    ]);
    expect(effects.shifted.map((s) => [s.txId, s.reportedAtMs, s.reportedDay])).toEqual([
      ['late', lateAt, NEXT],
    ]);
  });

  it('conserves money and rows across days on generated volume, every mode at once', async () => {
    // Two days of generated transactions, a tenth of them moved into the last 10 minutes of
    // their (UTC) day.
    const txs = [PREV, DAY]
      .flatMap((day) => generateDay('vol', day, 1500).map((t) => ({ ...t, roundId: `${day}-${t.roundId}` })))
      .map((t, i) =>
        i % 10 === 0
          ? {
              ...t,
              occurredAtMs:
                Date.parse(`${new Date(t.occurredAtMs).toISOString().slice(0, 10)}T23:50:00Z`) + i,
            }
          : t,
      );
    const faults: Faults = {
      roundOwnWay: { everyNth: 7, deltaMinor: 2n },
      lateRoundsAfterMidnight: { withinMinutes: 10, shiftMinutes: 15 },
      splitWins: { everyNth: 11, parts: 3 },
      aggregateRounds: { everyNth: 5 },
    };
    json.setTransactions(txs);
    json.setFaults(faults);
    const utcDay = (day: string) => ({
      fromMs: Date.parse(`${day}T00:00:00Z`),
      toMs: Date.parse(`${day}T00:00:00Z`) + 86_400_000,
    });
    const byDay = new Map<string, Row[]>();
    for (const day of [PREV, DAY, NEXT]) byDay.set(day, await jsonReport(json.url, utcDay(day), 500));
    const all = [...byDay.values()].flat();
    const e = volumeFaultEffects(txs, faults);
    for (const list of [e.rounded, e.shifted, e.split, e.aggregated]) expect(list.length).toBeGreaterThan(0);

    // Money: theirs = ours + the rounding deltas; splits and aggregates move none.
    const sum = (rows: { amountMinor: bigint }[]) => rows.reduce((s, r) => s + r.amountMinor, 0n);
    expect(sum(all)).toBe(sum(txs) + e.rounded.reduce((s, r) => s + r.deltaMinor, 0n));
    // Rows: one per ours, plus the extra parts, less the members folded into aggregates.
    const folded = e.aggregated.reduce((s, a) => s + a.txIds.length - 1, 0);
    const extraParts = e.split.reduce((s, x) => s + x.parts.length - 1, 0);
    expect(all.length).toBe(txs.length + extraParts - folded);
    // Every id the oracle names is served where it says, with the amount it says.
    const served = new Map(all.map((r) => [r.id, r]));
    expect(served.size).toBe(all.length);
    for (const r of e.rounded) expect(served.get(r.txId)!.amountMinor).toBe(r.theirsMinor);
    for (const s of e.split) {
      expect(served.has(s.txId)).toBe(false);
      for (const p of s.parts)
        expect(served.get(p.id)).toMatchObject({ amountMinor: p.amountMinor, occurredAtMs: s.reportedAtMs });
    }
    for (const a of e.aggregated) {
      expect(served.get(a.id)).toMatchObject({ amountMinor: a.amountMinor, occurredAtMs: a.reportedAtMs });
      for (const id of a.txIds) expect(served.has(id)).toBe(false);
    }
    for (const s of e.shifted) {
      expect(s.reportedDay).toBe(nextDay(s.oursDay));
      const day = byDay.get(s.reportedDay)!;
      const row = day.find((r) => r.id === s.txId || r.id === `${s.txId}#1`);
      expect(row?.occurredAtMs).toBe(s.reportedAtMs);
      expect(byDay.get(s.oursDay)!.some((r) => r.id === s.txId || r.id.startsWith(`${s.txId}#`))).toBe(false);
    }
    // Only the late ones moved: every shifted transaction was in the last 10 minutes.
    expect(e.shifted.every((s) => s.reportedAtMs - s.oursAtMs === 15 * 60_000)).toBe(true);
  });

  it('refuses volume faults it cannot serve', () => {
    expect(() => json.setFaults({ splitWins: { everyNth: 1, parts: 1 } })).toThrow(/splitWins.parts/);
    expect(() => json.setFaults({ roundOwnWay: { everyNth: 0, deltaMinor: 1n } })).toThrow(
      /roundOwnWay.everyNth/,
    );
    expect(() =>
      csv.setFaults({
        lateRoundsAfterMidnight: { withinMinutes: 5, shiftMinutes: 5, timezone: 'Mars/Olympus' },
      }),
    ).toThrow(/timezone/);
  });
});
