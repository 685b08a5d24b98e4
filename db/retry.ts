import type pg from 'pg';

/** Postgres errors that mean "the same transaction would succeed if run again". */
const RETRYABLE_SQLSTATES = new Set([
  '40P01', // deadlock_detected
  '40001', // serialization_failure
]);
export const MAX_TX_ATTEMPTS = 5;

export function sqlState(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

/**
 * Runs fn in a transaction, retrying deadlocks and serialization failures (and, when the
 * caller says so, unique violations raced by a concurrent idempotent write) with jittered
 * backoff, so they never surface as a 5xx.
 */
export async function withTransaction<T>(
  db: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  opts: { retryUniqueViolation?: boolean } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await db.connect();
    // A connection that cannot even roll back is broken (Postgres restarted): destroyed on release.
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      const state = sqlState(err);
      const retryable =
        (state !== undefined && RETRYABLE_SQLSTATES.has(state)) ||
        (opts.retryUniqueViolation === true && state === '23505');
      if (!retryable || attempt >= MAX_TX_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 5 * 2 ** attempt + Math.random() * 10));
    } finally {
      client.release(broken);
    }
  }
}
