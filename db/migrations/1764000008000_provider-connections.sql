-- Up Migration

-- Provider connections are set through the API (PUT /v1/partners/{id}/provider-connection),
-- which validates the format and its options against the adapter registry
-- (providers/registry.ts): that registry is the one list of formats, so the CHECK that had to
-- change with every new adapter goes.
ALTER TABLE partner_providers DROP CONSTRAINT partner_providers_format_check;

-- Credentials for the provider's API: which header carries them (not secret, shown back) and
-- its value, which must be sent again later, so it is stored encrypted (AES-256-GCM under
-- SECRETS_KEY, kept outside the database), never in clear. Both or neither.
ALTER TABLE partner_providers
  ADD COLUMN credentials_header text,
  ADD COLUMN credentials_sealed text,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
  ADD CONSTRAINT partner_providers_credentials_whole
    CHECK ((credentials_header IS NULL) = (credentials_sealed IS NULL)),
  ADD CONSTRAINT partner_providers_base_url_http CHECK (base_url ~ '^https?://'),
  ADD CONSTRAINT partner_providers_options_object CHECK (jsonb_typeof(options) = 'object');

-- Down Migration

-- Fails if a format outside the original three is stored: remove those connections first.
ALTER TABLE partner_providers
  DROP CONSTRAINT partner_providers_options_object,
  DROP CONSTRAINT partner_providers_base_url_http,
  DROP CONSTRAINT partner_providers_credentials_whole,
  DROP COLUMN updated_at,
  DROP COLUMN credentials_sealed,
  DROP COLUMN credentials_header;
ALTER TABLE partner_providers ADD CONSTRAINT partner_providers_format_check
  CHECK (format IN ('json-cursor', 'csv-daily', 'aggregator-totals'));
