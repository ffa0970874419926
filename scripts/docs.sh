#!/usr/bin/env bash
# Builds the API reference (Doxygen over include/ and the guide in docs/) into
# build/docs/html, or into the directory given. Fails on any Doxygen warning: an undocumented
# public name, a broken @ref, a bad command. Internals (detail/) are left out.
#   scripts/docs.sh [output-dir]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/build/docs}"

if ! command -v doxygen >/dev/null; then
  echo "docs.sh: doxygen is not installed (scripts/deps.sh installs it: apt-get install doxygen)" >&2
  exit 1
fi

# The repository stands alone: README and guide point at nothing outside it.
if grep -n -E 'SPEC\.md|\.\./shared|shared folder' "$root/README.md" "$root"/docs/*.md >&2; then
  echo "docs.sh: README.md or docs/ refers to a document outside the repository (above)" >&2
  exit 1
fi

version=$(sed -nE 's/^project\(spakky_event VERSION ([0-9.]+).*/\1/p' "$root/CMakeLists.txt")
mkdir -p "$out"
rm -rf "$out/html"
log="$out/doxygen-warnings.log"

set +e
# From docs/: Doxygen 1.9 resolves a link to another .md page against its working directory.
cd "$root/docs"
SPAKKY_DOCS_SOURCE="$root" SPAKKY_DOCS_OUTPUT="$out" SPAKKY_DOCS_VERSION="$version" \
  doxygen "$root/docs/Doxyfile" 2>"$log"
rc=$?
set -e

# FAIL_ON_WARNINGS makes doxygen exit non-zero on a warning; anything else it prints to
# stderr is treated the same, so that no message goes unnoticed.
if [ "$rc" -ne 0 ] || [ -s "$log" ]; then
  cat "$log" >&2
  echo "docs.sh: $(grep -c . "$log" || true) line(s) of Doxygen warnings (exit $rc); see above" >&2
  exit 1
fi
echo "docs.sh: reference in $out/html/index.html (no warnings)"
