import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** How far the sweep of Temporal's interventions has looked in a namespace (null: never). */
export async function sweptUntil(db: Queryable, namespace: string): Promise<Date | null> {
  const { rows } = await db.query<{ swept_until: Date }>(
    'SELECT swept_until FROM temporal_sweeps WHERE namespace = $1',
    [namespace],
  );
  return rows[0]?.swept_until ?? null;
}

/** Moves the sweep's mark forward (never back). */
export async function markSwept(db: Queryable, namespace: string, until: Date): Promise<void> {
  await db.query(
    `INSERT INTO temporal_sweeps (namespace, swept_until) VALUES ($1, $2)
     ON CONFLICT (namespace) DO UPDATE
        SET swept_until = greatest(temporal_sweeps.swept_until, EXCLUDED.swept_until), updated_at = now()`,
    [namespace, until],
  );
}
