-- Up Migration

-- Statements are never edited: a restatement issues a new version. Version 1 is what the
-- cycle's fee step computed (settlement_accruals.statement_text); every later version names
-- the restatement that made it, the contract version and the adjustments it was computed
-- with (so that the next restatement stacks on it), and the journal it would post as a whole
-- (stored, never posted: the ledger receives only the delta between two versions).
CREATE TABLE statement_versions (
  cycle_id          text NOT NULL REFERENCES settlement_cycles (id),
  version           integer NOT NULL CHECK (version >= 1),
  statement_text    text NOT NULL,
  digest            text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  -- The version's whole journal; null for a version 1 settled by the legacy workflow.
  journal_id        text,
  contract_version  integer NOT NULL,
  adjustments       jsonb NOT NULL DEFAULT '[]',
  -- What a later version took from the periods before it (month-to-date, carries claimed);
  -- null for version 1, whose inputs are the accrual's.
  overrides         jsonb,
  restatement_id    text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cycle_id, version),
  CHECK ((version = 1) = (restatement_id IS NULL))
);

CREATE FUNCTION statement_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'statement versions are never edited: % on statement_versions is not allowed (restate instead)', TG_OP
    USING ERRCODE = 'CH001';
END $$;
CREATE TRIGGER statement_versions_append_only BEFORE UPDATE OR DELETE ON statement_versions
  FOR EACH ROW EXECUTE FUNCTION statement_versions_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON statement_versions FROM clearhouse_app;

INSERT INTO statement_versions (cycle_id, version, statement_text, digest, journal_id, contract_version, created_at)
SELECT a.cycle_id, 1, a.statement_text, encode(sha256(convert_to(a.statement_text, 'UTF8')), 'hex'),
       j.id, (a.inputs ->> 'contractVersion')::integer, a.computed_at
  FROM settlement_accruals a
  LEFT JOIN journals j ON j.id = a.cycle_id || ':settlement';

-- A restatement of a settled period: one per partner and change (the same change requested
-- twice is the same restatement). Its state is written by its workflow's activities only.
CREATE TABLE restatements (
  id                  text PRIMARY KEY CHECK (id ~ '^rst-[0-9a-f]{20}$'),
  partner_id          text NOT NULL REFERENCES partners (id),
  cycle_id            text NOT NULL REFERENCES settlement_cycles (id),
  change_key          text NOT NULL CHECK (length(change_key) BETWEEN 1 AND 200),
  reason              jsonb NOT NULL,
  requested_by_actor  text NOT NULL,
  requested_by_name   text NOT NULL,
  state               text NOT NULL DEFAULT 'requested'
                      CHECK (state IN ('requested', 'awaiting_approval', 'posted', 'empty', 'rejected', 'failed')),
  -- What the workflow computed: the chain of cycles with their versions, and the delta line by line.
  computed            jsonb,
  delta_journal_id    text,
  approvals           jsonb NOT NULL DEFAULT '[]',
  rejected_by         jsonb,
  detail              text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (partner_id, change_key)
);
CREATE INDEX restatements_cycle ON restatements (cycle_id, created_at);

-- Amounts still owed to (positive) or by (negative) a partner outside a statement's own net
-- payable: a net below the contract's minimum payout, a failed or partly paid payout's
-- remainder, an overpayment, a restatement's delta. The next statement that settles in the
-- currency claims them (once) and shows them as brought forward.
CREATE TABLE payable_carries (
  id            text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 256),
  partner_id    text NOT NULL REFERENCES partners (id),
  currency      text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
  amount_minor  bigint NOT NULL CHECK (amount_minor <> 0),
  source_kind   text NOT NULL
                CHECK (source_kind IN ('below_minimum', 'payout_failed', 'payout_partly_paid', 'overpaid', 'restatement', 'dispute_released')),
  source_ref    text NOT NULL,
  note          text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  claimed_by    text REFERENCES settlement_cycles (id),
  claimed_at    timestamptz
);
CREATE INDEX payable_carries_unclaimed ON payable_carries (partner_id, currency) WHERE claimed_by IS NULL;

-- A contract version may reach back into settled periods only when it says so: those periods
-- keep their statements and change only through a restatement (reason contract_version).
ALTER TABLE partner_contracts ADD COLUMN retroactive boolean NOT NULL DEFAULT false;

-- Down Migration
ALTER TABLE partner_contracts DROP COLUMN retroactive;
DROP TABLE payable_carries;
DROP TABLE restatements;
DROP TABLE statement_versions;
DROP FUNCTION statement_versions_append_only();
