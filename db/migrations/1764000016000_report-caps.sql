-- Up Migration

-- A provider connection's own caps on what one cycle's report may store (rows, and bytes of
-- the provider's answers). NULL: the deployment's caps (REPORT_MAX_ROWS, REPORT_MAX_BYTES). A
-- connection may only lower them: the fetch applies the smaller of the two, and the API
-- refuses a value above the deployment's.
ALTER TABLE partner_providers
  ADD COLUMN report_max_rows bigint,
  ADD COLUMN report_max_bytes bigint,
  ADD CONSTRAINT partner_providers_report_max_rows_positive CHECK (report_max_rows > 0),
  ADD CONSTRAINT partner_providers_report_max_bytes_positive CHECK (report_max_bytes > 0);

-- Down Migration

ALTER TABLE partner_providers
  DROP CONSTRAINT partner_providers_report_max_bytes_positive,
  DROP CONSTRAINT partner_providers_report_max_rows_positive,
  DROP COLUMN report_max_bytes,
  DROP COLUMN report_max_rows;
