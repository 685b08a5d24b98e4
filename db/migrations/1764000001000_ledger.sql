-- Up Migration

-- The double-entry ledger. Its rules live here, in the schema, not only in application code:
--  * a posting moves a positive amount from one account to another of the same currency, so
--    every posting, hence every entry, is balanced by construction (Σ debits = Σ credits);
--  * account balances are maintained by a trigger in the same statement as the postings, so
--    no write path can leave balances and postings disagreeing;
--  * entries, postings and blocks are append-only (corrections are reversing entries);
--  * entries are hash-chained in blocks for tamper evidence (see ledger_post below).

CREATE TABLE ledger_accounts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code          text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9:_.-]{3,200}$' OR code ~ '^[a-z0-9:_.-]+:[A-Z][A-Z0-9]{2,9}$'),
  owner_kind    text NOT NULL CHECK (owner_kind IN ('house', 'partner')),
  partner_id    text REFERENCES partners (id),
  kind          text NOT NULL CHECK (kind IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
  currency      text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
  -- Running totals; balance (debit-positive) = debits_minor - credits_minor.
  debits_minor  bigint NOT NULL DEFAULT 0 CHECK (debits_minor >= 0),
  credits_minor bigint NOT NULL DEFAULT 0 CHECK (credits_minor >= 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  CHECK ((owner_kind = 'partner') = (partner_id IS NOT NULL))
) WITH (fillfactor = 50); -- room for HOT updates: balances change constantly, indexed columns never

-- Tamper evidence. Entries are grouped in blocks (one block per posting call); each block's
-- hash covers the content hashes of its entries and the previous block's hash on the same
-- chain. There are several chains, so concurrent writers lock different chain heads instead
-- of queueing on one.
CREATE TABLE ledger_chains (
  chain_id     smallint PRIMARY KEY CHECK (chain_id >= 0),
  head_seq     bigint NOT NULL DEFAULT 0,
  head_hash    bytea NOT NULL
);
INSERT INTO ledger_chains (chain_id, head_hash)
SELECT c, sha256(convert_to('clearhouse-ledger-genesis-' || c, 'UTF8')) FROM generate_series(0, 63) AS c;

CREATE TABLE ledger_blocks (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  chain_id      smallint NOT NULL REFERENCES ledger_chains (chain_id),
  seq           bigint NOT NULL CHECK (seq > 0),
  prev_hash     bytea NOT NULL,
  entries_hash  bytea NOT NULL,
  hash          bytea NOT NULL,
  entry_count   integer NOT NULL CHECK (entry_count > 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chain_id, seq)
);

CREATE TABLE ledger_entries (
  -- Ids are allocated in ranges per connection (cache): cheap, increasing within a call.
  id                bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000) PRIMARY KEY,
  idempotency_key   text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 256),
  effective_date    date NOT NULL,
  posted_at         timestamptz NOT NULL DEFAULT now(),
  source_kind       text NOT NULL CHECK (source_kind IN ('ingest_batch', 'settlement', 'adjustment', 'reversal', 'transfer')),
  source_ref        text NOT NULL,
  metadata          jsonb NOT NULL DEFAULT '{}',
  reverses_entry_id bigint UNIQUE REFERENCES ledger_entries (id),
  block_id          bigint NOT NULL REFERENCES ledger_blocks (id),
  content_hash      bytea NOT NULL,
  CHECK ((source_kind = 'reversal') = (reverses_entry_id IS NOT NULL))
);
CREATE INDEX ledger_entries_block ON ledger_entries (block_id);
CREATE INDEX ledger_entries_source ON ledger_entries (source_kind, source_ref);

CREATE TABLE ledger_postings (
  entry_id          bigint NOT NULL REFERENCES ledger_entries (id),
  line              smallint NOT NULL CHECK (line >= 0),
  debit_account_id  bigint NOT NULL,
  credit_account_id bigint NOT NULL,
  currency          text NOT NULL,
  amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
  -- Copied from the entry so point-in-time balances are one index range per account.
  effective_date    date NOT NULL,
  posted_at         timestamptz NOT NULL,
  PRIMARY KEY (entry_id, line),
  CHECK (debit_account_id <> credit_account_id)
  -- Both accounts must exist and be in the posting's currency: checked set-based by the
  -- statement trigger below (one join per statement instead of two foreign-key probes per row).
);
CREATE INDEX ledger_postings_debit ON ledger_postings (debit_account_id, effective_date) INCLUDE (amount_minor, posted_at);
CREATE INDEX ledger_postings_credit ON ledger_postings (credit_account_id, effective_date) INCLUDE (amount_minor, posted_at);

-- Append-only: no UPDATE, DELETE or TRUNCATE of ledger history, whoever connects.
CREATE FUNCTION ledger_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: % on % is not allowed (post a reversing entry instead)', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'CH001';
END $$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_blocks_append_only BEFORE UPDATE OR DELETE ON ledger_blocks FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();

-- Balances move in the same statement as the postings, for every insert path. Accounts are
-- locked only here, at the end of the statement, and in descending id order: one order for
-- every writer (no deadlocks), and the oldest accounts — the house's hot ones — are locked
-- last, so concurrent batches wait on them for the shortest time.
CREATE FUNCTION ledger_apply_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_bad text;
BEGIN
  PERFORM 1 FROM ledger_accounts
   WHERE id IN (SELECT debit_account_id FROM new_postings UNION SELECT credit_account_id FROM new_postings)
   ORDER BY id DESC FOR NO KEY UPDATE;
  SELECT format('posting %s/%s: account %s does not exist in %s', p.entry_id, p.line, p.account_id, p.currency) INTO v_bad
    FROM (SELECT entry_id, line, debit_account_id AS account_id, currency FROM new_postings
          UNION ALL SELECT entry_id, line, credit_account_id, currency FROM new_postings) p
    LEFT JOIN ledger_accounts a ON a.id = p.account_id AND a.currency = p.currency
   WHERE a.id IS NULL LIMIT 1;
  IF v_bad IS NOT NULL THEN
    RAISE EXCEPTION '%', v_bad USING ERRCODE = '23503'; -- foreign_key_violation
  END IF;
  UPDATE ledger_accounts a
     SET debits_minor = a.debits_minor + d.debits, credits_minor = a.credits_minor + d.credits
    FROM (SELECT account_id, sum(debits)::bigint AS debits, sum(credits)::bigint AS credits
            FROM (SELECT debit_account_id AS account_id, amount_minor AS debits, 0::bigint AS credits FROM new_postings
                  UNION ALL
                  SELECT credit_account_id, 0, amount_minor FROM new_postings) moves
           GROUP BY account_id) d
   WHERE a.id = d.account_id;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_postings_balances AFTER INSERT ON ledger_postings
  REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT EXECUTE FUNCTION ledger_apply_postings();

-- The canonical content of an entry, hashed. One definition, used to post and to verify.
CREATE FUNCTION ledger_entry_content_hash(
  p_key text, p_effective_date date, p_source_kind text, p_source_ref text, p_metadata jsonb,
  p_reverses bigint, p_postings text
) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT sha256(convert_to(concat_ws(E'\x1f', p_key, p_effective_date::text, p_source_kind, p_source_ref,
                                     p_metadata::text, coalesce(p_reverses::text, ''), p_postings), 'UTF8'))
$$;

-- The postings of an entry in canonical text form: line:debit>credit:currency:amount;...
CREATE FUNCTION ledger_postings_text(p_entry_id bigint) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT string_agg(line || ':' || debit_account_id || '>' || credit_account_id || ':' || currency || ':' || amount_minor, ';' ORDER BY line)
    FROM ledger_postings WHERE entry_id = p_entry_id
$$;

-- Posts a batch of entries in one call (one round trip, like TigerBeetle's batches).
-- Entries are parallel arrays; postings are parallel arrays whose p_entry_idx (1-based)
-- points at their entry, grouped by entry in ascending order. Idempotent per idempotency
-- key: a key already posted with the same content is reported 'duplicate' and not posted
-- again; the same key with different content raises CH409 and nothing of the call is written.
-- Set-based and join-free on the hot path: entries and their postings are zipped by array
-- position, and entry ids are allocated up front so postings can reference them directly.
CREATE FUNCTION ledger_post(
  p_chain_id       smallint,
  e_keys           text[],
  e_effective      date[],
  e_source_kinds   text[],
  e_source_refs    text[],
  e_metadata       jsonb[],
  e_reverses       bigint[],
  p_entry_idx      integer[],
  p_debit          bigint[],
  p_credit         bigint[],
  p_currency       text[],
  p_amount         bigint[]
) RETURNS TABLE (idempotency_key text, entry_id bigint, status text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  n_entries integer := coalesce(cardinality(e_keys), 0);
  v_ptext text[];
  v_groups integer;
  v_ordered boolean;
  v_hashes bytea[];
  v_dup_idx integer[];
  v_dup_ids bigint[];
  v_conflicts text[];
  v_ids bigint[];
  v_block_id bigint;
  v_prev_hash bytea;
  v_seq bigint;
  v_entries_hash bytea;
  v_hash bytea;
  v_new_count integer;
  v_seq_name text := pg_get_serial_sequence('ledger_entries', 'id');
BEGIN
  IF n_entries = 0 THEN RETURN; END IF;
  IF cardinality(e_effective) <> n_entries OR cardinality(e_source_kinds) <> n_entries
     OR cardinality(e_source_refs) <> n_entries OR cardinality(e_metadata) <> n_entries
     OR cardinality(e_reverses) <> n_entries THEN
    RAISE EXCEPTION 'ledger_post: entry arrays differ in length' USING ERRCODE = 'CH422';
  END IF;
  IF cardinality(p_entry_idx) <> cardinality(p_debit) OR cardinality(p_debit) <> cardinality(p_credit)
     OR cardinality(p_credit) <> cardinality(p_currency) OR cardinality(p_currency) <> cardinality(p_amount) THEN
    RAISE EXCEPTION 'ledger_post: posting arrays differ in length' USING ERRCODE = 'CH422';
  END IF;

  -- Canonical postings text per entry, in entry order; every entry needs postings.
  SELECT array_agg(t ORDER BY entry_idx), count(*), bool_and(entry_idx = rn)
    INTO v_ptext, v_groups, v_ordered
    FROM (SELECT entry_idx, row_number() OVER (ORDER BY entry_idx) AS rn,
                 string_agg((line - 1) || ':' || debit || '>' || credit || ':' || currency || ':' || amount, ';' ORDER BY line) AS t
            FROM (SELECT u.entry_idx, u.debit, u.credit, u.currency, u.amount,
                         u.ord - min(u.ord) OVER (PARTITION BY u.entry_idx) + 1 AS line
                    FROM unnest(p_entry_idx, p_debit, p_credit, p_currency, p_amount) WITH ORDINALITY
                         AS u(entry_idx, debit, credit, currency, amount, ord)) q
           GROUP BY entry_idx) g;
  IF v_groups IS DISTINCT FROM n_entries OR NOT v_ordered THEN
    RAISE EXCEPTION 'ledger_post: every entry needs at least one posting, and postings must reference entries 1..n' USING ERRCODE = 'CH422';
  END IF;

  SELECT array_agg(ledger_entry_content_hash(k, d, sk, sr, coalesce(m, '{}'::jsonb), rv, pt) ORDER BY idx)
    INTO v_hashes
    FROM unnest(e_keys, e_effective, e_source_kinds, e_source_refs, e_metadata, e_reverses, v_ptext) WITH ORDINALITY
         AS u(k, d, sk, sr, m, rv, pt, idx);

  -- Idempotency: compare with what is already posted under the same keys (index probes).
  SELECT array_agg(u.idx ORDER BY u.idx) FILTER (WHERE le.content_hash = u.h),
         array_agg(le.id ORDER BY u.idx) FILTER (WHERE le.content_hash = u.h),
         array_agg(u.k ORDER BY u.idx) FILTER (WHERE le.content_hash <> u.h),
         count(DISTINCT u.k) FILTER (WHERE true) - count(*) -- negative when a key repeats
    INTO v_dup_idx, v_dup_ids, v_conflicts, v_groups
    FROM unnest(e_keys, v_hashes) WITH ORDINALITY AS u(k, h, idx)
    LEFT JOIN ledger_entries le ON le.idempotency_key = u.k;
  IF v_groups <> 0 THEN
    RAISE EXCEPTION 'ledger_post: an idempotency key appears twice in one batch' USING ERRCODE = 'CH422';
  END IF;
  IF v_conflicts IS NOT NULL THEN
    RAISE EXCEPTION 'ledger_post: idempotency keys reused with different content' USING ERRCODE = 'CH409', DETAIL = array_to_string(v_conflicts, ',');
  END IF;
  v_dup_idx := coalesce(v_dup_idx, '{}');
  v_new_count := n_entries - cardinality(v_dup_idx);

  IF v_new_count > 0 THEN
    SELECT sha256(string_agg(h, ''::bytea ORDER BY idx)) INTO v_entries_hash
      FROM unnest(v_hashes) WITH ORDINALITY AS u(h, idx) WHERE NOT (idx = ANY (v_dup_idx));
    -- The chain head is the only shared row a posting call locks besides its accounts.
    SELECT c.head_seq + 1, c.head_hash INTO v_seq, v_prev_hash FROM ledger_chains c WHERE c.chain_id = p_chain_id FOR UPDATE;
    IF v_seq IS NULL THEN
      RAISE EXCEPTION 'ledger_post: unknown chain %', p_chain_id USING ERRCODE = 'CH422';
    END IF;
    v_hash := sha256(v_prev_hash || v_entries_hash);
    UPDATE ledger_chains SET head_seq = v_seq, head_hash = v_hash WHERE chain_id = p_chain_id;
    INSERT INTO ledger_blocks (chain_id, seq, prev_hash, entries_hash, hash, entry_count)
    VALUES (p_chain_id, v_seq, v_prev_hash, v_entries_hash, v_hash, v_new_count)
    RETURNING id INTO v_block_id;

    -- One id per entry position (duplicates leave a harmless gap).
    SELECT array_agg(nextval(v_seq_name::regclass)) INTO v_ids FROM generate_series(1, n_entries);

    INSERT INTO ledger_entries (id, idempotency_key, effective_date, source_kind, source_ref, metadata, reverses_entry_id, block_id, content_hash)
    OVERRIDING SYSTEM VALUE
    SELECT id, k, d, sk, sr, coalesce(m, '{}'::jsonb), rv, v_block_id, h
      FROM unnest(v_ids, e_keys, e_effective, e_source_kinds, e_source_refs, e_metadata, e_reverses, v_hashes) WITH ORDINALITY
           AS u(id, k, d, sk, sr, m, rv, h, idx)
     WHERE NOT (idx = ANY (v_dup_idx))
     ORDER BY idx;

    INSERT INTO ledger_postings (entry_id, line, debit_account_id, credit_account_id, currency, amount_minor, effective_date, posted_at)
    SELECT v_ids[u.entry_idx], (u.ord - min(u.ord) OVER (PARTITION BY u.entry_idx))::smallint, u.debit, u.credit, u.currency, u.amount,
           e_effective[u.entry_idx], now()
      FROM unnest(p_entry_idx, p_debit, p_credit, p_currency, p_amount) WITH ORDINALITY
           AS u(entry_idx, debit, credit, currency, amount, ord)
     WHERE NOT (u.entry_idx = ANY (v_dup_idx));
  END IF;

  RETURN QUERY
    SELECT u.k, CASE WHEN u.idx = ANY (v_dup_idx) THEN v_dup_ids[array_position(v_dup_idx, u.idx::integer)] ELSE v_ids[u.idx] END,
           CASE WHEN u.idx = ANY (v_dup_idx) THEN 'duplicate' ELSE 'posted' END
      FROM unnest(e_keys) WITH ORDINALITY AS u(k, idx) ORDER BY u.idx;
END $$;

-- Down Migration
DROP FUNCTION ledger_post;
DROP FUNCTION ledger_postings_text;
DROP FUNCTION ledger_entry_content_hash;
DROP TABLE ledger_postings;
DROP TABLE ledger_entries;
DROP TABLE ledger_blocks;
DROP TABLE ledger_chains;
DROP TABLE ledger_accounts;
DROP FUNCTION ledger_apply_postings;
DROP FUNCTION ledger_reject_change;
