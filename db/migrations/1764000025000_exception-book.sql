-- Up Migration

-- The exception book: Postgres owns a cycle's exceptions, their matches and their resolutions;
-- the workflow holds only counts, the book's version and the makers of its payout. Each change
-- (exceptions found, a batch of resolutions) raises the version by one, in the transaction that
-- makes it, with its history rows and its audit event.
--
-- A book belongs to one run of its cycle (`run_id`; a run continued as new keeps it). A cycle
-- started again after it Failed opens a new generation: the earlier run's exceptions stay, with
-- their history, voided, and nothing of them reaches the new run's fee or makers.
CREATE TABLE exception_books (
  cycle_id    text PRIMARY KEY REFERENCES settlement_cycles (id),
  run_id      text,
  generation  integer NOT NULL DEFAULT 1 CHECK (generation > 0),
  version     bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
  total       integer NOT NULL DEFAULT 0 CHECK (total >= 0),
  open        integer NOT NULL DEFAULT 0 CHECK (open >= 0 AND open <= total),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Which generation an exception belongs to; who resolved it (actor key; `operator` keeps the
-- display name), in which book version and through which Update; and the transaction type the
-- provider reported (its first row), kept with the exception so that nothing later probes
-- millions of report rows per exception.
ALTER TABLE settlement_exceptions
  ADD COLUMN generation integer NOT NULL DEFAULT 1,
  ADD COLUMN actor text,
  ADD COLUMN resolved_version bigint,
  ADD COLUMN update_id text,
  ADD COLUMN report_tx_type text;
ALTER TABLE settlement_exceptions DROP CONSTRAINT settlement_exceptions_pkey;
ALTER TABLE settlement_exceptions ADD PRIMARY KEY (cycle_id, generation, exception_id);

-- Set-based (one pass over each cycle's report rows), not a probe per exception.
UPDATE settlement_exceptions e SET report_tx_type = r.type
  FROM (SELECT DISTINCT ON (r.cycle_id, r.tx_id) r.cycle_id, r.tx_id, r.type
          FROM provider_report_rows r
          JOIN settlement_exceptions x ON x.cycle_id = r.cycle_id AND x.tx_id = r.tx_id
         ORDER BY r.cycle_id, r.tx_id, r.ord) r
 WHERE e.cycle_id = r.cycle_id AND e.tx_id = r.tx_id;

-- Open exceptions of a cycle in id order: the first page an operator sees, and the open count.
CREATE INDEX settlement_exceptions_open ON settlement_exceptions (cycle_id, generation, exception_id)
  WHERE resolved_at IS NULL;

-- Each exception's history: found (by reconciliation), resolved (by a person or a rule), voided
-- (its run was replaced), with who, when, why and through which Update. Append-only for the
-- application.
CREATE TABLE exception_events (
  cycle_id      text NOT NULL,
  generation    integer NOT NULL,
  exception_id  text NOT NULL,
  version       bigint NOT NULL,
  event         text NOT NULL CHECK (event IN ('found', 'resolved', 'voided')),
  resolution    text CHECK (resolution IN ('accept_ours', 'accept_theirs', 'adjust', 'write_off', 'carry_forward')),
  amount_minor  bigint,
  reason        text,
  -- An actor key (domain/actors.ts): a person (issuer#subject), or a system principal such as
  -- `reconciliation`; a decision recorded with a typed name keeps that name.
  actor         text NOT NULL,
  actor_name    text NOT NULL,
  update_id     text,
  at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cycle_id, generation, exception_id, version, event),
  FOREIGN KEY (cycle_id, generation, exception_id) REFERENCES settlement_exceptions (cycle_id, generation, exception_id)
);

-- Which transactions an exception is about: one of ours and one or more of theirs (the
-- provider report's rows by ordinal). One-to-one today; many-to-many matching adds groups.
CREATE TABLE exception_matches (
  cycle_id      text NOT NULL,
  generation    integer NOT NULL,
  exception_id  text NOT NULL,
  side          text NOT NULL CHECK (side IN ('ours', 'theirs')),
  tx_id         text NOT NULL,
  report_ord    integer,
  PRIMARY KEY (cycle_id, generation, exception_id, side, tx_id),
  FOREIGN KEY (cycle_id, generation, exception_id) REFERENCES settlement_exceptions (cycle_id, generation, exception_id)
);

-- Books of cycles reconciled before the book existed: their counts as they stand, and each
-- exception's history as far as it is known (found; resolved by the name recorded).
INSERT INTO exception_books (cycle_id, version, total, open)
SELECT cycle_id, 1, count(*), count(*) FILTER (WHERE resolved_at IS NULL)
  FROM settlement_exceptions GROUP BY cycle_id;
INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, actor, actor_name)
SELECT cycle_id, 1, exception_id, 1, 'found', 'reconciliation', 'reconciliation' FROM settlement_exceptions;
INSERT INTO exception_events (cycle_id, generation, exception_id, version, event, resolution, amount_minor,
                              reason, actor, actor_name, at)
SELECT cycle_id, 1, exception_id, 1, 'resolved', resolution, resolution_amount_minor, reason,
       coalesce(nullif(operator, ''), 'unknown'), coalesce(nullif(operator, ''), 'unknown'), resolved_at
  FROM settlement_exceptions WHERE resolved_at IS NOT NULL;

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
DELETE FROM settlement_exceptions WHERE generation > 1;
ALTER TABLE settlement_exceptions DROP CONSTRAINT settlement_exceptions_pkey;
ALTER TABLE settlement_exceptions ADD PRIMARY KEY (cycle_id, exception_id);
ALTER TABLE settlement_exceptions DROP COLUMN report_tx_type, DROP COLUMN update_id, DROP COLUMN resolved_version,
  DROP COLUMN actor, DROP COLUMN generation;
DROP TABLE exception_books;
