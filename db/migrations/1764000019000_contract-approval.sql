-- Up Migration

-- Contracts under maker-checker. An admin proposes a version; another operator with the
-- approver role approves it; only approved versions are in force for settlement. Actors are
-- stored by their key (domain/actors.ts: `issuer#subject`, or a system principal's subject),
-- never by display name; the names are kept beside them to show.
ALTER TABLE partner_contracts
  ADD COLUMN status           text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'approved')),
  -- How the version was approved: by two operators through the API, by the partner's
  -- application (version 1: its maker is the application's submitter, its checker the
  -- application's approver, both recorded by the onboarding workflow and the audit trail), or
  -- recorded before contracts needed a second person.
  ADD COLUMN approved_through text CHECK (approved_through IN ('api', 'application', 'before-maker-checker')),
  ADD COLUMN proposed_by      text CHECK (length(proposed_by) BETWEEN 1 AND 300),
  ADD COLUMN proposed_by_name text CHECK (length(proposed_by_name) BETWEEN 1 AND 200),
  ADD COLUMN approved_by      text CHECK (length(approved_by) BETWEEN 1 AND 300),
  ADD COLUMN approved_by_name text CHECK (length(approved_by_name) BETWEEN 1 AND 200),
  ADD COLUMN approved_at      timestamptz;

-- Every version stored until now was in force: it stays so, and says why.
UPDATE partner_contracts
   SET status = 'approved', approved_through = 'before-maker-checker', approved_at = created_at;

ALTER TABLE partner_contracts
  ADD CONSTRAINT partner_contracts_approval_known CHECK (
    (status = 'proposed' AND approved_through IS NULL AND approved_by IS NULL AND approved_at IS NULL)
    OR (status = 'approved' AND approved_through IS NOT NULL AND approved_at IS NOT NULL)
  ),
  -- Through the API, a proposal names its maker and an approval its checker, another actor.
  ADD CONSTRAINT partner_contracts_checker_is_not_maker CHECK (
    approved_through IS DISTINCT FROM 'api'
    OR (proposed_by IS NOT NULL AND approved_by IS NOT NULL AND approved_by <> proposed_by)
  );

-- The in-force lookups: a partner's approved versions by date.
CREATE INDEX partner_contracts_in_force ON partner_contracts (partner_id, effective_from DESC)
  WHERE status = 'approved';

-- Down Migration

DROP INDEX partner_contracts_in_force;
ALTER TABLE partner_contracts
  DROP CONSTRAINT partner_contracts_checker_is_not_maker,
  DROP CONSTRAINT partner_contracts_approval_known,
  DROP COLUMN approved_at,
  DROP COLUMN approved_by_name,
  DROP COLUMN approved_by,
  DROP COLUMN proposed_by_name,
  DROP COLUMN proposed_by,
  DROP COLUMN approved_through,
  DROP COLUMN status;
