-- Up Migration

-- A cycle is planned in Postgres before its workflow runs (by the API for an operator, by a
-- partner's Schedule for itself), and the workflow reads its money-shaped input back from
-- here: who requested it (an actor key, domain/actors.ts), which path planned it, and the run
-- of the workflow that claimed it. A workflow started on Temporal with no plan, or a second
-- run of a settled plan, is refused by confirmCyclePlan and posts nothing.
ALTER TABLE settlement_cycles
  ADD COLUMN requested_by      text CHECK (length(requested_by) BETWEEN 1 AND 300),
  ADD COLUMN requested_by_name text CHECK (length(requested_by_name) BETWEEN 1 AND 300),
  ADD COLUMN planned_by        text CHECK (planned_by IN ('api', 'schedule')),
  ADD COLUMN run_id            text;

-- One cycle per partner and day: no two cycles' periods overlap, whatever their ids.
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE settlement_cycles ADD CONSTRAINT settlement_cycles_no_overlap
  EXCLUDE USING gist (partner_id WITH =, daterange(period_start, period_end, '[]') WITH &&);

-- Decisions sealed through the codec for the Temporal CLI are told apart from the Web UI's.
ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_source_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_source_check
  CHECK (source IN ('api', 'temporal-ui', 'temporal-cli', 'schedule', 'workflow'));

-- Down Migration
ALTER TABLE audit_events DROP CONSTRAINT audit_events_source_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_source_check
  CHECK (source IN ('api', 'temporal-ui', 'schedule', 'workflow'));
ALTER TABLE settlement_cycles DROP CONSTRAINT settlement_cycles_no_overlap;
ALTER TABLE settlement_cycles
  DROP COLUMN run_id, DROP COLUMN planned_by, DROP COLUMN requested_by_name, DROP COLUMN requested_by;
