import { execFile } from 'node:child_process';
import type { Stack } from './stack';

/**
 * `temporal workflow update execute` against a stack's Temporal, as an operator types it.
 * Asynchronous: the workers run in the test's process and must answer while the CLI waits.
 */
export function temporalUpdate(
  cli: string,
  stack: Stack,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cli,
      [
        'workflow',
        'update',
        'execute',
        '--address',
        stack.env.TEMPORAL_ADDRESS!,
        '--namespace',
        'default',
        ...args,
      ],
      { encoding: 'utf8', timeout: timeoutMs },
      (err, stdout, stderr) =>
        resolve({ status: err ? ((err.code as number | undefined) ?? 1) : 0, stdout, stderr }),
    );
  });
}
