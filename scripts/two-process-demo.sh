#!/usr/bin/env bash
# Two services, two processes, one RabbitMQ: starts a private broker
# (scripts/rabbitmq-test-broker.sh), starts examples/shipping_service (it consumes), runs
# examples/order_service --send-only (it sends), shows both outputs as the events cross, and
# stops everything (also on failure or Ctrl-C).
#
#   scripts/two-process-demo.sh                      build (gcc preset) if needed, run
#   scripts/two-process-demo.sh --broker URL --bin DIR   use a running broker and built
#                                                    binaries (the CTest of this script)
#
# SPAKKY_RABBITMQ_PORT picks the private broker's port (default 26830).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
url=""
bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --broker) url="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
  esac
done

broker="$root/scripts/rabbitmq-test-broker.sh"
work="$(mktemp -d)"
shipping_pid=""
cleanup() {
  if [ -n "$shipping_pid" ] && kill -0 "$shipping_pid" 2>/dev/null; then
    kill -TERM "$shipping_pid" 2>/dev/null || true
    wait "$shipping_pid" 2>/dev/null || true
  fi
  if [ -n "${own_broker:-}" ]; then "$broker" stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$bin" ]; then
  bin="$root/build/gcc/examples"
  if [ ! -x "$bin/order_service" ] || [ ! -x "$bin/shipping_service" ]; then
    (cd "$root" && ./scripts/deps.sh >/dev/null && cmake --preset gcc >/dev/null &&
      cmake --build --preset gcc --target order_service shipping_service)
  fi
fi
if [ -z "$url" ]; then
  export SPAKKY_RABBITMQ_PORT="${SPAKKY_RABBITMQ_PORT:-26830}"
  own_broker=1
  eval "$("$broker" start --fresh)"
  url="$SPAKKY_RABBITMQ_URL"
fi

echo "== shipping_service (consumes) and order_service (sends), broker ${url/guest:guest@/guest:***@}"
"$bin/shipping_service" --broker "$url" --count 1 > "$work/shipping.log" 2>&1 &
shipping_pid=$!
for _ in $(seq 1 300); do
  grep -q '^\[shipping\] consuming' "$work/shipping.log" && break
  kill -0 "$shipping_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^\[shipping\] consuming' "$work/shipping.log"; then
  echo "shipping_service did not start consuming:" >&2
  cat "$work/shipping.log" >&2
  exit 1
fi

echo "-- order_service:"
"$bin/order_service" --broker "$url" --send-only | sed 's/^/   /'

status=0
for _ in $(seq 1 300); do
  kill -0 "$shipping_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$shipping_pid" 2>/dev/null; then
  echo "shipping_service did not receive the order within 30 s" >&2
  status=1
else
  wait "$shipping_pid" || status=$?
fi
shipping_pid=""
echo "-- shipping_service:"
sed 's/^/   /' "$work/shipping.log"
exit "$status"
