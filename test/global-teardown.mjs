import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const state = globalThis.__clearhouse;
  if (!state) return;
  await state.temporal.teardown();
  const child = state.postgres.child;
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(state.workDir, { recursive: true, force: true });
}
