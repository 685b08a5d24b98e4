-- Up Migration

-- What Temporal did to workflows without any workflow code running (a termination, which a
-- reset also does to the run it replaces, a cancellation, a start refused as unplanned) is
-- found by a scheduled sweep of Temporal's visibility and histories and audited with the
-- identity and reason Temporal recorded (source 'temporal'). The sweep remembers how far it
-- has looked.
CREATE TABLE temporal_sweeps (
  namespace     text PRIMARY KEY,
  swept_until   timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE audit_events DROP CONSTRAINT audit_events_source_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_source_check
  CHECK (source IN ('api', 'temporal-ui', 'temporal-cli', 'temporal', 'schedule', 'workflow'));

-- Down Migration
ALTER TABLE audit_events DROP CONSTRAINT audit_events_source_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_source_check
  CHECK (source IN ('api', 'temporal-ui', 'temporal-cli', 'schedule', 'workflow'));
DROP TABLE temporal_sweeps;
