import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A simulated due-diligence service (a real HTTP server) standing in for a company registry
// with licence lookups and a sanctions-screening provider. Deterministic answers, so tests
// and the demo can steer outcomes by the data they send:
//   registration number DISS…  → dissolved        NONE…  → not in the registry
//   licence number      EXP…   → expired          BAD…   → unknown to the regulator
//   a screened name containing "sanctioned" → confirmed match (0.97), "similar" → possible (0.75)
// Fault injection: the next N requests answer 503, or every request is delayed.
//   POST /registry/check   { registrationNumber, country, legalName, licences: [{ jurisdiction, number }] }
//   POST /sanctions/screen { names: [..] }
export interface SimulatedDueDiligence {
  url: string;
  /** The next `n` requests (of either endpoint) answer 503. */
  failNext(n: number): void;
  setDelayMs(ms: number): void;
  /** Requests served so far, per path. */
  calls(): Record<string, number>;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 64 * 1024) throw new Error('too large');
    chunks.push(c as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export async function startDueDiligenceService(opts: { port?: number } = {}): Promise<SimulatedDueDiligence> {
  let failures = 0;
  let delayMs = 0;
  const counts: Record<string, number> = {};
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const path = new URL(req.url ?? '/', 'http://dd').pathname;
    counts[path] = (counts[path] ?? 0) + 1;
    setTimeout(() => {
      if (failures > 0) {
        failures--;
        return send(503, { error: 'temporarily unavailable' });
      }
      if (req.method !== 'POST') return send(405, { error: 'POST only' });
      readJson(req)
        .then((body) => {
          const b = (body ?? {}) as Record<string, unknown>;
          if (path === '/registry/check') {
            const str = (v: unknown) => (typeof v === 'string' ? v : '');
            const number = str(b.registrationNumber);
            const found = !number.toUpperCase().startsWith('NONE');
            const licences = Array.isArray(b.licences) ? (b.licences as Record<string, unknown>[]) : [];
            return send(200, {
              found,
              status: !found ? null : number.toUpperCase().startsWith('DISS') ? 'dissolved' : 'active',
              registeredName: found ? str(b.legalName) : null,
              licences: licences.map((l) => {
                const n = str(l.number).toUpperCase();
                return {
                  jurisdiction: str(l.jurisdiction),
                  number: str(l.number),
                  status: n.startsWith('EXP') ? 'expired' : n.startsWith('BAD') ? 'unknown' : 'valid',
                };
              }),
            });
          }
          if (path === '/sanctions/screen') {
            const names = Array.isArray(b.names) ? b.names.map(String) : [];
            return send(200, {
              matches: names.flatMap((name) =>
                /sanctioned/i.test(name)
                  ? [{ name, list: 'EU-CFSP', score: 0.97 }]
                  : /similar/i.test(name)
                    ? [{ name, list: 'OFAC-SDN', score: 0.75 }]
                    : [],
              ),
            });
          }
          send(404, { error: 'not found' });
        })
        .catch(() => send(400, { error: 'send a JSON body' }));
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failNext: (n) => void (failures = n),
    setDelayMs: (ms) => void (delayMs = ms),
    calls: () => ({ ...counts }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
