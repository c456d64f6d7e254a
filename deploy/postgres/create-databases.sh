#!/bin/sh
# First-start initialisation of the PostgreSQL volume (run by the official postgres image from
# /docker-entrypoint-initdb.d; it is skipped once the data directory exists).
#
# Creates two least-privilege roles and the databases they own:
#   - Temporal's persistence and visibility databases, owned by TEMPORAL_DB_USER;
#   - the application database GOV_DB_NAME, owned by GOV_DB_USER.
# The temporal auto-setup container then only creates schemas (SKIP_DB_CREATE=true), and the
# application's migrations run as the owner of its own database.
set -e

: "${TEMPORAL_DB_USER:?TEMPORAL_DB_USER is required}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is required}"
: "${GOV_DB_USER:?GOV_DB_USER is required}"
: "${GOV_DB_PASSWORD:?GOV_DB_PASSWORD is required}"
: "${GOV_DB_NAME:?GOV_DB_NAME is required}"

# psql substitutes :"ident" and :'literal' itself, so names and passwords are quoted safely.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v temporal_user="$TEMPORAL_DB_USER" -v temporal_password="$TEMPORAL_DB_PASSWORD" \
    -v app_user="$GOV_DB_USER" -v app_password="$GOV_DB_PASSWORD" -v app_db="$GOV_DB_NAME" <<'SQL'
CREATE ROLE :"temporal_user" LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER :"temporal_user";
CREATE DATABASE temporal_visibility OWNER :"temporal_user";

CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_db" OWNER :"app_user";

-- Nobody but the owners (and superusers) may connect to these databases.
REVOKE CONNECT ON DATABASE temporal FROM PUBLIC;
REVOKE CONNECT ON DATABASE temporal_visibility FROM PUBLIC;
REVOKE CONNECT ON DATABASE :"app_db" FROM PUBLIC;
SQL
