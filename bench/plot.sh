#!/usr/bin/env bash
# Plots instructions per dispatch against the number of handlers from the figures
# bench/callgrind.sh wrote (bench/results/callgrind.tsv) into bench/results/dispatch_instructions.svg.
#
#   bench/callgrind.sh && bench/plot.sh           (needs gnuplot: apt-get install gnuplot-nox)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
results="${RESULTS:-$here/results/callgrind.tsv}"
out="${OUT:-$here/results/dispatch_instructions.svg}"
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
[[ -f "$results" ]] || { echo "plot.sh: no $results; run bench/callgrind.sh first" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for mode in function_loop mediator publisher signals2 sigc; do
  awk -F'\t' -v m="$mode" '$1 == m && $2 ~ /^[0-9]+$/ { print $2, $3 }' "$results" | sort -n >"$work/$mode.dat"
done

gnuplot <<GNUPLOT
set terminal svg size 760,480 font "sans,12" background rgb "white"
set output "$out"
set title "Instructions per dispatch (callgrind, g++ 12 -O2, through IEventDispatcher&)"
set xlabel "handlers of the dispatched type"
set ylabel "instructions per dispatch"
set logscale xy
set xtics (1, 10, 100)
set key top left
set grid
plot "$work/signals2.dat" with linespoints lw 2 title "Boost.Signals2 (thread-safe)", \
     "$work/sigc.dat" with linespoints lw 2 title "libsigc++-3", \
     "$work/publisher.dat" with linespoints lw 2 title "EventPublisher", \
     "$work/mediator.dat" with linespoints lw 2 title "EventMediator (thread-safe)", \
     "$work/function_loop.dat" with linespoints lw 2 dt 2 title "std::vector<std::function> loop (floor)"
GNUPLOT
echo "plot.sh: wrote $out"
