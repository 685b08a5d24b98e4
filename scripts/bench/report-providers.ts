import { startCsvDailyProvider } from '../../providers/simulated/csv-daily-server';
import { generateDay } from '../../providers/simulated/generator';
import {
  startJsonCursorProvider,
  type SimulatedProvider,
} from '../../providers/simulated/json-cursor-server';
import { plantDifferences } from '../../providers/simulated/planted';

// The simulated providers of the transaction-level benchmark, in a process of their own so that
// their CPU is measured apart from ours (scripts/bench-settle.ts reads /proc/<pid>/stat). One
// real HTTP server per partner, serving the same transactions the benchmark pushed through the
// API, one row each, with the planted differences (providers/simulated/planted.ts). Every page
// (json-cursor) or day file (csv-daily) is built before the timed phase: a provider's work is
// not ours. Prints one line `ready <JSON {partnerId: url}>` on stdout, then serves until killed.
//
// Environment: BENCH_REPORT (json-cursor | csv-daily), BENCH_PARTNERS, BENCH_TX, BENCH_DAY,
// BENCH_PARTNER_PREFIX, BENCH_PAGE_ROWS (the page the client asks for; json-cursor serves it).
const format = process.env.BENCH_REPORT;
const partners = Number(process.env.BENCH_PARTNERS);
const txPerPartner = Number(process.env.BENCH_TX);
const day = process.env.BENCH_DAY!;
const prefix = process.env.BENCH_PARTNER_PREFIX!;
const pageRows = Number(process.env.BENCH_PAGE_ROWS);

async function main(): Promise<void> {
  if (format !== 'json-cursor' && format !== 'csv-daily') throw new Error(`unknown BENCH_REPORT ${format}`);
  const fromMs = Date.parse(`${day}T00:00:00Z`);
  const window = { fromMs, toMs: fromMs + 86_400_000 };
  const servers: SimulatedProvider[] = [];
  const urls: Record<string, string> = {};
  for (let i = 0; i < partners; i++) {
    const id = `${prefix}-${i}`;
    const txs = generateDay(id, day, txPerPartner);
    const { faults } = plantDifferences(id, txs);
    const server =
      format === 'json-cursor'
        ? await startJsonCursorProvider({ transactions: txs, faults, maxPageSize: pageRows })
        : await startCsvDailyProvider({ timezone: 'UTC', transactions: txs, faults });
    server.prepare!(window, { pageSize: pageRows });
    servers.push(server);
    urls[id] = server.url;
  }
  process.stdout.write(`ready ${JSON.stringify(urls)}\n`);
  const stop = () => {
    void Promise.all(servers.map((s) => s.close())).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`report providers failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
