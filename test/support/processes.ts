import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { workflowBundlePath } from './env';

const root = path.join(__dirname, '..', '..');

export interface ChildWorker {
  /** The process's pid. */
  pid: number;
  /** SIGKILL: no graceful shutdown, running activities die with it (as a crashed host would). */
  kill: () => Promise<void>;
  /** What it printed, for a failing test's message. */
  output: () => string;
}

/**
 * The product's worker (`workers/main.ts`, as `npm run start:worker` runs it) in its own
 * process, joined to a test stack by its environment, so a test can kill it for real.
 * One process (tsx as a loader, not its CLI, which would run the worker in a child a kill
 * would miss). Resolves once it polls its task queues.
 */
export async function startChildWorker(env: Record<string, string>): Promise<ChildWorker> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      ...env,
      LOG_LEVEL: 'info',
      WORKER_METRICS_PORT: '0',
      WORKFLOW_BUNDLE_PATH: workflowBundlePath(),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in 60 s:\n${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker started')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${signal ?? code}) before it started:\n${out}`));
    });
  });
  return {
    pid: child.pid!,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    output: () => out,
  };
}
