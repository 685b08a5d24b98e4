import {
  fetchCountedPage,
  REPORT_LIMITS,
  reportCapProblem,
  reportCapsInForce,
  reportLimitProblem,
} from '../providers/types';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultCurrencies } from '../domain/money';
import { aggregatorTotalsAdapter } from '../providers/adapters/aggregator-totals';
import { csvDailyAdapter } from '../providers/adapters/csv-daily';
import { CsvRecords } from '../providers/adapters/csv-records';
import { jsonCursorAdapter } from '../providers/adapters/json-cursor';
import { startAggregatorProvider } from '../providers/simulated/aggregator-server';
import { startCsvDailyProvider } from '../providers/simulated/csv-daily-server';
import type { SimulatedTx } from '../providers/simulated/json-cursor-server';
import { ProviderReportError, type FetchPageParams } from '../providers/types';

// The report adapters against real HTTP servers: amounts read in each currency's own decimals
// (JPY 0, EUR 2, KWD 3), CSV fields that hold commas, quotes and newlines, and a currency no
// one configured refused with a message naming it — never read at a guessed scale.
const DAY = '2026-11-23';
const window = { fromMs: Date.parse(`${DAY}T00:00:00Z`), toMs: Date.parse(`${DAY}T00:00:00Z`) + 86_400_000 };
const params = (baseUrl: string, options: Record<string, unknown> = {}): FetchPageParams => ({
  baseUrl,
  currencies: defaultCurrencies,
  options,
  ...window,
  cursor: null,
});

const tx = (id: string, currency: string, amountMinor: bigint, gameId = 'book-of-sun'): SimulatedTx => ({
  id,
  type: 'bet',
  roundId: `r-${id}`,
  gameId,
  currency,
  amountMinor,
  occurredAtMs: window.fromMs + 3_600_000,
});

/** A provider of our own making that serves exactly `body`. */
async function serve(contentType: string, body: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': contentType }).end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('provider report adapters', () => {
  it('csv-daily reads JPY, EUR and KWD amounts at their own scales and quoted fields intact', async () => {
    const tricky = 'Book, of "Sun"\nDeluxe';
    const txs = [tx('j1', 'JPY', 1500n), tx('e1', 'EUR', 1234n, tricky), tx('k1', 'KWD', 12345n)];
    const provider = await startCsvDailyProvider({ timezone: 'UTC', transactions: txs });
    try {
      const page = await csvDailyAdapter.fetchPage(params(provider.url, { timezone: 'UTC' }));
      expect(page.rows.map((r) => [r.txId, r.currency, r.amountMinor, r.gameId])).toEqual([
        ['e1', 'EUR', 1234n, tricky],
        ['j1', 'JPY', 1500n, 'book-of-sun'],
        ['k1', 'KWD', 12345n, 'book-of-sun'],
      ]);
      // The trailer (in the file's largest scale, 3) agrees with the rows.
      expect(page.fileCheck).toEqual({
        declared: { recordCount: 3, sumMinor: 12340n + 1500000n + 12345n },
        actual: { recordCount: 3, sumMinor: 12340n + 1500000n + 12345n },
      });
    } finally {
      await provider.close();
    }
  });

  it('aggregator-totals reads each currency at its own scale', async () => {
    const provider = await startAggregatorProvider({
      timezone: 'UTC',
      transactions: [tx('j1', 'JPY', 1500n), tx('k1', 'KWD', 12345n)],
    });
    try {
      const page = await aggregatorTotalsAdapter.fetchPage(params(provider.url, { timezone: 'UTC' }));
      expect(page.aggregates?.map((a) => [a.currency, a.betMinor])).toEqual([
        ['JPY', 1500n],
        ['KWD', 12345n],
      ]);
    } finally {
      await provider.close();
    }
  });

  it('refuses a currency no one configured, naming it and where it is, in every format', async () => {
    const csv = await serve(
      'text/csv',
      'transaction_id,type,round_id,game_id,currency,amount,local_time,round_status\n' +
        `x1,bet,r1,g1,XYZ,10.00,${DAY}T01:00:00,completed\nTOTAL,1,10.00\n`,
    );
    const totals = await serve(
      'application/json',
      JSON.stringify({
        page: 1,
        total_pages: 1,
        totals: [{ date: DAY, game: 'g1', currency: 'XYZ', bet_count: 1, bets: '10', wins: '0' }],
      }),
    );
    const cursor = await serve(
      'application/json',
      JSON.stringify({
        items: [
          {
            id: 'x1',
            type: 'bet',
            round_id: 'r1',
            game_id: 'g1',
            currency: 'XYZ',
            amount_minor: '1000',
            occurred_at_ms: window.fromMs,
          },
        ],
        next_cursor: null,
      }),
    );
    try {
      for (const [adapter, url] of [
        [csvDailyAdapter, csv.url],
        [aggregatorTotalsAdapter, totals.url],
        [jsonCursorAdapter, cursor.url],
      ] as const) {
        const err = await adapter.fetchPage(params(url, { timezone: 'UTC' })).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ProviderReportError);
        expect((err as Error).message).toMatch(/unknown currency XYZ: not an ISO 4217 code/);
      }
      await expect(csvDailyAdapter.fetchPage(params(csv.url, { timezone: 'UTC' }))).rejects.toThrow(
        /2026-11-23\.csv row 2/,
      );
    } finally {
      for (const s of [csv, totals, cursor]) await new Promise((r) => s.server.close(r));
    }
  });
});

describe('report limits', () => {
  const row = {
    txId: 't1',
    type: 'bet',
    roundId: 'r1',
    gameId: 'g1',
    currency: 'EUR',
    amountMinor: 1n,
    occurredAt: '2026-11-20T00:00:00.000Z',
  };
  it('ends an endless cursor, an oversized cursor and oversized fields as an unreadable report', () => {
    expect(reportLimitProblem({ rows: [row], nextCursor: 'c' }, REPORT_LIMITS.maxPages)).toBeNull();
    expect(reportLimitProblem({ rows: [row], nextCursor: 'c' }, REPORT_LIMITS.maxPages + 1)).toMatch(
      /more than 10000 pages/,
    );
    expect(reportLimitProblem({ rows: [], nextCursor: 'x'.repeat(2001) }, 1)).toMatch(/cursor is longer/);
    expect(reportLimitProblem({ rows: [{ ...row, gameId: 'g'.repeat(201) }], nextCursor: null }, 3)).toBe(
      'row 0 of page 3: gameId is longer than 200 characters',
    );
  });
});

describe('report caps', () => {
  const deployment = { maxRows: 1000, maxBytes: 4096 };

  it("applies a connection's caps only where they are lower, naming the setting each comes from", () => {
    expect(reportCapsInForce(deployment, null)).toEqual({
      rows: { limit: 1000, setBy: "the deployment's REPORT_MAX_ROWS" },
      bytes: { limit: 4096, setBy: "the deployment's REPORT_MAX_BYTES" },
    });
    expect(reportCapsInForce(deployment, { maxRows: 10, maxBytes: 99_999 })).toEqual({
      rows: { limit: 10, setBy: "the provider connection's limits.maxRows" },
      bytes: { limit: 4096, setBy: "the deployment's REPORT_MAX_BYTES" },
    });
  });

  it('lets a report reach a cap exactly, and names the cap the next page would cross, with its figures', () => {
    const caps = reportCapsInForce(deployment, null);
    expect(reportCapProblem(caps, { rows: 900, bytes: 0 }, { rows: 100, bytes: 4096 })).toBeNull();
    expect(reportCapProblem(caps, { rows: 900, bytes: 0 }, { rows: 101, bytes: 10 })).toBe(
      'report row cap exceeded: the report has more than 1000 rows (900 in the pages stored, the next page ' +
        "brings 101); the cap is set by the deployment's REPORT_MAX_ROWS; nothing beyond it was stored",
    );
    expect(reportCapProblem(caps, { rows: 0, bytes: 4000 }, { rows: 1, bytes: 97 })).toBe(
      'report byte cap exceeded: the report has more than 4096 bytes (4000 in the pages stored, the next page ' +
        "brings 97); the cap is set by the deployment's REPORT_MAX_BYTES; nothing beyond it was stored",
    );
  });

  it("counts the bytes of the provider's answer behind a page, in every format, whatever its characters", async () => {
    const game = 'Jörmungandr €';
    const csv =
      'transaction_id,type,round_id,game_id,currency,amount,local_time,round_status\n' +
      `x1,bet,r1,${game},EUR,10.00,${DAY}T01:00:00,completed\nTOTAL,1,10.00\n`;
    const totals = JSON.stringify({
      page: 1,
      total_pages: 1,
      totals: [{ date: DAY, game, currency: 'EUR', bet_count: 1, bets: '10.00', wins: '0.00' }],
    });
    const cursor = JSON.stringify({
      items: [
        {
          id: 'x1',
          type: 'bet',
          round_id: 'r1',
          game_id: game,
          currency: 'EUR',
          amount_minor: '1000',
          occurred_at_ms: window.fromMs,
        },
      ],
      next_cursor: null,
    });
    const served = [
      { adapter: csvDailyAdapter, body: csv, at: await serve('text/csv; charset=utf-8', csv) },
      { adapter: aggregatorTotalsAdapter, body: totals, at: await serve('application/json', totals) },
      { adapter: jsonCursorAdapter, body: cursor, at: await serve('application/json', cursor) },
    ];
    try {
      for (const { adapter, body, at } of served) {
        const { page, bytes } = await fetchCountedPage(adapter, params(at.url, { timezone: 'UTC' }));
        expect([adapter.format, page.rows.length + (page.aggregates?.length ?? 0)]).toEqual([
          adapter.format,
          1,
        ]);
        expect([adapter.format, bytes]).toEqual([adapter.format, Buffer.byteLength(body)]);
        expect(bytes).toBeGreaterThan(body.length); // bytes, not characters
      }
    } finally {
      for (const { at } of served) await new Promise((r) => at.server.close(r));
    }
  });
});

describe('csv-daily at scale', () => {
  const tricky = [
    'transaction_id,type,round_id,game_id,currency,amount,local_time,round_status',
    'a1,bet,r1,"Book, of ""Sun""",EUR,10.00,2026-11-23 01:00:00,completed',
    '',
    'a2,win,r1,"two\nlines",EUR,1.50,2026-11-23 01:00:01,',
    'a3,bet,r2,Jörmungandr €,EUR,2.00,2026-11-23 01:00:02,open',
    '"a4",bet,r3,"",EUR,3.00,2026-11-23 01:00:03,completed',
    'TOTAL,4,16.50',
  ].join('\n');

  it('reads records split anywhere (mid-field, mid-quote, mid-character) as csv-parse reads the whole', async () => {
    const { parse } = await import('csv-parse/sync');
    const whole: string[][] = parse(tricky, { relax_column_count: true, skip_empty_lines: true });
    const bytes = Buffer.from(tricky);
    for (let cut = 1; cut < bytes.length; cut++) {
      const reader = new CsvRecords('x.csv', 1000);
      const got = [
        ...reader.push(bytes.subarray(0, cut)),
        ...reader.push(bytes.subarray(cut)),
        ...reader.end(),
      ];
      expect([cut, got]).toEqual([cut, whole]);
    }
  });

  it('ends a record at CRLF as at LF', () => {
    const reader = new CsvRecords('x.csv', 1000);
    expect([
      ...reader.push(Buffer.from('a,"b\r\nc"\r\nd,e\r')),
      ...reader.push(Buffer.from('\n')),
      ...reader.end(),
    ]).toEqual([
      ['a', 'b\r\nc'],
      ['d', 'e'],
    ]);
  });

  it('refuses an unclosed quote and an oversized record as an unreadable file', () => {
    const open = new CsvRecords('x.csv', 1000);
    open.push(Buffer.from('a,"never closed\n'));
    expect(() => open.end()).toThrow(/x\.csv is not valid CSV: a quoted field is not closed/);
    const long = new CsvRecords('x.csv', 10);
    expect(() => long.push(Buffer.from('0123456789012345'))).toThrow(/longer than 10 characters/);
  });

  it('streams a day in pages within its file, each with a cursor that resumes after it', async () => {
    const txs = Array.from({ length: 25 }, (_, i) => ({
      ...tx(`s${i}`, i % 3 ? 'EUR' : 'JPY', BigInt(100 + i)),
      occurredAtMs: window.fromMs + 3_600_000 + i * 1000,
    }));
    const provider = await startCsvDailyProvider({ timezone: 'UTC', transactions: txs });
    try {
      const read = async (cursor: string | null) => {
        const out: { ids: string[]; cursor: string | null; check: unknown; bytes: number }[] = [];
        for await (const { page, bytes } of csvDailyAdapter.pages!({
          ...params(provider.url, { timezone: 'UTC' }),
          cursor,
          pageRows: 10,
        })) {
          out.push({
            ids: page.rows.map((r) => r.txId),
            cursor: page.nextCursor,
            check: page.fileCheck,
            bytes,
          });
        }
        return out;
      };
      const all = await read(null);
      // The file's bytes, counted once over its pages (toward the report's byte cap).
      const file = await fetch(`${provider.url}/reports/${DAY}.csv`).then((r) => r.arrayBuffer());
      expect(all.reduce((sum, p) => sum + p.bytes, 0)).toBe(file.byteLength);
      expect(all.map((p) => p.ids.length)).toEqual([10, 10, 5]);
      expect(all.flatMap((p) => p.ids)).toEqual(txs.map((t) => t.id));
      expect(all.at(-1)!.cursor).toBeNull();
      const sum = txs.reduce((s, t) => s + t.amountMinor * (t.currency === 'JPY' ? 100n : 1n), 0n);
      const check = { recordCount: 25, sumMinor: sum };
      expect(all.at(-1)!.check).toEqual({ declared: check, actual: check });
      // Resumed after the first page: the same rows and the same file check as one reading.
      const resumed = await read(all[0]!.cursor);
      expect(resumed.flatMap((p) => p.ids)).toEqual(txs.slice(10).map((t) => t.id));
      expect(resumed.at(-1)!.check).toEqual({ declared: check, actual: check });
      // What the resume read again to skip the stored page is not counted toward the cap twice.
      const counted = all[0]!.bytes + resumed.reduce((n, p) => n + p.bytes, 0);
      expect(counted).toBeLessThanOrEqual(file.byteLength);
    } finally {
      await provider.close();
    }
  });
});
