import { bundleWorkflowCode, type NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { createCurrencyRegistry } from '../domain/money';
import { setAddressPolicy } from '../platform/address-policy';
import { DecisionCodec, verifyKeysFrom } from '../platform/decision-seal';
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
    secrets: new SecretBox(deps.config.secretKeys),
    fxRatesUrl: deps.config.fxRatesUrl,
  });
  const dataConverter = workerDataConverter(deps.config);
  return Promise.all(
    (['onboarding', 'settlement'] as const).map((domain) =>
      Worker.create({
        connection: deps.connection,
        namespace: deps.config.temporal.namespace,
        taskQueue: taskQueue(deps.config, domain),
        activities,
        workflowBundle,
        dataConverter,
      }),
    ),
  );
}

/** The payload converter every workflow bundle carries: it turns verified seals into symbols. */
export const PAYLOAD_CONVERTER_PATH = require.resolve('../workflows/payload-converter');

/**
 * What workers decode payloads with: the codec that verifies decision seals with the public
 * keys (and strips anything posing as verified), then the converter of the bundle. Replay uses
 * the same, so a history decides as it did.
 */
export function workerDataConverter(config: Pick<Config, 'decisionSeals'>) {
  return {
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    payloadCodecs: [new DecisionCodec(verifyKeysFrom(config.decisionSeals))],
  };
}

export async function bundleWorkflows(): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    // webpack's build statistics are noise in the logs; errors still throw.
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
  });
}
