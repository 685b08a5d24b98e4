import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort, portOpen } from '../lib/net.mjs';
import { spawnPostgresServer } from '../lib/postgres.mjs';
import { ensureTemporalCli } from '../lib/temporal-cli.mjs';

// The processes a chaos run starts, stops and kills: Postgres and the Temporal dev server
// (each restartable on its persisted data), and the product's own API and worker processes,
// started exactly as `npm run start:api` / `start:worker` start them.

const ROOT = path.join(__dirname, '..', '..');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ok: () => Promise<boolean>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`${what} did not come up in ${ms / 1000} s`);
    await sleep(100);
  }
}

/** Postgres on a data directory that survives a stop: `restart` is a real shutdown and start. */
export async function startPostgres(dataDir: string) {
  const port = await freePort();
  const boot = () => spawnPostgresServer({ dataDir, port, persistent: true, database: 'postgres' });
  let server = await boot();
  return {
    adminUrl: server.url,
    /** Fast shutdown (every connection cut), down for `downMs`, then up again on the same data. */
    restart: async (downMs: number) => {
      await server.stop();
      await sleep(downMs);
      server = await boot();
    },
    stop: () => server.stop(),
  };
}

/** The Temporal dev server (SQLite file): `restart` stops it and starts it again on the same history. */
export async function startTemporal(dbFile: string) {
  const cli = ensureTemporalCli();
  if (!cli) throw new Error('no Temporal CLI: run npm run dev once (it installs one), or set TEMPORAL_CLI');
  const port = await freePort();
  const searchAttributes = JSON.parse(
    readFileSync(path.join(ROOT, 'platform', 'search-attributes.json'), 'utf8'),
  ) as Record<string, string>;
  let child: ChildProcess;
  const boot = async () => {
    child = spawn(
      cli,
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--headless',
        '--db-filename',
        dbFile,
        '--log-level',
        'error',
        ...Object.entries(searchAttributes).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
      ],
      { stdio: 'ignore' },
    );
    await waitFor('Temporal', () => portOpen(port), 60_000);
    // Ready when the default namespace answers.
    await waitFor(
      'the Temporal namespace',
      async () => {
        try {
          const c = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 2000 });
          try {
            await c.workflowService.describeNamespace({ namespace: 'default' });
            return true;
          } finally {
            await c.close();
          }
        } catch {
          return false;
        }
      },
      60_000,
    );
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  await boot();
  return {
    address: `127.0.0.1:${port}`,
    restart: async (downMs: number) => {
      await stop();
      await sleep(downMs);
      await boot();
    },
    stop,
  };
}

/**
 * One of the product's processes (api/main.ts or workers/main.ts), in a single process (tsx
 * as a loader) so SIGKILL hits what runs. When it dies it is started again, unless stopped.
 */
export class ProductProcess {
  private child: ChildProcess | null = null;
  private stopped = false;
  private lastWords = '';
  starts = 0;
  kills = 0;
  /** Deaths nobody caused (a crash): each is a finding. */
  unexpectedExits: string[] = [];

  constructor(
    readonly name: 'api' | 'worker',
    private readonly env: Record<string, string>,
  ) {}

  /** One start or kill at a time (a crash's restart and a planned kill must not overlap). */
  private busy: Promise<void> = Promise.resolve();
  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.busy.then(fn);
    this.busy = next.catch(() => undefined);
    return next;
  }

  start(): Promise<void> {
    return this.serial(() => this.spawn());
  }

  private async spawn(): Promise<void> {
    const script = this.name === 'api' ? 'api/main.ts' : 'workers/main.ts';
    const ready = this.name === 'api' ? 'api listening' : 'worker started';
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.starts++;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name} did not start in 180 s: ${out.slice(-500)}`)),
        180_000,
      );
      const onData = (d: Buffer) => {
        out = (out + d.toString()).slice(-4000);
        this.lastWords = out;
        if (out.includes(ready)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${signal ?? code}) before it started: ${out.slice(-500)}`));
      });
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child || this.stopped) return;
      this.child = null;
      if (signal !== 'SIGKILL')
        this.unexpectedExits.push(`${this.name} exited (${signal ?? code}): ${this.lastWords.slice(-2500)}`);
      // A crash the run did not cause: start it again (as a supervisor would) and keep count.
      void this.start().catch((err: unknown) => this.unexpectedExits.push(`restart failed: ${String(err)}`));
    });
  }

  /** SIGKILL (no shutdown, in-flight work dies with it), then a new process. */
  killAndRestart(): Promise<void> {
    return this.serial(async () => {
      const child = this.child;
      if (!child || this.stopped) return;
      this.child = null;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      this.kills++;
      await this.spawn();
    });
  }

  /** The last few kilobytes it printed (for an error message). */
  output(): string {
    return this.lastWords;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.busy;
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}
