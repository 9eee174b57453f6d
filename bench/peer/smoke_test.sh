#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Smoke run of bench/peer-nftables.sh (meson test bench-peer-nftables-smoke, suite bench):
# one round of 2 s wrk runs through (a) nlb-dataplane, (b) the nftables DNAT router and
# (c) no balancer, then checks that the benchmark succeeded (its own checks: one connection
# per request with Connection: close, connections reused with keep-alive, requests spread
# over the three backends) and printed requests/s and p99 latency for each, and nlb's ratios.
#
# usage: smoke_test.sh BENCH_SCRIPT BUILD_DIR
set -uo pipefail
bench=$1 builddir=$2
if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root (network namespaces, veth, nftables, af_xdp/af_packet)"
    exit 77
fi
for tool in ip ethtool nft nginx wrk curl flock taskset; do
    command -v "$tool" >/dev/null || { echo "skipped: needs '$tool' (scripts/deps.sh)"; exit 77; }
done
[ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ] || { echo "skipped: needs 2 CPUs"; exit 77; }

# The lab lock for the benchmark and the clean-up check after it.
exec 9>>/run/lock/nlb-lab.lock
flock -w 300 9 || { echo "FAIL: the lab is busy"; exit 1; }
out=$(NLB_LAB_LOCKED=1 bash "$bench" --duration 2 --rounds 1 "$builddir" 2>&1)
rc=$?
echo "$out"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
[ "$rc" -eq 0 ] || fail "the benchmark exited with $rc"
num='[0-9]+(\.[0-9]+)?'
for run in keepalive close; do
    for setup in '\(a\) nlb-af_(xdp|packet)' '\(b\) nftables' '\(c\) direct'; do
        line=$(echo "$out" | grep -E "^  $run +$setup ") || { fail "no summary line for $run $setup"; continue; }
        echo "$line" | grep -Eq " $num req/s +p99 +$num ms" || fail "no req/s and p99 in: $line"
        rps=$(echo "$line" | grep -Eo "$num req/s" | head -n 1 | cut -d' ' -f1)
        awk -v r="$rps" 'BEGIN { exit !(r > 0) }' || fail "$run $setup: $rps req/s"
    done
    echo "$out" | grep -E "^  $run +\(a\) " | grep -Eq "vs \(b\): req/s x$num, p99 x$num +vs \(c\): req/s x$num, p99 x$num" ||
        fail "$run: nlb's ratios to (b) and (c) missing"
done
# Nothing of the benchmark is left behind.
for ns in nlb-client nlb-be1 nlb-be2 nlb-be3 nlb-pr-router; do
    [ -e "/run/netns/$ns" ] && fail "namespace $ns left behind"
done
for ifc in nlb-cl-h nlb-dp1 nlb-br0 nlb-pr-cd; do
    ip link show "$ifc" >/dev/null 2>&1 && fail "interface $ifc left behind"
done
[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "ok: the benchmark printed requests/s, p99 and ratios for (a), (b) and (c), and cleaned up"
