import { createPool } from '../db/pool';
import { resealAll } from '../db/secrets';
import { loadConfigOrExit } from '../platform/config';
import { SecretBox } from '../platform/secrets';

// `npm run secrets:rotate`: seals every stored secret (webhook signing secrets, provider
// credentials, keys waiting to be collected, applications' provider credentials) again under the
// current key — the first of SECRETS_KEYS — bound to its owner and purpose. Values of the first
// format and values under an older key are re-sealed; the rest is left alone, so a second run
// changes nothing. Procedure (README, "Rotating the secrets key"): add the new key first in
// SECRETS_KEYS and restart, run this, then remove the old key. The last line is a JSON object.
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const box = new SecretBox(config.secretKeys);
  const db = createPool(config, { max: 2 });
  try {
    const counts = await resealAll(db, box);
    for (const table of Object.keys(counts.scanned))
      process.stdout.write(
        `${table}: ${counts.resealed[table]} re-sealed, ${counts.current[table]} already under ${box.currentKid}\n`,
      );
    const resealed = Object.values(counts.resealed).reduce((a, b) => a + b, 0);
    const scanned = Object.values(counts.scanned).reduce((a, b) => a + b, 0);
    process.stdout.write(
      `${JSON.stringify({ kid: box.currentKid, total: { scanned, resealed }, ...counts })}\n`,
    );
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`secrets:rotate failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
