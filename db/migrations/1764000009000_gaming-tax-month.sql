-- Up Migration

-- Gaming tax is assessed per month (on the month's GGR to date, or its stakes): each cycle
-- keeps its share of the month's tax base and the tax it was charged.
ALTER TABLE settlement_accruals
  ADD COLUMN tax_base_minor bigint NOT NULL DEFAULT 0,
  ADD COLUMN gaming_tax_minor bigint NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE settlement_accruals DROP COLUMN gaming_tax_minor, DROP COLUMN tax_base_minor;
