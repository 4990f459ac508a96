# A streaming replica (hot standby) of the Postgres that scripts/lib/infra.sh
# runs, on its own port: made with pg_basebackup, following the primary's
# WAL over a replication connection. Source it after infra.sh; do not run it.
#
# Settings (environment):
#   STOCKROOM_STANDBY_PORT  the standby's port (the primary's + 1)

STANDBY_PORT="${STOCKROOM_STANDBY_PORT:-$((PG_PORT + 1))}"
STANDBY_DATA="$STATE_DIR/pg-standby"
DB_REPLICATOR="stockroom_replicator"

# The replication role and what the primary needs to keep a standby fed:
# enough WAL kept that a standby paused or cut off for a while catches up
# without a slot (a slot would hold WAL for ever after the standby is gone).
primary_allow_standby() {
  psql_admin >/dev/null <<SQL
SET client_min_messages = warning;
SET password_encryption = 'scram-sha-256';
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_REPLICATOR') THEN
        CREATE ROLE $DB_REPLICATOR LOGIN REPLICATION;
    END IF;
END
\$\$;
ALTER ROLE $DB_REPLICATOR LOGIN REPLICATION NOSUPERUSER PASSWORD '$(secret "$DB_REPLICATOR")';
ALTER SYSTEM SET wal_keep_size = '2GB';
SELECT pg_reload_conf();
SQL
  local level; level="$(psql_admin -tAc 'SHOW wal_level')"
  if [ "$level" = minimal ]; then
    say "the primary runs with wal_level = minimal; a standby needs replica (restart it)"
    return 1
  fi
}

# Makes the standby afresh from the running primary and starts it; returns
# once it accepts connections (it then streams from the primary).
standby_up() {
  local bin; bin="$(pg_bin)"
  standby_down
  primary_allow_standby
  rm -rf "$STANDBY_DATA"
  mkdir -p "$STANDBY_DATA"
  chmod 700 "$STANDBY_DATA"
  [ "$(id -u)" = 0 ] && chown postgres "$STANDBY_DATA"
  say "copying the primary into $STANDBY_DATA (pg_basebackup)"
  # The password on standard input's stead: a pgpass file only the copy's
  # owner reads, removed afterwards.
  local pass; pass="$(mktemp)"
  printf '127.0.0.1:%s:*:%s:%s\n' "$PG_PORT" "$DB_REPLICATOR" "$(secret "$DB_REPLICATOR")" >"$pass"
  chmod 600 "$pass"
  [ "$(id -u)" = 0 ] && chown postgres "$pass"
  as_pg env PGPASSFILE="$pass" "$bin/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_REPLICATOR" \
    -D "$STANDBY_DATA" -X stream --checkpoint=fast
  rm -f "$pass"
  # Replaces what the copy brought of the primary's own settings; the
  # connection string holds the password, in a file only Postgres reads.
  as_pg tee -a "$STANDBY_DATA/postgresql.auto.conf" >/dev/null <<CONF
port = $STANDBY_PORT
unix_socket_directories = '$STANDBY_DATA'
hot_standby = on
primary_conninfo = 'host=127.0.0.1 port=$PG_PORT user=$DB_REPLICATOR password=$(secret "$DB_REPLICATOR") application_name=stockroom_standby'
CONF
  as_pg touch "$STANDBY_DATA/standby.signal"
  start_binding standby standby_start_once "$bin"
  say "standby started on 127.0.0.1:$STANDBY_PORT, streaming from 127.0.0.1:$PG_PORT"
}

# One attempt to start the standby, as `start_binding` wants it.
standby_start_once() {
  local bin=$1
  as_pg "$bin/pg_ctl" -D "$STANDBY_DATA" -l "$LOG_DIR/postgres-standby.log" -w -t 60 start >/dev/null && return 0
  tail -n 5 "$LOG_DIR/postgres-standby.log" | grep -q "could not bind" && return 2
  return 1
}

standby_down() {
  local bin; bin="$(pg_bin)" || return 0
  [ -f "$STANDBY_DATA/PG_VERSION" ] || return 0
  if as_pg "$bin/pg_ctl" -D "$STANDBY_DATA" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$STANDBY_DATA" -m fast -w stop >/dev/null
    say "standby stopped"
  fi
}

# `url` (of the primary) pointed at the standby.
standby_url() { printf '%s' "$1" | sed -E "s#@127\.0\.0\.1:$PG_PORT/#@127.0.0.1:$STANDBY_PORT/#"; }
