import { createServer, type Server } from 'node:http';
import { stringify } from 'csv-stringify/sync';
import { defaultCurrencies, formatAmount } from '../../domain/money';
import { localDay, utcMsToLocal } from '../timezone';
import { listenSimulated, reportedRows, transportFault } from './faults';
import { checkVolumeFaults } from './volume-faults';
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
  checkVolumeFaults(faults);
  const state = { requests: 0 };

  // Files built in advance by prepare(), by day; forgotten when the data changes.
  let files = new Map<string, Buffer>();
  const fileOf = (day: string): Buffer => {
    const built = files.get(day);
    if (built) return built;
    const rows = reportedRows(txs, faults, (t) => localDay(t.occurredAtMs, opts.timezone) === day);
    // Amounts in each currency's decimals; the trailer's sum in the file's largest scale.
    const scaleOf = (c: string) => defaultCurrencies.requireScale(c);
    const fileScale = Math.max(0, ...rows.map((r) => scaleOf(r.currency)));
    const sum =
      rows.reduce((s, r) => s + r.amountMinor * 10n ** BigInt(fileScale - scaleOf(r.currency)), 0n) +
      (faults.wrongControlTotals ? 100n : 0n);
    return Buffer.from(
      stringify([
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
      ]),
    );
  };

  const server: Server = createServer((req, res) => {
    state.requests++;
    const m = /^\/reports\/(\d{4}-\d{2}-\d{2})\.csv$/.exec(
      new URL(req.url ?? '/', 'http://provider').pathname,
    );
    const send = (status: number, body: string | Buffer, headers: Record<string, string> = {}) => {
      const go = () => {
        res.writeHead(status, {
          'content-type': 'text/csv; charset=utf-8',
          'content-length': String(Buffer.byteLength(body)),
          ...headers,
        });
        res.end(body);
      };
      if (faults.latencyMs) setTimeout(go, faults.latencyMs);
      else go();
    };
    if (!m) return send(404, 'not found\n');
    const fault = transportFault(faults);
    if (fault) return send(fault.status, 'try again later\n', fault.headers);
    const csv = fileOf(m[1]!);
    send(200, csv);
  });
  return listenSimulated(server, opts.port, {
    requests: () => state.requests,
    setTransactions: (t) => {
      txs = t;
      files = new Map();
    },
    setFaults: (f) => {
      faults = f;
      files = new Map();
    },
    prepare: ({ fromMs, toMs }) => {
      const built = new Map<string, Buffer>();
      for (let day = localDay(fromMs, opts.timezone); ;) {
        built.set(day, fileOf(day));
        if (day >= localDay(toMs - 1, opts.timezone)) break;
        day = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
      }
      files = built;
      // The files are built: the rows behind them are not needed any more.
      txs = [];
    },
  });
}
