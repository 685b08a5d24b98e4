-- Up Migration

-- Where a partner is notified, and the key its notifications are signed with. The key must be
-- usable again, so it is stored encrypted (AES-256-GCM under SECRETS_KEY, kept outside the
-- database), never in clear and never hashed.
CREATE TABLE partner_webhooks (
  partner_id     text PRIMARY KEY REFERENCES partners (id),
  url            text NOT NULL CHECK (url ~ '^https?://'),
  secret_sealed  text NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE partner_webhooks;
