-- Up Migration

-- Journals (domain/journal.ts): everything one step of a cycle posts to the ledger (the
-- settlement of a period, its payout), computed from the exact figures, stored once, then
-- posted from what was stored. `entries` is the encoded list (amounts as decimal strings,
-- accounts by their chart spec); `digest` is the sha256 of the whole journal's canonical
-- encoding, so a second store under the same id can tell "the same" from "a different one".
CREATE TABLE journals (
  id              text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 256),
  kind            text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
  source_ref      text NOT NULL CHECK (length(source_ref) BETWEEN 1 AND 256),
  journal_version smallint NOT NULL CHECK (journal_version = 1),
  entries         jsonb NOT NULL CHECK (jsonb_typeof(entries) = 'array'),
  -- What the posting step records in the audit trail (net payable, approvers...).
  summary         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(summary) = 'object'),
  digest          text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journals_source ON journals (source_ref);

-- Stored once: the application inserts and reads, never rewrites (a different journal under
-- the same id is a conflict; corrections are new journals, see diffJournals).
REVOKE UPDATE, DELETE, TRUNCATE ON journals FROM clearhouse_app;

-- A batch of entries as ONE array of rows, each entry carrying its postings, instead of twelve
-- parallel arrays. The rows are unpacked into ledger_post's arrays and posted by it: one
-- implementation of the checks, content hashes, hash chains, idempotency and balances, so an
-- entry posted this way is exactly what ledger_post would have written (ledger:verify walks
-- both alike). Ingest keeps calling ledger_post directly (its hot path is unchanged).
CREATE TYPE ledger_posting_in AS (
  debit_account_id  bigint,
  credit_account_id bigint,
  currency          text,
  amount_minor      bigint
);
CREATE TYPE ledger_entry_in AS (
  idempotency_key   text,
  effective_date    date,
  source_kind       text,
  source_ref        text,
  metadata          jsonb,
  reverses_entry_id bigint,
  postings          ledger_posting_in[]
);

CREATE FUNCTION ledger_post_entries(p_chain_id smallint, p_entries ledger_entry_in[])
RETURNS TABLE (idempotency_key text, entry_id bigint, status text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  WITH e AS MATERIALIZED (
    SELECT u.*
      FROM unnest(p_entries) WITH ORDINALITY
           AS u(k, d, sk, sr, m, rv, postings, i)
  ), p AS MATERIALIZED (
    -- Postings grouped by entry, in entry order then their own: ledger_post numbers the lines.
    SELECT e.i, q.debit_account_id, q.credit_account_id, q.currency, q.amount_minor, q.j
      FROM e, unnest(e.postings) WITH ORDINALITY AS q(debit_account_id, credit_account_id, currency, amount_minor, j)
  )
  SELECT r.idempotency_key, r.entry_id, r.status
    FROM ledger_post(
           p_chain_id,
           ARRAY(SELECT k FROM e ORDER BY i),
           ARRAY(SELECT d FROM e ORDER BY i),
           ARRAY(SELECT sk FROM e ORDER BY i),
           ARRAY(SELECT sr FROM e ORDER BY i),
           ARRAY(SELECT m FROM e ORDER BY i),
           ARRAY(SELECT rv FROM e ORDER BY i),
           ARRAY(SELECT i::integer FROM p ORDER BY i, j),
           ARRAY(SELECT debit_account_id FROM p ORDER BY i, j),
           ARRAY(SELECT credit_account_id FROM p ORDER BY i, j),
           ARRAY(SELECT currency FROM p ORDER BY i, j),
           ARRAY(SELECT amount_minor FROM p ORDER BY i, j)
         ) r
$$;
REVOKE EXECUTE ON FUNCTION ledger_post_entries(smallint, ledger_entry_in[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_post_entries(smallint, ledger_entry_in[]) TO clearhouse_app;

-- Down Migration
DROP FUNCTION ledger_post_entries(smallint, ledger_entry_in[]);
DROP TYPE ledger_entry_in;
DROP TYPE ledger_posting_in;
DROP TABLE journals;
