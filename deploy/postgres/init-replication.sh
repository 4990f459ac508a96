#!/bin/sh
# Run once by the postgres image on its first start (docker-compose.yml):
# the role a streaming replica (profile `replica`) copies and follows the
# primary as, when .env gives it a password. The password reaches psql
# through its environment (\getenv), never a command line or a log.
set -eu
[ -n "${STOCKROOM_REPLICATOR_PASSWORD:-}" ] || exit 0
psql -v ON_ERROR_STOP=1 -q --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv replicator_password STOCKROOM_REPLICATOR_PASSWORD
SET password_encryption = 'scram-sha-256';
CREATE ROLE stockroom_replicator LOGIN REPLICATION PASSWORD :'replicator_password';
SQL
