import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Faults, SimulatedProvider, SimulatedTx } from './json-cursor-server';

/** The rows a simulated provider reports for a window, after the injected data faults. */
export function reportedRows(
  txs: SimulatedTx[],
  faults: Faults,
  include: (t: SimulatedTx) => boolean,
): SimulatedTx[] {
  const missing = new Set(faults.missing ?? []);
  const rows: SimulatedTx[] = [];
  for (const t of [...txs, ...(faults.extra ?? [])].sort(
    (a, b) => a.occurredAtMs - b.occurredAtMs || (a.id < b.id ? -1 : 1),
  )) {
    if (!include(t) || missing.has(t.id)) continue;
    const amountMinor = faults.altered?.[t.id] ?? t.amountMinor;
    rows.push({ ...t, amountMinor });
    if (faults.duplicated?.includes(t.id)) rows.push({ ...t, amountMinor });
  }
  return rows;
}

/** Transport faults shared by the simulators: an answer to send instead of the report, or null. */
export function transportFault(faults: Faults): { status: number; headers?: Record<string, string> } | null {
  if (faults.down) return { status: 503 };
  if (faults.failNext && faults.failNext > 0) {
    faults.failNext--;
    return { status: 503 };
  }
  if (faults.rateLimitNext && faults.rateLimitNext > 0) {
    faults.rateLimitNext--;
    return { status: 429, headers: { 'retry-after': faults.retryAfter ?? '1' } };
  }
  return null;
}

/** Starts a simulator's server on loopback and hands back its control surface. */
export async function listenSimulated(
  server: Server,
  port: number | undefined,
  control: {
    requests: () => number;
    setTransactions: (t: SimulatedTx[]) => void;
    setFaults: (f: Faults) => void;
    prepare?: SimulatedProvider['prepare'];
  },
): Promise<SimulatedProvider> {
  await new Promise<void>((resolve) => server.listen(port ?? 0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return control.requests();
    },
    setTransactions: control.setTransactions,
    setFaults: control.setFaults,
    ...(control.prepare ? { prepare: control.prepare } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
