import { migrateUp } from '../db/migrate';
import { loadConfigOrExit } from '../platform/config';

// `npm run migrate`: applies pending migrations as the owner: DATABASE_OWNER_URL, else DATABASE_URL
// (a single-URL deployment), else the dev default (the embedded Postgres superuser).
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const applied = await migrateUp(config.db.ownerUrl);
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
