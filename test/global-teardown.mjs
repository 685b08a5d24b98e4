import { rmSync } from 'node:fs';

/** Stops what test/global-setup.mjs started, last started first. */
export default async function globalTeardown() {
  const state = globalThis.__clearhouse;
  if (!state) return;
  for (const stop of [...state.stops].reverse()) await stop().catch(() => {});
  rmSync(state.workDir, { recursive: true, force: true });
}
