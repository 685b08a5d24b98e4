// Starts ONE real Temporal dev server and ONE real Postgres for the whole jest run, migrates
// a template database once, and bundles the workflow code once. Test files then get their
// own database (CREATE DATABASE … TEMPLATE), task queues and workflow ids: see test/support.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { ensureTemporalCli, ROOT } from '../scripts/lib/temporal-cli.mjs';
import { ensureDatabase, withDatabase } from '../scripts/lib/postgres.mjs';

const TEMPLATE_DB = 'clearhouse_test_template';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function startPostgres(workDir) {
  if (process.env.DATABASE_URL) return { adminUrl: process.env.DATABASE_URL, child: null };
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'scripts/postgres-server.mjs'),
      path.join(workDir, 'pg'),
      String(port),
      'false',
      'postgres',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const adminUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('embedded Postgres did not start within 120s')), 120_000);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^ready (\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`embedded Postgres exited (${code})`)));
  });
  child.stdout.resume();
  return { adminUrl, child };
}

function run(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited ${code}`)),
    );
  });
}

export default async function globalSetup() {
  const t0 = Date.now();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'clearhouse-test-'));
  chmodSync(workDir, 0o755); // as root, Postgres runs as the `postgres` user and must reach its data dir
  const cli = ensureTemporalCli();
  if (!cli) throw new Error('no Temporal CLI: run `node scripts/lib/temporal-cli.mjs` or set TEMPORAL_CLI');

  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const { defineSearchAttributeKey } = await import('@temporalio/common');
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const searchAttributes = JSON.parse(
    readFileSync(path.join(ROOT, 'platform/search-attributes.json'), 'utf8'),
  );

  const [temporal, postgres, bundle] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: cli },
        ip: '127.0.0.1',
        searchAttributes: Object.entries(searchAttributes).map(([k, t]) =>
          defineSearchAttributeKey(k, t.toUpperCase()),
        ),
        log: { format: 'pretty', level: 'error' },
      },
    }),
    startPostgres(workDir),
    bundleWorkflowCode({
      workflowsPath: path.join(ROOT, 'workflows/index.ts'),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
    }),
  ]);
  const bundlePath = path.join(workDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);

  // Migrate a template once with the real `npm run migrate` entry point; each test file
  // clones it (fast, and perfectly isolated).
  await ensureDatabase(withDatabase(postgres.adminUrl, 'postgres'), TEMPLATE_DB);
  await run(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts'], {
    DATABASE_URL: withDatabase(postgres.adminUrl, TEMPLATE_DB),
  });

  Object.assign(process.env, {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    CLEARHOUSE_TEST_PG_ADMIN_URL: withDatabase(postgres.adminUrl, 'postgres'),
    CLEARHOUSE_TEST_TEMPLATE_DB: TEMPLATE_DB,
    CLEARHOUSE_TEST_WORKFLOW_BUNDLE: bundlePath,
  });
  globalThis.__clearhouse = { temporal, postgres, workDir };
  process.stdout.write(
    `\ntest services ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (Temporal ${temporal.address})\n`,
  );
}
