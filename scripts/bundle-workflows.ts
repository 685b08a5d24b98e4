import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflows } from '../workers/create';

// `npm run bundle:workflows -- <file>`: builds the workflow bundle once, ahead of the workers
// (at image build, or before a benchmark starts its worker), for WORKFLOW_BUNDLE_PATH. A worker
// given one starts without running webpack in its own process, which is most of its start-up
// memory.
async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: npm run bundle:workflows -- <file>');
  const { code } = await bundleWorkflows();
  writeFileSync(path.resolve(out), code);
  process.stdout.write(`${JSON.stringify({ bundle: path.resolve(out), bytes: Buffer.byteLength(code) })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bundle:workflows failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
