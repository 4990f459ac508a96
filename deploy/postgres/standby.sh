#!/bin/sh
# The entry point of the `postgres-standby` service (docker-compose.yml,
# profile `replica`): on its first start it copies the primary with
# pg_basebackup and configures streaming replication; then it runs Postgres
# as a hot standby. The password reaches pg_basebackup and the walreceiver
# through a pgpass file only the postgres user reads.
set -eu
: "${STOCKROOM_REPLICATOR_PASSWORD:?set it in .env for the replica profile}"
data=/var/lib/postgresql/data
pass=/var/lib/postgresql/.pgpass
umask 077
printf 'postgres:5432:*:stockroom_replicator:%s\n' "$STOCKROOM_REPLICATOR_PASSWORD" >"$pass"
chown postgres "$pass"
if [ ! -s "$data/PG_VERSION" ]; then
  mkdir -p "$data"
  chown postgres "$data"
  chmod 700 "$data"
  su postgres -c "PGPASSFILE=$pass pg_basebackup -h postgres -p 5432 -U stockroom_replicator -D $data -X stream --checkpoint=fast"
  cat >>"$data/postgresql.auto.conf" <<CONF
hot_standby = on
primary_conninfo = 'host=postgres port=5432 user=stockroom_replicator passfile=$pass application_name=stockroom_standby'
CONF
  su postgres -c "touch $data/standby.signal"
fi
exec su postgres -c "postgres -D $data"
