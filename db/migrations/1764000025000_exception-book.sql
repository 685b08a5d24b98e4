-- Up Migration

-- The exception book: Postgres owns a cycle's exceptions, their matches and their resolutions;
-- the workflow holds only counts, the book's version and the makers of its payout. Each change
-- (exceptions found, a batch of resolutions) raises the version by one, in the transaction that
-- makes it, with its history rows and its audit event.
CREATE TABLE exception_books (
  cycle_id    text PRIMARY KEY REFERENCES settlement_cycles (id),
  version     bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
  total       integer NOT NULL DEFAULT 0 CHECK (total >= 0),
  open        integer NOT NULL DEFAULT 0 CHECK (open >= 0 AND open <= total),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Who resolved (actor key; `operator` keeps the display name) and in which book version; and
-- the transaction type the provider reported (its first row), kept with the exception so that
-- nothing later probes millions of report rows per exception.
ALTER TABLE settlement_exceptions
  ADD COLUMN actor text,
  ADD COLUMN resolved_version bigint,
  ADD COLUMN update_id text,
  ADD COLUMN report_tx_type text;
UPDATE settlement_exceptions e
   SET report_tx_type = (SELECT r.type FROM provider_report_rows r
                          WHERE r.cycle_id = e.cycle_id AND r.tx_id = e.tx_id ORDER BY r.ord LIMIT 1)
 WHERE e.tx_id IS NOT NULL;

-- Open exceptions of a cycle in id order: the first page an operator sees, and the open count.
CREATE INDEX settlement_exceptions_open ON settlement_exceptions (cycle_id, exception_id)
  WHERE resolved_at IS NULL;

-- Each exception's history: found (by reconciliation), resolved (by a person or a rule), with
-- who, when, why and through which Update. Append-only for the application.
CREATE TABLE exception_events (
  cycle_id      text NOT NULL,
  exception_id  text NOT NULL,
  version       bigint NOT NULL,
  event         text NOT NULL CHECK (event IN ('found', 'resolved')),
  resolution    text CHECK (resolution IN ('accept_ours', 'accept_theirs', 'adjust', 'write_off', 'carry_forward')),
  amount_minor  bigint,
  reason        text,
  -- An actor key (domain/actors.ts): a person (issuer#subject), or a system principal such as
  -- `reconciliation` or a rule version.
  actor         text NOT NULL,
  actor_name    text NOT NULL,
  update_id     text,
  at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cycle_id, exception_id, version, event),
  FOREIGN KEY (cycle_id, exception_id) REFERENCES settlement_exceptions (cycle_id, exception_id)
);
CREATE INDEX exception_events_update ON exception_events (cycle_id, update_id) WHERE update_id IS NOT NULL;

-- Which transactions an exception is about: one of ours and one or more of theirs (the
-- provider report's rows by ordinal). One-to-one today; many-to-many matching adds groups.
CREATE TABLE exception_matches (
  cycle_id      text NOT NULL,
  exception_id  text NOT NULL,
  side          text NOT NULL CHECK (side IN ('ours', 'theirs')),
  tx_id         text NOT NULL,
  report_ord    integer,
  PRIMARY KEY (cycle_id, exception_id, side, tx_id),
  FOREIGN KEY (cycle_id, exception_id) REFERENCES settlement_exceptions (cycle_id, exception_id)
);

-- Books of cycles reconciled before the book existed: their counts as they stand.
INSERT INTO exception_books (cycle_id, version, total, open)
SELECT cycle_id, 1, count(*), count(*) FILTER (WHERE resolved_at IS NULL)
  FROM settlement_exceptions GROUP BY cycle_id;

REVOKE UPDATE, DELETE, TRUNCATE ON exception_events FROM clearhouse_app;

-- A statement's bytes are stored once, with its accrual (settlement_accruals.statement_text);
-- the cycle only says when it was published (after its journal was posted). Cycles settled
-- before keep their JSON copy in settlement_cycles.statement.
ALTER TABLE settlement_cycles ADD COLUMN statement_published_at timestamptz;

-- Down Migration
ALTER TABLE settlement_cycles DROP COLUMN statement_published_at;
DROP TABLE exception_matches;
DROP TABLE exception_events;
DROP INDEX settlement_exceptions_open;
ALTER TABLE settlement_exceptions DROP COLUMN report_tx_type, DROP COLUMN update_id, DROP COLUMN resolved_version, DROP COLUMN actor;
DROP TABLE exception_books;
