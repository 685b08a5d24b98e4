-- Up Migration

-- The partner's game catalogue: game id → category (slots, live, table, crash…), for the
-- contract's category rates. Set through PUT /v1/partners/{id}/games.
CREATE TABLE partner_games (
  partner_id  text NOT NULL REFERENCES partners (id),
  game_id     text NOT NULL,
  category    text NOT NULL CHECK (category ~ '^[a-z][a-z0-9_-]{0,39}$'),
  name        text,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partner_id, game_id)
);

-- Rollbacks of bonus wins and jackpot flows are rare; positions keep them in one bucket
-- (rollback_other). The fee step nets each from its own total through this small index.
CREATE INDEX game_transactions_other_rollbacks ON game_transactions (partner_id, business_date)
  WHERE type = 'rollback' AND ref_type IN ('bonus_win', 'jackpot_contribution', 'jackpot_win');

-- What a cycle's fee was computed from, frozen when it was computed: our positions per day,
-- game and currency (rollbacks netted), with the game's category at that time.
CREATE TABLE settlement_sources (
  cycle_id                    text NOT NULL REFERENCES settlement_cycles (id),
  business_date               date NOT NULL,
  game_id                     text NOT NULL,
  currency                    text NOT NULL,
  category                    text,
  bet_count                   bigint NOT NULL,
  bet_minor                   bigint NOT NULL,
  win_minor                   bigint NOT NULL,
  rollback_bet_minor          bigint NOT NULL,
  rollback_win_minor          bigint NOT NULL,
  bonus_win_minor             bigint NOT NULL,
  jackpot_contribution_minor  bigint NOT NULL,
  jackpot_win_minor           bigint NOT NULL,
  PRIMARY KEY (cycle_id, business_date, game_id, currency)
);

-- When the cycle's sources were frozen (once: a retried step finds them frozen).
ALTER TABLE settlement_cycles ADD COLUMN sources_frozen_at timestamptz;

-- One row per cycle whose fee is computed, written once in the transaction that computes it:
-- its share of the month's accrual (tier volume, variable fees, guarantee top-up, fixed fee),
-- the carry it leaves for a later period and who claimed it, the inputs that are not kept
-- elsewhere (carries claimed, month-to-date position), and the statement's exact bytes.
CREATE TABLE settlement_accruals (
  cycle_id             text PRIMARY KEY REFERENCES settlement_cycles (id),
  partner_id           text NOT NULL REFERENCES partners (id),
  currency             text NOT NULL,
  month                date NOT NULL,
  period_start         date NOT NULL,
  period_end           date NOT NULL,
  closes_month         boolean NOT NULL,
  volume_minor         bigint NOT NULL CHECK (volume_minor >= 0),
  tier_fee_minor       bigint NOT NULL,
  variable_fee_minor   bigint NOT NULL,
  top_up_minor         bigint NOT NULL,
  fixed_fee_charged    boolean NOT NULL,
  carried_out_minor    bigint NOT NULL,
  carry_claimed_by     text REFERENCES settlement_cycles (id),
  inputs               jsonb NOT NULL,
  statement_text       text NOT NULL,
  computed_at          timestamptz NOT NULL DEFAULT now(),
  CHECK (carry_claimed_by IS NULL OR carried_out_minor <> 0)
);
CREATE INDEX settlement_accruals_month ON settlement_accruals (partner_id, currency, month);
CREATE INDEX settlement_accruals_unclaimed ON settlement_accruals (partner_id, currency, period_end)
  WHERE carried_out_minor <> 0 AND carry_claimed_by IS NULL;

-- Down Migration
DROP TABLE settlement_accruals;
DROP TABLE settlement_sources;
ALTER TABLE settlement_cycles DROP COLUMN sources_frozen_at;
DROP INDEX game_transactions_other_rollbacks;
DROP TABLE partner_games;
