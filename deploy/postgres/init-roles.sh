#!/bin/sh
# Run once by the postgres image on its first start (docker-compose.yml):
# the roles of README's "Database roles", with the passwords from .env.
# The passwords reach psql through its environment (\getenv), never a
# command line or a log.
set -eu
psql -v ON_ERROR_STOP=1 -q --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv owner_password STOCKROOM_OWNER_PASSWORD
\getenv runtime_password STOCKROOM_RUNTIME_PASSWORD
\getenv analyst_password STOCKROOM_ANALYST_PASSWORD
SET password_encryption = 'scram-sha-256';
CREATE ROLE stockroom LOGIN CREATEDB PASSWORD :'owner_password';
CREATE ROLE stockroom_app NOLOGIN;
CREATE ROLE stockroom_analyst NOLOGIN;
GRANT stockroom_app TO stockroom;
GRANT pg_read_all_stats TO stockroom_app;
CREATE ROLE stockroom_runtime LOGIN PASSWORD :'runtime_password' IN ROLE stockroom_app;
CREATE ROLE stockroom_analyst_user LOGIN PASSWORD :'analyst_password' IN ROLE stockroom_analyst;
CREATE DATABASE stockroom OWNER stockroom;
SQL
