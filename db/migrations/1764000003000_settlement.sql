-- Up Migration

-- Versioned contracts: the version in force for a period is the latest effective_from on or
-- before the period's start. Terms are the fee engine's (domain/fees.ts), amounts as strings.
CREATE TABLE partner_contracts (
  partner_id      text NOT NULL REFERENCES partners (id),
  version         integer NOT NULL CHECK (version > 0),
  effective_from  date NOT NULL,
  terms           jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partner_id, version),
  UNIQUE (partner_id, effective_from)
);

-- Where and how a partner's provider report is fetched (adapter format and base URL).
CREATE TABLE partner_providers (
  partner_id  text PRIMARY KEY REFERENCES partners (id),
  format      text NOT NULL CHECK (format IN ('json-cursor', 'csv-daily', 'aggregator-totals')),
  base_url    text NOT NULL,
  -- Format options, e.g. {"timezone": "Europe/Malta"} for reports in provider-local time.
  options     jsonb NOT NULL DEFAULT '{}'
);

-- One row per settlement cycle (its id is the workflow id), mirroring the workflow's state
-- for SQL reporting; the workflow is the source of truth while it runs.
CREATE TABLE settlement_cycles (
  id            text PRIMARY KEY,
  partner_id    text NOT NULL REFERENCES partners (id),
  period_start  date NOT NULL,
  period_end    date NOT NULL CHECK (period_end >= period_start),
  status        text NOT NULL,
  frozen_at     timestamptz,
  report        jsonb,
  fees          jsonb,
  statement     jsonb,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The provider's report as fetched (ord keeps duplicates the provider sent twice).
CREATE TABLE provider_report_rows (
  cycle_id       text NOT NULL REFERENCES settlement_cycles (id),
  ord            integer NOT NULL,
  tx_id          text NOT NULL,
  type           text NOT NULL,
  round_id       text NOT NULL,
  game_id        text NOT NULL,
  currency       text NOT NULL,
  amount_minor   bigint NOT NULL,
  occurred_at    timestamptz NOT NULL,
  business_date  date NOT NULL,
  round_status   text,
  PRIMARY KEY (cycle_id, ord)
);

-- Aggregator reports carry only totals per day, game and currency.
CREATE TABLE provider_report_aggregates (
  cycle_id       text NOT NULL REFERENCES settlement_cycles (id),
  business_date  date NOT NULL,
  game_id        text NOT NULL,
  currency       text NOT NULL,
  bet_count      bigint NOT NULL,
  bet_minor      bigint NOT NULL,
  win_minor      bigint NOT NULL,
  PRIMARY KEY (cycle_id, business_date, game_id, currency)
);

CREATE TABLE settlement_exceptions (
  cycle_id                 text NOT NULL REFERENCES settlement_cycles (id),
  exception_id             text NOT NULL,
  kind                     text NOT NULL,
  tx_id                    text,
  business_date            date,
  game_id                  text,
  currency                 text,
  ours_minor               bigint,
  theirs_minor             bigint,
  difference_minor         bigint NOT NULL,
  detail                   text NOT NULL,
  resolution               text CHECK (resolution IN ('accept_ours', 'accept_theirs', 'adjust', 'write_off', 'carry_forward')),
  resolution_amount_minor  bigint,
  reason                   text,
  operator                 text,
  resolved_at              timestamptz,
  PRIMARY KEY (cycle_id, exception_id),
  CHECK ((resolution IS NULL) = (resolved_at IS NULL))
);

-- Down Migration
DROP TABLE settlement_exceptions;
DROP TABLE provider_report_aggregates;
DROP TABLE provider_report_rows;
DROP TABLE settlement_cycles;
DROP TABLE partner_providers;
DROP TABLE partner_contracts;
