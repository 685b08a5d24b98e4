-- Up Migration

-- A partner key is minted inside the onboarding workflow's activity, after the partner exists,
-- never passed in a workflow's input (whoever can start a workflow could otherwise choose a
-- key). The activity leaves the new key here, sealed under SECRETS_KEY, for the API to show
-- once: the first read deletes it, and an unread one is useless after an hour.
CREATE TABLE partner_credential_pickups (
  partner_id    text PRIMARY KEY REFERENCES partners (id),
  key_id        text NOT NULL REFERENCES partner_api_keys (key_id),
  secret_sealed text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Key rotation with an overlap: the old key keeps working until expires_at.
ALTER TABLE partner_api_keys ADD COLUMN expires_at timestamptz;

-- Down Migration

ALTER TABLE partner_api_keys DROP COLUMN expires_at;
DROP TABLE partner_credential_pickups;
