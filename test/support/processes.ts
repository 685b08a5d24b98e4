import { ProductProcess } from '../../scripts/chaos/services';
import { workflowBundlePath } from './env';

export interface ChildWorker {
  /** SIGKILL: no graceful shutdown, running activities die with it (as a crashed host would). */
  kill: () => Promise<void>;
  /** What it printed, for a failing test's message. */
  output: () => string;
}

/**
 * The product's worker (`workers/main.ts`, as `npm run start:worker` runs it) in its own
 * process, joined to a test stack by its environment, so a test can kill it for real: the
 * chaos runner's ProductProcess. Resolves once it polls its task queues.
 */
export async function startChildWorker(env: Record<string, string>): Promise<ChildWorker> {
  const worker = new ProductProcess('worker', {
    ...env,
    LOG_LEVEL: 'info',
    WORKER_METRICS_PORT: '0',
    WORKFLOW_BUNDLE_PATH: workflowBundlePath(),
  });
  await worker.start();
  return { kill: () => worker.stop(), output: () => worker.output() };
}
