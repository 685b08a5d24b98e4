-- Up Migration

-- The application opens ledger accounts but never sets their running totals: only
-- ledger_post (a definer function of the owner) moves them. Column privileges: an INSERT that
-- names debits_minor or credits_minor is refused (42501), so no account starts with a balance
-- no entry explains.
REVOKE INSERT ON ledger_accounts FROM clearhouse_app;
GRANT INSERT (code, owner_kind, partner_id, kind, currency) ON ledger_accounts TO clearhouse_app;

-- Down Migration
GRANT INSERT ON ledger_accounts TO clearhouse_app;
