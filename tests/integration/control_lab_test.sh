#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# End to end through the operator API: scripts/lab.sh up nat starts nlb-dataplane and
# nlb-control wired to it; everything is configured with nlbctl. Steps (issue "Store and
# sync" and SPEC.md rule 7):
#  1. load balancer (VIP 198.18.1.1), virtual server group (be1..3, weights 1:2:3), backend
#     service (drain 10 s), TCP listener :80; the three backends become HEALTHY and the
#     dataplane holds the service with three ACTIVE backends;
#  2. 60 curl requests from nlb-client reach all three, in proportion to their weights;
#     nlbctl stats counts them (from the dataplane); nlb-control killed (SIGKILL): old and
#     new connections keep flowing, and restarted it finds its state; nlb-dataplane killed
#     and restarted: nlb-control pushes everything again and traffic flows;
#  3. drain: a long-lived connection on be2, then be2 is removed from the group: it shows
#     DRAINING with its connection, new connections avoid it, the held connection keeps
#     working, and it is reset once the 10 s timeout has passed;
#  4. the server group is replaced (be2, be3): be1 drains (ending at once: no open
#     connection), then leaves the dataplane; new
#     requests reach be2 and be3 only;
#  5. the listener is deleted: the dataplane service goes; then the backend service.
#
# usage: control_lab_test.sh LAB_SH NLB_DATAPLANE NLB_CONTROL NLBCTL NLB_AGENT
# Needs root (exit 77 otherwise).
set -uo pipefail
lab=$1 dataplane=$2 control=$3 nlbctl_bin=$4 agent=$5
here=$(cd "$(dirname "$0")" && pwd)
# Root and tool checks, lab lock, cleanup trap, nlbctl(): shared with the other control lab test.
source "$here/control_lab_lib.sh"
# Backend addresses (with their state) of the dataplane's service on the VIP, one per line.
dp_backends() {
    "$agent" --socket "$dsock" list-services 2>/dev/null | python3 -c '
import json, sys
text = sys.stdin.read()  # empty while the dataplane is down
d = json.loads(text) if text.strip() else {}
for vs in d.get("services", []):
    s = vs["service"]
    if s["key"]["vip"] == sys.argv[1]:
        for b in s.get("backends", []):
            print(b["address"], b["state"])' "$vip"
}
dp_services() { "$agent" --socket "$dsock" list-services 2>/dev/null | python3 -c '
import json, sys
text = sys.stdin.read()
print(len(json.loads(text).get("services", [])) if text.strip() else "down")'; }
wait_until() {  # SECONDS COMMAND...: polls every 0.1 s
    local limit=$1 n
    shift
    for n in $(seq $((limit * 10))); do "$@" && return 0; sleep 0.1; done
    "$@"
}
health_count() {  # STATUS -> number of instances of lab/web in that status
    nlbctl --output json backend-service health web --lb lab 2>/dev/null | python3 -c '
import json, sys
print(sum(1 for i in json.load(sys.stdin).get("instances", []) if i.get("status") == sys.argv[1]))' "$1"
}
curl_n() {  # N -> one answer per line ("be1", or "error")
    local i
    for i in $(seq "$1"); do
        ip netns exec nlb-client curl -sS --noproxy '*' --max-time 2 "http://$vip/" 2>/dev/null || echo error
        echo
    done | grep -v '^$'
}

"$lab" down >/dev/null 2>&1
if ! "$lab" up nat >/tmp/nlb-control-lab.$$ 2>&1; then
    cat /tmp/nlb-control-lab.$$; rm -f /tmp/nlb-control-lab.$$
    echo "FAIL: lab up nat"; exit 1
fi
rm -f /tmp/nlb-control-lab.$$
[ -S "$csock" ] && ok "lab up started nlb-control ($csock)" || { fail "no nlb-control socket"; exit 1; }

# ---- 1. configuration through nlbctl
nlbctl lb create lab --vip "$vip" --region r1 --vpc v1 --zone z1 >/dev/null || fail "lb create"
nlbctl server-group create sg1 --type virtual --region r1 --vpc v1 --zone z1 \
    --instance id=be1,ip=198.19.0.11,weight=1 --instance id=be2,ip=198.19.0.12,weight=2 \
    --instance id=be3,ip=198.19.0.13,weight=3 >/dev/null || fail "server-group create"
nlbctl backend-service create web --lb lab --port 8080 --drain 10 --server-group sg1 \
    >/dev/null || fail "backend-service create"
nlbctl listener create http --lb lab --protocol tcp --port 80 --backend-service web \
    >/dev/null || fail "listener create"
three_healthy() { [ "$(health_count HEALTHY)" = 3 ]; }
wait_until 10 three_healthy && ok "be1..3 HEALTHY" || fail "not 3 HEALTHY: $(nlbctl backend-service health web --lb lab 2>&1)"
three_active() { [ "$(dp_backends | grep -c ACTIVE)" = 3 ]; }
wait_until 2 three_active && ok "dataplane: 3 ACTIVE backends" || fail "dataplane backends: $(dp_backends)"

# ---- 2. traffic per weight, stats from the dataplane
answers=$(curl_n 60)
c1=$(grep -c '^be1$' <<<"$answers") c2=$(grep -c '^be2$' <<<"$answers") c3=$(grep -c '^be3$' <<<"$answers")
echo "   60 requests: be1 $c1, be2 $c2, be3 $c3 (weights 1:2:3)"
[ "$c1" -gt 0 ] && [ "$c2" -gt "$c1" ] && [ "$c3" -gt "$c2" ] && [ $((c1 + c2 + c3)) = 60 ] &&
    ok "all three answer, in weight order" || fail "distribution be1 $c1 be2 $c2 be3 $c3: $answers"
newc=$(nlbctl --output json stats --lb lab 2>/dev/null | python3 -c '
import json, sys; print(int(json.load(sys.stdin).get("new_connections", 0)))' 2>/dev/null)
[ "${newc:-0}" -ge 60 ] && ok "nlbctl stats: $newc new connections" || fail "nlbctl stats: '${newc:-}'"

# ---- 2b. restarts: established flows keep forwarding while nlb-control is away; a restarted
# nlb-control finds its state, a restarted nlb-dataplane gets everything pushed again.
restart_out=$(mktemp)
ip netns exec nlb-client "$clientpy" "$here/hold_client.py" "$vip" 80 --interval 0.2 >"$restart_out" 2>&1 &
hold=$!
for _ in $(seq 100); do grep -q '^ok ' "$restart_out" && break; sleep 0.1; done
kill -KILL "$(cat /run/nlb-lab/control.pid)"
sleep 1
lines=$(grep -c '^ok ' "$restart_out")
answers=$(curl_n 6)
[ "$(grep -c '^be[123]$' <<<"$answers")" = 6 ] && ok "nlb-control killed: new connections still forwarded" ||
    fail "without nlb-control: $answers"
sleep 0.5
[ "$(grep -c '^ok ' "$restart_out")" -gt "$lines" ] && ! grep -q '^error' "$restart_out" &&
    ok "nlb-control killed: the established connection keeps working" ||
    fail "held connection while nlb-control is away: $(tail -n 2 "$restart_out")"
setsid "$(cat /run/nlb-lab/control.bin)" --listen "unix:$csock" --state /run/nlb-lab/control.db \
    --dataplane "unix:$dsock" --probe-first-at-once >>/run/nlb-lab/control.log 2>&1 </dev/null 9<&- &
echo $! >/run/nlb-lab/control.pid
back() { nlbctl lb show lab >/dev/null 2>&1; }
wait_until 5 back && ok "nlb-control restarted with its state" || fail "nlb-control did not come back"
wait_until 10 three_healthy || fail "after the restart: not 3 HEALTHY"
wait_until 2 three_active && ok "after the nlb-control restart: 3 ACTIVE backends" ||
    fail "after the nlb-control restart: $(dp_backends)"
! grep -q '^error' "$restart_out" && ok "the established connection survived the nlb-control restart" ||
    fail "held connection: $(tail -n 2 "$restart_out")"
kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null; hold=
rm -f "$restart_out"
kill -KILL "$(cat /run/nlb-lab/dataplane.pid)"
sleep 0.5
setsid "$(cat /run/nlb-lab/dataplane.bin)" --config /run/nlb-lab/dataplane.conf \
    >>/run/nlb-lab/dataplane.log 2>&1 </dev/null 9<&- &
echo $! >/run/nlb-lab/dataplane.pid
wait_until 20 three_active && ok "nlb-dataplane restarted: nlb-control pushed the state again" ||
    fail "after the nlb-dataplane restart: $(dp_backends)"
answers=""
for _ in $(seq 20); do  # the restarted dataplane resolves its neighbours first
    answers=$(curl_n 6)
    [ "$(grep -c '^be[123]$' <<<"$answers")" = 6 ] && break
    sleep 0.5
done
[ "$(grep -c '^be[123]$' <<<"$answers")" = 6 ] && ok "traffic flows again after the dataplane restart" ||
    fail "after the dataplane restart: $answers"

# ---- 3. drain: a held connection on be2, be2 removed with a 10 s timeout
hold_out=$(mktemp)
for attempt in $(seq 8); do
    : >"$hold_out"
    ip netns exec nlb-client "$clientpy" "$here/hold_client.py" "$vip" 80 --interval 0.2 >"$hold_out" 2>&1 &
    hold=$!
    for _ in $(seq 100); do grep -q '^ok ' "$hold_out" && break; sleep 0.1; done
    [ "$(awk '/^ok / {print $2; exit}' "$hold_out")" = be2 ] && break
    kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null; hold=
done
if [ -z "$hold" ]; then
    fail "no long-lived connection landed on be2"
else
    ok "long-lived connection on be2"
    nlbctl server-group remove-instance sg1 --id be2 >/dev/null || fail "remove-instance be2"
    removed=$(date +%s.%N)
    be2_draining() { dp_backends | grep -q '^198.19.0.12 DRAINING$'; }
    wait_until 1 be2_draining && ok "dataplane: be2 DRAINING" || fail "be2 not DRAINING: $(dp_backends)"
    view=$(nlbctl --output json backend-service health web --lb lab)
    python3 -c '
import json, sys
d = [i for i in json.loads(sys.argv[1])["instances"] if i["instance"]["id"] == "be2"]
sys.exit(0 if d and d[0]["status"] == "DRAINING" and int(d[0].get("active_connections", 0)) >= 1
         and int(d[0].get("draining_deadline_unix", 0)) > 0 else 1)' "$view" &&
        ok "health view: be2 DRAINING with its connection and deadline" || fail "health view: $view"
    nlbctl backend-service health web --lb lab | sed 's/^/   /'
    answers=$(curl_n 20)
    grep -q '^be2$' <<<"$answers" && fail "a new connection went to draining be2" ||
        ok "20 new connections avoid be2"
    sleep 3
    tail -n 1 "$hold_out" | grep -q '^ok be2$' && running=1 || running=0
    [ "$running" = 1 ] && ok "the held connection still works while draining" ||
        fail "held connection broke early: $(tail -n 3 "$hold_out")"
    ended() { grep -q '^error' "$hold_out"; }
    wait_until 14 ended
    took=$(python3 -c "import time; print('%.1f' % (time.time() - $removed))")
    if grep -q '^error reset' "$hold_out"; then
        python3 -c "import sys; sys.exit(0 if 9.0 <= $took <= 13.0 else 1)" &&
            ok "the held connection was reset ${took} s after be2 left (timeout 10 s)" ||
            fail "reset after ${took} s, expected ~10 s"
    else
        fail "held connection not reset: $(tail -n 2 "$hold_out")"
    fi
    gone() { ! dp_backends | grep -q '^198.19.0.12 '; }
    wait_until 2 gone && ok "be2 left the dataplane service" || fail "be2 still there: $(dp_backends)"
    kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null; hold=
fi
rm -f "$hold_out"

# ---- 4. replace the server group
nlbctl server-group create sg2 --type virtual --region r1 --vpc v1 --zone z1 \
    --instance id=be2,ip=198.19.0.12 --instance id=be3,ip=198.19.0.13 >/dev/null || fail "sg2 create"
nlbctl backend-service set-server-group web --lb lab --server-group sg2 >/dev/null || fail "set-server-group sg2"
# be1 left with the old group: DRAINING, or already gone, as it has no open connection (its
# requests' connections are closed) and a drain ends when the last one closes.
be1_left() { ! dp_backends | grep -q '^198.19.0.11 ACTIVE$'; }
wait_until 1 be1_left && ok "dataplane: be1 (left with the old group) takes no new connections" ||
    fail "after replace: $(dp_backends)"
two_left() { [ "$(dp_backends | cut -d' ' -f1 | sort | tr '\n' ' ')" = "198.19.0.12 198.19.0.13 " ]; }
wait_until 13 two_left && ok "dataplane follows the new group: be2, be3" || fail "after replace: $(dp_backends)"
two_healthy() { [ "$(health_count HEALTHY)" = 2 ]; }
wait_until 10 two_healthy || fail "sg2 members not HEALTHY"
two_active() { [ "$(dp_backends | grep -c ACTIVE)" = 2 ]; }
wait_until 2 two_active || fail "sg2 members not ACTIVE: $(dp_backends)"
answers=$(curl_n 12)
grep -qE '^(be1|error)$' <<<"$answers" && fail "after replace: $answers" ||
    ok "12 requests reach be2/be3 only: $(sort <<<"$answers" | uniq -c | tr -s ' \n' ' ')"

# ---- 5. delete the listener, then the backend service
nlbctl listener delete http --lb lab >/dev/null || fail "listener delete"
no_service() { [ "$(dp_services)" = 0 ]; }
wait_until 1 no_service && ok "listener deleted: the dataplane service is gone" || fail "services left: $(dp_services)"
nlbctl backend-service delete web --lb lab >/dev/null && ok "backend service deleted" || fail "backend-service delete"
nlbctl server-group show sg2 >/dev/null && ok "its server group stays" || fail "sg2 gone"
[ "$(dp_services)" = 0 ] || fail "dataplane not empty"

[ "$failures" = 0 ] && echo "PASS" || echo "FAILED: $failures"
exit $((failures > 0))
