-- Up Migration

-- Partner invoices (issue 20): what a partner says it charges for a period, per statement line
-- key (domain/statement.ts statementLineKeys), under its own reference. The id is derived from
-- (partner, reference) (domain/invoices.ts invoiceId): the same reference with the same content
-- is the same invoice, with other content a conflict (`digest` decides, of period, currency and
-- lines). Invoices are never edited: a correction is a new reference.
CREATE TABLE partner_invoices (
  id                 text PRIMARY KEY CHECK (id ~ '^inv-[0-9a-f]{24}$'),
  partner_id         text NOT NULL REFERENCES partners (id),
  reference          text NOT NULL CHECK (length(reference) BETWEEN 1 AND 100),
  period_start       date NOT NULL,
  period_end         date NOT NULL,
  currency           text NOT NULL,
  -- [{ "line": <statement line key>, "amountMinor": "<signed digits>" }] in statement line order.
  lines              jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array' AND jsonb_array_length(lines) > 0),
  digest             text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  -- Who submitted it: an actor key (the partner's key `partner:<id>`, its user, or an operator
  -- on its behalf) and the role(s) it acted in.
  submitted_by       text NOT NULL,
  submitted_by_role  text NOT NULL,
  submitted_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (partner_id, reference),
  CHECK (period_start <= period_end)
);
-- An invoice belongs to the month of its period end, as a cycle does: the month's close
-- compares the invoices ending in it.
CREATE INDEX partner_invoices_period_end ON partner_invoices (partner_id, period_end);

-- The latest comparison of an invoice with our statements (domain/reconciliation.ts feeVariance):
-- which statements (cycle and version), the contract version and tolerance, each line's figures,
-- and the cycle whose exception book holds its fee_variance exceptions. Comparing again replaces
-- the row; the exceptions themselves are in the book, once each (their ids are deterministic).
CREATE TABLE invoice_comparisons (
  invoice_id        text PRIMARY KEY REFERENCES partner_invoices (id),
  trigger           text NOT NULL CHECK (trigger IN ('cycle', 'period_close')),
  contract_version  integer NOT NULL,
  tolerance         jsonb NOT NULL,
  -- [{ "cycleId", "version" }]: the statements compared, each at its latest version then.
  statements        jsonb NOT NULL,
  book_cycle_id     text NOT NULL REFERENCES settlement_cycles (id),
  -- [{ "line", "oursMinor", "theirsMinor", "differenceMinor", "thresholdMinor", "exceptionId" | null }]
  lines             jsonb NOT NULL,
  variances         integer NOT NULL CHECK (variances >= 0),
  compared_at       timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE invoice_comparisons;
DROP TABLE partner_invoices;
