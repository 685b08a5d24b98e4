import path from 'node:path';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

/**
 * Applies pending migrations (node-pg-migrate, plain SQL files in db/migrations).
 * node-pg-migrate takes an advisory lock, so concurrent callers are safe.
 */
export async function migrateUp(
  databaseUrl: string,
  log: (msg: string) => void = () => undefined,
): Promise<string[]> {
  // node-pg-migrate is ESM-only; a dynamic import keeps this module CommonJS.
  const { runner } = await import('node-pg-migrate');
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: 'pgmigrations',
    direction: 'up',
    count: Infinity,
    checkOrder: true,
    singleTransaction: true,
    log,
  });
  return applied.map((m) => m.name);
}
