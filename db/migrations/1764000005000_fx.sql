-- Up Migration

-- The FX rates a cycle settled with: locked once (the first lock wins, so a retried activity
-- or a replay reuses it), with source and time, so the statement can be reproduced.
CREATE TABLE settlement_fx_rates (
  cycle_id    text NOT NULL REFERENCES settlement_cycles (id),
  from_ccy    text NOT NULL,
  to_ccy      text NOT NULL,
  rate        numeric NOT NULL CHECK (rate > 0),
  source      text NOT NULL,
  as_of       timestamptz NOT NULL,
  locked_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cycle_id, from_ccy, to_ccy)
);

-- Down Migration
DROP TABLE settlement_fx_rates;
