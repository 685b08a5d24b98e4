import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { createApp } from '../../api/app';
import {
  startDueDiligenceService,
  type SimulatedDueDiligence,
} from '../../providers/simulated/due-diligence-server';
import { loadConfig, type Config } from '../../platform/config';
import { createLogger } from '../../platform/logger';
import { mintOperatorToken, type OperatorRole } from '../../platform/operators';
import { createWorkers } from '../../workers/create';
import { createTestDatabase, testEnv, workflowBundlePath, type TestDatabase } from './env';

let runtimeInstalled = false;
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  } catch {
    // Already installed by an earlier test file in this jest worker process.
  }
}

export interface Stack {
  config: Config;
  db: TestDatabase;
  temporal: Client;
  /** The environment config was loaded from: a child process given it joins this stack. */
  env: Record<string, string>;
  baseUrl: string;
  /** The bootstrap administrator's token (admin, resolver, viewer; never an approver). */
  operatorToken: string;
  /** A signed token for a named operator with these roles, as `npm run cli -- operator:token` mints. */
  tokenFor: (name: string, ...roles: OperatorRole[]) => Promise<string>;
  /** The simulated company-registry and sanctions service (fault injection for tests). */
  dueDiligence: SimulatedDueDiligence;
  /** fetch against the API with JSON helpers. */
  api: (
    path: string,
    init?: {
      method?: string;
      body?: unknown;
      rawBody?: string;
      token?: string | null;
      headers?: Record<string, string>;
    },
  ) => Promise<{ status: number; body: any; headers: Headers }>;
  /** Stops the workers (as a crash or a deploy would) and starts fresh ones on the same queues. */
  restartWorkers: () => Promise<void>;
  close: () => Promise<void>;
}

/**
 * The real product wired for one test file: a fresh database, a Temporal client, the
 * workers on this file's own task queues, and the API on an ephemeral port.
 */
export async function startStack(
  opts: { workers?: boolean; overrides?: Record<string, string> } = {},
): Promise<Stack> {
  quietRuntime();
  const db = await createTestDatabase();
  // The due-diligence service onboarding checks call: simulated (it is outside the product).
  const dueDiligence = await startDueDiligenceService();
  const env = testEnv({
    DATABASE_URL: db.url,
    DUE_DILIGENCE_URL: dueDiligence.url,
    // No FX service unless a test starts one: never the default port a running `npm run dev` serves.
    FX_RATES_URL: 'http://127.0.0.1:9',
    ...opts.overrides,
  });
  const config = loadConfig(env);
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace });

  let workers: Worker[] = [];
  let running: Promise<unknown> = Promise.resolve();
  let nativeConnection: NativeConnection | undefined;
  const startWorkers = async () => {
    nativeConnection ??= await NativeConnection.connect({ address: config.temporal.address });
    workers = await createWorkers({
      config,
      db: db.appPool, // the application's role, as in production
      connection: nativeConnection,
      workflowBundle: { codePath: workflowBundlePath() },
    });
    running = Promise.all(workers.map((w) => w.run()));
  };
  const stopWorkers = async () => {
    for (const w of workers) w.shutdown();
    await running;
    workers = [];
  };
  if (opts.workers !== false) await startWorkers();

  const app = createApp({ config, db: db.appPool, temporal, logger: createLogger(config, 'api-test') });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const operatorToken = config.api.operatorToken!;

  const api: Stack['api'] = async (path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? operatorToken : init.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined = init.rawBody;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, {
      method: init.method ?? (body ? 'POST' : 'GET'),
      headers,
      body,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };

  return {
    config,
    db,
    temporal,
    env,
    baseUrl,
    operatorToken,
    dueDiligence,
    tokenFor: (name, ...roles) => mintOperatorToken(config.api.operatorTokens, { name, roles }),
    api,
    restartWorkers: async () => {
      await stopWorkers();
      await startWorkers();
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await stopWorkers();
      await nativeConnection?.close();
      await connection.close();
      await db.drop();
      await dueDiligence.close();
    },
  };
}
