-- Up Migration

-- A partner's dispute of one line of a published statement (POST
-- /v1/settlements/{id}/disputes). The stated amount is the statement's own (its latest
-- version when the dispute was opened), never the partner's; the claimed amount is what the
-- partner says the line should be. Its process is the durable workflow dispute:<id>
-- (workflows/dispute.ts); its state is written by that workflow's activities only, each change
-- with a dispute_events row and an audit event in the same transaction.
CREATE TABLE disputes (
  id                 text PRIMARY KEY CHECK (id ~ '^dsp-[0-9a-f]{20}$'),
  partner_id         text NOT NULL REFERENCES partners (id),
  cycle_id           text NOT NULL REFERENCES settlement_cycles (id),
  -- The partner's own id for it: the same reference with the same content is the same dispute.
  reference          text NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
  content_digest     text NOT NULL CHECK (content_digest ~ '^[0-9a-f]{64}$'),
  statement_version  integer NOT NULL CHECK (statement_version >= 1),
  currency           text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
  currency_scale     smallint NOT NULL CHECK (currency_scale BETWEEN 0 AND 18),
  line               text NOT NULL
                     CHECK (line IN ('tier_fee', 'category_fee', 'minimum_guarantee_top_up', 'fixed_fee', 'adjustment')),
  stated_minor       bigint NOT NULL,
  claimed_minor      bigint NOT NULL CHECK (claimed_minor <> stated_minor),
  reason             text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
  evidence           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(evidence) = 'array'),
  state              text NOT NULL DEFAULT 'open'
                     CHECK (state IN ('open', 'waiting_for_evidence', 'accepted', 'partly_accepted', 'rejected', 'expired')),
  -- The decision: outcome, the fee change owed to the partner (signed), why, who (actor + name), when.
  decision_outcome   text CHECK (decision_outcome IN ('accepted', 'partly_accepted', 'rejected')),
  decided_minor      bigint,
  decision_reason    text,
  decided_by_actor   text,
  decided_by_name    text,
  decided_at         timestamptz,
  restatement_id     text,
  deadline           timestamptz NOT NULL,
  reminders_sent     integer NOT NULL DEFAULT 0,
  escalated          boolean NOT NULL DEFAULT false,
  created_by         text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (partner_id, reference),
  CHECK ((decision_outcome IS NULL) = (state IN ('open', 'waiting_for_evidence', 'expired'))),
  CHECK (decision_outcome IS NULL OR (decided_at IS NOT NULL AND decided_by_name IS NOT NULL AND decision_reason IS NOT NULL)),
  CHECK ((decision_outcome IN ('accepted', 'partly_accepted')) = (decided_minor IS NOT NULL AND decided_minor <> 0))
);
-- Operators' queue (open disputes, oldest first) and the payout's hold per cycle.
CREATE INDEX disputes_undecided ON disputes (created_at) WHERE state IN ('open', 'waiting_for_evidence');
CREATE INDEX disputes_cycle ON disputes (cycle_id) WHERE state IN ('open', 'waiting_for_evidence');
-- One undecided dispute per statement line: a second waits for the first's decision (409).
CREATE UNIQUE INDEX disputes_one_open_per_line ON disputes (cycle_id, line) WHERE state IN ('open', 'waiting_for_evidence');
CREATE INDEX disputes_partner ON disputes (partner_id, created_at);

-- A dispute's history, append-only: one row per change, keyed so that a retried activity
-- writes it once (the Update's id, or the step's name).
CREATE TABLE dispute_events (
  dispute_id   text NOT NULL REFERENCES disputes (id),
  seq          integer NOT NULL,
  event_key    text NOT NULL CHECK (length(event_key) BETWEEN 1 AND 300),
  kind         text NOT NULL,
  from_state   text,
  to_state     text NOT NULL,
  actor        text NOT NULL,
  actor_name   text NOT NULL,
  details      jsonb NOT NULL DEFAULT '{}',
  at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dispute_id, seq),
  UNIQUE (dispute_id, event_key)
);
REVOKE UPDATE, DELETE, TRUNCATE ON dispute_events FROM clearhouse_app;

-- Down Migration
DROP TABLE dispute_events;
DROP TABLE disputes;
