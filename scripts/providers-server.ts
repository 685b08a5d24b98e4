import { startAggregatorProvider } from '../providers/simulated/aggregator-server';
import { startCsvDailyProvider } from '../providers/simulated/csv-daily-server';
import { startDueDiligenceService } from '../providers/simulated/due-diligence-server';
import { startBankServer } from '../providers/simulated/bank-server';
import { startFxServer } from '../providers/simulated/fx-server';
import { generateDay } from '../providers/simulated/generator';
import {
  startJsonCursorProvider,
  type Faults,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { devPort } from './lib/net.mjs';

// The simulated provider report servers of `npm run dev` (and the FX reference-rates service,
// and the company-registry/sanctions service onboarding checks call):
// one report server per demo partner, serving the
// same generated day the seed pushes through the API. nova-slots' provider disagrees on
// purpose (one amount altered, one transaction missing), so the demo cycle needs an operator.
// Each listens on the port its variable sets (scripts/lib/net.mjs); the seed reads the same
// variables to tell the API where the reports are.
export const DEMO_TX_PER_PARTNER = 400;
export const demoProviders: {
  partnerId: string;
  currency: string;
  port: number;
  format: 'json-cursor' | 'csv-daily' | 'aggregator-totals';
  options: { timezone?: string };
  faults: (day: string) => Faults;
}[] = [
  {
    partnerId: 'nova-slots',
    currency: 'EUR',
    port: devPort('NOVA_SLOTS_PORT'),
    format: 'json-cursor',
    options: {},
    faults: (day) => ({ altered: { [`nova-slots-${day}-7`]: 99_999n }, missing: [`nova-slots-${day}-11`] }),
  },
  // One partner per report format: a daily CSV in London time, an aggregator's totals.
  {
    partnerId: 'aurora-live',
    currency: 'GBP',
    port: devPort('AURORA_LIVE_PORT'),
    format: 'csv-daily',
    options: { timezone: 'Europe/London' },
    faults: () => ({}),
  },
  {
    partnerId: 'orbit-hub',
    currency: 'USD',
    port: devPort('ORBIT_HUB_PORT'),
    format: 'aggregator-totals',
    options: { timezone: 'America/Sao_Paulo' },
    faults: () => ({}),
  },
];

/**
 * A demo partner's day as both sides have it: the generated day, and for aurora-live a planted
 * big win (a 100.00 GBP bet, a 42,000.00 GBP win: 420×, above 40,000 GBP and 350×), held for
 * review at ingest and an exception of that day's cycle (README, "Watching the money").
 */
export function demoDay(partnerId: string, day: string, count: number, currency: string): SimulatedTx[] {
  const txs = generateDay(partnerId, day, count, currency);
  if (partnerId !== 'aurora-live') return txs;
  const at = Date.parse(`${day}T20:15:00Z`);
  const roundId = `${partnerId}-${day}-big-round`;
  return [
    ...txs,
    {
      id: `${partnerId}-${day}-big-bet`,
      type: 'bet',
      roundId,
      gameId: 'game-6',
      currency,
      amountMinor: 10_000n,
      occurredAtMs: at,
    },
    {
      id: `${partnerId}-${day}-big-win`,
      type: 'win',
      roundId,
      gameId: 'game-6',
      currency,
      amountMinor: 4_200_000n,
      occurredAtMs: at + 4_000,
    },
  ];
}

async function main(): Promise<void> {
  const day = process.env.DEMO_DAY;
  if (!day || !/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error('DEMO_DAY=YYYY-MM-DD is required');
  const servers = await Promise.all(
    demoProviders.map(async (p) => {
      const common = {
        transactions: demoDay(p.partnerId, day, DEMO_TX_PER_PARTNER, p.currency),
        faults: p.faults(day),
        port: p.port,
      };
      const server =
        p.format === 'csv-daily'
          ? await startCsvDailyProvider({ ...common, timezone: p.options.timezone ?? 'UTC' })
          : p.format === 'aggregator-totals'
            ? await startAggregatorProvider({ ...common, timezone: p.options.timezone ?? 'UTC' })
            : await startJsonCursorProvider(common);
      process.stdout.write(`${p.partnerId}: ${p.format} report at ${server.url}\n`);
      return server;
    }),
  );
  // Not started when dev uses a service of your own (FX_RATES_URL, DUE_DILIGENCE_URL set).
  const others: { close: () => Promise<void> }[] = [];
  if (!process.argv.includes('--no-fx')) {
    const fx = await startFxServer({ port: devPort('FX_PORT') });
    process.stdout.write(`FX reference rates at ${fx.url}/rates\n`);
    others.push(fx);
  }
  if (!process.argv.includes('--no-due-diligence')) {
    const dd = await startDueDiligenceService({ port: devPort('DUE_DILIGENCE_PORT') });
    process.stdout.write(`company registry and sanctions screening at ${dd.url}\n`);
    others.push(dd);
  }
  // The bank starts last: its line is the last one once every server listens (test/dev-seed.test.ts).
  if (!process.argv.includes('--no-bank')) {
    const bank = await startBankServer({ port: devPort('BANK_PORT') });
    process.stdout.write(`simulated bank at ${bank.url}/camt053?date=YYYY-MM-DD (POST /payments, /faults)\n`);
    others.push(bank);
  }
  const stop = () =>
    void Promise.all([...servers, ...others].map((s) => s.close())).then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`providers failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
