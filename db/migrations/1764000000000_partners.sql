-- Up Migration

-- Counterparties Clearhouse settles with. The id is a business key used in workflow ids.
CREATE TABLE partners (
  id                  text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind                text NOT NULL CHECK (kind IN ('provider', 'aggregator', 'affiliate')),
  timezone            text NOT NULL,
  settlement_currency text NOT NULL CHECK (settlement_currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
  status              text NOT NULL DEFAULT 'onboarding' CHECK (status IN ('onboarding', 'active', 'suspended')),
  created_at          timestamptz NOT NULL DEFAULT now(),
  activated_at        timestamptz,
  CHECK ((status = 'onboarding') = (activated_at IS NULL))
);

-- Partner credentials: only a SHA-256 of the secret is kept; the secret is shown once.
CREATE TABLE partner_api_keys (
  key_id      text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
  partner_id  text NOT NULL REFERENCES partners (id),
  key_hash    bytea NOT NULL CHECK (length(key_hash) = 32),
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX partner_api_keys_partner ON partner_api_keys (partner_id);

-- Down Migration
DROP TABLE partner_api_keys;
DROP TABLE partners;
