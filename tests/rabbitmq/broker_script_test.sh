#!/usr/bin/env bash
# scripts/rabbitmq-test-broker.sh starts, reports and stops its node where `localhost` does
# not resolve (a minimal root without /etc/hosts): run in a private mount namespace whose
# /etc/hosts is an empty file. Needs root and unshare(1); exits 77 (CTest: skipped) without.
#
#   broker_script_test.sh <path of rabbitmq-test-broker.sh>
# Port and data directory come from the environment, as for the script itself.
set -euo pipefail

script="${1:?usage: broker_script_test.sh <rabbitmq-test-broker.sh>}"

if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
  echo "skipped: needs root and unshare -m (a mount namespace with an empty /etc/hosts)"
  exit 77
fi

empty_hosts="$(mktemp)"
trap 'rm -f "$empty_hosts"' EXIT

# A broken resolver must fail the start in bounded time, not hang the test for a minute.
export SPAKKY_RABBITMQ_START_TIMEOUT="${SPAKKY_RABBITMQ_START_TIMEOUT:-30}"

unshare -m bash -s "$script" "$empty_hosts" <<'EOF'
set -euo pipefail
script="$1"
mount --bind "$2" /etc/hosts
if getent hosts localhost >/dev/null; then
  echo "skipped: localhost still resolves without /etc/hosts here (the test would prove nothing)"
  exit 77
fi
trap '"$script" stop >/dev/null 2>&1 || true' EXIT   # never leave the node running
"$script" start --fresh
"$script" status
"$script" stop
trap - EXIT
if "$script" status 2>/dev/null; then
  echo "FAILED: the node still runs after stop"
  exit 1
fi
echo "start, status and stop work where localhost does not resolve"
EOF
