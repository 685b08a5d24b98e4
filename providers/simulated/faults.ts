import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Faults, SimulatedProvider, SimulatedTx } from './json-cursor-server';
import { checkVolumeFaults, volumeFaultPlan } from './volume-faults';

/**
 * The rows a simulated provider reports for a window, after the injected data faults. The
 * volume faults (volume-faults.ts) first put the provider's rows in place of ours (rounded,
 * split, aggregated, dated later); `include` then chooses by the reported row, so a row dated
 * past midnight falls into the next day's window.
 */
export function reportedRows(
  txs: SimulatedTx[],
  faults: Faults,
  include: (t: SimulatedTx) => boolean,
): SimulatedTx[] {
  const plan = volumeFaultPlan(txs, faults);
  const ours = plan ? txs.flatMap((t, i) => plan.replacements[i] ?? [t]) : txs;
  const missing = new Set(faults.missing ?? []);
  const rows: SimulatedTx[] = [];
  for (const t of [...ours, ...(faults.extra ?? [])].sort(
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
    setFaults: (f) => {
      checkVolumeFaults(f); // refused here rather than failing every request
      control.setFaults(f);
    },
    ...(control.prepare ? { prepare: control.prepare } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
