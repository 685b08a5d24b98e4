import { startFxServer } from '../providers/simulated/fx-server';
import { generateDay } from '../providers/simulated/generator';
import { startJsonCursorProvider, type Faults } from '../providers/simulated/json-cursor-server';

// The simulated provider report servers of `npm run dev` (and the FX reference-rates service):
// one report server per demo partner, serving the
// same generated day the seed pushes through the API. nova-slots' provider disagrees on
// purpose (one amount altered, one transaction missing), so the demo cycle needs an operator.
export const DEMO_TX_PER_PARTNER = 400;
export const demoProviders: { partnerId: string; currency: string; port: number; faults: (day: string) => Faults }[] = [
  {
    partnerId: 'nova-slots',
    currency: 'EUR',
    port: 4101,
    faults: (day) => ({ altered: { [`nova-slots-${day}-7`]: 99_999n }, missing: [`nova-slots-${day}-11`] }),
  },
  // Each demo partner plays in its settlement currency until FX locking lands.
  { partnerId: 'aurora-live', currency: 'GBP', port: 4102, faults: () => ({}) },
  { partnerId: 'orbit-hub', currency: 'USD', port: 4103, faults: () => ({}) },
];

async function main(): Promise<void> {
  const day = process.env.DEMO_DAY;
  if (!day || !/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error('DEMO_DAY=YYYY-MM-DD is required');
  const servers = await Promise.all(
    demoProviders.map(async (p) => {
      const server = await startJsonCursorProvider({ transactions: generateDay(p.partnerId, day, DEMO_TX_PER_PARTNER, p.currency), faults: p.faults(day), port: p.port });
      process.stdout.write(`${p.partnerId}: report (json-cursor) at ${server.url}/report\n`);
      return server;
    }),
  );
  const fxPort = Number(new URL(process.env.FX_RATES_URL ?? 'http://127.0.0.1:4200').port || 4200);
  const fx = await startFxServer({ port: fxPort });
  process.stdout.write(`FX reference rates at ${fx.url}/rates\n`);
  const stop = () => void Promise.all([...servers.map((s) => s.close()), fx.close()]).then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`providers failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
