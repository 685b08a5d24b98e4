import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import type { Config } from './config';

/** The task queues Clearhouse runs, one per business domain. */
export type Domain = 'onboarding' | 'settlement';

export function taskQueue(config: Config, domain: Domain): string {
  return `${config.temporal.taskQueuePrefix}${domain}`;
}

/**
 * Connection settings come from @temporalio/envconfig (environment variables and the
 * optional TOML profile: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*),
 * falling back to the validated defaults of platform/config.ts. One function so the API,
 * the workers and the scripts always agree.
 */
export function temporalConnectOptions(config: Config): {
  connectionOptions: NativeConnectionOptions;
  namespace: string;
} {
  const loaded = loadClientConnectConfig();
  return {
    connectionOptions: {
      ...loaded.connectionOptions,
      address: loaded.connectionOptions.address ?? config.temporal.address,
    },
    namespace: loaded.namespace ?? config.temporal.namespace,
  };
}

export async function connectTemporalClient(config: Config): Promise<Client> {
  const { connectionOptions, namespace } = temporalConnectOptions(config);
  const connection = await Connection.connect({ ...connectionOptions, connectTimeout: '10s' });
  return new Client({ connection, namespace });
}
