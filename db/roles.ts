import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** The tables whose history and chain heads the application may extend only through SQL functions. */
export const PROTECTED_TABLES = [
  'audit_events',
  'audit_chains',
  'ledger_entries',
  'ledger_postings',
  'ledger_blocks',
  'ledger_chains',
] as const;

export interface ConnectedRole {
  role: string;
  superuser: boolean;
  /** Protected tables this role owns (directly or as a member of their owner). */
  owns: string[];
  /** Protected tables this role may UPDATE, DELETE or TRUNCATE directly. */
  mayRewrite: string[];
}

/** Who this connection is, as far as the audit and ledger history are concerned. */
export async function connectedRole(db: Queryable): Promise<ConnectedRole> {
  const { rows } = await db.query<{
    role: string;
    superuser: boolean;
    owns: string[] | null;
    may_rewrite: string[] | null;
  }>(
    `SELECT current_user::text AS role,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
            (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
              WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY ($1::text[])
                AND pg_has_role(current_user, c.relowner, 'MEMBER')) AS owns,
            (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
              WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY ($1::text[])
                AND has_table_privilege(current_user, c.oid, 'UPDATE, DELETE, TRUNCATE')) AS may_rewrite`,
    [PROTECTED_TABLES],
  );
  const r = rows[0]!;
  return { role: r.role, superuser: r.superuser, owns: r.owns ?? [], mayRewrite: r.may_rewrite ?? [] };
}

/**
 * Why this connection must not run the API or a worker in production (one line), or null when
 * it is an application role: not a superuser, owning none of the audit and ledger tables and
 * unable to rewrite them.
 */
export async function applicationRoleProblem(db: Queryable): Promise<string | null> {
  const r = await connectedRole(db);
  const fix =
    'connect DATABASE_URL as a login member of clearhouse_app and run migrations with DATABASE_OWNER_URL (README, "Database roles")';
  if (r.superuser) return `DATABASE_URL connects as "${r.role}", a superuser: ${fix}`;
  if (r.owns.length > 0) return `DATABASE_URL connects as "${r.role}", owner of ${r.owns.join(', ')}: ${fix}`;
  if (r.mayRewrite.length > 0)
    return `DATABASE_URL connects as "${r.role}", which may rewrite ${r.mayRewrite.join(', ')}: ${fix}`;
  return null;
}

/**
 * The start-up check of the API and the worker: in production, the one line to stop with when
 * the connection is not the application's role (null: start).
 */
export async function startupRoleRefusal(
  config: { nodeEnv: string },
  db: Queryable,
  who: 'api' | 'worker',
): Promise<string | null> {
  if (config.nodeEnv !== 'production') return null;
  const problem = await applicationRoleProblem(db);
  return problem ? `${who} refuses to start: ${problem}` : null;
}
