import { Client, Connection, isGrpcServiceError, ServiceError } from '@temporalio/client';
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

/** How long a starting process waits for Temporal (a server restarting, a deploy in progress). */
export const TEMPORAL_STARTUP_WAIT_MS = 120_000;

/**
 * Connects, retrying with backoff while Temporal is not reachable yet, so a process started
 * while the server restarts waits for it instead of dying; gives up after `waitMs`.
 */
export async function connectWhenReachable<T>(
  connect: () => Promise<T>,
  opts: { address: string; warn: (message: string) => void; waitMs?: number },
): Promise<T> {
  const until = Date.now() + (opts.waitMs ?? TEMPORAL_STARTUP_WAIT_MS);
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await connect();
    } catch (err) {
      if (Date.now() + delay > until) throw err;
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      opts.warn(`Temporal at ${opts.address} is not reachable (${why}); trying again in ${delay / 1000} s`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export async function connectTemporalClient(
  config: Config,
  warn: (message: string) => void = () => {},
): Promise<Client> {
  const { connectionOptions, namespace } = temporalConnectOptions(config);
  const connection = await connectWhenReachable(
    () => Connection.connect({ ...connectionOptions, connectTimeout: '10s' }),
    { address: String(connectionOptions.address), warn },
  );
  return new Client({ connection, namespace });
}

/** gRPC status INVALID_ARGUMENT: the request itself is wrong; sending it again changes nothing. */
const INVALID_ARGUMENT = 3;

/**
 * Temporal's INVALID_ARGUMENT (a schedule time zone it cannot load, a malformed request) with
 * the server's reason, or null for any other failure (unavailable, timed out…, which a retry
 * may get past). The client reports it as a ServiceError caused by the gRPC error, or as the
 * gRPC error itself; grpc-js puts the reason in `details`, the worker's native connection in
 * the message.
 */
export function temporalInvalidArgument(err: unknown): string | null {
  const grpc = isGrpcServiceError(err) ? err : err instanceof ServiceError ? err.cause : undefined;
  if (!isGrpcServiceError(grpc)) return null;
  const code: number = grpc.code; // grpc-js's status enum, by its wire value
  if (code !== INVALID_ARGUMENT) return null;
  return grpc.details || grpc.message.replace(/^3 INVALID_ARGUMENT: /, '');
}
