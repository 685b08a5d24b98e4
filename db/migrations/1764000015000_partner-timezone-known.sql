-- Up Migration

-- A partner's business days are computed here (`AT TIME ZONE partners.timezone`, on every
-- ingest batch and settlement period). A zone this Postgres cannot load would make every batch
-- of an active partner fail, so it is refused when the partner is written instead: onboarding
-- stops (Failed, with this reason) rather than activating a partner that can never push.
-- The API accepts only canonical IANA names (domain/timezones.ts), and test/timezones.test.ts
-- checks each against Postgres; this guards a Postgres whose tz data is older than that table.
-- Rows already stored are not touched: `npm run timezones:check` reports them.
CREATE FUNCTION partners_timezone_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM now() AT TIME ZONE NEW.timezone;
  RETURN NEW;
EXCEPTION WHEN invalid_parameter_value THEN
  RAISE EXCEPTION 'time zone "%" of partner % is unknown to this database', NEW.timezone, NEW.id
    USING ERRCODE = 'invalid_parameter_value', COLUMN = 'timezone', TABLE = 'partners',
          CONSTRAINT = 'partners_timezone_known';
END
$$;

CREATE TRIGGER partners_timezone_known BEFORE INSERT OR UPDATE OF timezone ON partners
  FOR EACH ROW EXECUTE FUNCTION partners_timezone_known();

-- Down Migration

DROP TRIGGER partners_timezone_known ON partners;
DROP FUNCTION partners_timezone_known();
