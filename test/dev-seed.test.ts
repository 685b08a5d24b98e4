import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { WorkflowNotFoundError } from '@temporalio/client';
import { DEV_PORTS, freePort } from '../scripts/lib/net.mjs';
import { settlementScheduleId } from '../services/schedules';
import { startStack, type Stack } from './support/stack';

// `npm run dev` runs its seed (scripts/seed.ts) at every start, over whatever operators made of
// the demo partners through the API since the last one. Here the real seed and the real
// simulators (scripts/providers-server.ts, as dev starts them) run against a test stack: a first
// run sets the demo up; operators then suspend a partner, revoke a key, pause a Schedule and
// record a contract with another cadence; the next run starts anyway, says so in one line each,
// and undoes none of it.
const ROOT = path.join(__dirname, '..');
const DAY = '2026-11-10';
const NEXT_DAY = '2026-11-12';
const SIMULATORS = [
  'NOVA_SLOTS_PORT',
  'AURORA_LIVE_PORT',
  'ORBIT_HUB_PORT',
  'FX_PORT',
  'DUE_DILIGENCE_PORT',
  'BANK_PORT',
];

describe("npm run dev's seed over the state operators left the demo partners in", () => {
  let stack: Stack;
  let providers: ChildProcess;
  let dataDir: string;
  const ports: Record<string, string> = {};
  const env = (day: string): NodeJS.ProcessEnv => ({
    ...process.env,
    ...stack.env,
    ...ports,
    API_URL: stack.baseUrl,
    DEMO_DAY: day,
    CLEARHOUSE_DEV_DATA: dataDir,
  });

  beforeAll(async () => {
    // Each simulator its own port (the kernel may hand the same free port out twice).
    for (const variable of SIMULATORS) {
      let port = String(await freePort());
      while (Object.values(ports).includes(port)) port = String(await freePort());
      ports[variable] = port;
    }
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'clearhouse-seed-'));
    stack = await startStack({ overrides: { FX_RATES_URL: `http://127.0.0.1:${ports.FX_PORT}` } });
    providers = spawn(process.execPath, ['--import', 'tsx', 'scripts/providers-server.ts'], {
      cwd: ROOT,
      env: env(DAY),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Its last line once every server listens.
    await new Promise<void>((resolve, reject) => {
      providers.once('exit', (code) => reject(new Error(`providers-server exited (${code})`)));
      readline.createInterface({ input: providers.stdout! }).on('line', (line) => {
        if (line.startsWith('simulated bank at')) resolve();
      });
    });
  });
  afterAll(async () => {
    await stack?.close();
    if (providers?.exitCode === null) {
      providers.kill('SIGTERM');
      await new Promise((r) => providers.once('exit', r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sets the demo up, its simulators listening on exactly the ports their variables set', async () => {
    expect(DEV_PORTS.map((p) => p.variable)).toEqual(expect.arrayContaining(SIMULATORS));
    expect(listeningPorts(providers.pid!)).toEqual(
      SIMULATORS.map((v) => Number(ports[v])).sort((a, b) => a - b),
    );

    const first = await seed(env(DAY));
    expect(first).toMatchObject({ code: 0 });
    for (const id of ['nova-slots', 'aurora-live', 'orbit-hub']) {
      expect(first.lines).toContain(`${id}: onboarded`);
      // aurora-live's day holds the planted big-win round (two more transactions).
      const count = id === 'aurora-live' ? 402 : 400;
      expect(first.lines).toContain(
        `${id}: ${count} transactions on ${DAY}, settlement:${id}:${DAY} started`,
      );
    }
    const keys = JSON.parse(readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8'));
    expect(Object.keys(keys).sort()).toEqual([
      'aurora-live',
      'lumen-games',
      'nova-slots',
      'nova-slots console user finance@nova-slots.example',
      'orbit-hub',
      'pulse-bingo',
    ]);
    // The watch's demo: its partners' baseline, then the planted anomalies (README).
    for (const id of ['lumen-games', 'pulse-bingo']) {
      expect(first.lines).toContain(`${id}: onboarded`);
      expect(
        first.lines.some(
          (l: string) => l.startsWith(`${id}: `) && l.endsWith('baseline transactions over 4 weeks'),
        ),
      ).toBe(true);
    }
    const held = await stack.db.pool.query(`SELECT tx_id FROM held_wins WHERE partner_id = 'aurora-live'`);
    expect(held.rows.map((r) => r.tx_id)).toEqual([`aurora-live-${DAY}-big-win`]);
    const connection = await stack.api('/v1/partners/nova-slots/provider-connection');
    expect(connection.body.baseUrl).toBe(`http://127.0.0.1:${ports.NOVA_SLOTS_PORT}`);
  }, 120_000);

  it('starts again after a suspension, a revoked key, a paused Schedule and a new contract: one line each, nothing undone', async () => {
    const admin = { method: 'POST' };
    expect(
      await stack.api('/v1/partners/nova-slots/suspend', { ...admin, body: { reason: 'KYC refresh' } }),
    ).toMatchObject({ status: 200 });
    // A rotation with no overlap ends the key the seed kept.
    expect(
      await stack.api('/v1/partners/aurora-live/api-keys', { ...admin, body: { overlapHours: 0 } }),
    ).toMatchObject({ status: 201 });
    expect(
      await stack.api('/v1/partners/orbit-hub/settlement-schedule', {
        method: 'PUT',
        body: { hourLocal: 5, paused: true },
      }),
    ).toMatchObject({ status: 200 });
    // Monthly from the day before NEXT_DAY: a cycle may then start only on the 1st.
    const monthly = await stack.api('/v1/partners/orbit-hub/contracts/2', {
      method: 'PUT',
      body: {
        effectiveFrom: '2026-11-11',
        terms: {
          base: 'ggr',
          tiers: [{ upToMinor: null, rate: '0.1' }],
          tierMode: 'marginal',
          negativeBase: 'carry_forward',
          jackpots: 'exclude',
          settlement: { period: 'monthly' },
        },
      },
    });
    // Maker-checker: proposed by the bootstrap admin, in force once another operator approves.
    expect(monthly.status).toBe(202);
    const approved = await stack.api('/v1/partners/orbit-hub/contracts/2/approval', {
      body: {},
      token: await stack.tokenFor('dev-seed-approver', 'approver'),
    });
    expect([approved.status, approved.body.status]).toEqual([200, 'approved']);
    const keysBefore = readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8');

    const again = await seed(env(NEXT_DAY));
    expect(again.code).toBe(0);
    expect(again.lines).toEqual(
      expect.arrayContaining([
        'nova-slots: already onboarded (suspended)',
        `nova-slots: suspended: its ${NEXT_DAY} transactions not pushed, no cycle started (POST /v1/partners/nova-slots/reactivate resumes it)`,
        expect.stringMatching(
          new RegExp(
            `^aurora-live: its API key is no longer accepted \\(rotated or revoked\\): its ${NEXT_DAY} transactions not pushed, no cycle started`,
          ),
        ),
        'orbit-hub: its settlement Schedule stays paused (paused by an operator)',
        expect.stringMatching(
          new RegExp(
            `^orbit-hub: 400 transactions on ${NEXT_DAY}; no cycle started \\(.*does not start a monthly period\\)$`,
          ),
        ),
      ]),
    );
    // One line per partner's state: no stack trace, no failure.
    expect(again.lines.filter((l) => /seed failed|^\s+at /.test(l))).toEqual([]);

    // Nothing undone: the suspension (its Schedule still paused), the operator's Schedule, the key.
    expect((await stack.api('/v1/partners/nova-slots')).body.status).toBe('suspended');
    const schedule = (id: string) => stack.temporal.schedule.getHandle(settlementScheduleId(id)).describe();
    expect((await schedule('nova-slots')).state).toMatchObject({ paused: true, note: 'KYC refresh' });
    expect((await schedule('orbit-hub')).state.paused).toBe(true);
    expect((await schedule('aurora-live')).state.paused).toBe(false);
    expect(readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8')).toBe(keysBefore);
    for (const id of ['nova-slots', 'aurora-live', 'orbit-hub'])
      await expect(
        stack.temporal.workflow.getHandle(`settlement:${id}:${NEXT_DAY}`).describe(),
      ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  }, 120_000);
});

async function seed(env: NodeJS.ProcessEnv): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/seed.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  return { code, lines: out.split('\n').filter((l) => l.trim()) };
}

/** The TCP ports a process listens on (Linux): its socket inodes matched in /proc/net/tcp{,6}. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      // local_address is hex ip:port; state 0A is LISTEN; column 9 the inode.
      if (cols[3] === '0A' && inodes.has(cols[9]!)) ports.add(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}
