import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { workflowBundlePath } from './support/env';

// Histories recorded by earlier versions of the workflow code (test/histories/<what>-<commit>.json,
// written from `handle.fetchHistory()`), replayed against today's code by `npm run replay`: a
// change that would strand a cycle or onboarding still running in someone's Temporal fails here,
// not in their cluster. Record one when a change goes behind patched(): the history from before
// the change is the one the patch must keep replaying. (A child process, because protobufjs
// loaded inside jest's module sandbox cannot read a JSON history.)
const root = path.join(__dirname, '..');
const histories = path.join(__dirname, 'histories');

function replay(...targets: string[]): { status: number | null; out: string } {
  const run = spawnSync(
    process.execPath,
    [
      path.join(root, 'node_modules/tsx/dist/cli.mjs'),
      'scripts/replay-histories.ts',
      '--bundle',
      workflowBundlePath(),
      ...targets,
    ],
    { cwd: root, encoding: 'utf8', timeout: 120_000 },
  );
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

describe('recorded histories replay against the current workflow code', () => {
  it('replays every recorded history', () => {
    const files = readdirSync(histories).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    const { status, out } = replay(histories);
    expect(out).toContain(JSON.stringify({ histories: files.length, failed: 0 }));
    expect(status).toBe(0);
  });

  it('names a history that does not replay', () => {
    // A settlement history handed over under another workflow type cannot replay.
    const dir = mkdtempSync(path.join(tmpdir(), 'replay-'));
    try {
      const file = readdirSync(histories).find((f) => f.startsWith('settlement-'))!;
      const h = JSON.parse(readFileSync(path.join(histories, file), 'utf8')) as {
        events: { workflowExecutionStartedEventAttributes?: { workflowType: { name: string } } }[];
      };
      h.events[0]!.workflowExecutionStartedEventAttributes!.workflowType.name = 'partnerOnboarding';
      writeFileSync(path.join(dir, 'tampered.json'), JSON.stringify(h));
      const { status, out } = replay(dir);
      expect(out).toMatch(/DOES NOT REPLAY: tampered/);
      expect(status).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
