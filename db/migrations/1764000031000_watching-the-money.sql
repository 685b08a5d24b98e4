-- Up Migration

-- Watching the money (anomaly detection, the console's figures, partner users).
--
-- What ingest keeps besides the rows, in the same transaction (ingest_batch below):
--   * positions.bet_sq_minor: Σ(bet²) per position, for the standard error of the observed RTP
--     (σ·√Σb²/Σb). numeric, because squares of large stakes overflow bigint within a day.
--   * activity_hours: per partner, hour (of occurrence, UTC) and currency, striped like positions:
--     counts, bets, wins and GGR. GGR by hour and the volume baseline by hour of week read this,
--     never millions of rows.
--   * ingest_batches.received_count / accepted_count / stale_count: the ingest rate, the
--     duplicate rate and transactions far outside their business day, by time received.
ALTER TABLE positions ADD COLUMN bet_sq_minor numeric NOT NULL DEFAULT 0;

CREATE TABLE activity_hours (
  partner_id  text NOT NULL,
  hour        timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
  currency    text NOT NULL,
  stripe      smallint NOT NULL CHECK (stripe BETWEEN 0 AND 3),
  tx_count    bigint NOT NULL DEFAULT 0,
  bet_count   bigint NOT NULL DEFAULT 0,
  bet_minor   bigint NOT NULL DEFAULT 0,
  win_minor   bigint NOT NULL DEFAULT 0,
  -- Σ ggr_effect: bets − wins after rollbacks, as the ledger accrues it.
  ggr_minor   bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (partner_id, hour, currency, stripe)
);

ALTER TABLE ingest_batches
  ADD COLUMN received_count integer,
  ADD COLUMN accepted_count integer,
  -- Received more than 24 hours after they occurred, or dated more than 5 minutes ahead.
  ADD COLUMN stale_count integer;
-- Batches are appended in time order: a BRIN index finds the last hour's for almost nothing.
CREATE INDEX ingest_batches_received ON ingest_batches USING brin (received_at);

-- Drill-down (partner → day → game → transactions) and a round's history (the evidence of a big
-- win) without scanning a partner's rows: a page or a round reads one day's game. Only the day
-- and the game are keyed: with round and transaction ids too (random text), every insert landed
-- on a random leaf and ingest through the API fell by 45 % (bench:ingest, BENCHMARKS.md); these
-- three columns keep equal keys together (btree deduplication) for about 10 %. Migrations run in
-- one transaction, so this build blocks ingest while it reads the table: on a large live
-- database build it first by hand, without blocking (CREATE INDEX CONCURRENTLY
-- game_transactions_day_game ON game_transactions (partner_id, business_date, game_id)), and
-- this statement then skips it.
CREATE INDEX IF NOT EXISTS game_transactions_day_game ON game_transactions (partner_id, business_date, game_id);

-- What the console's overview and the watch scan ask every few seconds, keyed rather than
-- scanned as history grows: cycles not finished, alerts still active, recent FX locks.
CREATE INDEX settlement_cycles_unfinished ON settlement_cycles (updated_at) WHERE status NOT IN ('Completed', 'Failed');
CREATE INDEX settlement_fx_rates_locked ON settlement_fx_rates (locked_at);
CREATE INDEX exception_books_updated ON exception_books (updated_at);

-- The canonical game catalogue: one identity per game across partners, with its maths-sheet
-- figures, versioned (a new version never rewrites an old one; detection uses the latest).
CREATE TABLE canonical_games (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  studio      text CHECK (length(studio) BETWEEN 1 AND 200),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE canonical_game_versions (
  game_id                    text NOT NULL REFERENCES canonical_games (id),
  version                    integer NOT NULL CHECK (version > 0),
  -- Theoretical return to player including the jackpot contribution (the maths sheet's figure).
  theoretical_rtp            numeric NOT NULL CHECK (theoretical_rtp > 0 AND theoretical_rtp < 2),
  -- Standard deviation of the return per unit stake (the game's volatility).
  std_dev                    numeric NOT NULL CHECK (std_dev > 0 AND std_dev < 10000),
  jackpot_contribution_rate  numeric NOT NULL DEFAULT 0 CHECK (jackpot_contribution_rate >= 0 AND jackpot_contribution_rate < 1),
  source                     text CHECK (length(source) BETWEEN 1 AND 500),
  recorded_by                text NOT NULL,
  recorded_at                timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (game_id, version)
);
REVOKE UPDATE, DELETE, TRUNCATE ON canonical_game_versions FROM clearhouse_app;
CREATE TABLE partner_game_map (
  partner_id    text NOT NULL REFERENCES partners (id),
  game_id       text NOT NULL,
  canonical_id  text NOT NULL REFERENCES canonical_games (id),
  mapped_by     text NOT NULL,
  mapped_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partner_id, game_id)
);
CREATE INDEX partner_game_map_canonical ON partner_game_map (canonical_id);

-- Per-partner watch settings (admin, audited); NULL means the production default.
CREATE TABLE partner_watch_settings (
  partner_id                  text PRIMARY KEY REFERENCES partners (id),
  -- In minor units of the partner's settlement currency.
  big_win_absolute_minor      bigint CHECK (big_win_absolute_minor > 0),
  big_win_multiple            numeric CHECK (big_win_multiple > 0),
  updated_by                  text NOT NULL,
  updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- Reference FX rates (the FX service's rate of a day), kept to convert indicatively and to
-- compare a win with an absolute threshold in the settlement currency at ingest.
CREATE TABLE fx_reference_rates (
  from_ccy  text NOT NULL,
  to_ccy    text NOT NULL,
  day       date NOT NULL,
  rate      numeric NOT NULL CHECK (rate > 0),
  source    text NOT NULL,
  as_of     timestamptz NOT NULL,
  PRIMARY KEY (from_ccy, to_ccy, day)
);

-- Wins held for review the moment they were ingested (above the absolute amount AND the
-- multiple of the round's bets), with the round's history as evidence. The cycle of their
-- period records each as a `big_win` exception (one gate before payout); one found after its
-- period was paid raises an alert instead.
CREATE TABLE held_wins (
  partner_id            text NOT NULL,
  tx_id                 text NOT NULL,
  round_id              text NOT NULL,
  game_id               text NOT NULL,
  player_id             text NOT NULL,
  business_date         date NOT NULL,
  currency              text NOT NULL,
  amount_minor          bigint NOT NULL,
  settlement_currency   text NOT NULL,
  -- The win and the round's bets in the settlement currency (NULL: no reference rate known).
  amount_settlement_minor  bigint,
  round_bets_minor      bigint,
  multiple              numeric,
  rate                  numeric,
  evidence              jsonb NOT NULL,
  held_at               timestamptz NOT NULL DEFAULT now(),
  -- The cycle whose exception book holds it, once recorded there.
  cycle_id              text,
  PRIMARY KEY (partner_id, tx_id)
);
CREATE INDEX held_wins_day ON held_wins (partner_id, business_date);

-- Alerts: one row per crossing. While the condition holds the active row is updated (last seen,
-- occurrences, evidence); when it clears the row is resolved, and the next crossing is a new row.
CREATE TABLE alerts (
  id               bigserial PRIMARY KEY,
  kind             text NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
  dedup_key        text NOT NULL CHECK (length(dedup_key) BETWEEN 1 AND 300),
  partner_id       text,
  subject          text NOT NULL,
  severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  -- Who may see it: operational alerts (a late report, silence) are shown to the partner they
  -- are about; integrity alerts (RTP drift, big wins, spikes, rollback rates) never are.
  disclosure       text NOT NULL CHECK (disclosure IN ('operational', 'integrity')),
  state            text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'resolved')),
  title            text NOT NULL,
  -- The numbers and the query that reproduces them.
  evidence         jsonb NOT NULL,
  window_start     timestamptz,
  window_end       timestamptz,
  first_seen       timestamptz NOT NULL DEFAULT now(),
  last_seen        timestamptz NOT NULL DEFAULT now(),
  occurrences      integer NOT NULL DEFAULT 1,
  resolved_at      timestamptz,
  acknowledged_at  timestamptz,
  acknowledged_by  text,
  acknowledged_name text,
  ack_note         text,
  notified_at      timestamptz,
  CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
  CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
CREATE UNIQUE INDEX alerts_one_active ON alerts (dedup_key) WHERE state = 'active';
CREATE INDEX alerts_partner ON alerts (partner_id, first_seen DESC);
CREATE INDEX alerts_recent ON alerts (first_seen DESC, id DESC);
CREATE INDEX alerts_unnotified ON alerts (id) WHERE notified_at IS NULL;
CREATE INDEX alerts_active ON alerts (id) WHERE state = 'active';

-- Partner users: people of a partner who sign in to the console (never with the API key).
-- Invited by an operator or the partner's admin user; they set their own password with the
-- invitation; revocable. Passwords are scrypt hashes; invitations are stored as sha256.
CREATE TABLE partner_users (
  id                 text PRIMARY KEY,
  partner_id         text NOT NULL REFERENCES partners (id),
  login              text NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9._@+-]{3,200}$'),
  display_name       text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
  roles              text[] NOT NULL CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['admin', 'finance', 'viewer']),
  status             text NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'active', 'revoked')),
  password_hash      text,
  invite_hash        bytea,
  invite_expires_at  timestamptz,
  -- Raised on revocation and on a password change: sessions carry it, older ones stop working.
  session_version    integer NOT NULL DEFAULT 1,
  created_by         text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  revoked_by         text,
  revoked_at         timestamptz,
  CHECK (status <> 'active' OR password_hash IS NOT NULL),
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX partner_users_partner ON partner_users (partner_id, login);

-- Ingest keeps Σb², the hourly activity and the batch's counts (see the top of this file).
CREATE OR REPLACE FUNCTION ingest_batch(
  p_partner_id     text,
  p_batch_id       text,
  p_request_hash   bytea,
  p_received       integer,
  t_ids            text[],
  t_types          text[],
  t_rounds         text[],
  t_players        text[],
  t_games          text[],
  t_amounts        bigint[],
  t_currencies     text[],
  t_occurred       timestamptz[],
  t_refs           text[],
  t_ref_types      text[],
  t_reasons        text[]
) RETURNS jsonb LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_tz text;
  v_stripe smallint := (abs(hashtext(p_batch_id)) % 4)::smallint;
  v_prev ingest_batches%ROWTYPE;
  v_inserted text[];
  v_skipped text[];
  v_conflicts text[];
  v_orphans integer;
  v_stale integer;
  v_resolved integer := 0;
  v_response jsonb;
  v_ledger jsonb := '[]'::jsonb;
  acc record;
  v_partner_acct bigint;
  v_house_acct bigint;
  e_keys text[] := '{}'; e_dates date[] := '{}'; e_kinds text[] := '{}'; e_refs text[] := '{}';
  e_meta jsonb[] := '{}'; e_rev bigint[] := '{}';
  p_idx integer[] := '{}'; p_deb bigint[] := '{}'; p_cred bigint[] := '{}'; p_cur text[] := '{}'; p_amt bigint[] := '{}';
BEGIN
  SELECT timezone INTO v_tz FROM partners WHERE id = p_partner_id AND status = 'active';
  IF v_tz IS NULL THEN
    RAISE EXCEPTION 'partner % is not active', p_partner_id USING ERRCODE = 'CH403';
  END IF;

  -- Claim the batch id first: a concurrent request with the same id waits here for us.
  INSERT INTO ingest_batches (partner_id, batch_id, request_hash) VALUES (p_partner_id, p_batch_id, p_request_hash)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    SELECT * INTO v_prev FROM ingest_batches WHERE partner_id = p_partner_id AND batch_id = p_batch_id;
    RETURN jsonb_build_object('replayOf', v_prev.response, 'requestHash', encode(v_prev.request_hash, 'hex'));
  END IF;

  WITH input AS (
    SELECT * FROM unnest(t_ids, t_types, t_rounds, t_players, t_games, t_amounts, t_currencies, t_occurred, t_refs, t_ref_types, t_reasons)
             AS i(tx_id, type, round_id, player_id, game_id, amount_minor, currency, occurred_at, ref_id, ref_type, reason)
  ), ins AS (
    INSERT INTO game_transactions (partner_id, tx_id, type, round_id, player_id, game_id, amount_minor, currency,
                                   occurred_at, business_date, ref_id, ref_type, reason, batch_id)
    SELECT p_partner_id, i.tx_id, i.type, i.round_id, i.player_id, i.game_id, i.amount_minor, i.currency,
           i.occurred_at, (i.occurred_at AT TIME ZONE v_tz)::date, i.ref_id,
           CASE WHEN i.type = 'rollback' THEN
             coalesce(i.ref_type, (SELECT e.type FROM game_transactions e WHERE e.partner_id = p_partner_id AND e.tx_id = i.ref_id))
           END, i.reason, p_batch_id
      FROM input i
    ON CONFLICT (partner_id, tx_id) DO NOTHING
    RETURNING tx_id, type, ref_type, amount_minor, currency, business_date, game_id, occurred_at
  ), pos AS (
    INSERT INTO positions AS p (partner_id, business_date, currency, game_id, stripe, tx_count,
      bet_count, bet_minor, bet_sq_minor, win_count, win_minor, rollback_bet_count, rollback_bet_minor,
      rollback_win_count, rollback_win_minor, rollback_other_count, rollback_other_minor,
      orphan_rollback_count, orphan_rollback_minor, jackpot_contribution_count, jackpot_contribution_minor,
      jackpot_win_count, jackpot_win_minor, bonus_bet_count, bonus_bet_minor, bonus_win_count, bonus_win_minor,
      adjustment_count, adjustment_minor)
    SELECT p_partner_id, business_date, currency, game_id, v_stripe, count(*),
      count(*) FILTER (WHERE type = 'bet'), coalesce(sum(amount_minor) FILTER (WHERE type = 'bet'), 0),
      coalesce(sum(amount_minor::numeric * amount_minor) FILTER (WHERE type = 'bet'), 0),
      count(*) FILTER (WHERE type = 'win'), coalesce(sum(amount_minor) FILTER (WHERE type = 'win'), 0),
      count(*) FILTER (WHERE type = 'rollback' AND ref_type = 'bet'), coalesce(sum(amount_minor) FILTER (WHERE type = 'rollback' AND ref_type = 'bet'), 0),
      count(*) FILTER (WHERE type = 'rollback' AND ref_type = 'win'), coalesce(sum(amount_minor) FILTER (WHERE type = 'rollback' AND ref_type = 'win'), 0),
      count(*) FILTER (WHERE type = 'rollback' AND ref_type NOT IN ('bet', 'win')), coalesce(sum(amount_minor) FILTER (WHERE type = 'rollback' AND ref_type NOT IN ('bet', 'win')), 0),
      count(*) FILTER (WHERE type = 'rollback' AND ref_type IS NULL), coalesce(sum(amount_minor) FILTER (WHERE type = 'rollback' AND ref_type IS NULL), 0),
      count(*) FILTER (WHERE type = 'jackpot_contribution'), coalesce(sum(amount_minor) FILTER (WHERE type = 'jackpot_contribution'), 0),
      count(*) FILTER (WHERE type = 'jackpot_win'), coalesce(sum(amount_minor) FILTER (WHERE type = 'jackpot_win'), 0),
      count(*) FILTER (WHERE type = 'bonus_bet'), coalesce(sum(amount_minor) FILTER (WHERE type = 'bonus_bet'), 0),
      count(*) FILTER (WHERE type = 'bonus_win'), coalesce(sum(amount_minor) FILTER (WHERE type = 'bonus_win'), 0),
      count(*) FILTER (WHERE type = 'adjustment'), coalesce(sum(amount_minor) FILTER (WHERE type = 'adjustment'), 0)
    FROM ins
    GROUP BY business_date, currency, game_id
    ORDER BY business_date, currency, game_id  -- one lock order for every writer
    ON CONFLICT (partner_id, business_date, currency, game_id, stripe) DO UPDATE SET
      tx_count = p.tx_count + excluded.tx_count,
      bet_count = p.bet_count + excluded.bet_count, bet_minor = p.bet_minor + excluded.bet_minor,
      bet_sq_minor = p.bet_sq_minor + excluded.bet_sq_minor,
      win_count = p.win_count + excluded.win_count, win_minor = p.win_minor + excluded.win_minor,
      rollback_bet_count = p.rollback_bet_count + excluded.rollback_bet_count, rollback_bet_minor = p.rollback_bet_minor + excluded.rollback_bet_minor,
      rollback_win_count = p.rollback_win_count + excluded.rollback_win_count, rollback_win_minor = p.rollback_win_minor + excluded.rollback_win_minor,
      rollback_other_count = p.rollback_other_count + excluded.rollback_other_count, rollback_other_minor = p.rollback_other_minor + excluded.rollback_other_minor,
      orphan_rollback_count = p.orphan_rollback_count + excluded.orphan_rollback_count, orphan_rollback_minor = p.orphan_rollback_minor + excluded.orphan_rollback_minor,
      jackpot_contribution_count = p.jackpot_contribution_count + excluded.jackpot_contribution_count, jackpot_contribution_minor = p.jackpot_contribution_minor + excluded.jackpot_contribution_minor,
      jackpot_win_count = p.jackpot_win_count + excluded.jackpot_win_count, jackpot_win_minor = p.jackpot_win_minor + excluded.jackpot_win_minor,
      bonus_bet_count = p.bonus_bet_count + excluded.bonus_bet_count, bonus_bet_minor = p.bonus_bet_minor + excluded.bonus_bet_minor,
      bonus_win_count = p.bonus_win_count + excluded.bonus_win_count, bonus_win_minor = p.bonus_win_minor + excluded.bonus_win_minor,
      adjustment_count = p.adjustment_count + excluded.adjustment_count, adjustment_minor = p.adjustment_minor + excluded.adjustment_minor,
      updated_at = now()
  ), hours AS (
    INSERT INTO activity_hours AS h (partner_id, hour, currency, stripe, tx_count, bet_count, bet_minor, win_minor, ggr_minor)
    SELECT p_partner_id, date_trunc('hour', occurred_at), currency, v_stripe, count(*),
           count(*) FILTER (WHERE type = 'bet'), coalesce(sum(amount_minor) FILTER (WHERE type = 'bet'), 0),
           coalesce(sum(amount_minor) FILTER (WHERE type = 'win'), 0),
           sum(ggr_effect(type, ref_type, amount_minor))
      FROM ins
     GROUP BY 2, 3
     ORDER BY 2, 3
    ON CONFLICT (partner_id, hour, currency, stripe) DO UPDATE SET
      tx_count = h.tx_count + excluded.tx_count, bet_count = h.bet_count + excluded.bet_count,
      bet_minor = h.bet_minor + excluded.bet_minor, win_minor = h.win_minor + excluded.win_minor,
      ggr_minor = h.ggr_minor + excluded.ggr_minor
  ), ggr AS (
    SELECT currency, business_date, sum(ggr_effect(type, ref_type, amount_minor)) AS delta FROM ins GROUP BY currency, business_date
  )
  SELECT (SELECT array_agg(tx_id) FROM ins),
         (SELECT count(*) FROM ins WHERE type = 'rollback' AND ref_type IS NULL),
         (SELECT count(*) FROM ins WHERE occurred_at < now() - interval '24 hours' OR occurred_at > now() + interval '5 minutes'),
         (SELECT jsonb_agg(jsonb_build_object('currency', currency, 'date', business_date, 'delta', delta::text)) FROM ggr WHERE delta <> 0),
         (SELECT array_agg(tx_id) FROM input WHERE tx_id NOT IN (SELECT tx_id FROM ins))
    INTO v_inserted, v_orphans, v_stale, v_ledger, v_skipped;

  IF v_skipped IS NOT NULL THEN
  SELECT array_agg(i.tx_id ORDER BY i.tx_id) INTO v_conflicts
    FROM unnest(t_ids, t_types, t_rounds, t_players, t_games, t_amounts, t_currencies, t_occurred, t_refs, t_reasons)
         AS i(tx_id, type, round_id, player_id, game_id, amount_minor, currency, occurred_at, ref_id, reason)
    JOIN game_transactions g ON g.partner_id = p_partner_id AND g.tx_id = i.tx_id
   WHERE i.tx_id = ANY (v_skipped)
     AND (g.type, g.round_id, g.player_id, g.game_id, g.amount_minor, g.currency, g.occurred_at, g.ref_id, g.reason)
         IS DISTINCT FROM (i.type, i.round_id, i.player_id, i.game_id, i.amount_minor, i.currency, i.occurred_at, i.ref_id, i.reason);
  END IF;
  IF v_conflicts IS NOT NULL THEN
    RAISE EXCEPTION 'conflicting duplicates' USING ERRCODE = 'CH409', DETAIL = array_to_string(v_conflicts, ',');
  END IF;

  IF v_inserted IS NOT NULL AND EXISTS (SELECT 1 FROM game_transactions WHERE partner_id = p_partner_id AND type = 'rollback' AND ref_type IS NULL) THEN
    WITH resolved AS (
      UPDATE game_transactions r SET ref_type = o.type
        FROM game_transactions o
       WHERE r.partner_id = p_partner_id AND r.type = 'rollback' AND r.ref_type IS NULL
         AND o.partner_id = p_partner_id AND o.tx_id = r.ref_id AND o.tx_id = ANY (v_inserted)
      RETURNING r.*
    ), moved AS (
      UPDATE positions p SET
        orphan_rollback_count = p.orphan_rollback_count - m.n, orphan_rollback_minor = p.orphan_rollback_minor - m.amount,
        rollback_bet_count = p.rollback_bet_count + m.n_bet, rollback_bet_minor = p.rollback_bet_minor + m.bet,
        rollback_win_count = p.rollback_win_count + m.n_win, rollback_win_minor = p.rollback_win_minor + m.win,
        rollback_other_count = p.rollback_other_count + (m.n - m.n_bet - m.n_win), rollback_other_minor = p.rollback_other_minor + (m.amount - m.bet - m.win),
        updated_at = now()
      FROM (SELECT r.business_date, r.currency, r.game_id, (abs(hashtext(r.batch_id)) % 4)::smallint AS stripe,
                   count(*) AS n, sum(r.amount_minor) AS amount,
                   count(*) FILTER (WHERE r.ref_type = 'bet') AS n_bet, coalesce(sum(r.amount_minor) FILTER (WHERE r.ref_type = 'bet'), 0) AS bet,
                   count(*) FILTER (WHERE r.ref_type = 'win') AS n_win, coalesce(sum(r.amount_minor) FILTER (WHERE r.ref_type = 'win'), 0) AS win
              FROM resolved r GROUP BY 1, 2, 3, 4) m
      WHERE p.partner_id = p_partner_id AND p.business_date = m.business_date AND p.currency = m.currency
        AND p.game_id = m.game_id AND p.stripe = m.stripe
      RETURNING 1
    ), moved_hours AS (
      -- A resolved orphan now counts in the GGR of its own hour, as it does in the ledger.
      UPDATE activity_hours h SET ggr_minor = h.ggr_minor + m.delta
        FROM (SELECT date_trunc('hour', r.occurred_at) AS hour, r.currency, (abs(hashtext(r.batch_id)) % 4)::smallint AS stripe,
                     sum(ggr_effect(r.type, r.ref_type, r.amount_minor)) AS delta
                FROM resolved r GROUP BY 1, 2, 3) m
       WHERE h.partner_id = p_partner_id AND h.hour = m.hour AND h.currency = m.currency AND h.stripe = m.stripe
         AND m.delta <> 0
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM resolved),
           coalesce(v_ledger, '[]'::jsonb) || coalesce((SELECT jsonb_agg(jsonb_build_object('currency', currency, 'date', business_date, 'delta', delta::text))
                      FROM (SELECT currency, business_date, sum(ggr_effect(type, ref_type, amount_minor)) AS delta
                              FROM resolved GROUP BY 1, 2) d WHERE delta <> 0), '[]'::jsonb)
      INTO v_resolved, v_ledger;
  END IF;

  FOR acc IN SELECT x->>'currency' AS currency, (x->>'date')::date AS day, sum((x->>'delta')::bigint) AS delta
             FROM jsonb_array_elements(coalesce(v_ledger, '[]'::jsonb)) x GROUP BY 1, 2 ORDER BY 1, 2 LOOP
    CONTINUE WHEN acc.delta = 0;
    v_partner_acct := ledger_account_id('partner:' || p_partner_id || ':game_activity:' || acc.currency, 'partner', p_partner_id, 'asset', acc.currency);
    v_house_acct := ledger_account_id('partner:' || p_partner_id || ':gaming_revenue:' || acc.currency, 'partner', p_partner_id, 'revenue', acc.currency);
    e_keys := e_keys || ('ingest:' || p_partner_id || ':' || p_batch_id || ':' || acc.currency || ':' || acc.day);
    e_dates := e_dates || acc.day;
    e_kinds := e_kinds || 'ingest_batch'::text;
    e_refs := e_refs || (p_partner_id || '/' || p_batch_id);
    e_meta := e_meta || jsonb_build_object('partnerId', p_partner_id, 'batchId', p_batch_id, 'ggrMinor', acc.delta::text);
    e_rev := e_rev || NULL::bigint;
    p_idx := p_idx || cardinality(e_keys);
    p_deb := p_deb || CASE WHEN acc.delta > 0 THEN v_partner_acct ELSE v_house_acct END;
    p_cred := p_cred || CASE WHEN acc.delta > 0 THEN v_house_acct ELSE v_partner_acct END;
    p_cur := p_cur || acc.currency;
    p_amt := p_amt || abs(acc.delta)::bigint;
  END LOOP;
  IF cardinality(e_keys) > 0 THEN
    PERFORM ledger_post((abs(hashtext(p_partner_id || p_batch_id)) % 64)::smallint,
                        e_keys, e_dates, e_kinds, e_refs, e_meta, e_rev, p_idx, p_deb, p_cred, p_cur, p_amt);
  END IF;

  v_response := jsonb_build_object(
    'batchId', p_batch_id,
    'received', p_received,
    'accepted', coalesce(cardinality(v_inserted), 0),
    'duplicates', p_received - coalesce(cardinality(v_inserted), 0),
    'orphanRollbacks', v_orphans,
    'resolvedOrphanRollbacks', v_resolved,
    'ledgerEntries', cardinality(e_keys));
  UPDATE ingest_batches SET response = v_response, received_count = p_received,
         accepted_count = coalesce(cardinality(v_inserted), 0), stale_count = v_stale
   WHERE partner_id = p_partner_id AND batch_id = p_batch_id;
  RETURN v_response;
END $$;

-- What ingest now keeps, for the data stored before this migration (one pass over the rows; a
-- position's stripe is its batch's, as ingest_batch chooses it): Σb² per position, the hourly
-- activity, each batch's counts. Without it the RTP test would read Σb² = 0 for earlier days.
UPDATE positions p SET bet_sq_minor = s.sq
  FROM (SELECT partner_id, business_date, currency, game_id, (abs(hashtext(batch_id)) % 4)::smallint AS stripe,
               sum(amount_minor::numeric * amount_minor) AS sq
          FROM game_transactions WHERE type = 'bet' GROUP BY 1, 2, 3, 4, 5) s
 WHERE p.partner_id = s.partner_id AND p.business_date = s.business_date AND p.currency = s.currency
   AND p.game_id = s.game_id AND p.stripe = s.stripe;
INSERT INTO activity_hours (partner_id, hour, currency, stripe, tx_count, bet_count, bet_minor, win_minor, ggr_minor)
SELECT partner_id, date_trunc('hour', occurred_at), currency, (abs(hashtext(batch_id)) % 4)::smallint, count(*),
       count(*) FILTER (WHERE type = 'bet'), coalesce(sum(amount_minor) FILTER (WHERE type = 'bet'), 0),
       coalesce(sum(amount_minor) FILTER (WHERE type = 'win'), 0), sum(ggr_effect(type, ref_type, amount_minor))
  FROM game_transactions GROUP BY 1, 2, 3, 4;
UPDATE ingest_batches SET received_count = (response->>'received')::integer,
       accepted_count = (response->>'accepted')::integer, stale_count = 0
 WHERE response IS NOT NULL;

-- Down Migration
-- The function as it was (db/migrations/1764000002000_ingest.sql), before what it no longer writes goes.
CREATE OR REPLACE FUNCTION ingest_batch(
  p_partner_id     text,
  p_batch_id       text,
  p_request_hash   bytea,
  p_received       integer,
  t_ids            text[],
  t_types          text[],
  t_rounds         text[],
  t_players        text[],
  t_games          text[],
  t_amounts        bigint[],
  t_currencies     text[],
  t_occurred       timestamptz[],
  t_refs           text[],
  t_ref_types      text[],  -- for a rollback whose original is in this batch: that original's type
  t_reasons        text[]
) RETURNS jsonb LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_tz text;
  v_stripe smallint := (abs(hashtext(p_batch_id)) % 4)::smallint;
  v_prev ingest_batches%ROWTYPE;
  v_inserted text[];
  v_skipped text[];
  v_conflicts text[];
  v_orphans integer;
  v_resolved integer := 0;
  v_response jsonb;
  v_ledger jsonb := '[]'::jsonb;
  acc record;
  v_partner_acct bigint;
  v_house_acct bigint;
  e_keys text[] := '{}'; e_dates date[] := '{}'; e_kinds text[] := '{}'; e_refs text[] := '{}';
  e_meta jsonb[] := '{}'; e_rev bigint[] := '{}';
  p_idx integer[] := '{}'; p_deb bigint[] := '{}'; p_cred bigint[] := '{}'; p_cur text[] := '{}'; p_amt bigint[] := '{}';
BEGIN
  SELECT timezone INTO v_tz FROM partners WHERE id = p_partner_id AND status = 'active';
  IF v_tz IS NULL THEN
    RAISE EXCEPTION 'partner % is not active', p_partner_id USING ERRCODE = 'CH403';
  END IF;

  -- Claim the batch id first: a concurrent request with the same id waits here for us.
  INSERT INTO ingest_batches (partner_id, batch_id, request_hash) VALUES (p_partner_id, p_batch_id, p_request_hash)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    SELECT * INTO v_prev FROM ingest_batches WHERE partner_id = p_partner_id AND batch_id = p_batch_id;
    RETURN jsonb_build_object('replayOf', v_prev.response, 'requestHash', encode(v_prev.request_hash, 'hex'));
  END IF;

  WITH input AS (
    SELECT * FROM unnest(t_ids, t_types, t_rounds, t_players, t_games, t_amounts, t_currencies, t_occurred, t_refs, t_ref_types, t_reasons)
             AS i(tx_id, type, round_id, player_id, game_id, amount_minor, currency, occurred_at, ref_id, ref_type, reason)
  ), ins AS (
    INSERT INTO game_transactions (partner_id, tx_id, type, round_id, player_id, game_id, amount_minor, currency,
                                   occurred_at, business_date, ref_id, ref_type, reason, batch_id)
    SELECT p_partner_id, i.tx_id, i.type, i.round_id, i.player_id, i.game_id, i.amount_minor, i.currency,
           i.occurred_at, (i.occurred_at AT TIME ZONE v_tz)::date, i.ref_id,
           -- The cancelled transaction's type: found in this batch by the caller, else one
           -- index probe (rollbacks only).
           CASE WHEN i.type = 'rollback' THEN
             coalesce(i.ref_type, (SELECT e.type FROM game_transactions e WHERE e.partner_id = p_partner_id AND e.tx_id = i.ref_id))
           END, i.reason, p_batch_id
      FROM input i
    ON CONFLICT (partner_id, tx_id) DO NOTHING
    RETURNING tx_id, type, ref_type, amount_minor, currency, business_date, game_id
  ), pos AS (
    INSERT INTO positions AS p (partner_id, business_date, currency, game_id, stripe, tx_count,
      bet_count, bet_minor, win_count, win_minor, rollback_bet_count, rollback_bet_minor,
      rollback_win_count, rollback_win_minor, rollback_other_count, rollback_other_minor,
      orphan_rollback_count, orphan_rollback_minor, jackpot_contribution_count, jackpot_contribution_minor,
      jackpot_win_count, jackpot_win_minor, bonus_bet_count, bonus_bet_minor, bonus_win_count, bonus_win_minor,
      adjustment_count, adjustment_minor)
    SELECT p_partner_id, business_date, currency, game_id, v_stripe, count(*),
      count(*) FILTER (WHERE type = 'bet'), coalesce(sum(amount_minor) FILTER (WHERE type = 'bet'), 0),
      count(*) FILTER (WHERE type = 'win'), coalesce(sum(amount_minor) FILTER (WHERE type = 'win'), 0),
      count(*) FILTER (WHERE type = 'rollback' AND ref_type = 'bet'), coalesce(sum(amount_minor) FILTER (WHERE type = 'rollback' AND ref_type = 'bet'), 0),
      count(*) FILTER (WHERE type = 'rollback' AND ref_type = 'win'), coalesce(sum(amount_minor) FILTER (WHERE type = 'rollback' AND ref_type = 'win'), 0),
      count(*) FILTER (WHERE type = 'rollback' AND ref_type NOT IN ('bet', 'win')), coalesce(sum(amount_minor) FILTER (WHERE type = 'rollback' AND ref_type NOT IN ('bet', 'win')), 0),
      count(*) FILTER (WHERE type = 'rollback' AND ref_type IS NULL), coalesce(sum(amount_minor) FILTER (WHERE type = 'rollback' AND ref_type IS NULL), 0),
      count(*) FILTER (WHERE type = 'jackpot_contribution'), coalesce(sum(amount_minor) FILTER (WHERE type = 'jackpot_contribution'), 0),
      count(*) FILTER (WHERE type = 'jackpot_win'), coalesce(sum(amount_minor) FILTER (WHERE type = 'jackpot_win'), 0),
      count(*) FILTER (WHERE type = 'bonus_bet'), coalesce(sum(amount_minor) FILTER (WHERE type = 'bonus_bet'), 0),
      count(*) FILTER (WHERE type = 'bonus_win'), coalesce(sum(amount_minor) FILTER (WHERE type = 'bonus_win'), 0),
      count(*) FILTER (WHERE type = 'adjustment'), coalesce(sum(amount_minor) FILTER (WHERE type = 'adjustment'), 0)
    FROM ins
    GROUP BY business_date, currency, game_id
    ORDER BY business_date, currency, game_id  -- one lock order for every writer
    ON CONFLICT (partner_id, business_date, currency, game_id, stripe) DO UPDATE SET
      tx_count = p.tx_count + excluded.tx_count,
      bet_count = p.bet_count + excluded.bet_count, bet_minor = p.bet_minor + excluded.bet_minor,
      win_count = p.win_count + excluded.win_count, win_minor = p.win_minor + excluded.win_minor,
      rollback_bet_count = p.rollback_bet_count + excluded.rollback_bet_count, rollback_bet_minor = p.rollback_bet_minor + excluded.rollback_bet_minor,
      rollback_win_count = p.rollback_win_count + excluded.rollback_win_count, rollback_win_minor = p.rollback_win_minor + excluded.rollback_win_minor,
      rollback_other_count = p.rollback_other_count + excluded.rollback_other_count, rollback_other_minor = p.rollback_other_minor + excluded.rollback_other_minor,
      orphan_rollback_count = p.orphan_rollback_count + excluded.orphan_rollback_count, orphan_rollback_minor = p.orphan_rollback_minor + excluded.orphan_rollback_minor,
      jackpot_contribution_count = p.jackpot_contribution_count + excluded.jackpot_contribution_count, jackpot_contribution_minor = p.jackpot_contribution_minor + excluded.jackpot_contribution_minor,
      jackpot_win_count = p.jackpot_win_count + excluded.jackpot_win_count, jackpot_win_minor = p.jackpot_win_minor + excluded.jackpot_win_minor,
      bonus_bet_count = p.bonus_bet_count + excluded.bonus_bet_count, bonus_bet_minor = p.bonus_bet_minor + excluded.bonus_bet_minor,
      bonus_win_count = p.bonus_win_count + excluded.bonus_win_count, bonus_win_minor = p.bonus_win_minor + excluded.bonus_win_minor,
      adjustment_count = p.adjustment_count + excluded.adjustment_count, adjustment_minor = p.adjustment_minor + excluded.adjustment_minor,
      updated_at = now()
  ), ggr AS (
    SELECT currency, business_date, sum(ggr_effect(type, ref_type, amount_minor)) AS delta FROM ins GROUP BY currency, business_date
  )
  SELECT (SELECT array_agg(tx_id) FROM ins),
         (SELECT count(*) FROM ins WHERE type = 'rollback' AND ref_type IS NULL),
         (SELECT jsonb_agg(jsonb_build_object('currency', currency, 'date', business_date, 'delta', delta::text)) FROM ggr WHERE delta <> 0),
         (SELECT array_agg(tx_id) FROM input WHERE tx_id NOT IN (SELECT tx_id FROM ins))
    INTO v_inserted, v_orphans, v_ledger, v_skipped;

  -- Ids that were not inserted already exist: identical content is a duplicate, anything
  -- else a conflict that a human must see, and the whole batch is refused.
  IF v_skipped IS NOT NULL THEN
  SELECT array_agg(i.tx_id ORDER BY i.tx_id) INTO v_conflicts
    FROM unnest(t_ids, t_types, t_rounds, t_players, t_games, t_amounts, t_currencies, t_occurred, t_refs, t_reasons)
         AS i(tx_id, type, round_id, player_id, game_id, amount_minor, currency, occurred_at, ref_id, reason)
    JOIN game_transactions g ON g.partner_id = p_partner_id AND g.tx_id = i.tx_id
   WHERE i.tx_id = ANY (v_skipped)
     AND (g.type, g.round_id, g.player_id, g.game_id, g.amount_minor, g.currency, g.occurred_at, g.ref_id, g.reason)
         IS DISTINCT FROM (i.type, i.round_id, i.player_id, i.game_id, i.amount_minor, i.currency, i.occurred_at, i.ref_id, i.reason);
  END IF;
  IF v_conflicts IS NOT NULL THEN
    RAISE EXCEPTION 'conflicting duplicates' USING ERRCODE = 'CH409', DETAIL = array_to_string(v_conflicts, ',');
  END IF;

  -- Earlier orphan rollbacks whose original arrived in this batch: resolve them, and move
  -- their amounts from the orphan bucket to the right rollback bucket of their own day.
  IF v_inserted IS NOT NULL AND EXISTS (SELECT 1 FROM game_transactions WHERE partner_id = p_partner_id AND type = 'rollback' AND ref_type IS NULL) THEN
    WITH resolved AS (
      UPDATE game_transactions r SET ref_type = o.type
        FROM game_transactions o
       WHERE r.partner_id = p_partner_id AND r.type = 'rollback' AND r.ref_type IS NULL
         AND o.partner_id = p_partner_id AND o.tx_id = r.ref_id AND o.tx_id = ANY (v_inserted)
      RETURNING r.*
    ), moved AS (
      UPDATE positions p SET
        orphan_rollback_count = p.orphan_rollback_count - m.n, orphan_rollback_minor = p.orphan_rollback_minor - m.amount,
        rollback_bet_count = p.rollback_bet_count + m.n_bet, rollback_bet_minor = p.rollback_bet_minor + m.bet,
        rollback_win_count = p.rollback_win_count + m.n_win, rollback_win_minor = p.rollback_win_minor + m.win,
        rollback_other_count = p.rollback_other_count + (m.n - m.n_bet - m.n_win), rollback_other_minor = p.rollback_other_minor + (m.amount - m.bet - m.win),
        updated_at = now()
      FROM (SELECT r.business_date, r.currency, r.game_id, (abs(hashtext(r.batch_id)) % 4)::smallint AS stripe,
                   count(*) AS n, sum(r.amount_minor) AS amount,
                   count(*) FILTER (WHERE r.ref_type = 'bet') AS n_bet, coalesce(sum(r.amount_minor) FILTER (WHERE r.ref_type = 'bet'), 0) AS bet,
                   count(*) FILTER (WHERE r.ref_type = 'win') AS n_win, coalesce(sum(r.amount_minor) FILTER (WHERE r.ref_type = 'win'), 0) AS win
              FROM resolved r GROUP BY 1, 2, 3, 4) m
      WHERE p.partner_id = p_partner_id AND p.business_date = m.business_date AND p.currency = m.currency
        AND p.game_id = m.game_id AND p.stripe = m.stripe
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM resolved),
           coalesce(v_ledger, '[]'::jsonb) || coalesce((SELECT jsonb_agg(jsonb_build_object('currency', currency, 'date', business_date, 'delta', delta::text))
                      FROM (SELECT currency, business_date, sum(ggr_effect(type, ref_type, amount_minor)) AS delta
                              FROM resolved GROUP BY 1, 2) d WHERE delta <> 0), '[]'::jsonb)
      INTO v_resolved, v_ledger;
  END IF;

  -- Accrue GGR in the ledger: one balanced entry per batch, currency and business day.
  FOR acc IN SELECT x->>'currency' AS currency, (x->>'date')::date AS day, sum((x->>'delta')::bigint) AS delta
             FROM jsonb_array_elements(coalesce(v_ledger, '[]'::jsonb)) x GROUP BY 1, 2 ORDER BY 1, 2 LOOP
    CONTINUE WHEN acc.delta = 0;
    v_partner_acct := ledger_account_id('partner:' || p_partner_id || ':game_activity:' || acc.currency, 'partner', p_partner_id, 'asset', acc.currency);
    -- The operator's gaming revenue is booked per partner: the house total is their sum, and
    -- batches of different partners never wait for each other's account locks.
    v_house_acct := ledger_account_id('partner:' || p_partner_id || ':gaming_revenue:' || acc.currency, 'partner', p_partner_id, 'revenue', acc.currency);
    e_keys := e_keys || ('ingest:' || p_partner_id || ':' || p_batch_id || ':' || acc.currency || ':' || acc.day);
    e_dates := e_dates || acc.day;
    e_kinds := e_kinds || 'ingest_batch'::text;
    e_refs := e_refs || (p_partner_id || '/' || p_batch_id);
    e_meta := e_meta || jsonb_build_object('partnerId', p_partner_id, 'batchId', p_batch_id, 'ggrMinor', acc.delta::text);
    e_rev := e_rev || NULL::bigint;
    p_idx := p_idx || cardinality(e_keys);
    p_deb := p_deb || CASE WHEN acc.delta > 0 THEN v_partner_acct ELSE v_house_acct END;
    p_cred := p_cred || CASE WHEN acc.delta > 0 THEN v_house_acct ELSE v_partner_acct END;
    p_cur := p_cur || acc.currency;
    p_amt := p_amt || abs(acc.delta)::bigint;
  END LOOP;
  IF cardinality(e_keys) > 0 THEN
    PERFORM ledger_post((abs(hashtext(p_partner_id || p_batch_id)) % 64)::smallint,
                        e_keys, e_dates, e_kinds, e_refs, e_meta, e_rev, p_idx, p_deb, p_cred, p_cur, p_amt);
  END IF;

  v_response := jsonb_build_object(
    'batchId', p_batch_id,
    'received', p_received,
    'accepted', coalesce(cardinality(v_inserted), 0),
    'duplicates', p_received - coalesce(cardinality(v_inserted), 0),
    'orphanRollbacks', v_orphans,
    'resolvedOrphanRollbacks', v_resolved,
    'ledgerEntries', cardinality(e_keys));
  UPDATE ingest_batches SET response = v_response WHERE partner_id = p_partner_id AND batch_id = p_batch_id;
  RETURN v_response;
END $$;

DROP INDEX alerts_active;
DROP INDEX exception_books_updated;
DROP INDEX settlement_fx_rates_locked;
DROP INDEX settlement_cycles_unfinished;
DROP TABLE partner_users;
DROP TABLE alerts;
DROP TABLE held_wins;
DROP TABLE fx_reference_rates;
DROP TABLE partner_watch_settings;
DROP TABLE partner_game_map;
DROP TABLE canonical_game_versions;
DROP TABLE canonical_games;
DROP INDEX game_transactions_day_game;
DROP INDEX ingest_batches_received;
ALTER TABLE ingest_batches DROP COLUMN received_count, DROP COLUMN accepted_count, DROP COLUMN stale_count;
DROP TABLE activity_hours;
ALTER TABLE positions DROP COLUMN bet_sq_minor;
