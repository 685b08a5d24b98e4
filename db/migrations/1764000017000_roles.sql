-- Up Migration

-- Database roles (README, "Database roles and chain checkpoints").
--  * The OWNER runs migrations (DATABASE_OWNER_URL, else DATABASE_URL) and owns every table
--    and function; it is whoever runs this file.
--  * clearhouse_app is the APPLICATION (DATABASE_URL logs in as it or as a member of it): it
--    reads everything and writes what the code writes, but it extends the audit trail and the
--    ledger only through audit_append and ledger_post, which run with the owner's rights
--    (SECURITY DEFINER, fixed search_path). It cannot UPDATE, DELETE or TRUNCATE audit or
--    ledger history, nor write a chain head, nor touch the checkpoints.
--  * clearhouse_checkpointer reads the chain heads and appends signed checkpoints.
-- Roles belong to the cluster, privileges to this database (so a database created from it as
-- a TEMPLATE carries them). Creating the roles needs CREATEROLE; a deployment may create them
-- beforehand (e.g. clearhouse_app WITH LOGIN PASSWORD …), and then they are only granted to.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clearhouse_app') THEN
    CREATE ROLE clearhouse_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clearhouse_checkpointer') THEN
    CREATE ROLE clearhouse_checkpointer NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- another database of this cluster created it at the same moment
END $$;

-- Nobody but the owner creates objects in the schema (a SECURITY DEFINER function's
-- search_path must not be hijackable).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO clearhouse_app, clearhouse_checkpointer;

-- Signed checkpoints of every chain head (scripts/chain-checkpoint.ts). `payload` is the exact
-- text that was signed; the application may only read them.
CREATE TABLE chain_checkpoints (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  taken_at   timestamptz NOT NULL,
  key_id     text NOT NULL CHECK (key_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  payload    text NOT NULL,
  signature  bytea NOT NULL CHECK (length(signature) = 64)
);
CREATE INDEX chain_checkpoints_taken ON chain_checkpoints (taken_at DESC, id DESC);
CREATE FUNCTION chain_checkpoints_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'chain checkpoints are append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'CH409';
END $$;
CREATE TRIGGER chain_checkpoints_append_only BEFORE UPDATE OR DELETE ON chain_checkpoints
  FOR EACH ROW EXECUTE FUNCTION chain_checkpoints_reject_change();
CREATE TRIGGER chain_checkpoints_no_truncate BEFORE TRUNCATE ON chain_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION chain_checkpoints_reject_change();

-- The application: read everything; write every table the code writes...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO clearhouse_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO clearhouse_app;
-- ...except history and chain heads (written only inside audit_append and ledger_post), the
-- ledger accounts' running totals (moved only by the postings trigger; the code only creates
-- accounts, INSERT … ON CONFLICT DO NOTHING), the checkpoints and the migration bookkeeping.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_events, audit_chains, ledger_entries, ledger_postings,
  ledger_blocks, ledger_chains, chain_checkpoints, pgmigrations FROM clearhouse_app;
REVOKE UPDATE, DELETE, TRUNCATE ON ledger_accounts FROM clearhouse_app;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;

-- The checkpointer: the heads (and the history, to walk it), and appending checkpoints.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO clearhouse_checkpointer;
GRANT INSERT ON chain_checkpoints TO clearhouse_checkpointer;

-- Tables and sequences later migrations create (run by the same owner) get the same defaults:
-- the application may read and write them, the checkpointer read them. A later migration that
-- adds history or a chain head REVOKEs from clearhouse_app there, as this one does above.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO clearhouse_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO clearhouse_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO clearhouse_checkpointer;

-- The two functions that extend a chain run with the owner's rights, on a fixed search_path
-- (pg_catalog first, then this schema, temporary objects never). Only the application (and the
-- owner) may call them.
ALTER FUNCTION audit_append(text, smallint, text, text, text, text, text, text, text, text, text, jsonb)
  SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION ledger_post(smallint, text[], date[], text[], text[], jsonb[], bigint[], integer[], bigint[], bigint[], text[], bigint[])
  SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
REVOKE EXECUTE ON FUNCTION audit_append(text, smallint, text, text, text, text, text, text, text, text, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ledger_post(smallint, text[], date[], text[], text[], jsonb[], bigint[], integer[], bigint[], bigint[], text[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_append(text, smallint, text, text, text, text, text, text, text, text, text, jsonb) TO clearhouse_app;
GRANT EXECUTE ON FUNCTION ledger_post(smallint, text[], date[], text[], text[], jsonb[], bigint[], integer[], bigint[], bigint[], text[], bigint[]) TO clearhouse_app;

-- Down Migration

ALTER FUNCTION ledger_post(smallint, text[], date[], text[], text[], jsonb[], bigint[], integer[], bigint[], bigint[], text[], bigint[])
  SECURITY INVOKER RESET search_path;
ALTER FUNCTION audit_append(text, smallint, text, text, text, text, text, text, text, text, text, jsonb)
  SECURITY INVOKER RESET search_path;
GRANT EXECUTE ON FUNCTION audit_append(text, smallint, text, text, text, text, text, text, text, text, text, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_post(smallint, text[], date[], text[], text[], jsonb[], bigint[], integer[], bigint[], bigint[], text[], bigint[]) TO PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM clearhouse_app, clearhouse_checkpointer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM clearhouse_app;
DROP TABLE chain_checkpoints;
DROP FUNCTION chain_checkpoints_reject_change;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM clearhouse_app, clearhouse_checkpointer;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM clearhouse_app;
REVOKE USAGE ON SCHEMA public FROM clearhouse_app, clearhouse_checkpointer;
