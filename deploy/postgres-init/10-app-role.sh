#!/bin/sh
# Runs once, when the PostgreSQL container initialises an empty data folder (docker-entrypoint-initdb.d).
# The service connects as facegate_app, a login that owns nothing: migrations run as the owner (POSTGRES_USER),
# which then grants facegate_app what the service needs, the access log only SELECT and INSERT
# (service/db/grants.py). So the service cannot disable the log's triggers or rewrite it (docs/OPERATIONS.md).
set -eu
password="$(cat /run/secrets/db_app_password)"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$password" <<'SQL'
CREATE ROLE facegate_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw';
GRANT CONNECT ON DATABASE facegate TO facegate_app;
SQL
