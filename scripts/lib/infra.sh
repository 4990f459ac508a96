# Shared by scripts/dev and scripts/test: Postgres and the Kafka-protocol
# broker on this machine, without Docker. Source it; do not run it.
#
# Settings (environment):
#   STOCKROOM_STATE_DIR   where data, logs and pid files live (.stockroom)
#   STOCKROOM_PG_PORT     Postgres port (5432)
#   STOCKROOM_KAFKA_PORT  broker port (9092)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${STOCKROOM_STATE_DIR:-$ROOT/.stockroom}"
PG_PORT="${STOCKROOM_PG_PORT:-5432}"
KAFKA_PORT="${STOCKROOM_KAFKA_PORT:-9092}"
PG_DATA="$STATE_DIR/pg"
LOG_DIR="$STATE_DIR/logs"
PID_DIR="$STATE_DIR/pids"
TANSU_VERSION="0.6.0"
DB_USER="stockroom"
DB_PASSWORD="stockroom"
DB_NAME="stockroom"
export DATABASE_URL="${DATABASE_URL:-postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}"

say() { printf '%s\n' "$*" >&2; }

# Runs a command as the unprivileged OS user that owns the cluster
# (initdb and postgres refuse to run as root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { printf '%s\n' "$dir"; return 0; }
  done
  return 1
}

ensure_postgres_installed() {
  if pg_bin >/dev/null; then return 0; fi
  say "installing PostgreSQL from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql postgresql-contrib >/dev/null
}

# Headless Chromium (Debian's) and the client that drives it, for the
# console's browser tests.
# Installs Debian package $2 unless command $1 is already there.
ensure_debian_package() {
  if ! command -v "$1" >/dev/null 2>&1; then
    say "installing $2"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$2" >/dev/null
  fi
}

ensure_browser_installed() {
  ensure_debian_package chromium chromium
  if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ]; then
    say "installing playwright-core"
    (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --silent)
  fi
}

# The tests put a real PgBouncer between a worker and Postgres, to prove it
# is refused (tests/integration/pooler.rs); nothing else uses it.
ensure_pgbouncer_installed() {
  ensure_debian_package pgbouncer pgbouncer
  # The package may start a system service; the tests start their own.
  service pgbouncer stop >/dev/null 2>&1 || true
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

postgres_up() {
  ensure_postgres_installed
  local bin; bin="$(pg_bin)"
  mkdir -p "$STATE_DIR" "$LOG_DIR" "$PID_DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres "$STATE_DIR" "$LOG_DIR"; chmod 755 "$STATE_DIR"; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "creating a Postgres cluster in $PG_DATA"
    mkdir -p "$PG_DATA"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DATA"
    as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 >/dev/null
    cat >> "$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DATA'
max_connections = ${STOCKROOM_PG_MAX_CONNECTIONS:-400}
shared_buffers = 256MB
# The default 1 GB forced a checkpoint a minute into a 500 orders/s run, and
# the full-page writes after it doubled that second's latencies.
max_wal_size = 8GB
checkpoint_timeout = 15min
fsync = ${STOCKROOM_PG_FSYNC:-on}
synchronous_commit = ${STOCKROOM_PG_SYNCHRONOUS_COMMIT:-on}
CONF
  fi
  if as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    say "postgres already running on 127.0.0.1:$PG_PORT"
  else
    local options=""
    # scripts/profile: count every statement (pg_stat_statements).
    if [ "${STOCKROOM_PG_STATEMENTS:-0}" = 1 ]; then
      options="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
    fi
    start_binding postgres postgres_start_once "$bin" "$options"
    say "postgres started on 127.0.0.1:$PG_PORT"
  fi
  psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'" | grep -q 1 ||
    psql_admin -c "CREATE ROLE $DB_USER LOGIN CREATEDB CREATEROLE PASSWORD '$DB_PASSWORD'" >/dev/null
  # `stockroom bench` checkpoints between stages (a role of Postgres 15 on).
  psql_admin -c "GRANT pg_checkpoint TO $DB_USER" >/dev/null 2>&1 || true
  psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1 ||
    psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >/dev/null
}

# One attempt to start Postgres, as `start_binding` wants it.
postgres_start_once() {
  local bin=$1 options=$2
  as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$LOG_DIR/postgres.log" -o "$options" -w -t 60 start >/dev/null && return 0
  tail -n 5 "$LOG_DIR/postgres.log" | grep -q "could not bind" && return 2
  return 1
}

# Runs a start attempt (`$2…`) until it binds its port. Either port can be
# held for a while: by a client connection elsewhere, since both lie in
# Linux's ephemeral range, and the broker's by connections of a broker
# stopped a moment ago (tansu binds without SO_REUSEADDR; TIME_WAIT lasts up
# to a minute). The attempt returns 0 when started, 2 when its port was
# taken, anything else to give up at once.
start_binding() {
  local what=$1 attempt status
  shift
  for attempt in $(seq 1 30); do
    status=0
    "$@" || status=$?
    case $status in
      0) return 0 ;;
      2) say "$what could not bind its port yet (attempt $attempt); retrying"; sleep 3 ;;
      *) say "$what did not start; see $LOG_DIR"; return 1 ;;
    esac
  done
  say "$what could not bind its port; see $LOG_DIR"
  return 1
}

psql_admin() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q "$@"; }

postgres_down() {
  local bin; bin="$(pg_bin)" || return 0
  [ -f "$PG_DATA/PG_VERSION" ] || return 0
  if as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    say "postgres stopped"
  fi
}

tansu_bin() {
  local candidate
  for candidate in "$(command -v tansu 2>/dev/null || true)" "${CARGO_HOME:-$HOME/.cargo}/bin/tansu"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { printf '%s\n' "$candidate"; return 0; }
  done
  return 1
}

ensure_tansu_installed() {
  if tansu_bin >/dev/null; then return 0; fi
  say "building the broker once: cargo install tansu $TANSU_VERSION (about 10 minutes on 2 cores)"
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore
}

wait_for_port() {
  local port=$1 what=$2 tries=${3:-100}
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || { say "$what did not open port $port"; return 1; }
    sleep 0.1
  done
}

broker_up() {
  ensure_tansu_installed
  mkdir -p "$LOG_DIR" "$PID_DIR"
  if pid_alive "$PID_DIR/broker.pid"; then
    say "broker already running on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  start_binding broker broker_start_once
  say "broker started on 127.0.0.1:$KAFKA_PORT (pid $(cat "$PID_DIR/broker.pid"))"
}

# One attempt to start the broker, as `start_binding` wants it.
broker_start_once() {
  # Memory storage: the broker starts empty every time (see README).
  RUST_LOG="${STOCKROOM_BROKER_LOG:-warn}" nohup "$(tansu_bin)" broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine "memory://tansu/" \
    >"$LOG_DIR/broker.log" 2>&1 &
  echo $! >"$PID_DIR/broker.pid"
  wait_for_port "$KAFKA_PORT" broker 50 2>/dev/null && pid_alive "$PID_DIR/broker.pid" && return 0
  stop_pid_file "$PID_DIR/broker.pid" 2>/dev/null
  return 2
}

stop_pid_file() {
  local file=$1 name; name="$(basename "$file" .pid)"
  [ -f "$file" ] || return 0
  local pid; pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    say "$name stopped"
  fi
  rm -f "$file"
}

broker_down() { stop_pid_file "$PID_DIR/broker.pid"; }
