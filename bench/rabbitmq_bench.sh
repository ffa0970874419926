#!/usr/bin/env bash
# Runs rabbitmq_bench against a private test broker: starts the node
# (scripts/rabbitmq-test-broker.sh, fresh data), runs the bench, stops the node (also when
# the bench fails or is interrupted).
#
#   bench/rabbitmq_bench.sh [benchmark flags...]
#
# Default binary: build/bench/bench/rabbitmq_bench (the `bench` preset), built if missing.
# RABBITMQ_BENCH=<path> picks another; SPAKKY_RABBITMQ_PORT (default 26790) the broker port.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
bin="${RABBITMQ_BENCH:-$root/build/bench/bench/rabbitmq_bench}"
if [[ ! -x "$bin" ]]; then
  echo "rabbitmq_bench.sh: building $bin" >&2
  (cd "$root" && cmake --preset bench >/dev/null && cmake --build --preset bench --target rabbitmq_bench)
fi

export SPAKKY_RABBITMQ_PORT="${SPAKKY_RABBITMQ_PORT:-26790}"
broker="$root/scripts/rabbitmq-test-broker.sh"
trap '"$broker" stop >/dev/null 2>&1 || true' EXIT
eval "$("$broker" start --fresh)"
export SPAKKY_RABBITMQ_URL
"$bin" "$@"
