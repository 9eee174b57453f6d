#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench-control-smoke: nlb-bench-control at tiny scale (50 changes, 10 nlbctl runs, pushes of
# 0 / 50 / 100 services): it must finish and print every figure as a number.
# usage: smoke.sh NLB_BENCH_CONTROL
set -uo pipefail
bench=$1
out=$(timeout 100 "$bench" --changes 50 --cli-changes 10 --services 100 --baseline-services 50 --backends 4 2>&1)
rc=$?
echo "$out"
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || { echo "FAIL: nlb-bench-control exited $rc"; exit 1; }
failures=0
num='[0-9]+(\.[0-9]+)?'
check() {  # description, extended regex that must match a line
    if grep -Eq "$2" <<<"$out"; then echo "ok: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi
}
check "change-to-forwarding p50/p99" "^latency: nlb.v1 change -> dataplane forwarding by it, 50 changes: p50 $num ms, p99 $num ms"
check "nlb.v1 call baseline" "^latency: baseline, the nlb.v1 call alone .*p50 $num ms, p99 $num ms"
check "nlbctl wall time" "^latency: nlbctl process wall time .*10 runs: p50 $num ms, p99 $num ms"
check "nlbctl start to forwarding" "^latency: nlbctl start -> dataplane forwarding: p50 $num ms"
for s in 0 50 100; do
    check "push of $s services timed" "^push: $s services: first push: dataplane start -> in sync $num ms .*resync after a restart: $num ms"
    check "push of $s services: memory" "^push: $s services: RSS nlb-control [1-9][0-9]* -> [1-9][0-9]* KiB, nlb-dataplane [1-9][0-9]* -> [1-9][0-9]* KiB.*snapshot $num KiB"
done
check "ratio to the baseline push" "^push: 100 services: resync push $num x the 50-service push"
# The snapshot of 100 services x 4 backends is not empty.
grep -Eq "^push: 100 services: .*snapshot (0\.0) KiB" <<<"$out" && { echo "FAIL: empty snapshot reported"; failures=$((failures + 1)); }
[ "$failures" = 0 ] || exit 1
echo "bench-control-smoke: all figures printed"
