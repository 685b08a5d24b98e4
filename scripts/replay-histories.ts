import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DEV_DEFAULTS } from '../platform/config';
import { bundleWorkflows, workerDataConverter } from '../workers/create';

// `npm run replay -- [file.json|dir ...]`: replays workflow histories against the current
// workflow code and names each one that no longer replays (a non-determinism error means a
// running workflow would be stuck after deploying this code). Defaults to test/histories/,
// the histories recorded by earlier versions. A history from a cluster works too:
// `temporal workflow show -w <id> --output json > h.json`.
// `--bundle <file>` replays against an already built workflow bundle (the test suite's).
async function main(): Promise<void> {
  // The SDK's worker state changes are noise here; what does not replay is printed below.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const args = process.argv.slice(2);
  const b = args.indexOf('--bundle');
  const bundlePath = b >= 0 ? args.splice(b, 2)[1] : undefined;
  const targets = args.length > 0 ? args : [path.join(__dirname, '..', 'test', 'histories')];
  const files = targets.flatMap((t) =>
    statSync(t).isDirectory()
      ? readdirSync(t)
          .filter((f) => f.endsWith('.json'))
          .sort()
          .map((f) => path.join(t, f))
      : [t],
  );
  if (files.length === 0) throw new Error(`no history files in ${targets.join(', ')}`);
  const workflowBundle = bundlePath ? { codePath: bundlePath } : await bundleWorkflows();
  // Every key a recorded seal may carry: DECISION_SEAL_PUBLIC_KEYS, or development's key.
  const dataConverter = workerDataConverter({
    decisionSeals: {
      privateKey: process.env.DECISION_SEAL_PUBLIC_KEYS ? null : DEV_DEFAULTS.DECISION_SEAL_PRIVATE_KEY,
      publicKeys: process.env.DECISION_SEAL_PUBLIC_KEYS ?? null,
      ttlMs: 0,
    },
  });
  let failed = 0;
  for (const file of files) {
    const name = path.basename(file, '.json');
    try {
      const history: unknown = JSON.parse(readFileSync(file, 'utf8'));
      await Worker.runReplayHistory({ workflowBundle, dataConverter }, history, name);
      process.stdout.write(`replays: ${name}\n`);
    } catch (err) {
      failed++;
      process.stdout.write(`DOES NOT REPLAY: ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  process.stdout.write(`${JSON.stringify({ histories: files.length, failed })}\n`);
  process.exitCode = failed === 0 ? 0 : 2;
}

main().catch((err: unknown) => {
  process.stderr.write(`replay failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
