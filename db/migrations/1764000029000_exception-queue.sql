-- Up Migration

-- The exception work queue: who an open exception is assigned to, when it was found (its age
-- and SLA due time count from there, domain/sla.ts), and the SLA tier the sweep last escalated
-- it at (activities/exception-queue.ts). Neither assignment nor escalation is a money
-- decision: neither raises the book's version (db/exception-queue.ts).
ALTER TABLE settlement_exceptions
  -- An actor key (domain/actors.ts) and the name shown for it.
  ADD COLUMN assignee       text,
  ADD COLUMN assignee_name  text,
  ADD COLUMN assigned_at    timestamptz,
  ADD COLUMN found_at       timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN escalated_tier text CHECK (escalated_tier IN ('critical', 'high', 'medium', 'low')),
  ADD COLUMN escalated_at   timestamptz,
  ADD CONSTRAINT settlement_exceptions_assignee_named CHECK ((assignee IS NULL) = (assignee_name IS NULL));

-- Exceptions found before this migration: when their `found` event says (recordFound writes the
-- exception and that event in one transaction, so new rows get the same now() by default).
UPDATE settlement_exceptions e SET found_at = ev.at
  FROM exception_events ev
 WHERE ev.cycle_id = e.cycle_id AND ev.generation = e.generation AND ev.exception_id = e.exception_id
   AND ev.event = 'found';

-- The queue's sorts over open exceptions, each with the keyset's tie-break (cycle, exception):
-- by age, by |difference|, by assignee (NULL as '': the unassigned sort first, and
-- `assignee=none` is the same key).
CREATE INDEX settlement_exceptions_queue_age
  ON settlement_exceptions (found_at, cycle_id, exception_id) WHERE resolved_at IS NULL;
CREATE INDEX settlement_exceptions_queue_amount
  ON settlement_exceptions ((abs(difference_minor)), cycle_id, exception_id) WHERE resolved_at IS NULL;
CREATE INDEX settlement_exceptions_queue_assignee
  ON settlement_exceptions ((coalesce(assignee, '')), cycle_id, exception_id) WHERE resolved_at IS NULL;

-- The history gains `assigned` (to whom: assignee, assignee_name; unassigned: both NULL) and
-- `escalated` (to which tier). Extended from whatever the check allows now, so that a migration
-- before this one that already widened it (1764000027000 lists both) keeps its own values.
DO $$
DECLARE
  allowed text[];
BEGIN
  SELECT array_agg(DISTINCT m[1] ORDER BY m[1]) INTO allowed
    FROM pg_constraint c, regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') AS m
   WHERE c.conrelid = 'exception_events'::regclass AND c.conname = 'exception_events_event_check';
  IF allowed IS NULL THEN
    RAISE EXCEPTION 'exception_events_event_check not found';
  END IF;
  IF NOT (allowed @> ARRAY['assigned', 'escalated']) THEN
    allowed := allowed || ARRAY(SELECT unnest(ARRAY['assigned', 'escalated']) EXCEPT SELECT unnest(allowed));
    ALTER TABLE exception_events DROP CONSTRAINT exception_events_event_check;
    EXECUTE format('ALTER TABLE exception_events ADD CONSTRAINT exception_events_event_check CHECK (event = ANY (%L::text[]))',
                   allowed);
  END IF;
END $$;

ALTER TABLE exception_events
  ADD COLUMN assignee       text,
  ADD COLUMN assignee_name  text,
  ADD COLUMN tier           text CHECK (tier IN ('critical', 'high', 'medium', 'low')),
  -- An exception may be assigned (or escalated) more than once while the book stays at one
  -- version: `seq` tells those events apart (0 for every event before this migration and for
  -- found, resolved and voided, which happen once per version).
  ADD COLUMN seq            integer NOT NULL DEFAULT 0 CHECK (seq >= 0);
ALTER TABLE exception_events DROP CONSTRAINT exception_events_pkey;
ALTER TABLE exception_events ADD PRIMARY KEY (cycle_id, generation, exception_id, version, event, seq);

-- Still append-only for the application (1764000025000): new columns inherit the table's
-- privileges, restated here so that this migration cannot be the one that loosens them.
REVOKE UPDATE, DELETE, TRUNCATE ON exception_events FROM clearhouse_app;

-- Down Migration
-- The history of assignments and escalations goes with the columns that explain it. The event
-- check stays as wide as it is: a migration before this one may need the values too.
DELETE FROM exception_events WHERE event IN ('assigned', 'escalated');
ALTER TABLE exception_events DROP CONSTRAINT exception_events_pkey;
ALTER TABLE exception_events ADD PRIMARY KEY (cycle_id, generation, exception_id, version, event);
ALTER TABLE exception_events DROP COLUMN seq, DROP COLUMN tier, DROP COLUMN assignee_name, DROP COLUMN assignee;
DROP INDEX settlement_exceptions_queue_assignee;
DROP INDEX settlement_exceptions_queue_amount;
DROP INDEX settlement_exceptions_queue_age;
ALTER TABLE settlement_exceptions DROP CONSTRAINT settlement_exceptions_assignee_named,
  DROP COLUMN escalated_at, DROP COLUMN escalated_tier, DROP COLUMN found_at, DROP COLUMN assigned_at,
  DROP COLUMN assignee_name, DROP COLUMN assignee;
