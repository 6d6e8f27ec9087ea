#!/usr/bin/env bash
# Builds the libFuzzer targets (clang), replays every committed corpus and
# crash input, then fuzzes each target for a bounded time. Corpora are copied
# to a scratch directory so a run never dirties the tree.
#   scripts/fuzz.sh [seconds-per-target]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
SCRATCH=$(mktemp -d /tmp/sp-fuzz.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
n=0
for bin in build/fuzz/tests/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus="tests/fuzz/corpus/$name"
  work="$SCRATCH/$name"
  mkdir -p "$work"
  [ -d "$corpus" ] && cp -r "$corpus/." "$work/"
  echo "== $name: replay corpus ($(ls "$work" | wc -l) inputs), then fuzz ${SECS}s"
  "$bin" -runs=0 "$work" 2>"$SCRATCH/$name.replay.log" || { cat "$SCRATCH/$name.replay.log"; exit 1; }
  "$bin" -max_total_time="$SECS" -print_final_stats=0 "$work" 2>"$SCRATCH/$name.log" \
    || { tail -50 "$SCRATCH/$name.log"; echo "fuzz: $name FAILED"; exit 1; }
  n=$((n + 1))
done
echo "fuzz: $n targets clean"
