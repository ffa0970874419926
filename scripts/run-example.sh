#!/usr/bin/env bash
# Builds and runs the main example with the gcc preset.
#   scripts/run-example.sh [target]
set -euo pipefail

# The example to run: the main one unless another target is named.
EXAMPLE_TARGET="${1:-${EXAMPLE_TARGET:-order_service}}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/deps.sh
cmake --preset gcc
cmake --build --preset gcc --target "$EXAMPLE_TARGET"
exec "build/gcc/examples/${EXAMPLE_TARGET}"
