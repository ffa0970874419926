#!/usr/bin/env bash
# A private PostgreSQL 15 server for the tests and benchmarks: its own data directory (a fresh
# initdb), a loopback port, its own unix-socket directory and trust authentication on loopback.
# It never touches Debian's system cluster (port 5432), running or not.
#
#   scripts/postgres-test-server.sh start [--fresh]   start it (--fresh: a new initdb; a server
#                                                     left running is stopped first); prints
#                                                     SPAKKY_POSTGRES_PORT=... and
#                                                     SPAKKY_POSTGRES_URL=... when it accepts
#   scripts/postgres-test-server.sh stop              stop it (fast shutdown); no-op if stopped
#   scripts/postgres-test-server.sh restart           stop, then start keeping its data
#   scripts/postgres-test-server.sh status            exit 0 if it accepts connections
#
# Environment (all optional):
#   SPAKKY_POSTGRES_PORT            TCP port on 127.0.0.1 (default 26740)
#   SPAKKY_POSTGRES_DIR             data, socket and log directory (default /tmp/spakky-postgres-PORT)
#   SPAKKY_POSTGRES_BIN             PostgreSQL's bin directory (default /usr/lib/postgresql/15/bin)
#   SPAKKY_POSTGRES_START_TIMEOUT   seconds to wait for it (default 60)
#
# As root the server runs as the `postgres` user (initdb refuses root), so its directory is
# handed to that user; otherwise it runs as the caller. fsync is off: the tests kill clients,
# never the machine, and a test server need not survive a power cut.
set -euo pipefail

port="${SPAKKY_POSTGRES_PORT:-26740}"
base="${SPAKKY_POSTGRES_DIR:-/tmp/spakky-postgres-${port}}"
bin="${SPAKKY_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}"
start_timeout="${SPAKKY_POSTGRES_START_TIMEOUT:-60}"

case "$port" in
  ''|*[!0-9]*) echo "postgres-test-server: SPAKKY_POSTGRES_PORT must be a number" >&2; exit 2 ;;
esac
if [ "$port" -lt 1024 ] || [ "$port" -gt 65535 ]; then
  echo "postgres-test-server: SPAKKY_POSTGRES_PORT must be in 1024..65535" >&2
  exit 2
fi

log() { echo "postgres-test-server: $*" >&2; }

if [ ! -x "${bin}/initdb" ] || [ ! -x "${bin}/pg_ctl" ]; then
  log "${bin}/initdb not found (apt-get install postgresql-15, or scripts/deps.sh)"
  exit 2
fi

data="${base}/data"
sockets="${base}/sockets"
run_as=()
owner=""
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    log "running as root needs the postgres user (created by the postgresql-15 package)"
    exit 2
  fi
  run_as=(runuser -u postgres --)
  owner="postgres"
fi

as_server() { (cd / && "${run_as[@]}" env LC_ALL=C.UTF-8 "$@"); }

accepting() { "${bin}/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; }

server_running() { [ -f "${data}/postmaster.pid" ] && as_server "${bin}/pg_ctl" -D "$data" status >/dev/null 2>&1; }

print_endpoint() {
  echo "SPAKKY_POSTGRES_PORT=${port}"
  echo "SPAKKY_POSTGRES_URL=postgresql://postgres@127.0.0.1:${port}/postgres"
}

do_stop() {
  if server_running; then
    log "stopping the server on port ${port}"
    as_server "${bin}/pg_ctl" -D "$data" -m fast -t 60 -w stop >/dev/null 2>&1 ||
      as_server "${bin}/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if accepting && ! server_running; then
    log "port ${port} still accepts connections after the stop (another program?)"
    return 1
  fi
}

do_start() {
  local fresh="$1"
  if [ "$fresh" = 1 ]; then
    do_stop || true
    if [ -n "$base" ] && [ "$base" != "/" ]; then rm -rf "${base:?}"; fi
  elif server_running && accepting; then
    log "the server on port ${port} is running already"
    print_endpoint
    return 0
  fi
  if accepting; then
    log "port ${port} is taken by another program; choose another SPAKKY_POSTGRES_PORT"
    return 1
  fi
  mkdir -p "$base" "$sockets"
  if [ -n "$owner" ]; then chown -R "$owner:$owner" "$base"; fi
  if [ ! -f "${data}/PG_VERSION" ]; then
    log "initdb in ${data}"
    if ! as_server "${bin}/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-sync \
        > "${base}/initdb.log" 2>&1; then
      log "initdb failed; its output:"
      tail -n 40 "${base}/initdb.log" >&2 || true
      return 1
    fi
    cat >> "${data}/postgresql.conf" <<CONF
# Written by scripts/postgres-test-server.sh.
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${sockets}'
fsync = off
full_page_writes = off
max_connections = 100
shared_buffers = 64MB
log_min_messages = warning
CONF
    # Loopback only, no password (a private test server).
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' > "${data}/pg_hba.conf"
    if [ -n "$owner" ]; then chown -R "$owner:$owner" "$base"; fi
  fi
  log "starting PostgreSQL on 127.0.0.1:${port} (data in ${data})"
  if ! as_server "${bin}/pg_ctl" -D "$data" -l "${base}/server.log" -w -t "$start_timeout" start >/dev/null; then
    log "the server did not start; its log:"
    tail -n 40 "${base}/server.log" >&2 || true
    return 1
  fi
  if ! accepting; then
    log "the server started but does not accept connections on ${port}; its log:"
    tail -n 40 "${base}/server.log" >&2 || true
    return 1
  fi
  log "the server accepts connections"
  print_endpoint
}

command="${1:-}"
case "$command" in
  start)
    fresh=0
    [ "${2:-}" = "--fresh" ] && fresh=1
    do_start "$fresh"
    ;;
  stop)
    do_stop
    log "stopped"
    ;;
  restart)
    do_stop
    do_start 0
    ;;
  status)
    if server_running && accepting; then
      log "running"
      print_endpoint
    else
      log "not running"
      exit 1
    fi
    ;;
  *)
    sed -n '2,22p' "$0" >&2
    exit 2
    ;;
esac
