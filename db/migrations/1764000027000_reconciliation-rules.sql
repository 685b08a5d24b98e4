-- Up Migration

-- Exceptions at volume: the contract's rules resolve what they can before people (each one
-- recorded like a person's decision, the rule version as the actor), items the provider has not
-- reported yet are *expected* (not mismatched) and followed across cycles, and a bulk resolution
-- resolves a previewed set at once. The journal aggregates what rules and bulks resolved into
-- one entry per cycle, source and resolution, with a link to every exception each entry covers.

-- What a rule proposed (action `propose`, or a suggested match): shown, filtered on, never
-- applied by itself. Evidence: why a rule or the matcher decided (fields, threshold, lag).
-- resolution_group: the source that aggregates the exception's journal entry (`rule:<id>`,
-- `bulk:<id>`); NULL for a person's own resolution (its own entry, as before).
-- write_off_account: the named account a write-off goes to (a rule's or a bulk's).
ALTER TABLE settlement_exceptions
  ADD COLUMN suggestion jsonb,
  ADD COLUMN evidence jsonb,
  ADD COLUMN resolution_group text,
  ADD COLUMN write_off_account text CHECK (write_off_account ~ '^[a-z][a-z0-9_]{0,39}$'),
  ADD COLUMN expected_until timestamptz;

-- A suggested match is confirmed or rejected by a person.
ALTER TABLE settlement_exceptions DROP CONSTRAINT settlement_exceptions_resolution_check;
ALTER TABLE settlement_exceptions ADD CONSTRAINT settlement_exceptions_resolution_check
  CHECK (resolution IN ('accept_ours', 'accept_theirs', 'adjust', 'write_off', 'carry_forward', 'confirm_match', 'reject_match'));
ALTER TABLE exception_events DROP CONSTRAINT exception_events_resolution_check;
ALTER TABLE exception_events ADD CONSTRAINT exception_events_resolution_check
  CHECK (resolution IN ('accept_ours', 'accept_theirs', 'adjust', 'write_off', 'carry_forward', 'confirm_match', 'reject_match'));

-- reversed: a resolver undid a rule's resolution before the fee (the exception is open again);
-- expected: settled at our figure while the provider's counterpart is awaited; arrived / expired:
-- what became of it (in the cycle that saw it). assigned / escalated: the work queue.
ALTER TABLE exception_events DROP CONSTRAINT exception_events_event_check;
ALTER TABLE exception_events ADD CONSTRAINT exception_events_event_check
  CHECK (event IN ('found', 'resolved', 'voided', 'reversed', 'expected', 'arrived', 'expired', 'assigned', 'escalated'));
ALTER TABLE exception_events ADD COLUMN details jsonb;

-- Items settled at our figure while the provider's report does not have them yet (a round that
-- closed near the cut-off, a report that lags), followed per partner until their counterpart
-- arrives in a later cycle's report or their age limit passes (then a later cycle books them
-- as mismatched). One row per transaction and cycle.
CREATE TABLE expected_items (
  partner_id      text NOT NULL,
  tx_id           text NOT NULL,
  cycle_id        text NOT NULL,
  generation      integer NOT NULL,
  exception_id    text NOT NULL,
  tx_type         text,
  currency        text NOT NULL,
  ours_minor      bigint NOT NULL,
  occurred_at     timestamptz NOT NULL,
  expected_until  timestamptz NOT NULL,
  state           text NOT NULL DEFAULT 'expected' CHECK (state IN ('expected', 'arrived', 'expired', 'voided')),
  closed_by_cycle text,
  closed_at       timestamptz,
  PRIMARY KEY (partner_id, tx_id, cycle_id),
  FOREIGN KEY (cycle_id, generation, exception_id) REFERENCES settlement_exceptions (cycle_id, generation, exception_id),
  CHECK ((state = 'expected') = (closed_at IS NULL))
);
CREATE INDEX expected_items_open ON expected_items (partner_id, expected_until) WHERE state = 'expected';
-- Each resolution batch locks the items its exceptions stand for; a retried expiry reads back its own claims.
CREATE INDEX expected_items_exception ON expected_items (cycle_id, generation, exception_id);
CREATE INDEX expected_items_closed_by ON expected_items (closed_by_cycle) WHERE state = 'expired';

-- A bulk resolution: the filter, the one resolution, what the preview matched (count, total,
-- digest), who proposed it and, above the contract's threshold, who approved it (maker-checker).
CREATE TABLE bulk_resolutions (
  bulk_id          text PRIMARY KEY,
  cycle_id         text NOT NULL REFERENCES settlement_cycles (id),
  generation       integer NOT NULL,
  filter           jsonb NOT NULL,
  resolution       text NOT NULL CHECK (resolution IN ('accept_ours', 'accept_theirs', 'write_off', 'carry_forward')),
  write_off_account text CHECK (write_off_account ~ '^[a-z][a-z0-9_]{0,39}$'),
  reason           text NOT NULL,
  digest           text NOT NULL,
  count            integer NOT NULL CHECK (count > 0),
  total_minor      bigint NOT NULL,
  proposed_by      text NOT NULL,
  proposed_name    text NOT NULL,
  approved_by      text,
  approved_name    text,
  state            text NOT NULL CHECK (state IN ('awaiting_approval', 'applied')),
  applied_version  bigint,
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- Which exceptions an aggregated journal entry covers (and each one's part of it): the
-- console's drill-down from a ledger entry to the exceptions behind it.
CREATE TABLE journal_entry_exceptions (
  journal_id    text NOT NULL REFERENCES journals (id),
  entry_key     text NOT NULL,
  cycle_id      text NOT NULL,
  generation    integer NOT NULL,
  exception_id  text NOT NULL,
  amount_minor  bigint NOT NULL,
  PRIMARY KEY (journal_id, entry_key, exception_id),
  FOREIGN KEY (cycle_id, generation, exception_id) REFERENCES settlement_exceptions (cycle_id, generation, exception_id)
);
CREATE INDEX journal_entry_exceptions_exception ON journal_entry_exceptions (cycle_id, exception_id);

REVOKE UPDATE, DELETE, TRUNCATE ON journal_entry_exceptions FROM clearhouse_app;

-- Down Migration
DROP TABLE journal_entry_exceptions;
DROP TABLE bulk_resolutions;
DROP TABLE expected_items;
ALTER TABLE exception_events DROP COLUMN details;
ALTER TABLE exception_events DROP CONSTRAINT exception_events_event_check;
ALTER TABLE exception_events ADD CONSTRAINT exception_events_event_check
  CHECK (event IN ('found', 'resolved', 'voided'));
ALTER TABLE exception_events DROP CONSTRAINT exception_events_resolution_check;
ALTER TABLE exception_events ADD CONSTRAINT exception_events_resolution_check
  CHECK (resolution IN ('accept_ours', 'accept_theirs', 'adjust', 'write_off', 'carry_forward'));
ALTER TABLE settlement_exceptions DROP CONSTRAINT settlement_exceptions_resolution_check;
ALTER TABLE settlement_exceptions ADD CONSTRAINT settlement_exceptions_resolution_check
  CHECK (resolution IN ('accept_ours', 'accept_theirs', 'adjust', 'write_off', 'carry_forward'));
ALTER TABLE settlement_exceptions DROP COLUMN expected_until, DROP COLUMN write_off_account,
  DROP COLUMN resolution_group, DROP COLUMN evidence, DROP COLUMN suggestion;
