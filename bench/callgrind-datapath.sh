#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/callgrind-datapath.sh — instructions per packet of the in-process datapath, counted by
# valgrind's callgrind: a figure that, unlike a time, does not move with the host's load, for
# comparing two builds of a change on a shared machine.
#
# Runs nlb-bench-datapath's nat_established/FLOWS (default 10000) twice under callgrind,
# counting only inside the benchmark function, for two lengths of run; the difference of
# the two counts over the difference of their packets (process_burst calls x 32) leaves
# out the set-up (opening the flows) and is the instructions per packet of the timed loop:
# the bench's ring and header refill (what io_forward_baseline does) plus nlb's pipeline.
# Only instructions: a cache miss costs one instruction here, so use it for the compute
# part (10 k flows) and time for the memory part (1 M flows).
#
# Usage: bench/callgrind-datapath.sh [--build DIR] [--flows N] [--binary PATH]
# Needs valgrind (apt-get install valgrind); about 15 s. Leaves nothing behind.
set -euo pipefail
build=build
flows=10000
binary=
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=${2:?}; shift 2 ;;
        --flows) flows=${2:?}; shift 2 ;;
        --binary) binary=${2:?}; shift 2 ;;
        *) echo "callgrind-datapath: unknown argument '$1' (--build DIR, --flows N, --binary PATH)" >&2; exit 2 ;;
    esac
done
[[ "$flows" =~ ^(10000|1000000|10000000)$ ]] ||
    { echo "callgrind-datapath: --flows must be 10000, 1000000 or 10000000" >&2; exit 2; }
binary=${binary:-$build/bench/nlb-bench-datapath}
[ -x "$binary" ] || { echo "callgrind-datapath: no $binary (build first: meson compile -C $build)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind-datapath: skipped: valgrind is not installed" >&2; exit 77; }

tmp=$(mktemp -d /tmp/nlb-callgrind.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
counts=()
for t in 0.05 0.3; do
    out="$tmp/cg.$t"
    valgrind --tool=callgrind --compress-strings=no --compress-pos=no --callgrind-out-file="$out" \
        --toggle-collect='nlb::bench::*nat_established*' "$binary" \
        --benchmark_filter="^nat_established/$flows\$" --benchmark_min_time=$t >"$tmp/log.$t" 2>&1 ||
        { cat "$tmp/log.$t" >&2; echo "callgrind-datapath: the run under valgrind failed" >&2; exit 1; }
    ir=$(awk '/^summary:/ { print $2 }' "$out")
    calls=$(awk '/^cfn=.*worker::process_burst/ { getline; split($1, a, "="); s += a[2] } END { print s + 0 }' "$out")
    counts+=("$ir $calls")
done
read -r ir0 c0 <<<"${counts[0]}"
read -r ir1 c1 <<<"${counts[1]}"
[ "$c1" -gt "$c0" ] || { echo "callgrind-datapath: the longer run made no more bursts ($c0, $c1)" >&2; exit 1; }
awk -v a="$ir0" -v b="$ir1" -v x="$c0" -v y="$c1" -v f="$flows" -v bin="$binary" 'BEGIN {
    printf "nat_established/%s (%s): %.1f instructions per packet (%d bursts of 32 counted)\n",
        f, bin, (b - a) / ((y - x) * 32), y - x }'
