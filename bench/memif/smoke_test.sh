#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench-testpmd-memif-smoke: bench/testpmd-memif.sh in a tiny configuration (1000 flows,
# nat, 1 s warm-up, 2 s window): it must exit 0, print a rate for testpmd's io-forward
# baseline and for nlb, both above zero, nlb must have forwarded to its backends, and the
# run must leave no process, memif socket, temp directory or DPDK runtime directory.
# Skips (77) when the script does (not root, dpdk-testpmd or a DPDK driver missing).
# Usage: smoke_test.sh BENCH_SCRIPT BUILD_DIR
set -uo pipefail
script=${1:?bench script}
build=${2:?build dir}
out=$(mktemp /tmp/nlb-memif-smoke.XXXXXX)
trap 'rm -f "$out"' EXIT

"$script" --build "$build" --flows 1000 --modes nat --rounds 1 --warmup 1 --window 2 >"$out" 2>&1
rc=$?
cat "$out"
if [ $rc -eq 77 ]; then
    grep -m1 'skipped' "$out" || echo "skipped: bench/testpmd-memif.sh cannot run here"
    exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }
[ $rc -eq 0 ] || fail "bench/testpmd-memif.sh exited $rc"

# The table row: mode flows nlb_Mpps testpmd_Mpps ratio
row=$(grep -E '^nat +1000 ' "$out") || fail "no 'nat 1000' row in the result table"
read -r _ _ nlb base ratio <<<"$row"
awk -v a="$nlb" -v b="$base" 'BEGIN { exit !(a > 0 && b > 0) }' ||
    fail "rates not above zero: nlb '$nlb' testpmd '$base'"
[[ "$ratio" =~ ^[0-9]+\.[0-9]+$ ]] || fail "ratio '$ratio' is not a number"
# nlb's own counters: every flow's connection made, packets forwarded.
grep -Eq 'nlb-nat: .*new_connections 1000 ' "$out" || fail "nlb did not report 1000 new connections"

# Nothing left behind.
dir=$(sed -n 's/^testpmd-memif: work dir \([^,]*\), DPDK file prefix \(.*\)-\*$/\1/p' "$out")
prefix=$(sed -n 's/^testpmd-memif: work dir [^,]*, DPDK file prefix \(.*\)-\*$/\1/p' "$out")
[ -n "$dir" ] && [ -n "$prefix" ] || fail "the script did not print its work dir"
[ ! -e "$dir" ] || fail "work dir $dir left behind"
ls -d /var/run/dpdk/"$prefix"-* >/dev/null 2>&1 && fail "DPDK runtime dirs $prefix-* left behind"
pgrep -f "$dir|$prefix" >/dev/null && fail "processes of the run still running"
echo "PASS: nlb $nlb Mpps, testpmd io-forward $base Mpps, ratio $ratio"
