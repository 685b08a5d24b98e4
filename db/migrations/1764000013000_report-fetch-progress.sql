-- Up Migration

-- Where a provider report fetch stands, committed in the same transaction as the page it
-- follows: a worker that dies mid-fetch is replaced by one that resumes after the last stored
-- page, so at most the page in flight is fetched again (a heartbeat's details lag behind by
-- the SDK's throttle, up to most of the heartbeat timeout). One row per cycle, owned by one
-- workflow run: a later run of the same cycle id starts its report afresh.
CREATE TABLE provider_report_progress (
  cycle_id   text PRIMARY KEY REFERENCES settlement_cycles (id),
  run_id     text NOT NULL,
  -- The fetch's own state after the last stored page (cursor, next row number, pages read,
  -- control totals and file checks so far), as activities/settlement.ts writes it.
  state      jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration

DROP TABLE provider_report_progress;
