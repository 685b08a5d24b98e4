// Finds (or installs) the pinned Schemathesis, the independent API fuzzer the contract test
// (test/api-contract.test.ts) runs against /openapi.json. Plain JavaScript like the Temporal
// launchers: .ci/run calls it before npm test. Installed from PyPI with pip --target into
// .tools/, run as `python -m schemathesis.cli` with that directory on PYTHONPATH. Pinned:
// another version generates other cases and has other checks, so an upgrade is a change of
// its own (bump SCHEMATHESIS_VERSION, run the contract test, fix what it finds).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipInstallTarget } from './pip.mjs';

export const SCHEMATHESIS_VERSION = '4.32.5';
// What generates the cases and checks them, pinned too: a fixed seed reproduces a run only with
// the same Hypothesis (the rest of Schemathesis' dependencies only carry requests and output).
const REQUIREMENTS = [
  `schemathesis==${SCHEMATHESIS_VERSION}`,
  'hypothesis==6.170.27',
  'jsonschema-rs==0.60.3',
];
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The directory names the whole pin: another pin installs afresh beside it.
const DIR = path.join(ROOT, '.tools', `schemathesis-${SCHEMATHESIS_VERSION}-hypothesis-6.170.27`);

/** How to run it: the interpreter pip installed it for, with the install on PYTHONPATH. */
function command(python) {
  return { command: python, args: ['-m', 'schemathesis.cli'], env: { PYTHONPATH: DIR } };
}

function works(cmd) {
  const r = spawnSync(cmd.command, [...cmd.args, '--version'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...cmd.env },
  });
  return r.status === 0 && r.stdout.includes(SCHEMATHESIS_VERSION);
}

/** @returns {{command: string, args: string[], env: Record<string, string>} | null} */
export function ensureSchemathesis(log = (m) => process.stderr.write(`${m}\n`)) {
  for (const python of ['python3', 'python']) if (works(command(python))) return command(python);
  log(`installing Schemathesis ${SCHEMATHESIS_VERSION} from PyPI into ${path.relative(ROOT, DIR)}/ …`);
  if (pipInstallTarget(REQUIREMENTS, DIR))
    for (const python of ['python3', 'python']) if (works(command(python))) return command(python);
  log(`pip could not install schemathesis==${SCHEMATHESIS_VERSION}`);
  return null;
}

/** The installed copy, or null (never installs: the test says how to). */
export function schemathesisCommand() {
  for (const python of ['python3', 'python']) if (works(command(python))) return command(python);
  return null;
}

// Run directly (`node scripts/lib/schemathesis.mjs`): install if needed, print the version (.ci/run).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cmd = ensureSchemathesis();
  if (!cmd) process.exit(1);
  process.stdout.write(`schemathesis ${SCHEMATHESIS_VERSION} (${cmd.command} -m schemathesis.cli)\n`);
}
