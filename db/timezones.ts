import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// What the time-zone check (scripts/timezones-check.ts) asks the database: the zones stored,
// and which zones this Postgres knows.

/** Every stored zone: each partner's, and each provider connection's `options.timezone`. */
export async function storedTimezones(db: Queryable): Promise<{
  partners: { id: string; timezone: string }[];
  connections: { partnerId: string; timezone: string }[];
}> {
  const partners = await db.query<{ id: string; timezone: string }>(
    'SELECT id, timezone FROM partners ORDER BY id',
  );
  const connections = await db.query<{ partnerId: string; timezone: string }>(
    `SELECT partner_id AS "partnerId", options->>'timezone' AS timezone FROM partner_providers
      WHERE options ? 'timezone' ORDER BY partner_id`,
  );
  return { partners: partners.rows, connections: connections.rows };
}

/** Whether this Postgres can load a zone (its name, any spelling it accepts). */
export async function postgresLoadsTimezone(db: Queryable, timezone: string): Promise<boolean> {
  try {
    await db.query('SELECT now() AT TIME ZONE $1', [timezone]);
    return true;
  } catch {
    return false;
  }
}

/** The zone names this Postgres lists (pg_timezone_names), spelt as it spells them. */
export async function postgresTimezoneNames(db: Queryable): Promise<Set<string>> {
  const { rows } = await db.query<{ name: string }>('SELECT name FROM pg_timezone_names');
  return new Set(rows.map((r) => r.name));
}
