-- Up Migration

-- Accounting periods (issue 20, README "Periods and their close"). A period is a partner's
-- calendar month in its own timezone (business dates are already partner-local): open →
-- closing → closed. A row appears when something needs it (a close is requested); a month
-- without one is open. A cycle belongs to the month its period ENDS in (accrualMonth).
CREATE TABLE accounting_periods (
  partner_id            text NOT NULL REFERENCES partners (id),
  month                 text NOT NULL CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  state                 text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closing', 'closed')),
  -- Who asked for the (latest) close, verified from the token by the API: the workflow reads it
  -- from here, never from its input.
  close_requested_by    text,
  close_requested_name  text,
  close_requested_at    timestamptz,
  close_workflow_id     text,
  -- When postings into the month were locked (state closing).
  closing_at            timestamptz,
  closed_by             text,
  closed_name           text,
  -- The close instant: the stored report is the ledger as recorded by it.
  closed_at             timestamptz,
  report                jsonb,
  -- sha256 (hex) of the report's canonical JSON (keys sorted): db/audit.ts digestOf.
  report_digest         text CHECK (report_digest ~ '^[0-9a-f]{64}$'),
  -- What stopped the latest close attempt (cycles not completed, an earlier month open); [] when none.
  blockers              jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(blockers) = 'array'),
  blocked_at            timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partner_id, month),
  CHECK ((state = 'closed') = (closed_at IS NOT NULL)),
  CHECK (state <> 'closed' OR (report IS NOT NULL AND report_digest IS NOT NULL AND closed_by IS NOT NULL)),
  CHECK (state = 'open' OR closing_at IS NOT NULL)
);
CREATE INDEX accounting_periods_month ON accounting_periods (month, state);

-- Per partner, the last day of its latest closing or closed month: what the posting trigger
-- joins. Maintained only by the trigger on accounting_periods below (the application may read it).
CREATE TABLE partner_closed_through (
  partner_id      text PRIMARY KEY REFERENCES partners (id),
  month           text NOT NULL,
  closed_through  date NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON partner_closed_through FROM clearhouse_app;
-- A period is never deleted; a closed one never changes again (trigger below).
REVOKE DELETE, TRUNCATE ON accounting_periods FROM clearhouse_app;

CREATE FUNCTION month_last_day(p_month text) RETURNS date LANGUAGE sql IMMUTABLE AS $$
  SELECT (to_date(p_month || '-01', 'YYYY-MM-DD') + interval '1 month' - interval '1 day')::date
$$;

-- A closed period is final: its state, report and digest never change. Months lock in order:
-- a month already inside the partner's closed-through date cannot start closing again.
CREATE FUNCTION accounting_periods_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_through date;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'accounting periods are never deleted (% %)', OLD.partner_id, OLD.month USING ERRCODE = 'CH423';
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.state = 'closed' THEN
    RAISE EXCEPTION 'period % of partner % is closed: it never changes (restate instead)', OLD.month, OLD.partner_id
      USING ERRCODE = 'CH423';
  END IF;
  IF NEW.state <> 'open' AND (TG_OP = 'INSERT' OR OLD.state = 'open') THEN
    SELECT closed_through INTO v_through FROM partner_closed_through WHERE partner_id = NEW.partner_id;
    IF v_through IS NOT NULL AND month_last_day(NEW.month) <= v_through THEN
      RAISE EXCEPTION 'period % of partner % is inside its closed-through date %: months close in order', NEW.month, NEW.partner_id, v_through
        USING ERRCODE = 'CH423';
    END IF;
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END $$;
CREATE TRIGGER accounting_periods_guard BEFORE INSERT OR UPDATE OR DELETE ON accounting_periods
  FOR EACH ROW EXECUTE FUNCTION accounting_periods_guard();

-- The closed-through date follows the periods' states (closing locks as closed does; a close
-- that finds blockers after locking goes back to open and unlocks).
CREATE FUNCTION accounting_periods_closed_through() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE v_month text;
BEGIN
  SELECT max(month) INTO v_month FROM accounting_periods WHERE partner_id = NEW.partner_id AND state IN ('closing', 'closed');
  IF v_month IS NULL THEN
    DELETE FROM partner_closed_through WHERE partner_id = NEW.partner_id;
  ELSE
    INSERT INTO partner_closed_through (partner_id, month, closed_through) VALUES (NEW.partner_id, v_month, month_last_day(v_month))
    ON CONFLICT (partner_id) DO UPDATE SET month = excluded.month, closed_through = excluded.closed_through, updated_at = now()
      WHERE partner_closed_through.closed_through IS DISTINCT FROM excluded.closed_through;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER accounting_periods_closed_through AFTER INSERT OR UPDATE OF state ON accounting_periods
  FOR EACH ROW EXECUTE FUNCTION accounting_periods_closed_through();

-- Nothing is posted with an effective date inside a partner's closing or closed period,
-- whoever posts (ledger_post, ledger_post_entries, ingest): checked per statement on the new
-- postings, in Postgres. A posting is the partner's when either of its accounts is. Named to
-- fire before ledger_postings_balances (statement triggers fire in name order), so a refused
-- statement takes no account locks. The usual statement (everything dated after every
-- closed-through date) is answered by two aggregates without a join.
CREATE FUNCTION ledger_refuse_closed_periods() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_bad record;
BEGIN
  IF (SELECT min(effective_date) FROM new_postings) > (SELECT max(closed_through) FROM partner_closed_through)
     OR NOT EXISTS (SELECT 1 FROM partner_closed_through) THEN
    RETURN NULL;
  END IF;
  SELECT p.entry_id, p.line, p.effective_date, c.partner_id, c.month, c.closed_through INTO v_bad
    FROM (SELECT entry_id, line, effective_date, debit_account_id AS account_id FROM new_postings
          UNION ALL SELECT entry_id, line, effective_date, credit_account_id FROM new_postings) p
    JOIN ledger_accounts a ON a.id = p.account_id
    JOIN partner_closed_through c ON c.partner_id = a.partner_id AND p.effective_date <= c.closed_through
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'period closed: posting %/% is dated %, inside partner %''s closed period (closed through %, month %); date it % or later (db/periods.ts openPostingDate)',
      v_bad.entry_id, v_bad.line, v_bad.effective_date, v_bad.partner_id, v_bad.closed_through, v_bad.month, v_bad.closed_through + 1
      USING ERRCODE = 'CH423',
            DETAIL = format('partner=%s effective_date=%s closed_through=%s', v_bad.partner_id, v_bad.effective_date, v_bad.closed_through);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_postings_a_closed_periods AFTER INSERT ON ledger_postings
  REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_closed_periods();

-- Ingest dates a late transaction's ledger entry in the first open day (lateFor: its own day);
-- otherwise as 1764000031000_watching-the-money.sql defined it.
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
  v_closed_through date;
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

  -- A day inside a closing or closed period of the partner is not posted there (the trigger
  -- ledger_postings_a_closed_periods would refuse it): its entry is dated the first open day
  -- and says which day it belongs to (lateFor). The transaction and its position keep their
  -- own business day: what happened, and when.
  IF v_ledger IS NOT NULL THEN
    SELECT closed_through INTO v_closed_through FROM partner_closed_through WHERE partner_id = p_partner_id;
  END IF;
  FOR acc IN SELECT x->>'currency' AS currency, (x->>'date')::date AS day, sum((x->>'delta')::bigint) AS delta
             FROM jsonb_array_elements(coalesce(v_ledger, '[]'::jsonb)) x GROUP BY 1, 2 ORDER BY 1, 2 LOOP
    CONTINUE WHEN acc.delta = 0;
    v_partner_acct := ledger_account_id('partner:' || p_partner_id || ':game_activity:' || acc.currency, 'partner', p_partner_id, 'asset', acc.currency);
    v_house_acct := ledger_account_id('partner:' || p_partner_id || ':gaming_revenue:' || acc.currency, 'partner', p_partner_id, 'revenue', acc.currency);
    e_keys := e_keys || ('ingest:' || p_partner_id || ':' || p_batch_id || ':' || acc.currency || ':' || acc.day);
    e_dates := e_dates || CASE WHEN acc.day <= v_closed_through THEN v_closed_through + 1 ELSE acc.day END;
    e_kinds := e_kinds || 'ingest_batch'::text;
    e_refs := e_refs || (p_partner_id || '/' || p_batch_id);
    e_meta := e_meta || CASE WHEN acc.day <= v_closed_through
                        THEN jsonb_build_object('partnerId', p_partner_id, 'batchId', p_batch_id, 'ggrMinor', acc.delta::text,
                                                'lateFor', acc.day::text)
                        ELSE jsonb_build_object('partnerId', p_partner_id, 'batchId', p_batch_id, 'ggrMinor', acc.delta::text) END;
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


-- Down Migration
DROP TRIGGER ledger_postings_a_closed_periods ON ledger_postings;
DROP FUNCTION ledger_refuse_closed_periods();
DROP TRIGGER accounting_periods_closed_through ON accounting_periods;
DROP FUNCTION accounting_periods_closed_through();
DROP TRIGGER accounting_periods_guard ON accounting_periods;
DROP FUNCTION accounting_periods_guard();
-- The function as 1764000031000_watching-the-money.sql defined it.
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

DROP TABLE partner_closed_through;
DROP TABLE accounting_periods;
DROP FUNCTION month_last_day(text);
