#!/usr/bin/env bash
# Include cost, deterministically: the instructions g++ itself executes (valgrind's callgrind,
# every child process counted) on `-std=c++20 -O0 -fsyntax-only` of a file that includes one
# header, minus the same for an empty file. Wall-clock time on a loaded machine varies by tens
# of per cent; these counts repeat to the last digits.
#
#   bench/include_instructions.sh            (CXX=clang++-14 to vary the compiler)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
include_dir="$here/../include"
CXX=${CXX:-g++}
command -v valgrind >/dev/null || { echo "include_instructions.sh: valgrind is not installed" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Instructions (in G) of compiling a file that includes "$@".
instructions() {
  local src="$work/tu.cpp"
  : >"$src"
  for h in "$@"; do printf '#include %s\n' "$h" >>"$src"; done
  rm -f "$work"/cg.*
  valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$work/cg.%p" \
    "$CXX" -std=c++20 -O0 -fsyntax-only -I"$include_dir" "$src" >/dev/null 2>"$work/log" || {
    echo "include_instructions.sh: $CXX failed on: $*" >&2
    cat "$work/log" >&2
    exit 1
  }
  for f in "$work"/cg.*; do awk '/^(totals|summary):/ { print $2; exit }' "$f"; done | awk '{ s += $1 } END { printf "%.0f", s }'
}

empty=$(instructions)
row() {  # label header...
  local v
  v=$(instructions "${@:2}")
  awk -v v="$v" -v e="$empty" -v l="$1" 'BEGIN { printf "| %-44s | %8.2f G |\n", l, (v - e) / 1e9 }'
}

printf 'Compiler instructions to include a header (%s -std=c++20 -O0 -fsyntax-only, callgrind, minus an empty file).\n\n' "$CXX"
printf '| %-44s | %10s |\n|%s|%s|\n' "header" "instr" "----------------------------------------------" "-----------:"
row '<spakky/event/mediator/event_mediator.hpp>' '<spakky/event/mediator/event_mediator.hpp>'
row '<spakky/event.hpp> (umbrella)' '<spakky/event.hpp>'
row '<boost/signals2/signal.hpp>' '<boost/signals2/signal.hpp>'
row '<functional> <vector> (std::function loop)' '<functional>' '<vector>'
