-- Up Migration

-- The audit trail: who did what to which object, from where, when. Append-only and
-- hash-chained like the ledger (ledger_chains): each event's hash covers its canonical
-- content and the previous event's hash on the same chain; there are several chains so that
-- concurrent writers (partners pushing batches, operators, workflows) lock different heads.
-- `npm run audit:verify` walks the chains.
CREATE TABLE audit_chains (
  chain_id   smallint PRIMARY KEY CHECK (chain_id >= 0),
  head_seq   bigint NOT NULL DEFAULT 0,
  head_hash  bytea NOT NULL
);
INSERT INTO audit_chains (chain_id, head_hash)
SELECT c, sha256(convert_to('clearhouse-audit-genesis-' || c, 'UTF8')) FROM generate_series(0, 15) AS c;

CREATE TABLE audit_events (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Retries of one action (API request, activity attempt) record it once.
  idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 300),
  chain_id        smallint NOT NULL REFERENCES audit_chains (chain_id),
  seq             bigint NOT NULL CHECK (seq > 0),
  at              timestamptz NOT NULL,
  actor           text NOT NULL CHECK (length(actor) BETWEEN 1 AND 300),
  actor_role      text NOT NULL CHECK (length(actor_role) BETWEEN 1 AND 200),
  action          text NOT NULL CHECK (length(action) BETWEEN 1 AND 200),
  target          text NOT NULL CHECK (length(target) BETWEEN 1 AND 500),
  source          text NOT NULL CHECK (source IN ('api', 'temporal-ui', 'schedule', 'workflow')),
  request_id      text CHECK (length(request_id) <= 200),
  workflow_id     text CHECK (length(workflow_id) <= 500),
  -- Digests (sha256 hex) of the object before and after, or of the request and its answer.
  before_digest   text CHECK (before_digest ~ '^[0-9a-f]{64}$'),
  after_digest    text CHECK (after_digest ~ '^[0-9a-f]{64}$'),
  details         jsonb NOT NULL DEFAULT '{}',
  prev_hash       bytea NOT NULL,
  hash            bytea NOT NULL,
  UNIQUE (chain_id, seq)
);
CREATE INDEX audit_events_target ON audit_events (target, id);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);

CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'CH409';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();

-- The canonical content of an event, hashed. One definition, used to append and to verify.
CREATE FUNCTION audit_content_hash(
  p_key text, p_at timestamptz, p_actor text, p_role text, p_action text, p_target text, p_source text,
  p_request_id text, p_workflow_id text, p_before text, p_after text, p_details jsonb
) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT sha256(convert_to(concat_ws(E'\x1f', p_key, to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                                     p_actor, p_role, p_action, p_target, p_source, coalesce(p_request_id, ''),
                                     coalesce(p_workflow_id, ''), coalesce(p_before, ''), coalesce(p_after, ''),
                                     p_details::text), 'UTF8'))
$$;

-- Appends one event (idempotent per key: a repeat returns the stored event's id).
CREATE FUNCTION audit_append(
  p_key text, p_chain smallint, p_actor text, p_role text, p_action text, p_target text, p_source text,
  p_request_id text, p_workflow_id text, p_before text, p_after text, p_details jsonb
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
  v_seq bigint;
  v_prev bytea;
  v_at timestamptz := date_trunc('microseconds', clock_timestamp());
  v_hash bytea;
BEGIN
  SELECT id INTO v_id FROM audit_events WHERE idempotency_key = p_key;
  IF FOUND THEN RETURN v_id; END IF;
  SELECT c.head_seq + 1, c.head_hash INTO v_seq, v_prev FROM audit_chains c WHERE c.chain_id = p_chain FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit_append: unknown chain %', p_chain USING ERRCODE = 'CH422';
  END IF;
  -- A concurrent append of the same key committed while this one waited for the head.
  SELECT id INTO v_id FROM audit_events WHERE idempotency_key = p_key;
  IF FOUND THEN RETURN v_id; END IF;
  v_hash := sha256(v_prev || audit_content_hash(p_key, v_at, p_actor, p_role, p_action, p_target, p_source,
                                                p_request_id, p_workflow_id, p_before, p_after, p_details));
  UPDATE audit_chains SET head_seq = v_seq, head_hash = v_hash WHERE chain_id = p_chain;
  INSERT INTO audit_events (idempotency_key, chain_id, seq, at, actor, actor_role, action, target, source,
                            request_id, workflow_id, before_digest, after_digest, details, prev_hash, hash)
  VALUES (p_key, p_chain, v_seq, v_at, p_actor, p_role, p_action, p_target, p_source,
          p_request_id, p_workflow_id, p_before, p_after, p_details, v_prev, v_hash)
  RETURNING id INTO v_id;
  RETURN v_id;
END $$;

-- Down Migration

DROP FUNCTION audit_append;
DROP FUNCTION audit_content_hash;
DROP TABLE audit_events;
DROP FUNCTION audit_reject_change;
DROP TABLE audit_chains;
