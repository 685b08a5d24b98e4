import pg from 'pg';
import type { Config } from '../platform/config';

// Postgres bigint (int8) and numeric arrive as strings by default; money code parses them
// exactly with BigInt, never through a float.
export function createPool(
  config: { db: Pick<Config['db'], 'url' | 'poolMax'> },
  overrides: pg.PoolConfig = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.db.url,
    max: config.db.poolMax,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'clearhouse',
    ...overrides,
  });
  // An idle connection dropped by the server (restart, failover) must not crash the
  // process: the pool replaces it on next use, and /readyz reports the outage meanwhile.
  pool.on('error', (err) => {
    process.stderr.write(`postgres: idle connection lost (${err.message}); it will be replaced\n`);
  });
  // A connection lost while checked out (in a transaction, between two queries) emits 'error'
  // on its client, where the pool has no listener then: unhandled, that killed the API when
  // Postgres restarted (found by npm run chaos). The caller's query fails with the same error
  // and handles it; withTransaction then discards the connection.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

export type Db = pg.Pool;

/** Whether the database answers (readiness). */
export async function ping(db: Pick<pg.Pool, 'query'>): Promise<void> {
  await db.query('SELECT 1');
}
