#!/usr/bin/env bash
# The main job end to end. Grows with each issue; today: install what is missing, build,
# run the datapath unit tests and a short in-process datapath benchmark, and show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
builddir=${NLB_BUILDDIR:-build}
[ -f "$builddir/build.ninja" ] || meson setup "$builddir" -Dbuildtype=release
meson compile -C "$builddir"
echo "== datapath unit tests"
meson test -C "$builddir" --suite unit --num-processes 2 | tail -n 8
echo "== datapath benchmark (short run; full figures in bench/RESULTS.md)"
"$builddir/bench/nlb-bench-datapath" --benchmark_min_time=0.05 \
    --benchmark_filter='io_forward_baseline|nat_established/1024|new_connections' 2>&1 | grep -vE '^\*\*\*' || true
