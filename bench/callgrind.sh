#!/usr/bin/env bash
# Instructions per dispatch, counted by callgrind (deterministic, unlike ns/op).
#
#   bench/callgrind.sh [path/to/dispatch_count]
#
# For every mode at 1, 10 and 100 handlers, runs dispatch_count under
# `valgrind --tool=callgrind` with LOW and HIGH iterations and prints
# (Ir(HIGH) - Ir(LOW)) / (HIGH - LOW): start-up, set-up, warm-up and tear-down cancel out.
# The ratio column divides by the std::function loop with the same handler count; in the
# second table (asynchronous dispatch) by the synchronous mediator.
# Default binary: build/bench/bench/dispatch_count (the `bench` preset).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$here/../build/bench/bench/dispatch_count}"
if [[ ! -x "$bin" ]]; then
  echo "callgrind.sh: no dispatch_count at $bin; build it first:" >&2
  echo "  cmake --preset bench && cmake --build --preset bench" >&2
  exit 1
fi
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }

LOW=${LOW:-1000}
HIGH=${HIGH:-2000}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Total instructions executed by one run (the `totals:`/`summary:` line of the output file).
instructions() {  # handlers iterations mode
  local out="$work/cg.$1.$2.$3"
  # ASLR does not apply under valgrind, but keep the environment fixed anyway.
  env -i PATH=/usr/bin:/bin valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$bin" "$1" "$2" "$3" >/dev/null 2>"$out.log" || {
    echo "callgrind.sh: '$bin $1 $2 $3' failed:" >&2
    cat "$out.log" >&2
    exit 1
  }
  awk '/^(totals|summary):/ { print $2; exit }' "$out"
}

# Instructions per dispatch, to one decimal.
per_dispatch() {  # handlers mode
  local low high
  low=$(instructions "$1" "$LOW" "$2")
  high=$(instructions "$1" "$HIGH" "$2")
  awk -v a="$low" -v b="$high" -v n=$((HIGH - LOW)) 'BEGIN { printf "%.1f", (b - a) / n }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

printf 'Instructions per dispatch (callgrind Ir, (Ir(%d) - Ir(%d)) / %d); ratio to the std::function loop.\n\n' \
  "$HIGH" "$LOW" $((HIGH - LOW))
printf '| %-26s | %8s | %12s | %8s |\n' "mode" "handlers" "instr/disp" "ratio"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..28})" "---------:" "-------------:" "---------:"
declare -A mediator_ir  # by handler count: the baseline of the asynchronous table
for h in 1 10 100; do
  base=$(per_dispatch "$h" function_loop)
  for mode in function_loop mediator publisher signals2 sigc; do
    if [[ $mode == function_loop ]]; then v=$base; else v=$(per_dispatch "$h" "$mode"); fi
    [[ $mode == mediator ]] && mediator_ir[$h]=$v
    printf '| %-26s | %8d | %12s | %8s |\n' "$mode" "$h" "$v" "$(ratio "$v" "$base")"
  done
done
# No handlers for the dispatched type (the mediator has 10 handlers for another type).
base=$(per_dispatch 10 function_loop_no_handlers)
v=$(per_dispatch 10 mediator_no_handlers)
printf '| %-26s | %8d | %12s | %8s |\n' "function_loop_no_handlers" 0 "$base" "$(ratio "$base" "$base")"
printf '| %-26s | %8d | %12s | %8s |\n' "mediator_no_handlers" 0 "$v" "$(ratio "$v" "$base")"

# Asynchronous dispatch: AsyncEventMediator<Task<>> with handlers that complete without
# suspending, co_awaited in one loop (async_mediator) or one sync_wait each (async_sync_wait).
printf '\nAsynchronous dispatch, instructions per dispatch as above; ratio to the synchronous mediator.\n\n'
printf '| %-26s | %8s | %12s | %8s |\n' "mode" "handlers" "instr/disp" "ratio"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..28})" "---------:" "-------------:" "---------:"
for h in 1 10 100; do
  base=${mediator_ir[$h]}
  printf '| %-26s | %8d | %12s | %8s |\n' "mediator" "$h" "$base" "$(ratio "$base" "$base")"
  for mode in async_mediator async_sync_wait; do
    v=$(per_dispatch "$h" "$mode")
    printf '| %-26s | %8d | %12s | %8s |\n' "$mode" "$h" "$v" "$(ratio "$v" "$base")"
  done
done
