import { publicKeyEntry, takeCheckpoint } from '../db/checkpoints';
import { createPool } from '../db/pool';
import { loadConfigOrExit } from '../platform/config';

// `npm run chain:checkpoint`: signs the heads of every audit and ledger chain (one snapshot)
// with CHECKPOINT_SIGNING_KEY and stores the checkpoint in chain_checkpoints, which the
// application's role may only read (and appends it to CHECKPOINT_FILE when set).
//   --every 60s   keep taking one on that schedule (s, m or h) until SIGINT/SIGTERM
//   --public-key  print the CHECKPOINT_PUBLIC_KEYS entry of the signing key and exit
// It connects with CHECKPOINT_DATABASE_URL, else DATABASE_OWNER_URL, else DATABASE_URL.
function parseEvery(args: string[]): number | null {
  const i = args.indexOf('--every');
  if (i < 0) return null;
  const m = /^(\d+)(s|m|h)?$/.exec(args[i + 1] ?? '');
  if (!m || Number(m[1]) === 0) throw new Error('--every needs a duration such as 60s, 5m or 1h');
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const config = loadConfigOrExit();
  const { signingKey, keyId, databaseUrl, file } = config.checkpoints;
  if (!signingKey || !keyId) {
    process.stderr.write(
      'chain:checkpoint: CHECKPOINT_SIGNING_KEY is not set (an Ed25519 PKCS8 key, base64 DER or PEM; README, "Chain checkpoints")\n',
    );
    process.exit(78);
  }
  if (args.includes('--public-key')) {
    process.stdout.write(`${publicKeyEntry({ signingKey, keyId })}\n`);
    return;
  }
  const every = parseEvery(args);
  const db = createPool({ db: { url: databaseUrl, poolMax: 1 } });
  const once = async () => {
    const cp = await takeCheckpoint(db, { signingKey, keyId }, file);
    process.stdout.write(
      `checkpoint ${cp.id} of ${cp.takenAt} signed with key ${cp.keyId}${file ? ` (and appended to ${file})` : ''}\n`,
    );
  };
  try {
    if (every === null) return await once();
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    process.once('SIGINT', () => stop());
    process.once('SIGTERM', () => stop());
    for (;;) {
      // A failed round (the database restarting) is told and retried at the next one.
      await once().catch((err: unknown) =>
        process.stderr.write(`checkpoint failed: ${err instanceof Error ? err.message : String(err)}\n`),
      );
      let timer: NodeJS.Timeout | undefined;
      const more = await Promise.race([
        stopped.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), every))),
      ]);
      clearTimeout(timer);
      if (!more) return;
    }
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`chain:checkpoint failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
