#!/usr/bin/env bash
# Installs the Debian packages spakky-event needs to build and test.
# Idempotent: does nothing (not even apt-get update) when all are installed.
#   scripts/deps.sh [extra-package ...]
set -euo pipefail

packages=(
  build-essential g++ clang-14 libclang-rt-14-dev cmake ninja-build
  catch2 libfmt-dev libboost-dev libsigc++-3.0-dev libbenchmark-dev libasio-dev
  valgrind pkg-config libsqlite3-dev nlohmann-json3-dev
  rabbitmq-server librabbitmq-dev python3-pika
  postgresql-15 libpq-dev
  doxygen libspdlog-dev
  "$@"
)

is_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for package in "${packages[@]}"; do
  if ! is_installed "$package"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages installed"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"

# Installing rabbitmq-server may start Debian's system node (port 5672, epmd on 4369) where
# services are allowed to start. The tests never use it: they run a private node of their
# own (scripts/rabbitmq-test-broker.sh) on other ports. Stop the system one to save memory.
if printf '%s\n' "${missing[@]}" | grep -qx rabbitmq-server; then
  "${sudo[@]}" service rabbitmq-server stop >/dev/null 2>&1 || true
fi
# Likewise Debian's PostgreSQL cluster (port 5432): the tests run a private server
# (scripts/postgres-test-server.sh).
if printf '%s\n' "${missing[@]}" | grep -qx postgresql-15; then
  "${sudo[@]}" service postgresql stop >/dev/null 2>&1 || true
fi
