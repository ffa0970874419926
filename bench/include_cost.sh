#!/usr/bin/env bash
# Include cost: the time g++ spends on `-std=c++20 -O0 -fsyntax-only` of a file that only
# includes the given headers, median of RUNS runs, minus the same for an empty file.
# Two columns: wall-clock seconds (bash's `time`, %R) and CPU seconds (user + sys, %U + %S);
# on a loaded machine the wall figure grows with the load, the CPU figure much less.
#
#   bench/include_cost.sh            (CXX=clang++-14 RUNS=9 bench/include_cost.sh to vary)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
include_dir="$here/../include"
CXX=${CXX:-g++}
RUNS=${RUNS:-5}
sigc_flags=$(pkg-config --cflags sigc++-3.0)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Prints "<median wall s> <median cpu s>" of RUNS compilations of a file including "$@".
cost() {
  local src="$work/tu.cpp" t walls=() cpus=() TIMEFORMAT='%3R %3U %3S'
  : >"$src"
  for h in "$@"; do printf '#include %s\n' "$h" >>"$src"; done
  for ((i = 0; i < RUNS; ++i)); do
    # shellcheck disable=SC2086  # sigc_flags is a list of flags
    t=$( { time "$CXX" -std=c++20 -O0 -fsyntax-only -I"$include_dir" $sigc_flags "$src" >/dev/null 2>"$work/err"; } 2>&1 ) || {
      echo "include_cost.sh: $CXX failed on: $*" >&2
      cat "$work/err" >&2
      exit 1
    }
    read -r wall user sys <<<"$t"
    walls+=("$wall")
    cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')")
  done
  echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median)"
}

read -r empty_wall empty_cpu <<<"$(cost)"
row() {  # label headers...
  local label=$1 wall cpu
  shift
  read -r wall cpu <<<"$(cost "$@")"
  awk -v l="$label" -v w="$wall" -v c="$cpu" -v ew="$empty_wall" -v ec="$empty_cpu" \
    'BEGIN { printf "| %-45s | %8.2f | %8.2f |\n", l, w - ew, c - ec }'
}

echo "$CXX -std=c++20 -O0 -fsyntax-only, median of $RUNS runs, minus an empty file" \
  "(${empty_wall} s wall, ${empty_cpu} s CPU); seconds:"
echo
printf '| %-45s | %8s | %8s |\n' "headers" "wall" "CPU"
printf '|%s|%s|%s|\n' "-----------------------------------------------" "---------:" "---------:"
row "<spakky/event/mediator/event_mediator.hpp>" "<spakky/event/mediator/event_mediator.hpp>"
row "<spakky/event.hpp> (umbrella)" "<spakky/event.hpp>"
row "<boost/signals2/signal.hpp>" "<boost/signals2/signal.hpp>"
row "<sigc++/sigc++.h>" "<sigc++/sigc++.h>"
row "<chrono> <functional> <atomic> <memory>" "<chrono>" "<functional>" "<atomic>" "<memory>"
