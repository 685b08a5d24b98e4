-- Up Migration

-- Game transactions as partners send them, keyed by the partner's own id. The batch that
-- first delivered a row is kept for the audit trail.
-- partner_id carries no foreign key on purpose: one RI probe per inserted row cost a third of
-- the ingest time. ingest_batch checks the partner once per batch, and partners are never
-- deleted (trigger below), so every row still names a real partner.
CREATE TABLE game_transactions (
  partner_id     text NOT NULL,
  tx_id          text NOT NULL,
  type           text NOT NULL CHECK (type IN ('bet', 'win', 'rollback', 'jackpot_contribution', 'jackpot_win', 'bonus_bet', 'bonus_win', 'adjustment')),
  round_id       text NOT NULL,
  player_id      text NOT NULL,
  game_id        text NOT NULL,
  amount_minor   bigint NOT NULL CHECK (amount_minor >= 0 OR type = 'adjustment'),
  currency       text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
  occurred_at    timestamptz NOT NULL,
  business_date  date NOT NULL,
  ref_id         text CHECK ((type = 'rollback') = (ref_id IS NOT NULL)),
  -- For a rollback: the type of the transaction it cancels, or NULL while that one has not
  -- arrived (an orphan rollback; reconciliation reports it if still orphaned at cut-off).
  ref_type       text,
  reason         text CHECK (type <> 'adjustment' OR reason IS NOT NULL),
  batch_id       text NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partner_id, tx_id)
) WITH (fillfactor = 100);
CREATE INDEX game_transactions_orphans ON game_transactions (partner_id, ref_id) WHERE type = 'rollback' AND ref_type IS NULL;

-- Real-time position per partner, business day, currency and game, maintained in the same
-- database transaction as the rows. Each key is split over 4 stripes so concurrent batches of
-- one partner rarely wait for each other's row locks; readers sum the stripes.
CREATE TABLE positions (
  partner_id                  text NOT NULL,
  business_date               date NOT NULL,
  currency                    text NOT NULL,
  game_id                     text NOT NULL,
  stripe                      smallint NOT NULL CHECK (stripe BETWEEN 0 AND 3),
  tx_count                    bigint NOT NULL DEFAULT 0,
  bet_count                   bigint NOT NULL DEFAULT 0,
  bet_minor                   bigint NOT NULL DEFAULT 0,
  win_count                   bigint NOT NULL DEFAULT 0,
  win_minor                   bigint NOT NULL DEFAULT 0,
  rollback_bet_count          bigint NOT NULL DEFAULT 0,
  rollback_bet_minor          bigint NOT NULL DEFAULT 0,
  rollback_win_count          bigint NOT NULL DEFAULT 0,
  rollback_win_minor          bigint NOT NULL DEFAULT 0,
  rollback_other_count        bigint NOT NULL DEFAULT 0,
  rollback_other_minor        bigint NOT NULL DEFAULT 0,
  orphan_rollback_count       bigint NOT NULL DEFAULT 0,
  orphan_rollback_minor       bigint NOT NULL DEFAULT 0,
  jackpot_contribution_count  bigint NOT NULL DEFAULT 0,
  jackpot_contribution_minor  bigint NOT NULL DEFAULT 0,
  jackpot_win_count           bigint NOT NULL DEFAULT 0,
  jackpot_win_minor           bigint NOT NULL DEFAULT 0,
  bonus_bet_count             bigint NOT NULL DEFAULT 0,
  bonus_bet_minor             bigint NOT NULL DEFAULT 0,
  bonus_win_count             bigint NOT NULL DEFAULT 0,
  bonus_win_minor             bigint NOT NULL DEFAULT 0,
  adjustment_count            bigint NOT NULL DEFAULT 0,
  adjustment_minor            bigint NOT NULL DEFAULT 0,
  -- GGR = bets − wins, after rollbacks.
  ggr_minor bigint GENERATED ALWAYS AS ((bet_minor - rollback_bet_minor) - (win_minor - rollback_win_minor)) STORED,
  updated_at                  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partner_id, business_date, currency, game_id, stripe)
);

-- Idempotency of whole batches: a replayed batchId returns the stored response.
CREATE TABLE ingest_batches (
  partner_id    text NOT NULL REFERENCES partners (id),
  batch_id      text NOT NULL,
  request_hash  bytea NOT NULL,
  response      jsonb,
  received_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partner_id, batch_id)
);

-- Partners are suspended, never deleted: their transactions, positions and ledger history stay.
CREATE FUNCTION partners_reject_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'partners are never deleted (suspend them instead)' USING ERRCODE = 'CH001';
END $$;
CREATE TRIGGER partners_no_delete BEFORE DELETE ON partners FOR EACH ROW EXECUTE FUNCTION partners_reject_delete();

-- The ledger accounts game activity accrues to, created on first use.
CREATE FUNCTION ledger_account_id(p_code text, p_owner_kind text, p_partner_id text, p_kind text, p_currency text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
  SELECT id INTO v_id FROM ledger_accounts WHERE code = p_code;
  IF v_id IS NULL THEN
    INSERT INTO ledger_accounts (code, owner_kind, partner_id, kind, currency)
    VALUES (p_code, p_owner_kind, p_partner_id, p_kind, p_currency)
    ON CONFLICT (code) DO NOTHING;
    SELECT id INTO v_id FROM ledger_accounts WHERE code = p_code;
  END IF;
  RETURN v_id;
END $$;

-- Signed GGR effect of one transaction: bets add, wins subtract, rollbacks undo.
CREATE FUNCTION ggr_effect(p_type text, p_ref_type text, p_amount bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_type = 'bet' THEN p_amount
    WHEN p_type = 'win' THEN -p_amount
    WHEN p_type = 'rollback' AND p_ref_type = 'bet' THEN -p_amount
    WHEN p_type = 'rollback' AND p_ref_type = 'win' THEN p_amount
    ELSE 0 END
$$;

-- Ingests one validated batch atomically, in one round trip. Exact duplicates (same id and
-- content, stored earlier) are counted; conflicting duplicates raise CH409 with their ids and
-- nothing is written; positions and the ledger move in the same transaction.
-- Returns the response to send (also stored for replays of the same batchId), or, when the
-- batchId was seen before, {"replayOf": <stored response>, "requestHash": <hex>}.
CREATE FUNCTION ingest_batch(
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

-- Down Migration
DROP FUNCTION ingest_batch;
DROP FUNCTION ggr_effect;
DROP FUNCTION ledger_account_id;
DROP TRIGGER partners_no_delete ON partners;
DROP FUNCTION partners_reject_delete;
DROP TABLE ingest_batches;
DROP TABLE positions;
DROP TABLE game_transactions;
