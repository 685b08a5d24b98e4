import { createServer, type Server } from 'node:http';
import { defaultCurrencies, formatAmount } from '../../domain/money';
import { localDay } from '../timezone';
import { listenSimulated, reportedRows, transportFault } from './faults';
import { checkVolumeFaults } from './volume-faults';
import type { Faults, SimulatedProvider, SimulatedTx } from './json-cursor-server';

// Format (c): an aggregator API with totals per day, game and currency, page-number
// pagination and rate limits (429 + Retry-After via faults.rateLimitNext).
//   GET /v2/totals?from=YYYY-MM-DD&to=YYYY-MM-DD&page=N
const PAGE_SIZE = 10;

export async function startAggregatorProvider(opts: {
  timezone: string;
  transactions?: SimulatedTx[];
  faults?: Faults;
  port?: number;
}): Promise<SimulatedProvider> {
  let txs = opts.transactions ?? [];
  let faults: Faults = opts.faults ?? {};
  checkVolumeFaults(faults);
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    const url = new URL(req.url ?? '/', 'http://aggregator');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/v2/totals') return send(404, { error: 'not found' });
    const fault = transportFault(faults);
    if (fault)
      return send(
        fault.status,
        { error: fault.status === 429 ? 'rate limited' : 'unavailable' },
        fault.headers,
      );
    const from = url.searchParams.get('from') ?? '';
    const to = url.searchParams.get('to') ?? '';
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
    const totals = new Map<
      string,
      { date: string; game: string; currency: string; bet_count: number; bets: bigint; wins: bigint }
    >();
    for (const t of reportedRows(txs, faults, (x) => {
      const d = localDay(x.occurredAtMs, opts.timezone);
      return d >= from && d <= to;
    })) {
      const date = localDay(t.occurredAtMs, opts.timezone);
      const key = `${date}|${t.gameId}|${t.currency}`;
      const agg = totals.get(key) ?? {
        date,
        game: t.gameId,
        currency: t.currency,
        bet_count: 0,
        bets: 0n,
        wins: 0n,
      };
      if (t.type === 'bet') {
        agg.bet_count++;
        agg.bets += t.amountMinor;
      } else if (t.type === 'win') agg.wins += t.amountMinor;
      totals.set(key, agg);
    }
    const all = [...totals.values()].sort((a, b) =>
      `${a.date}${a.game}${a.currency}` < `${b.date}${b.game}${b.currency}` ? -1 : 1,
    );
    send(200, {
      page,
      total_pages: Math.ceil(all.length / PAGE_SIZE),
      totals: all.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE).map((a) => {
        const scale = defaultCurrencies.requireScale(a.currency);
        return { ...a, bets: formatAmount(a.bets, scale), wins: formatAmount(a.wins, scale) };
      }),
    });
  });
  return listenSimulated(server, opts.port, {
    requests: () => state.requests,
    setTransactions: (t) => {
      txs = t;
    },
    setFaults: (f) => {
      faults = f;
    },
  });
}
