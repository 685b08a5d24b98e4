import { createServer, type Server } from 'node:http';
import { stringify } from 'csv-stringify/sync';
import { defaultCurrencies, formatAmount } from '../../domain/money';
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
    // Amounts in each currency's decimals; the trailer's sum in the file's largest scale.
    const scaleOf = (c: string) => defaultCurrencies.requireScale(c);
    const fileScale = Math.max(0, ...rows.map((r) => scaleOf(r.currency)));
    const sum =
      rows.reduce((s, r) => s + r.amountMinor * 10n ** BigInt(fileScale - scaleOf(r.currency)), 0n) +
      (faults.wrongControlTotals ? 100n : 0n);
    const csv = stringify([
      ['transaction_id', 'type', 'round_id', 'game_id', 'currency', 'amount', 'local_time', 'round_status'],
      ...rows.map((r) => [
        r.id,
        r.type,
        r.roundId,
        r.gameId,
        r.currency,
        formatAmount(r.amountMinor, scaleOf(r.currency)),
        utcMsToLocal(r.occurredAtMs, opts.timezone),
        r.roundStatus ?? '',
      ]),
      ['TOTAL', String(rows.length + (faults.wrongControlTotals ? 1 : 0)), formatAmount(sum, fileScale)],
    ]);
    send(200, csv);
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
