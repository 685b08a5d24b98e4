import { bundleWorkflowCode, type NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { createCurrencyRegistry } from '../domain/money';
import { setAddressPolicy } from '../platform/address-policy';
import { SecretBox } from '../platform/secrets';
import type { Config } from '../platform/config';
import { taskQueue } from '../platform/temporal';

export interface WorkerDeps extends ActivityDeps {
  config: Config;
  connection: NativeConnection;
  /** Pre-built workflow bundle (tests build one per run); otherwise workflows/ is bundled at start. */
  workflowBundle?: { codePath: string } | { code: string };
}

/** One worker per business domain task queue (onboarding, settlement), sharing one bundle. */
export async function createWorkers(deps: WorkerDeps): Promise<Worker[]> {
  // Bundled once and shared by every worker of the process.
  const workflowBundle = deps.workflowBundle ?? (await bundleWorkflows());
  // Where activities may call: public addresses, plus the configured allow-list.
  setAddressPolicy({
    allowedHosts: deps.config.outboundAllowedHosts,
    httpsOnly: deps.config.nodeEnv === 'production',
  });
  const activities = createActivities({
    ...deps,
    currencies: createCurrencyRegistry(deps.config.currencies.extraAssets),
    secrets: new SecretBox(deps.config.secretsKey),
    fxRatesUrl: deps.config.fxRatesUrl,
  });
  return Promise.all(
    (['onboarding', 'settlement'] as const).map((domain) =>
      Worker.create({
        connection: deps.connection,
        namespace: deps.config.temporal.namespace,
        taskQueue: taskQueue(deps.config, domain),
        activities,
        workflowBundle,
      }),
    ),
  );
}

export async function bundleWorkflows(): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    // webpack's build statistics are noise in the logs; errors still throw.
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
  });
}
