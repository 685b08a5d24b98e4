-- Up Migration

-- Statement acknowledgement and the payout's life (issue 20).
--
-- statement_issues: a statement version issued to its partner (signed webhook `statement.issued`
-- with the digest), once per cycle and version. The acknowledgement deadline is fixed at issue
-- (issued_at + the contract's acknowledgementDays); `accepted_by_silence` is computed on read
-- from it, never stored, so it needs no timer and cannot be missed.
CREATE TABLE statement_issues (
  cycle_id              text NOT NULL REFERENCES settlement_cycles (id),
  version               integer NOT NULL CHECK (version >= 1),
  partner_id            text NOT NULL REFERENCES partners (id),
  digest                text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  issued_at             timestamptz NOT NULL,
  acknowledgement_days  integer NOT NULL CHECK (acknowledgement_days BETWEEN 1 AND 90),
  acknowledge_by        timestamptz NOT NULL,
  webhook               text NOT NULL DEFAULT 'pending'
                        CHECK (webhook IN ('pending', 'sent', 'no-webhook', 'failed')),
  webhook_at            timestamptz,
  acknowledged_at       timestamptz,
  -- `partner:<id>` or `partner:<id>#user:<login>`: the verified caller, never a body field.
  acknowledged_by       text,
  PRIMARY KEY (cycle_id, version),
  CHECK (acknowledge_by > issued_at),
  CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
CREATE INDEX statement_issues_partner ON statement_issues (partner_id, issued_at);

-- payouts: one per cycle whose payout journal moved money (fees_payable → payouts_clearing).
-- Amounts are read from Postgres (the payout journal, the stored statement), never from a
-- workflow's input. held_minor: what open disputes held back from the statement's net.
CREATE TABLE payouts (
  cycle_id           text PRIMARY KEY REFERENCES settlement_cycles (id),
  partner_id         text NOT NULL REFERENCES partners (id),
  currency           text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
  currency_scale     smallint NOT NULL CHECK (currency_scale BETWEEN 0 AND 18),
  net_minor          bigint NOT NULL CHECK (net_minor > 0),
  amount_minor       bigint NOT NULL CHECK (amount_minor > 0),
  held_minor         bigint NOT NULL DEFAULT 0 CHECK (held_minor >= 0),
  state              text NOT NULL
                     CHECK (state IN ('approved', 'sent', 'confirmed', 'failed', 'partly_paid')),
  approved_at        timestamptz NOT NULL,
  approved_by        jsonb NOT NULL DEFAULT '[]',
  payment_terms_days integer NOT NULL CHECK (payment_terms_days >= 0),
  due_date           date NOT NULL,
  payment_reference  text CHECK (payment_reference ~ '^[A-Za-z0-9/?:().,''+ -]{1,35}$'),
  sent_at            timestamptz,
  sent_by            text,
  confirmed_at       timestamptz,
  confirmed_by       text,
  failed_at          timestamptz,
  failed_by          text,
  failure_reason     text,
  paid_minor         bigint CHECK (paid_minor >= 0),
  -- How the outcome was learnt: an operator through the API, or a bank statement line.
  settled_source     text CHECK (settled_source IN ('operator', 'bank_statement')),
  bank_statement_id  text,
  bank_line_ref      text,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (net_minor = amount_minor + held_minor),
  CHECK (state = 'approved' OR (payment_reference IS NOT NULL AND sent_at IS NOT NULL AND sent_by IS NOT NULL)),
  CHECK ((state IN ('confirmed', 'partly_paid')) = (confirmed_at IS NOT NULL AND paid_minor IS NOT NULL)),
  CHECK ((state = 'failed') = (failed_at IS NOT NULL AND failure_reason IS NOT NULL)),
  CHECK (state <> 'partly_paid' OR paid_minor < amount_minor),
  CHECK (state <> 'confirmed' OR paid_minor >= amount_minor)
);
-- A payment reference names one payout: a bank line is matched by it.
CREATE UNIQUE INDEX payouts_payment_reference ON payouts (payment_reference) WHERE payment_reference IS NOT NULL;
CREATE INDEX payouts_partner_state ON payouts (partner_id, state, due_date);
CREATE INDEX payouts_open_due ON payouts (due_date) WHERE state IN ('approved', 'sent');

-- Bank statements (ISO 20022 camt.053) as imported: one row per statement (Stmt/Id), and every
-- line with what reconciliation made of it. Idempotent per (statement id, line reference):
-- importing the same statement again inserts nothing and moves nothing.
CREATE TABLE bank_statements (
  id            text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 35),
  account       text,
  created_at    timestamptz,
  from_date     date,
  to_date       date,
  digest        text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  imported_at   timestamptz NOT NULL DEFAULT now(),
  imported_by   text NOT NULL
);

CREATE TABLE bank_statement_lines (
  statement_id   text NOT NULL REFERENCES bank_statements (id),
  line_ref       text NOT NULL CHECK (length(line_ref) BETWEEN 1 AND 80),
  ord            integer NOT NULL,
  credit_debit   text NOT NULL CHECK (credit_debit IN ('CRDT', 'DBIT')),
  amount         text NOT NULL,
  amount_minor   bigint,
  currency       text NOT NULL,
  booking_date   date,
  reference      text,
  outcome        text NOT NULL CHECK (outcome IN (
                   'confirmed', 'partly_paid', 'overpaid',
                   'unmatched', 'currency_mismatch', 'not_sent', 'already_settled',
                   'unknown_currency', 'not_a_payout')),
  payout_cycle_id text REFERENCES payouts (cycle_id),
  difference_minor bigint,
  reason         text NOT NULL,
  imported_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (statement_id, line_ref)
);
CREATE INDEX bank_statement_lines_exceptions ON bank_statement_lines (imported_at)
  WHERE outcome IN ('unmatched', 'currency_mismatch', 'not_sent', 'already_settled', 'unknown_currency');

-- What a bank said stays as it was said.
REVOKE UPDATE, DELETE, TRUNCATE ON bank_statements FROM clearhouse_app;
REVOKE UPDATE, DELETE, TRUNCATE ON bank_statement_lines FROM clearhouse_app;

-- What follows a statement is history: the application adds and moves it forward, never
-- deletes it (issue 20's tables; statement versions are append-only in their own migration).
REVOKE DELETE, TRUNCATE ON payable_carries, restatements, accounting_periods, partner_invoices, invoice_comparisons,
  disputes, statement_issues, payouts, bank_statements, bank_statement_lines FROM clearhouse_app;

-- Down Migration
GRANT DELETE, TRUNCATE ON payable_carries, restatements, accounting_periods, partner_invoices, invoice_comparisons,
  disputes TO clearhouse_app;
DROP TABLE bank_statement_lines;
DROP TABLE bank_statements;
DROP TABLE payouts;
DROP TABLE statement_issues;
