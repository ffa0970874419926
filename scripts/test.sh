#!/usr/bin/env bash
# THE test command: for each preset, configure, build and run every test.
# Keeps going across presets; ends with one line "N passed, M failed" (tests
# summed over all presets) and exits non-zero if any test, build or
# configure step failed.
#   PRESETS="gcc clang" scripts/test.sh     # restrict the presets
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/deps.sh

read -r -a presets <<< "${PRESETS:-gcc clang asan-ubsan tsan}"
jobs="${JOBS:-2}"

passed=0
failed=0
problems=()

log_dir="build/test-logs"
mkdir -p "$log_dir"

for preset in "${presets[@]}"; do
  echo "=== preset ${preset} ==="

  if ! cmake --preset "$preset"; then
    problems+=("${preset}: configure failed")
    continue
  fi

  # -k 0: build every target that can be built, so the others still get tested.
  if ! cmake --build --preset "$preset" -j "$jobs" -- -k 0; then
    problems+=("${preset}: build failed")
  fi

  log="${log_dir}/${preset}.log"
  set +e
  ctest --preset "$preset" -j "$jobs" 2>&1 | tee "$log"
  ctest_rc=${PIPESTATUS[0]}
  set -e

  # "100% tests passed, 0 tests failed out of 12" / "No tests were found!!!"
  summary=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [ -n "$summary" ]; then
    preset_failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<< "$summary")
    preset_total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<< "$summary")
    passed=$((passed + preset_total - preset_failed))
    failed=$((failed + preset_failed))
  elif ! grep -q 'No tests were found' "$log"; then
    problems+=("${preset}: ctest printed no summary (exit ${ctest_rc})")
  fi
  if [ "$ctest_rc" -ne 0 ]; then
    problems+=("${preset}: ctest failed (exit ${ctest_rc})")
  fi
done

if [ "${#problems[@]}" -gt 0 ]; then
  echo
  echo "Problems:"
  printf '  %s\n' "${problems[@]}"
fi
echo "${passed} passed, ${failed} failed"

if [ "${#problems[@]}" -gt 0 ] || [ "$failed" -gt 0 ]; then
  exit 1
fi
