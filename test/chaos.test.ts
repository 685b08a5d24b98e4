import { spawn } from 'node:child_process';
import path from 'node:path';

// The short version of `npm run chaos` (see RELIABILITY.md): the same seeded workload run
// fault-free and then with the worker and the API SIGKILLed, Postgres and the Temporal server
// restarted, and providers answering 5xx, 429, too slowly or cutting pages off. It owns its
// Postgres and Temporal (it restarts them), so it runs beside the suite's shared services.
// It also restates cycles after they complete and kills the worker inside a posting transaction,
// whose retry waits out the activity's 5-minute start-to-close timeout: hence the longer limit.
const root = path.join(__dirname, '..');

describe('npm run chaos --short', () => {
  it('loses nothing and posts nothing twice through kills and restarts; statements match the fault-free run', async () => {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'scripts/chaos.ts', '--short', '--seed', '5'],
        {
          cwd: root,
          env: { ...process.env, NODE_ENV: 'development' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.once('close', (c) => resolve({ code: c, out: text }));
    });
    const last = out.trim().split('\n').at(-1) ?? '';
    let summary: Record<string, unknown>;
    try {
      summary = JSON.parse(last) as Record<string, unknown>;
    } catch {
      throw new Error(`the chaos run printed no summary (exit ${code}):\n${out.slice(-3000)}`);
    }
    // Kills land while work runs; a quick run may end before all planned ones.
    expect(summary.workerKills).toBeGreaterThanOrEqual(2);
    expect(summary.apiKills).toBeGreaterThanOrEqual(1);
    expect(summary).toMatchObject({
      postgresRestarts: 1,
      temporalRestarts: 1,
      workflowsCompleted: summary.workflowsTotal,
      duplicatePostings: 0,
      missingPostings: 0,
      ledgerBalanced: true,
      hashChainsVerified: true,
      statementsIdentical: true,
      lostAcknowledged: 0,
      storedUnacknowledged: 0,
      unexpectedExits: 0,
      // After the cycles: a month closed, restatements (a manual one and a dispute's) posted
      // through worker kills, each delta in the ledger once, the restated statements identical.
      restatementsPosted: summary.restatements,
      restatementDeltaMismatches: 0,
      restatedStatementsIdentical: true,
      disputesPartlyAccepted: 1,
      periodsClosed: 1,
      // The worker SIGKILLed inside a posting transaction: the retry posts the delta once.
      restatementKilledInPosting: true,
    });
    expect(summary.restatements).toBeGreaterThanOrEqual(2);
    expect(summary.restatementDeltaEntries).toBe(summary.restatementDeltaJournalEntries);
    expect(summary.workflowsTotal).toBe(4); // 2 onboardings, 2 cycles
    expect(summary.acknowledged).toBe(800);
    expect(code).toBe(0);
  }, 900_000);
});
