import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { migrateUp } from '../../db/migrate';
import { freePort } from '../lib/net.mjs';
import searchAttributes from '../../platform/search-attributes.json';

// Real services for the benchmark scripts: a fresh embedded Postgres (or DATABASE_URL) and,
// when asked, a Temporal dev server. Everything started here is stopped by stop().
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

export interface BenchServices {
  databaseUrl: string;
  temporalAddress?: string;
  stop: () => Promise<void>;
}

export async function startServices(opts: { temporal: boolean }): Promise<BenchServices> {
  const children: ChildProcess[] = [];
  const stops: (() => Promise<void>)[] = [];
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'clearhouse-bench-'));
  chmodSync(workDir, 0o755);
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const { spawnPostgresServer } = await import('../lib/postgres.mjs');
    const pg = await spawnPostgresServer({
      dataDir: path.join(workDir, 'pg'),
      port: await freePort(),
      persistent: false,
      database: 'bench',
    });
    stops.push(pg.stop);
    databaseUrl = pg.url;
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
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(t);
    await waitForLine(t, /Temporal Server:/, 'Temporal');
    t.stdout.resume();
    temporalAddress = `127.0.0.1:${port}`;
    log(`Temporal dev server at ${temporalAddress}`);
  }
  return {
    databaseUrl,
    ...(temporalAddress ? { temporalAddress } : {}),
    stop: async () => {
      for (const c of children.reverse()) {
        if (c.exitCode !== null) continue;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await exited;
      }
      for (const stop of stops) await stop();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
