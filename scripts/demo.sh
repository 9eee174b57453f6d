#!/usr/bin/env bash
# The main job end to end. Grows with each issue; today: install what is missing, build,
# run the datapath unit tests and a short in-process datapath benchmark, then the lab: bring
# it up in nat mode with nlb-dataplane, configure a service with the three backends through
# the agent API (nlb-agent), send requests from the client namespace with curl, show which
# backend answered each and the dataplane's stats, and take the lab down again (always, on
# any exit). Needs root for the lab part; idempotent.
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

echo "== lab: nlb-dataplane forwarding to three real backends (nat mode)"
if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: the lab needs root (network namespaces)"
    exit 0
fi
lab=./scripts/lab.sh
agent="$builddir/apps/dataplane/nlb-agent"
sock=/run/nlb-lab/dataplane.sock
export NLB_DATAPLANE="$PWD/$builddir/apps/dataplane/nlb-dataplane" NLB_DATAPLANE_ARGS=""
trap '"$lab" down >/dev/null 2>&1 || true' EXIT
"$lab" down >/dev/null 2>&1 || true
"$lab" up nat
for _ in $(seq 50); do "$agent" --socket "$sock" info >/dev/null 2>&1 && break; sleep 0.1; done

echo "-- service 198.18.1.1:80/tcp, WRR, be1 weight 1, be2 weight 2, be3 weight 3 (backends on :8080)"
"$agent" --socket "$sock" put-service --vip 198.18.1.1 --port 80 --proto tcp --mode nat \
    --scheduler wrr --version 1 \
    --backend id=1,addr=198.19.0.11,port=8080,weight=1,state=active \
    --backend id=2,addr=198.19.0.12,port=8080,weight=2,state=active \
    --backend id=3,addr=198.19.0.13,port=8080,weight=3,state=active
"$agent" --socket "$sock" list-services

echo "-- 12 requests from nlb-client (198.18.0.2), one connection each"
for i in $(seq 12); do
    answer=$(ip netns exec nlb-client curl -sS --noproxy '*' --max-time 3 http://198.18.1.1/ 2>&1 || true)
    printf '  request %2d -> %s\n' "$i" "$answer"
done

echo "-- stats"
"$agent" --socket "$sock" stats | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
for p in d.get("ports", []):
    print("  port %-8s rx %6s tx %6s missed %s" % (p.get("name"), p.get("rx_packets", 0),
          p.get("tx_packets", 0), p.get("rx_missed", 0)))
for s in d.get("services", []):
    k, c = s.get("key", {}), s.get("counters", {})
    print("  service %s:%s/%s packets %s new connections %s" % (k.get("vip"), k.get("port"),
          k.get("protocol"), c.get("packets", 0), c.get("new_connections", c.get("new_conns", 0))))
    for b in s.get("backends", []):
        bc = b.get("counters", {})
        print("    backend %s %s packets %s new connections %s" % (b.get("id"), b.get("address", ""),
              bc.get("packets", 0), bc.get("new_connections", bc.get("new_conns", 0))))
t = d.get("total", {})
drops = t.get("drops") or {}
print("  total drops: %s" % (", ".join("%s %s" % kv for kv in sorted(drops.items())) or "none"))
'
echo "-- lab down"
