import { createServer, type Server } from 'node:http';
import { formatAmount } from '../../domain/money';
import { localDay, utcMsToLocal } from '../timezone';
import { listenSimulated, reportedRows, transportFault } from './faults';
import type { Faults, SimulatedProvider, SimulatedTx } from './json-cursor-server';

// Format (b): one CSV file per day in the provider's own timezone, decimal amounts, local
// times, and a control-total trailer: TOTAL,<record count>,<sum of amounts>.
//   GET /reports/2026-11-23.csv
export async function startCsvDailyProvider(opts: {
  timezone: string;
  transactions?: SimulatedTx[];
  faults?: Faults;
  port?: number;
}): Promise<SimulatedProvider> {
  let txs = opts.transactions ?? [];
  let faults: Faults = opts.faults ?? {};
  const state = { requests: 0 };
  const csvCell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

  const server: Server = createServer((req, res) => {
    state.requests++;
    const m = /^\/reports\/(\d{4}-\d{2}-\d{2})\.csv$/.exec(
      new URL(req.url ?? '/', 'http://provider').pathname,
    );
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      const go = () => {
        res.writeHead(status, { 'content-type': 'text/csv; charset=utf-8', ...headers });
        res.end(body);
      };
      if (faults.latencyMs) setTimeout(go, faults.latencyMs);
      else go();
    };
    if (!m) return send(404, 'not found\n');
    const fault = transportFault(faults);
    if (fault) return send(fault.status, 'try again later\n', fault.headers);
    const rows = reportedRows(txs, faults, (t) => localDay(t.occurredAtMs, opts.timezone) === m[1]);
    const sum = rows.reduce((s, r) => s + r.amountMinor, 0n) + (faults.wrongControlTotals ? 100n : 0n);
    const lines = [
      'transaction_id,type,round_id,game_id,currency,amount,local_time,round_status',
      ...rows.map((r) =>
        [
          r.id,
          r.type,
          r.roundId,
          r.gameId,
          r.currency,
          formatAmount(r.amountMinor, 2),
          utcMsToLocal(r.occurredAtMs, opts.timezone),
          r.roundStatus ?? '',
        ]
          .map(csvCell)
          .join(','),
      ),
      `TOTAL,${rows.length + (faults.wrongControlTotals ? 1 : 0)},${formatAmount(sum, 2)}`,
    ];
    send(200, `${lines.join('\n')}\n`);
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
