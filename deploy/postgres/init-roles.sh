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
\getenv command_api_password STOCKROOM_COMMAND_API_PASSWORD
\getenv query_api_password STOCKROOM_QUERY_API_PASSWORD
\getenv relay_password STOCKROOM_RELAY_PASSWORD
\getenv projector_password STOCKROOM_PROJECTOR_PASSWORD
\getenv reserver_password STOCKROOM_RESERVER_PASSWORD
\getenv webhooks_password STOCKROOM_WEBHOOKS_PASSWORD
SET password_encryption = 'scram-sha-256';
-- the owner (migrate) and the groups the migrations grant to
CREATE ROLE stockroom LOGIN CREATEDB PASSWORD :'owner_password';
CREATE ROLE stockroom_app NOLOGIN;
CREATE ROLE stockroom_analyst NOLOGIN;
CREATE ROLE stockroom_command_api NOLOGIN;
CREATE ROLE stockroom_query_api NOLOGIN;
CREATE ROLE stockroom_relay NOLOGIN;
CREATE ROLE stockroom_projector NOLOGIN;
CREATE ROLE stockroom_reserver NOLOGIN;
CREATE ROLE stockroom_webhooks NOLOGIN;
GRANT stockroom_app TO stockroom;
GRANT pg_read_all_stats TO stockroom_app, stockroom_relay, stockroom_projector, stockroom_reserver;
-- log-ins: one per process, one for the console and the tools, one analyst
CREATE ROLE stockroom_command_api_login LOGIN PASSWORD :'command_api_password' IN ROLE stockroom_command_api;
CREATE ROLE stockroom_query_api_login LOGIN PASSWORD :'query_api_password' IN ROLE stockroom_query_api;
CREATE ROLE stockroom_relay_login LOGIN PASSWORD :'relay_password' IN ROLE stockroom_relay;
CREATE ROLE stockroom_projector_login LOGIN PASSWORD :'projector_password' IN ROLE stockroom_projector;
CREATE ROLE stockroom_reserver_login LOGIN PASSWORD :'reserver_password' IN ROLE stockroom_reserver;
CREATE ROLE stockroom_webhooks_login LOGIN PASSWORD :'webhooks_password' IN ROLE stockroom_webhooks;
CREATE ROLE stockroom_runtime LOGIN PASSWORD :'runtime_password' IN ROLE stockroom_app;
CREATE ROLE stockroom_analyst_user LOGIN PASSWORD :'analyst_password' IN ROLE stockroom_analyst;
CREATE DATABASE stockroom OWNER stockroom;
SQL
