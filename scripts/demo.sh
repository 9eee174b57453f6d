#!/usr/bin/env bash
# The main job end to end. Grows with each issue; today: install what is missing, build,
# run the datapath unit tests and a short in-process datapath benchmark, then the lab: bring
# it up in nat mode with nlb-dataplane and nlb-control, configure a load balancer, a backend
# service, a virtual server group with the three backends and a TCP listener through nlbctl
# (nlb-control pushes them to the dataplane), show the backends' health, send requests from
# the client namespace with curl, show which backend answered each and the stats; then a
# backend fails and recovers (issue 5): be2's HTTP server is stopped, the health view shows
# it UNHEALTHY with its reason after interval x threshold (5 s x 2), requests avoid it; it is
# restarted, turns HEALTHY and gets traffic again. The lab goes down again (always, on any
# exit). Needs root for the lab part; holds the machine-wide lab lock while the lab is up;
# idempotent.
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
# The lab is one machine-wide resource: hold its lock (scripts/lab.sh) until it is down again.
exec 9>>/run/lock/nlb-lab.lock
flock -w 300 9 || { echo "the lab is busy (/run/lock/nlb-lab.lock)"; exit 1; }
export NLB_LAB_LOCKED=1
trap '"$lab" down >/dev/null 2>&1 || true' EXIT
"$lab" down >/dev/null 2>&1 || true
"$lab" up nat

echo "-- nlbctl: load balancer demo (VIP 198.18.1.1), server group be1..3 (weights 1:2:3),"
echo "   backend service web (port 8080, WRR, TCP check every 5 s, thresholds 2), TCP listener :80"
nlbctl lb create demo --vip 198.18.1.1 --region lab --vpc lab --zone lab-a >/dev/null
nlbctl server-group create demo-vsg --type virtual --region lab --vpc lab --zone lab-a \
    --instance id=be1,ip=198.19.0.11,weight=1 --instance id=be2,ip=198.19.0.12,weight=2 \
    --instance id=be3,ip=198.19.0.13,weight=3 >/dev/null
nlbctl backend-service create web --lb demo --port 8080 --scheduler wrr --server-group demo-vsg \
    --hc-interval 5 --hc-unhealthy 2 --hc-healthy 2 >/dev/null
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

# A backend fails and recovers: the prober notices, the dataplane stops sending it traffic.
status_of() {  # ID -> its status in the health view
    nlbctl --output json backend-service health web --lb demo | /usr/bin/python3 -c '
import json, sys
print(next((i.get("status", "-") for i in json.load(sys.stdin)["instances"]
            if i["instance"]["id"] == sys.argv[1]), "-"))' "$1"
}
wait_status() {  # ID STATUS: waits (at most 30 s), prints how long it took
    local t0=$SECONDS
    for _ in $(seq 300); do [ "$(status_of "$1")" = "$2" ] && break; sleep 0.1; done
    echo "   $1 is $(status_of "$1") after $((SECONDS - t0)) s"
}
requests() {  # N: N requests, one connection each; prints how many each backend answered
    for _ in $(seq "$1"); do
        ip netns exec nlb-client curl -sS --noproxy '*' --max-time 3 http://198.18.1.1/ 2>&1 || true
    done | sort | uniq -c | sed 's/^ */   /'
}
echo "-- be2's HTTP server stops; the prober marks it UNHEALTHY after 2 failed checks (5 s apart)"
kill "$(cat /run/nlb-lab/be2.pid)"
wait_status be2 UNHEALTHY
nlbctl backend-service health web --lb demo
sleep 1
echo "-- 12 requests: be2 gets none"
requests 12
echo "-- be2's HTTP server restarts; HEALTHY after 2 passed checks"
ip netns exec nlb-be2 setsid python3 scripts/lab/backend_server.py --name be2 --port 8080 \
    >>/run/nlb-lab/be2.log 2>&1 </dev/null 9<&- &
echo $! >/run/nlb-lab/be2.pid
wait_status be2 HEALTHY
nlbctl backend-service health web --lb demo
sleep 1
echo "-- 12 requests: be2 answers again"
requests 12
echo "-- lab down"
