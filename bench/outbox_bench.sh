#!/usr/bin/env bash
# Runs outbox_bench against a private RabbitMQ node and a private PostgreSQL server: starts
# both (fresh data), runs the bench, stops both (also when the bench fails or is interrupted).
#
#   bench/outbox_bench.sh [events]     (default 20000)
#
# Default binary: build/bench/bench/outbox_bench (the `bench` preset), built if missing.
# OUTBOX_BENCH=<path> picks another; SPAKKY_RABBITMQ_PORT (default 26800) and
# SPAKKY_POSTGRES_PORT (default 26810) the ports.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
bin="${OUTBOX_BENCH:-$root/build/bench/bench/outbox_bench}"
if [[ ! -x "$bin" ]]; then
  echo "outbox_bench.sh: building $bin" >&2
  (cd "$root" && cmake --preset bench >/dev/null && cmake --build --preset bench --target outbox_bench)
fi

export SPAKKY_RABBITMQ_PORT="${SPAKKY_RABBITMQ_PORT:-26800}"
export SPAKKY_POSTGRES_PORT="${SPAKKY_POSTGRES_PORT:-26810}"
broker="$root/scripts/rabbitmq-test-broker.sh"
server="$root/scripts/postgres-test-server.sh"
trap '"$broker" stop >/dev/null 2>&1 || true; "$server" stop >/dev/null 2>&1 || true' EXIT
eval "$("$broker" start --fresh)"
eval "$("$server" start --fresh)"
export SPAKKY_RABBITMQ_URL SPAKKY_POSTGRES_URL
"$bin" "$@"
