-- Up Migration

-- Provider report rows at transaction-level scale (a real provider reports ~10 million rows a
-- day): the table becomes partitioned by month of the cycle's period, so that a retention rule
-- (db/reports.ts, `npm run reports:retention`) drops a whole month at once instead of deleting
-- rows one by one, and each month's index stays the size of that month.
--
-- One column is added so that a row says which partition it belongs to without a lookup: the
-- cycle's period_start. Not sub-partitioned by partner: every read is by cycle, through the
-- primary key (cycle_id, ord, …) in which a cycle's rows are contiguous, so partner partitions
-- would prune nothing more and only multiply the tables created at run time.
--
-- The only index is that primary key, in the order rows arrive (ord), so storing a page appends
-- to it: an index on (cycle_id, tx_id) instead cost more than the rows themselves (inserted in
-- random tx_id order; measured 20.6 s against 6.4 s for 1,000,000 rows). Lookups by transaction
-- id are joins over one cycle's rows (hash joins), never probes.
--
-- Written with COPY (page by page, no ON CONFLICT): a page is stored exactly once because it is
-- written in the same transaction as the fetch's progress, and only when the progress says it
-- is the next page (db/reports.ts, storeReportPage). No foreign key to settlement_cycles: a
-- key check per row would cost as much as the row itself at this volume; the progress row,
-- written in the same transaction, carries that foreign key for the whole page.
ALTER TABLE provider_report_rows RENAME TO provider_report_rows_unpartitioned;
ALTER TABLE provider_report_rows_unpartitioned RENAME CONSTRAINT provider_report_rows_pkey TO provider_report_rows_unpartitioned_pkey;

CREATE TABLE provider_report_rows (
  cycle_id       text NOT NULL,
  -- The cycle's period start: the partition key (month), so retention drops whole months.
  period_start   date NOT NULL,
  -- Position in the report (1-based); duplicates the provider sent twice keep their own ord.
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
  -- A page stored twice would fail here rather than double the report (the progress check in
  -- storeReportPage is what keeps it from happening).
  PRIMARY KEY (cycle_id, ord, period_start)
) PARTITION BY RANGE (period_start);

-- The month's partition for a period, created on first use by the report fetch. The
-- application may not create tables (migration 1764000017000), so this runs with the owner's
-- rights on a fixed search_path, creates only partitions of this table named after their month,
-- and grants on them what the parent grants (a partition read directly, e.g. by an operator,
-- checks its own privileges). Concurrent first calls queue on an advisory lock.
CREATE FUNCTION ensure_report_rows_partition(p_period_start date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_from date := date_trunc('month', p_period_start)::date;
  v_name text := 'provider_report_rows_' || to_char(date_trunc('month', p_period_start), 'YYYYMM');
BEGIN
  IF p_period_start IS NULL THEN
    RAISE EXCEPTION 'a report partition needs a period start' USING ERRCODE = '22004';
  END IF;
  IF to_regclass('public.' || v_name) IS NOT NULL THEN
    RETURN v_name;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('provider_report_rows partitions'));
  IF to_regclass('public.' || v_name) IS NOT NULL THEN
    RETURN v_name;
  END IF;
  -- The lock above does not refresh this session's view of the catalog: a partition another
  -- session created meanwhile may still look absent, and then creating it says it exists.
  BEGIN
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.provider_report_rows FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_from, (v_from + interval '1 month')::date);
  EXCEPTION WHEN duplicate_table THEN
    RETURN v_name;
  END;
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO clearhouse_app', v_name);
  EXECUTE format('GRANT SELECT ON public.%I TO clearhouse_checkpointer', v_name);
  RETURN v_name;
END $$;
REVOKE EXECUTE ON FUNCTION ensure_report_rows_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_report_rows_partition(date) TO clearhouse_app;

-- Existing rows move into their months' partitions.
DO $$
DECLARE m date;
BEGIN
  FOR m IN SELECT DISTINCT date_trunc('month', c.period_start)::date
             FROM provider_report_rows_unpartitioned r JOIN settlement_cycles c ON c.id = r.cycle_id
  LOOP
    PERFORM ensure_report_rows_partition(m);
  END LOOP;
END $$;
INSERT INTO provider_report_rows (cycle_id, period_start, ord, tx_id, type, round_id, game_id, currency,
                                  amount_minor, occurred_at, business_date, round_status)
SELECT r.cycle_id, c.period_start, r.ord, r.tx_id, r.type, r.round_id, r.game_id, r.currency,
       r.amount_minor, r.occurred_at, r.business_date, r.round_status
  FROM provider_report_rows_unpartitioned r JOIN settlement_cycles c ON c.id = r.cycle_id;
DROP TABLE provider_report_rows_unpartitioned;

-- Down Migration

CREATE TABLE provider_report_rows_unpartitioned (
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
INSERT INTO provider_report_rows_unpartitioned (cycle_id, ord, tx_id, type, round_id, game_id, currency, amount_minor,
                                                occurred_at, business_date, round_status)
SELECT cycle_id, ord, tx_id, type, round_id, game_id, currency, amount_minor, occurred_at, business_date, round_status
  FROM provider_report_rows
ON CONFLICT (cycle_id, ord) DO NOTHING;
DROP TABLE provider_report_rows;
DROP FUNCTION ensure_report_rows_partition(date);
ALTER TABLE provider_report_rows_unpartitioned RENAME CONSTRAINT provider_report_rows_unpartitioned_pkey TO provider_report_rows_pkey;
ALTER TABLE provider_report_rows_unpartitioned RENAME TO provider_report_rows;
