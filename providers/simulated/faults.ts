import type { Faults, SimulatedTx } from './json-cursor-server';

/** The rows a simulated provider reports for a window, after the injected data faults. */
export function reportedRows(txs: SimulatedTx[], faults: Faults, include: (t: SimulatedTx) => boolean): SimulatedTx[] {
  const missing = new Set(faults.missing ?? []);
  const rows: SimulatedTx[] = [];
  for (const t of [...txs, ...(faults.extra ?? [])].sort((a, b) => a.occurredAtMs - b.occurredAtMs || (a.id < b.id ? -1 : 1))) {
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
    return { status: 429, headers: { 'retry-after': '1' } };
  }
  return null;
}
