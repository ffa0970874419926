#!/usr/bin/env bash
# Instructions per operation, counted by callgrind (deterministic, unlike ns/op).
#
#   bench/callgrind.sh [path/to/dispatch_count]     (writes bench/results/callgrind.tsv too)
#
# For every mode, runs dispatch_count under `valgrind --tool=callgrind` with LOW and HIGH
# iterations and takes (Ir(HIGH) - Ir(LOW)) / (HIGH - LOW): start-up, set-up, warm-up and
# tear-down cancel out. The same for an empty loop is subtracted, so a figure is what one
# dispatch (or one register + cancel) costs on its own. Every dispatch is made from another
# translation unit that sees only IEventDispatcher& (see dispatch_targets.cpp).
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
results="${RESULTS:-$here/results/callgrind.tsv}"
mkdir -p "$(dirname "$results")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Total instructions executed by one run (the `totals:`/`summary:` line of the output file).
instructions() {  # handlers iterations mode
  local out="$work/cg.$1.$2.$3"
  env -i PATH=/usr/bin:/bin valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$bin" "$1" "$2" "$3" >/dev/null 2>"$out.log" || {
    echo "callgrind.sh: '$bin $1 $2 $3' failed:" >&2
    cat "$out.log" >&2
    exit 1
  }
  awk '/^(totals|summary):/ { print $2; exit }' "$out"
}

# Instructions per iteration, to one decimal, before subtracting the empty loop.
raw_per_op() {  # handlers mode
  local low high
  low=$(instructions "$1" "$LOW" "$2")
  high=$(instructions "$1" "$HIGH" "$2")
  awk -v a="$low" -v b="$high" -v n=$((HIGH - LOW)) 'BEGIN { printf "%.1f", (b - a) / n }'
}
empty=$(raw_per_op 0 empty_loop)
per_op() { awk -v v="$(raw_per_op "$1" "$2")" -v e="$empty" 'BEGIN { printf "%.1f", v - e }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

: >"$results"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }  # mode handlers value

printf 'Instructions per dispatch (callgrind Ir, (Ir(%d) - Ir(%d)) / %d, minus the empty loop: %s).\n\n' \
  "$HIGH" "$LOW" $((HIGH - LOW)) "$empty"
modes=(function_loop mediator publisher signals2 sigc)
printf '| %-14s |' "handlers"
for mode in "${modes[@]}"; do printf ' %13s |' "$mode"; done
printf '\n|%s|' "----------------"
for mode in "${modes[@]}"; do printf '%s|' "--------------:"; done
printf '\n'
declare -A ir
for h in 1 10 100; do
  printf '| %-14s |' "$h"
  for mode in "${modes[@]}"; do
    ir[$mode.$h]=$(per_op "$h" "$mode")
    record "$mode" "$h" "${ir[$mode.$h]}"
    printf ' %13s |' "${ir[$mode.$h]}"
  done
  printf '\n'
done
# No handlers for the dispatched type (the mediator has 10 handlers for another type).
miss_loop=$(per_op 10 function_loop_no_handlers)
miss_mediator=$(per_op 10 mediator_no_handlers)
record function_loop miss "$miss_loop"
record mediator miss "$miss_mediator"
printf '| %-14s | %13s | %13s | %13s | %13s | %13s |\n' "miss" "$miss_loop" "$miss_mediator" "" "" ""

# The metrics hook: the mediator with an observer installed that overrides nothing (one
# virtual call per dispatch); `mediator` above is the same dispatch with none installed.
printf '\nMediator with an empty MetricsObserver installed (instructions per dispatch):\n\n'
printf '| %-14s | %13s | %23s |\n|%s|%s|%s|\n' "handlers" "mediator" "mediator_empty_observer" \
  "----------------" "--------------:" "------------------------:"
for h in 1 10 100; do
  v=$(per_op "$h" mediator_empty_observer)
  record mediator_empty_observer "$h" "$v"
  printf '| %-14s | %13s | %23s |\n' "$h" "${ir[mediator.$h]}" "$v"
done

printf '\nRegister + cancel with 10 handlers present (instructions per pair):\n\n'
printf '| %-28s | %12s |\n|%s|%s|\n' "operation" "instructions" "------------------------------" "-------------:"
for mode in mediator_register_cancel signals2_connect_disconnect sigc_connect_disconnect; do
  v=$(per_op 10 "$mode")
  record "$mode" 10 "$v"
  printf '| %-28s | %12s |\n' "$mode" "$v"
done

# Asynchronous dispatch: AsyncEventMediator<Task<>> with handlers that complete without
# suspending, co_awaited in one loop (async_mediator) or one sync_wait each (async_sync_wait).
printf '\nAsynchronous dispatch, instructions per dispatch as above; ratio to the synchronous mediator.\n\n'
printf '| %-16s | %8s | %12s | %8s |\n' "mode" "handlers" "instr/disp" "ratio"
printf '|%s|%s|%s|%s|\n' "------------------" "---------:" "-------------:" "---------:"
for h in 1 10 100; do
  base=${ir[mediator.$h]}
  for mode in async_mediator async_sync_wait; do
    v=$(per_op "$h" "$mode")
    record "$mode" "$h" "$v"
    printf '| %-16s | %8d | %12s | %8s |\n' "$mode" "$h" "$v" "$(ratio "$v" "$base")"
  done
done
echo
echo "(raw figures: $results)"
