import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import pg from 'pg';
import { migrateUp } from '../../db/migrate';
import { freePort } from '../lib/net.mjs';
import searchAttributes from '../../platform/search-attributes.json';

// Real services for the benchmark scripts: a fresh embedded Postgres (or DATABASE_URL) and,
// when asked, a Temporal dev server. Everything started here is stopped by stop(), or, if the
// benchmark dies first (an exception before its finally, Ctrl-C), when its process exits.
// A benchmark's last line is its JSON object: these services never print on their own. The
// Postgres server's log stays in its pipe, and Temporal's stderr goes through log() while the
// benchmark runs and is dropped once stop() has begun (its shutdown noise would follow the JSON).
export const ROOT = path.join(__dirname, '..', '..');

export { freePort };

export function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = 120_000,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} did not start within ${timeoutMs / 1000}s`)),
      timeoutMs,
    );
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = pattern.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code})`)));
  });
}

/**
 * Waits (up to timeoutMs) until no other client is connected to the server. A pool's end()
 * resolves before its connections have closed: stopping Postgres then (fast shutdown) sends
 * their backends' FATAL 57P01 to the pool, whose error handler (db/pool.ts) prints
 * `postgres: idle connection lost (terminating connection due to administrator command)` —
 * after the benchmark's JSON line.
 */
async function clientsGone(url: string, timeoutMs = 5_000): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  try {
    await client.connect();
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      );
      if (rows[0]!.n === 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch {
    /* the server is gone already: nothing to wait for */
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface BenchServices {
  databaseUrl: string;
  temporalAddress?: string;
  /** A scratch directory removed by stop() (the benchmark may keep files there). */
  workDir: string;
  stop: () => Promise<void>;
}

export async function startServices(opts: { temporal: boolean }): Promise<BenchServices> {
  const children: ChildProcess[] = [];
  const stops: (() => Promise<void>)[] = [];
  let stopping = false;
  // The Postgres server runs in its own process group (detached): neither Ctrl-C nor this
  // process's death reaches it. Synchronous, for the 'exit' event.
  let pgGroup: number | undefined;
  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    if (pgGroup !== undefined) {
      try {
        process.kill(-pgGroup, 'SIGTERM'); // it stops Postgres and removes its data directory
      } catch {
        /* already gone */
      }
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping the benchmark's services`);
    process.exit(signal === 'SIGINT' ? 130 : 143); // 'exit' runs killAll
  };
  process.on('exit', killAll);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'clearhouse-bench-'));
  chmodSync(workDir, 0o755);
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const { spawnPostgresServer } = await import('../lib/postgres.mjs');
    const server = await spawnPostgresServer({
      dataDir: path.join(workDir, 'pg'),
      port: await freePort(),
      persistent: false,
      database: 'bench',
      onSpawn: (child: ChildProcess) => (pgGroup = child.pid),
      onLine: () => undefined, // the server prints only Postgres' ERROR/FATAL/PANIC lines: kept out of the output
    });
    const url = server.url;
    stops.push(async () => {
      await clientsGone(url);
      await server.stop();
      pgGroup = undefined;
    });
    databaseUrl = url;
  }
  log(`Postgres ready; migrating`);
  await migrateUp(databaseUrl);

  let temporalAddress: string | undefined;
  if (opts.temporal) {
    const { ensureTemporalCli } = await import('../lib/temporal-cli.mjs');
    const cli = ensureTemporalCli();
    if (!cli) throw new Error('no Temporal CLI available (see scripts/lib/temporal-cli.mjs)');
    const port = await freePort();
    const attributes = Object.entries(searchAttributes).flatMap(([k, type]) => [
      '--search-attribute',
      `${k}=${type}`,
    ]);
    const t = spawn(
      cli,
      [
        'server',
        'start-dev',
        '--headless',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--log-level',
        'error',
        ...attributes,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(t);
    readline.createInterface({ input: t.stderr }).on('line', (line) => {
      if (!stopping) log(`[temporal] ${line}`);
    });
    await waitForLine(t, /Temporal Server:/, 'Temporal');
    t.stdout.resume();
    temporalAddress = `127.0.0.1:${port}`;
    log(`Temporal dev server at ${temporalAddress}`);
  }
  return {
    databaseUrl,
    workDir,
    ...(temporalAddress ? { temporalAddress } : {}),
    stop: async () => {
      stopping = true;
      for (const c of children.reverse()) {
        if (c.exitCode !== null || c.signalCode !== null) continue;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await exited;
      }
      for (const stop of stops) await stop();
      rmSync(workDir, { recursive: true, force: true });
      process.off('exit', killAll);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
