#!/usr/bin/env node
// Fails, in one line, when package-lock.json is not exactly what npm writes for package.json:
// such a lockfile is refused by `npm ci` on users' machines (e.g. one that lacks other
// platforms' optional binaries). Used by .ci/run before `npm ci`. Plain JavaScript: it runs
// before dependencies are installed.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'clearhouse-lockcheck-'));
try {
  for (const f of ['package.json', 'package-lock.json'])
    copyFileSync(path.join(root, f), path.join(scratch, f));
  const r = spawnSync(
    'npm',
    ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'],
    {
      cwd: scratch,
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) {
    process.stderr.write(
      `lockfile check could not run npm (exit ${r.status}): ${r.stderr.trim().split('\n').at(-1)}\n`,
    );
    process.exit(1);
  }
  const same =
    readFileSync(path.join(root, 'package-lock.json'), 'utf8') ===
    readFileSync(path.join(scratch, 'package-lock.json'), 'utf8');
  if (!same) {
    process.stderr.write(
      'package-lock.json is out of date with package.json: run `npm install --package-lock-only` and commit the lockfile\n',
    );
    process.exit(1);
  }
  process.stdout.write('package-lock.json matches package.json\n');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
