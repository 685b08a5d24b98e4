import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A simulated FX rates service (a real HTTP server): GET /rates?base=USD&quote=EUR answers
// { base, quote, rate: "0.9210", asOf, source }. Rates are exact decimal strings.
export interface SimulatedFx {
  url: string;
  setRate(base: string, quote: string, rate: string): void;
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export const DEMO_RATES: Record<string, string> = {
  'GBP/EUR': '1.1625',
  'USD/EUR': '0.9210',
  'EUR/GBP': '0.8602',
  'EUR/USD': '1.0858',
  'USD/GBP': '0.7923',
  'GBP/USD': '1.2621',
};

export async function startFxServer(
  opts: { rates?: Record<string, string>; port?: number } = {},
): Promise<SimulatedFx> {
  const rates = new Map(Object.entries(opts.rates ?? DEMO_RATES));
  let down = false;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fx');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (down) return send(503, { error: 'rates unavailable' });
    if (url.pathname !== '/rates') return send(404, { error: 'not found' });
    const pair = `${url.searchParams.get('base')}/${url.searchParams.get('quote')}`;
    const rate = rates.get(pair);
    if (!rate) return send(404, { error: `no rate for ${pair}` });
    send(200, {
      base: url.searchParams.get('base'),
      quote: url.searchParams.get('quote'),
      rate,
      asOf: new Date().toISOString(),
      source: 'clearhouse-simulated-reference-rates',
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setRate: (b, q, r) => void rates.set(`${b}/${q}`, r),
    setDown: (d) => {
      down = d;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
