-- Up Migration

-- A partner application as the API received it. The onboarding workflow carries only its id:
-- its activities read the partner's profile, details, contract, webhook URL and provider
-- connection from here, never from the workflow's input, and the provider credential (sealed,
-- bound to the partner and its purpose) never enters a workflow history. The first run of the
-- onboarding workflow claims the application (run_id); any other run, or a workflow started
-- straight on Temporal with an id the API never stored, is refused.
CREATE TABLE partner_applications (
  id                  text PRIMARY KEY,
  partner_id          text NOT NULL,
  workflow_id         text NOT NULL,
  run_id              text,
  submitted_by        text NOT NULL,
  name                text NOT NULL,
  kind                text NOT NULL,
  timezone            text NOT NULL,
  settlement_currency text NOT NULL,
  details             jsonb NOT NULL,
  webhook_url         text,
  -- {format, baseUrl, options}, without the credential
  provider_connection jsonb,
  credentials_header  text,
  credentials_sealed  text,
  contract            jsonb,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CHECK ((credentials_header IS NULL) = (credentials_sealed IS NULL))
);
CREATE INDEX partner_applications_partner ON partner_applications (partner_id, created_at);

-- Down Migration

DROP TABLE partner_applications;
