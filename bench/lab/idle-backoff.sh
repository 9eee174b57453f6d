#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Idle back-off of the worker loop, measured in the lab (root): for nlb-dataplane with
# back-off on (default) and off (--no-backoff), in one run:
#   idle CPU      whole daemon, % of one CPU over 5 s with no traffic (ps-style, /proc ticks)
#   wake-up       TCP connect time through the VIP (nat) after 0.3 s of silence (light
#                 sleeps) and after 1.5 s (deep sleeps): median and max of N connects
#   busy          one bulk TCP stream client -> VIP -> backend for 5 s (MB/s), and 300
#                 sequential new connections (connections/s)
# The "off" figures are the baseline of the same run.
#
# By default the wake-up clients and the backends' servers run on CPU 0, away from the
# worker's lcore (CPU 1), as they would be beside an isolated worker core in production;
# --no-pin lets the kernel place them, and on a VM they then also land on, and pay for
# waking, the vCPU the sleeping worker left idle.
#
# usage: bench/lab/idle-backoff.sh [--no-pin] [BUILD_DIR]   (default build)
set -euo pipefail
cd "$(dirname "$0")/../.."
pin=1
[ "${1:-}" = --no-pin ] && { pin=0; shift; }
builddir=${1:-build}
[ "$(id -u)" -eq 0 ] || { echo "needs root (the lab)"; exit 1; }
lab=./scripts/lab.sh
agent="$builddir/apps/dataplane/nlb-agent"
sock=/run/nlb-lab/dataplane.sock
export NLB_DATAPLANE="$PWD/$builddir/apps/dataplane/nlb-dataplane" NLB_LAB_NO_CONTROL=1
# Hold the lab lock for the whole run, so no other lab user (tests) interleaves.
exec 9>>/run/lock/nlb-lab.lock  # the machine-wide lab lock (scripts/lab.sh)
flock -w 300 9 || { echo "the lab is busy"; exit 1; }
export NLB_LAB_LOCKED=1
trap '"$lab" down >/dev/null 2>&1 || true' EXIT

cpu_ticks() { awk '{s += $14 + $15} END {print s}' /proc/"$1"/task/*/stat; }

measure() {  # LABEL DATAPLANE_ARGS
    local label=$1 pid t0 t1
    export NLB_DATAPLANE_ARGS=$2
    "$lab" down >/dev/null 2>&1 || true
    "$lab" up nat >/dev/null
    for _ in $(seq 50); do "$agent" --socket "$sock" info >/dev/null 2>&1 && break; sleep 0.1; done
    for port in 80 5001; do
        "$agent" --socket "$sock" put-service --vip 198.18.1.1 --port $port --proto tcp --mode nat \
            --scheduler wrr --version 1 \
            --backend id=$port,addr=198.19.0.11,port=$([ $port = 80 ] && echo 8080 || echo 5001),weight=1,state=active >/dev/null
    done
    # A sink for the bulk stream on be1.
    ip netns exec nlb-be1 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001)); s.listen(4)
while True:
    c, _ = s.accept()
    while c.recv(1 << 16): pass
    c.close()
' & sink=$!
    pid=$(cat /run/nlb-lab/dataplane.pid)
    sleep 3
    t0=$(cpu_ticks "$pid"); sleep 5; t1=$(cpu_ticks "$pid")
    idle=$(( (t1 - t0) * 100 / (5 * $(getconf CLK_TCK)) ))
    local on_cpu0=()
    if [ "$pin" = 1 ]; then
        for p in $(cat /run/nlb-lab/be*.pid); do taskset -a -p -c 0 "$p" >/dev/null; done
        on_cpu0=(taskset -c 0)
    fi
    wake=$(ip netns exec nlb-client "${on_cpu0[@]}" python3 -c '
import socket, statistics, time
def run(gap, n):
    out = []
    for _ in range(n):
        time.sleep(gap)
        s = socket.socket(); t = time.perf_counter()
        s.connect(("198.18.1.1", 80)); out.append((time.perf_counter() - t) * 1e6); s.close()
    return "median %4.0f us max %5.0f us" % (statistics.median(out), max(out))
print("after 0.3 s idle: %s; after 1.5 s idle: %s" % (run(0.3, 15), run(1.5, 6)))
')
    bulk=$(ip netns exec nlb-client python3 -c '
import socket, time
s = socket.socket(); s.connect(("198.18.1.1", 5001)); buf = b"x" * 65536
n = 0; t = time.time()
while time.time() - t < 5: n += s.send(buf)
print("%.1f MB/s" % (n / (time.time() - t) / 1e6))
')
    cfg=$(mktemp)
    for _ in $(seq 300); do printf 'url = "http://198.18.1.1/"\noutput = "/dev/null"\n'; done >"$cfg"
    t0=$(date +%s.%N)
    ip netns exec nlb-client curl -s --noproxy '*' -H 'Connection: close' -K "$cfg"
    conns=$(echo "300 / ($(date +%s.%N) - $t0)" | bc)
    rm -f "$cfg"
    kill "$sink" 2>/dev/null || true
    printf '%-12s idle CPU %3s %%  wake-up: %s\n%-12s busy: bulk %s, %s new connections/s\n' \
        "$label" "$idle" "$wake" "" "$bulk" "$conns"
}

measure "back-off on" ""
measure "back-off off" "--no-backoff"
