import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DEV_PORTS, freePort } from '../scripts/lib/net.mjs';

// How the stack fails to start, as a user meets it: `npm run dev` and jest's global setup each
// end with one line saying what and what to do, a non-zero exit code, and no process left
// behind. Every process of a run carries a marker in its environment, so "left behind" is
// checked by looking for the marker in /proc after the run (Linux).
const ROOT = path.join(__dirname, '..');

/** Holds a port, as another program would. */
async function occupy(): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => new Promise((r) => srv.close(() => r())),
  };
}

/** Pids of live processes whose environment carries the marker. */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) pids.push(Number(entry));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return pids;
}

async function run(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; lines: string[]; leftBehind: number[] }> {
  const marker = `CLEARHOUSE_STARTUP_TEST_MARKER=${randomUUID()}`;
  const [key, value] = marker.split('=') as [string, string];
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, [key]: value, CI: 'true' };
  // Services of one's own would replace the ones whose start-up is under test.
  for (const own of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'FX_RATES_URL', 'DUE_DILIGENCE_URL'])
    delete childEnv[own];
  delete childEnv.JEST_WORKER_ID;
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  await new Promise((r) => setTimeout(r, 500)); // let killed children be reaped
  const lines = out.split('\n').filter((l) => l.trim());
  return { code, lines, leftBehind: processesWith(marker) };
}

/** Every port `npm run dev` binds moved to a free one: the tests run beside a developer's dev stack. */
async function devPorts(): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  // The kernel may hand the same free port out twice in a row: each variable gets its own.
  const taken = new Set<number>();
  for (const { variable } of DEV_PORTS) {
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    env[variable] = String(port);
  }
  return env;
}

describe('a stack that cannot start', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'clearhouse-startup-'));
    chmodSync(d, 0o755); // as root, Postgres (the postgres user) must reach it
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('npm run dev with any of its ports taken (Postgres, Temporal, a simulator…): one line naming the port and its variable, exit 1, nothing started', async () => {
    for (const { variable, what } of DEV_PORTS) {
      const taken = await occupy();
      try {
        const r = await run(['scripts/dev.mjs', '--no-install'], {
          ...(await devPorts()),
          [variable]: String(taken.port),
          CLEARHOUSE_DEV_DATA: tmp(),
        });
        expect({ variable, code: r.code, last: r.lines.at(-1) }).toEqual({
          variable,
          code: 1,
          last: `[dev]       error: port ${taken.port} (${what}) is taken: stop what uses it or set ${variable}`,
        });
        expect(r.leftBehind).toEqual([]);
      } finally {
        await taken.close();
      }
    }
  }, 60_000);

  it('npm run dev when Postgres refuses its data directory: Temporal, already started, is stopped too', async () => {
    const pgData = path.join(tmp(), 'pg');
    // A data directory Postgres refuses to open (a version it does not know).
    mkdirSync(pgData, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(pgData, 'PG_VERSION'), '9\n');
    if (process.getuid?.() === 0) chownSync(pgData, ...postgresIds());
    const r = await run(['scripts/dev.mjs', '--no-install'], {
      ...(await devPorts()),
      EMBEDDED_PG_DATA: pgData,
      CLEARHOUSE_DEV_DATA: tmp(),
    });
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toMatch(/error: Postgres exited during start-up/);
    expect(r.lines.some((l) => l.startsWith('[temporal]'))).toBe(true); // it had started
    expect(r.leftBehind).toEqual([]);
  }, 120_000);

  it("jest's global setup when Postgres cannot start: one line, exit non-zero, the Temporal server it started is gone", async () => {
    const taken = await occupy();
    try {
      const r = await run(
        [
          path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'),
          '--ci',
          '--runTestsByPath',
          'test/config.test.ts',
        ],
        { CLEARHOUSE_TEST_PG_PORT: String(taken.port) },
      );
      expect(r.code).not.toBe(0);
      const line = r.lines.find((l) => l.includes('test services could not start'));
      expect(line).toMatch(new RegExp(`port ${taken.port} is taken: .*set EMBEDDED_PG_PORT`));
      expect(r.lines.some((l) => /^\s+at /.test(l))).toBe(false); // no stack trace
      expect(r.leftBehind).toEqual([]);
    } finally {
      await taken.close();
    }
  }, 120_000);
});

function postgresIds(): [number, number] {
  return [Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres']))];
}
