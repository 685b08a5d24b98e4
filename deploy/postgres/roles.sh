#!/bin/sh
# Postgres' first start (docker-entrypoint-initdb.d): the login roles Clearhouse's services use
# (README, "Database roles"). POSTGRES_USER stays the owner: it runs the migrations, which grant
# these roles their privileges. On an existing volume, run the same statements once by hand.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$CLEARHOUSE_APP_PASSWORD" -v checkpointer_password="$CLEARHOUSE_CHECKPOINTER_PASSWORD" <<'SQL'
CREATE ROLE clearhouse_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE ROLE clearhouse_checkpointer LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'checkpointer_password';
SQL
