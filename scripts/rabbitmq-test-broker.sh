#!/usr/bin/env bash
# A private RabbitMQ node for the tests and benchmarks: its own node name, loopback ports,
# epmd, data and log directory, config and (empty) plugin list. It never touches Debian's
# system node (rabbit@<host>, port 5672, epmd 4369), running or not.
#
#   scripts/rabbitmq-test-broker.sh start [--fresh]   start it (--fresh: wipe its data first;
#                                                     a node left running is stopped first);
#                                                     prints SPAKKY_RABBITMQ_PORT=... and
#                                                     SPAKKY_RABBITMQ_URL=... when it listens
#   scripts/rabbitmq-test-broker.sh stop              stop it (and its epmd); no-op if stopped
#   scripts/rabbitmq-test-broker.sh restart           stop, then start keeping its data
#   scripts/rabbitmq-test-broker.sh status            exit 0 if it accepts connections
#   scripts/rabbitmq-test-broker.sh ctl ARGS...       rabbitmqctl ARGS against it (e.g.
#                                                     set_vm_memory_high_watermark 0)
#
# Environment (all optional):
#   SPAKKY_RABBITMQ_PORT            AMQP port (default 26720). The node also uses PORT+1
#                                   (distribution), PORT+2 (its epmd) and PORT+3..PORT+9
#                                   (rabbitmqctl).
#   SPAKKY_RABBITMQ_DIR             data, logs and config (default /tmp/spakky-rabbitmq-PORT)
#   SPAKKY_RABBITMQ_NODENAME        default spakky-test-PORT@localhost
#   SPAKKY_RABBITMQ_START_TIMEOUT   seconds to wait for the port (default 60)
#
# As root the node runs as the `rabbitmq` user (like Debian's wrapper scripts), so its
# directory is handed to that user; otherwise it runs as the caller.
set -euo pipefail

port="${SPAKKY_RABBITMQ_PORT:-26720}"
base="${SPAKKY_RABBITMQ_DIR:-/tmp/spakky-rabbitmq-${port}}"
node="${SPAKKY_RABBITMQ_NODENAME:-spakky-test-${port}@localhost}"
start_timeout="${SPAKKY_RABBITMQ_START_TIMEOUT:-60}"
rabbitmq_bin="${SPAKKY_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"

case "$port" in
  ''|*[!0-9]*) echo "rabbitmq-test-broker: SPAKKY_RABBITMQ_PORT must be a number" >&2; exit 2 ;;
esac
if [ "$port" -lt 1024 ] || [ "$port" -gt 65526 ]; then
  echo "rabbitmq-test-broker: SPAKKY_RABBITMQ_PORT must be in 1024..65526" >&2
  exit 2
fi
dist_port=$((port + 1))
epmd_port=$((port + 2))
ctl_port_min=$((port + 3))
ctl_port_max=$((port + 9))

log() { echo "rabbitmq-test-broker: $*" >&2; }

if [ ! -x "${rabbitmq_bin}/rabbitmq-server" ]; then
  log "${rabbitmq_bin}/rabbitmq-server not found (apt-get install rabbitmq-server, or scripts/deps.sh)"
  exit 2
fi

# Whom the node runs as.
run_as=()
owner=""
if [ "$(id -u)" -eq 0 ] && id rabbitmq >/dev/null 2>&1; then
  run_as=(runuser -u rabbitmq --)
  owner="rabbitmq"
fi

# The node's whole environment: nothing comes from /etc/rabbitmq or the system node.
node_env=(
  "HOME=${base}/home"
  "RABBITMQ_NODENAME=${node}"
  "RABBITMQ_USE_LONGNAME=false"
  "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1"
  "RABBITMQ_NODE_PORT=${port}"
  "RABBITMQ_DIST_PORT=${dist_port}"
  "RABBITMQ_CTL_DIST_PORT_MIN=${ctl_port_min}"
  "RABBITMQ_CTL_DIST_PORT_MAX=${ctl_port_max}"
  "ERL_EPMD_ADDRESS=127.0.0.1"
  "ERL_EPMD_PORT=${epmd_port}"
  "RABBITMQ_MNESIA_BASE=${base}/mnesia"
  "RABBITMQ_LOG_BASE=${base}/log"
  "RABBITMQ_PID_FILE=${base}/node.pid"
  "RABBITMQ_FEATURE_FLAGS_FILE=${base}/feature_flags"
  "RABBITMQ_ENABLED_PLUGINS_FILE=${base}/enabled_plugins"
  "RABBITMQ_CONF_ENV_FILE=${base}/rabbitmq-env.conf"
  "RABBITMQ_CONFIG_FILE=${base}/rabbitmq.conf"
  "RABBITMQ_ADVANCED_CONFIG_FILE=${base}/advanced.config"
  "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
  # Its own host resolution (written by prepare_dir): `localhost` is 127.0.0.1 even where
  # /etc/hosts lacks it (a minimal root), and no lookup of it waits for DNS. The node,
  # rabbitmqctl and epmd all get this environment.
  "ERL_INETRC=${base}/inetrc"
)

as_node() { "${run_as[@]}" env "${node_env[@]}" "$@"; }
ctl() { as_node timeout 60 "${rabbitmq_bin}/rabbitmqctl" -n "$node" "$@"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_pid() {
  local pid
  [ -f "${base}/node.pid" ] || return 1
  pid=$(tr -dc '0-9' < "${base}/node.pid")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

launcher_pid() {
  local pid
  [ -f "${base}/launcher.pid" ] || return 1
  pid=$(tr -dc '0-9' < "${base}/launcher.pid")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Erlang looks names up in this table first (file), the system's resolver only after.
write_inetrc() {
  printf '{host, {127,0,0,1}, ["localhost"]}.\n{lookup, [file, native]}.\n' > "${base}/inetrc"
}

prepare_dir() {
  mkdir -p "${base}/home" "${base}/mnesia" "${base}/log"
  : > "${base}/rabbitmq-env.conf"
  # No plugins (no management UI): fast start, nothing listening beyond AMQP.
  printf '[].\n' > "${base}/enabled_plugins"
  write_inetrc
  cat > "${base}/rabbitmq.conf" <<EOF
# Written by scripts/rabbitmq-test-broker.sh. Ports and addresses come from the environment.
loopback_users.guest = true
log.console = false
log.file.level = info
# A test machine may have little free disk; the default limit (50 MB) would block publishers.
disk_free_limit.absolute = 10MB
EOF
  if [ -n "$owner" ]; then
    chown -R "$owner:$owner" "$base"
  fi
}

do_stop() {
  local pid waited
  # rabbitmqctl and epmd need it too (a node started by an older version of this script).
  if [ -d "$base" ] && [ ! -f "${base}/inetrc" ]; then write_inetrc; fi
  if port_open "$port" || node_pid >/dev/null; then
    log "stopping ${node}"
    ctl stop "${base}/node.pid" >/dev/null 2>&1 || true
  fi
  # Whatever is left of it: the node's VM (by its pid file), the launcher, then its epmd.
  for pid in $(node_pid || true) $(launcher_pid || true); do
    kill -TERM "$pid" 2>/dev/null || true
    for waited in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if port_open "$epmd_port"; then
    as_node epmd -port "$epmd_port" -kill >/dev/null 2>&1 || true
  fi
  for waited in $(seq 1 100); do
    port_open "$port" || break
    sleep 0.1
  done
  rm -f "${base}/launcher.pid"
  if port_open "$port"; then
    log "port ${port} still accepts connections after the stop (another program?)"
    return 1
  fi
}

do_start() {
  local fresh="$1" launcher waited
  if [ "$fresh" = 1 ]; then
    do_stop || true
    if [ -n "$base" ] && [ "$base" != "/" ]; then rm -rf "${base:?}/mnesia" "${base:?}/log" "${base:?}/home"; fi
  elif port_open "$port"; then
    if node_pid >/dev/null; then
      log "${node} is running already"
      print_endpoint
      return 0
    fi
    log "port ${port} is taken by another program; choose another SPAKKY_RABBITMQ_PORT"
    return 1
  fi
  if port_open "$port"; then
    log "port ${port} is taken by another program; choose another SPAKKY_RABBITMQ_PORT"
    return 1
  fi
  prepare_dir
  log "starting ${node} on 127.0.0.1:${port} (data in ${base})"
  # Detached (own session, no inherited descriptors), so that the caller (a CTest fixture)
  # does not wait for it.
  setsid "${run_as[@]}" env "${node_env[@]}" "${rabbitmq_bin}/rabbitmq-server" \
    > "${base}/launcher.log" 2>&1 < /dev/null &
  launcher=$!
  echo "$launcher" > "${base}/launcher.pid"
  for waited in $(seq 1 $((start_timeout * 10))); do
    if port_open "$port"; then
      # The listener opens late in the boot; wait for the boot to finish too.
      if ctl await_startup --timeout "$start_timeout" >/dev/null 2>&1; then
        log "${node} accepts connections (after about $((waited / 10)).$((waited % 10)) s)"
        print_endpoint
        return 0
      fi
    fi
    if ! kill -0 "$launcher" 2>/dev/null; then
      log "${node} exited during start; its output:"
      tail -n 40 "${base}/launcher.log" >&2 || true
      tail -n 40 "${base}/log/${node}.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  log "${node} did not accept connections within ${start_timeout} s; its output:"
  tail -n 40 "${base}/launcher.log" >&2 || true
  do_stop || true
  return 1
}

print_endpoint() {
  echo "SPAKKY_RABBITMQ_PORT=${port}"
  echo "SPAKKY_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:${port}/"
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
    log "${node} stopped"
    ;;
  restart)
    do_stop
    do_start 0
    ;;
  status)
    if port_open "$port" && node_pid >/dev/null; then
      log "${node} is running"
      print_endpoint
    else
      log "${node} is not running"
      exit 1
    fi
    ;;
  ctl)
    shift
    ctl "$@"
    ;;
  *)
    sed -n '2,23p' "$0" >&2
    exit 2
    ;;
esac
