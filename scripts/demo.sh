#!/usr/bin/env bash
# The main job end to end. Grows with each issue; today: install what is missing, build,
# run the datapath unit tests and a short in-process datapath benchmark, then the lab: bring
# it up in nat mode with nlb-dataplane and nlb-control, configure a load balancer, a backend
# service, a virtual server group with the three backends and a TCP listener through nlbctl
# (nlb-control pushes them to the dataplane), show the backends' health, send requests from
# the client namespace with curl, show which backend answered each and the stats, and take
# the lab down again (always, on any exit). Needs root for the lab part; idempotent.
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
    --benchmark_filter='io_forward_baseline/10000$|nat_established/10000$|new_connections' 2>&1 | grep -vE '^\*\*\*' || true

echo "== lab: nlb-control + nlb-dataplane forwarding to three real backends (nat mode)"
if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: the lab needs root (network namespaces)"
    exit 0
fi
lab=./scripts/lab.sh
nlbctl() { "$builddir/apps/nlbctl/nlbctl" --server unix:/run/nlb-lab/control.sock "$@"; }
export NLB_DATAPLANE="$PWD/$builddir/apps/dataplane/nlb-dataplane" NLB_DATAPLANE_ARGS=""
export NLB_CONTROL="$PWD/$builddir/control/nlb-control"
trap '"$lab" down >/dev/null 2>&1 || true' EXIT
"$lab" down >/dev/null 2>&1 || true
"$lab" up nat

echo "-- nlbctl: load balancer demo (VIP 198.18.1.1), server group be1..3 (weights 1:2:3),"
echo "   backend service web (port 8080, WRR), TCP listener :80"
nlbctl lb create demo --vip 198.18.1.1 --region lab --vpc lab --zone lab-a >/dev/null
nlbctl server-group create demo-vsg --type virtual --region lab --vpc lab --zone lab-a \
    --instance id=be1,ip=198.19.0.11,weight=1 --instance id=be2,ip=198.19.0.12,weight=2 \
    --instance id=be3,ip=198.19.0.13,weight=3 >/dev/null
nlbctl backend-service create web --lb demo --port 8080 --scheduler wrr --server-group demo-vsg \
    >/dev/null
nlbctl listener create http --lb demo --protocol tcp --port 80 --backend-service web >/dev/null
healthy() {
    nlbctl --output json backend-service health web --lb demo | /usr/bin/python3 -c '
import json, sys
sys.exit(0 if sum(i.get("status") == "HEALTHY" for i in json.load(sys.stdin)["instances"]) == 3 else 1)'
}
for _ in $(seq 100); do healthy && break; sleep 0.1; done
nlbctl backend-service health web --lb demo

echo "-- 12 requests from nlb-client (198.18.0.2), one connection each"
for i in $(seq 12); do
    answer=$(ip netns exec nlb-client curl -sS --noproxy '*' --max-time 3 http://198.18.1.1/ 2>&1 || true)
    printf '  request %2d -> %s\n' "$i" "$answer"
done

echo "-- nlbctl stats --lb demo"
nlbctl stats --lb demo
echo "-- lab down"
