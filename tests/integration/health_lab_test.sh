#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Health checks end to end through nlb-control's real prober (issue 5, SPEC.md rule 8):
# scripts/lab.sh up nat starts nlb-dataplane and nlb-control; everything is configured with
# nlbctl; the backend service checks every 5 s with unhealthy/healthy thresholds 2.
#  1. lb, virtual server group (be1..3), backend service (TCP check), TCP listener :80: the
#     three become HEALTHY;
#  2. be2's HTTP server is killed: be2 becomes UNHEALTHY ("refused") about interval x
#     threshold later; 30 new requests avoid it; a long-lived connection to another backend,
#     opened before, keeps working;
#  3. be2's server restarted: HEALTHY again after the healthy threshold, and gets traffic;
#  4. HTTP check on /health: be3's /health answers 503 -> UNHEALTHY ("status 503"); 404 ->
#     still UNHEALTHY with the default codes 2xx,3xx; codes 2xx,3xx,4xx -> HEALTHY;
#  5. every /health answers 503: all UNHEALTHY, the service reports failing open, and new
#     requests still reach all three (fail open).
# After each change the health view shows, nlb-dataplane must hold the backends' new states
# (list-services, within 3 s) before the traffic check; a traffic check that fails prints what
# the dataplane holds and each backend's new connections.
# /health is switched with scripts/lab/backend_server.py's loopback-only POST /lab/health.
#
# usage: health_lab_test.sh LAB_SH NLB_DATAPLANE NLB_CONTROL NLBCTL NLB_AGENT
# Needs root (exit 77 otherwise).
set -uo pipefail
lab=$1 dataplane=$2 control=$3 nlbctl_bin=$4 agent=$5
here=$(cd "$(dirname "$0")" && pwd)
server_py=$(cd "$(dirname "$lab")" && pwd)/lab/backend_server.py
# Root and tool checks, lab lock, cleanup trap, nlbctl(): shared with the other control lab test.
source "$here/control_lab_lib.sh"
health_json() { nlbctl --output json backend-service health web --lb lab 2>/dev/null; }
# ID -> "STATUS REASON" of that instance in the health view ("- -" if absent)
inst() {
    health_json | python3 -c '
import json, sys
text = sys.stdin.read()
d = json.loads(text) if text.strip() else {}
for i in d.get("instances", []):
    if i.get("instance", {}).get("id") == sys.argv[1]:
        print(i.get("status", "-"), i.get("reason", "") or "-"); break
else:
    print("- -")' "$1"
}
health_count() {  # STATUS -> number of instances in that status
    health_json | python3 -c '
import json, sys
print(sum(1 for i in json.load(sys.stdin).get("instances", []) if i.get("status") == sys.argv[1]))' "$1"
}
wait_until() {  # SECONDS COMMAND...: polls every 0.1 s
    local limit=$1 n
    shift
    for n in $(seq $((limit * 10))); do "$@" && return 0; sleep 0.1; done
    "$@"
}
now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % ($(now) - float(sys.argv[1])))" "$1"; }
curl_n() {  # N -> one answer per line ("be1", or "error")
    local i
    for i in $(seq "$1"); do
        ip netns exec nlb-client curl -sS --noproxy '*' --max-time 2 "http://$vip/" 2>/dev/null || echo error
        echo
    done | grep -v '^$'
}
tally() { sort <<<"$1" | uniq -c | tr -s ' \n' ' '; }
set_health() {  # N CODE: be<N>'s GET /health answers CODE from now on
    ip netns exec "nlb-be$1" curl -sS --fail --noproxy '*' --max-time 2 -X POST \
        "http://127.0.0.1:8080/lab/health?status=$2" >/dev/null 2>&1
}
show_health() { nlbctl backend-service health web --lb lab 2>&1 | sed 's/^/   /'; }
# "be1=S1 be2=S2 be3=S3": the states nlb-dataplane holds for the VIP's backends (list-services).
dp_states() {
    dp_backends | sort | awk '{sub("198.19.0.1", "be", $1); printf "%s%s=%s", sep, $1, $2; sep=" "}'
}
# WANT WHAT: waits (up to 3 s) until nlb-dataplane holds WANT (as dp_states prints it); says
# whether it already did at the first look, right after the health view showed the change.
dp_expect() {
    local t0 want=$1 first
    t0=$(now)
    first=$(dp_states)
    dp_is() { [ "$(dp_states)" = "$want" ]; }
    if [ "$first" = "$want" ]; then
        ok "$2: nlb-dataplane holds $want at the first look"
    elif wait_until 3 dp_is; then
        ok "$2: nlb-dataplane holds $want $(since "$t0") s after the health view (first: $first)"
    else
        fail "$2: nlb-dataplane holds '$(dp_states)', expected '$want'"
    fi
}
# After a traffic check failed: what nlb-dataplane holds and what each backend got.
dp_report() {
    echo "   nlb-dataplane holds: $(dp_states)"
    "$agent" --socket "$dsock" stats 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for s in d.get("services", []):
    for b in s.get("backends", []):
        c = b.get("counters", {})
        print("   %s %s: %s new connections, %s active, %s packets" % (b.get("address"), b.get("state"),
              c.get("new_connections", 0), c.get("active_connections", 0), c.get("packets", 0)))' 2>&1 |
        head -n 8
}

"$lab" down >/dev/null 2>&1
if ! "$lab" up nat >/tmp/nlb-health-lab.$$ 2>&1; then
    cat /tmp/nlb-health-lab.$$; rm -f /tmp/nlb-health-lab.$$
    echo "FAIL: lab up nat"; exit 1
fi
rm -f /tmp/nlb-health-lab.$$
[ -S "$csock" ] && ok "lab up started nlb-control ($csock)" || { fail "no nlb-control socket"; exit 1; }

# ---- 1. configuration: TCP check every 5 s, thresholds 2
nlbctl lb create lab --vip "$vip" --region r1 --vpc v1 --zone z1 >/dev/null || fail "lb create"
nlbctl server-group create sg1 --type virtual --region r1 --vpc v1 --zone z1 \
    --instance id=be1,ip=198.19.0.11 --instance id=be2,ip=198.19.0.12 \
    --instance id=be3,ip=198.19.0.13 >/dev/null || fail "server-group create"
nlbctl backend-service create web --lb lab --port 8080 --server-group sg1 --hc-method tcp \
    --hc-interval 5 --hc-unhealthy 2 --hc-healthy 2 >/dev/null || fail "backend-service create"
nlbctl listener create http --lb lab --protocol tcp --port 80 --backend-service web \
    >/dev/null || fail "listener create"
three_healthy() { [ "$(health_count HEALTHY)" = 3 ]; }
wait_until 10 three_healthy && ok "be1..3 HEALTHY (TCP check)" || fail "not 3 HEALTHY: $(show_health)"
answers=""
for _ in $(seq 10); do  # the dataplane resolves its neighbours first
    answers=$(curl_n 6)
    [ "$(grep -c '^be[123]$' <<<"$answers")" = 6 ] && break
    sleep 0.5
done
[ "$(grep -c '^be[123]$' <<<"$answers")" = 6 ] && ok "traffic flows: $(tally "$answers")" ||
    fail "no traffic: $answers"

# ---- 2. be2's server stops: UNHEALTHY ("refused") after ~interval x threshold
hold_out=$(mktemp)
for attempt in $(seq 8); do  # a long-lived connection on be1 or be3
    : >"$hold_out"
    ip netns exec nlb-client "$clientpy" "$here/hold_client.py" "$vip" 80 --interval 0.2 >"$hold_out" 2>&1 &
    hold=$!
    for _ in $(seq 100); do grep -q '^ok ' "$hold_out" && break; sleep 0.1; done
    held_on=$(awk '/^ok / {print $2; exit}' "$hold_out")
    [ "$held_on" = be1 ] || [ "$held_on" = be3 ] && break
    kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null; hold=
done
[ -n "$hold" ] && ok "long-lived connection on $held_on" || fail "no long-lived connection on be1/be3"
kill "$(cat /run/nlb-lab/be2.pid)" 2>/dev/null
stopped=$(now)
listening() { ip netns exec nlb-be2 ss -Hltn 'sport = :8080' | grep -q .; }
not_listening() { ! listening; }
wait_until 3 not_listening
! listening && ok "be2's HTTP server stopped" || fail "be2 still listening"
be2_unhealthy() { [ "$(inst be2 | cut -d' ' -f1)" = UNHEALTHY ]; }
wait_until 25 be2_unhealthy
took=$(since "$stopped")
state=$(inst be2)
if [ "${state%% *}" = UNHEALTHY ]; then
    python3 -c "import sys; sys.exit(0 if 4.0 <= $took <= 16.0 else 1)" &&
        ok "be2 UNHEALTHY ${took} s after its server stopped (interval 5 s x threshold 2)" ||
        fail "be2 UNHEALTHY after ${took} s, expected 5..15 s"
    [ "${state#* }" = refused ] && ok "be2's reason: refused" || fail "be2's reason: '${state#* }'"
else
    fail "be2 not UNHEALTHY ${took} s after its server stopped: $(show_health)"
fi
show_health
dp_expect "be1=ACTIVE be2=DRAINING be3=ACTIVE" "be2 UNHEALTHY"
answers=$(curl_n 30)
[ "$(grep -cE '^(be1|be3)$' <<<"$answers")" = 30 ] &&
    ok "30 new requests avoid unhealthy be2: $(tally "$answers")" ||
    { fail "with be2 UNHEALTHY: $(tally "$answers")"; dp_report; }
if [ -n "$hold" ]; then
    lines=$(grep -c '^ok ' "$hold_out")
    sleep 0.6
    [ "$(grep -c '^ok ' "$hold_out")" -gt "$lines" ] && ! grep -q '^error' "$hold_out" &&
        [ "$(grep '^ok ' "$hold_out" | sort -u | wc -l)" = 1 ] &&
        ok "the connection held on $held_on kept working ($((lines)) answers)" ||
        fail "held connection: $(tail -n 2 "$hold_out")"
    kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null; hold=
fi
rm -f "$hold_out"

# ---- 3. be2's server back: HEALTHY after the healthy threshold, traffic again
ip netns exec nlb-be2 setsid python3 "$server_py" --name be2 --port 8080 \
    >>/run/nlb-lab/be2.log 2>&1 </dev/null 9<&- &
echo $! >/run/nlb-lab/be2.pid
restarted=$(now)
wait_until 5 listening || fail "be2's server did not start"
be2_healthy() { [ "$(inst be2 | cut -d' ' -f1)" = HEALTHY ]; }
wait_until 25 be2_healthy && ok "be2 HEALTHY again $(since "$restarted") s after its server restarted" ||
    fail "be2 not HEALTHY again: $(show_health)"
dp_expect "be1=ACTIVE be2=ACTIVE be3=ACTIVE" "be2 HEALTHY"
answers=$(curl_n 30)
[ "$(grep -c '^be2$' <<<"$answers")" -gt 0 ] && [ "$(grep -c '^be[123]$' <<<"$answers")" = 30 ] &&
    ok "be2 gets traffic again: $(tally "$answers")" ||
    { fail "after be2 came back: $(tally "$answers")"; dp_report; }

# ---- 4. HTTP check on /health
nlbctl backend-service update web --lb lab --hc-method http --hc-path /health >/dev/null ||
    fail "update to an HTTP check"
nlbctl --output json backend-service show web --lb lab 2>/dev/null | grep -qi http &&
    ok "health check is HTTP on /health" || fail "update not applied"
set_health 3 503 || fail "be3's /health -> 503"
switched=$(now)
be3_503() { [ "$(inst be3)" = "UNHEALTHY status 503" ]; }
wait_until 25 be3_503 && ok "be3 UNHEALTHY with reason 'status 503' after $(since "$switched") s" ||
    fail "be3 with /health 503: $(inst be3)"
show_health
dp_expect "be1=ACTIVE be2=ACTIVE be3=DRAINING" "be3 UNHEALTHY"
answers=$(curl_n 12)
[ "$(grep -cE '^(be1|be2)$' <<<"$answers")" = 12 ] && ok "12 requests avoid be3: $(tally "$answers")" ||
    { fail "with be3 UNHEALTHY: $(tally "$answers")"; dp_report; }
set_health 3 404 || fail "be3's /health -> 404"
be3_404() { [ "$(inst be3 | cut -d' ' -f2-)" = "status 404" ]; }
wait_until 15 be3_404
[ "$(inst be3)" = "UNHEALTHY status 404" ] && ok "404 with codes 2xx,3xx: be3 still UNHEALTHY ('status 404')" ||
    fail "be3 with /health 404: $(inst be3)"
nlbctl backend-service update web --lb lab --hc-codes 2xx,3xx,4xx >/dev/null || fail "update --hc-codes"
coded=$(now)
be3_healthy() { [ "$(inst be3 | cut -d' ' -f1)" = HEALTHY ]; }
wait_until 25 be3_healthy && ok "codes 2xx,3xx,4xx: be3 HEALTHY after $(since "$coded") s" ||
    fail "be3 with 404 and 4xx normal: $(inst be3)"
[ "$(health_count HEALTHY)" = 3 ] && ok "be1..3 HEALTHY" || fail "not all HEALTHY: $(show_health)"

# ---- 5. every /health answers 503: fail open
for i in 1 2 3; do set_health "$i" 503 || fail "be$i's /health -> 503"; done
all_down=$(now)
three_unhealthy() { [ "$(health_count UNHEALTHY)" = 3 ]; }
wait_until 25 three_unhealthy && ok "all three UNHEALTHY after $(since "$all_down") s" ||
    fail "not all UNHEALTHY: $(show_health)"
show_health
health_json | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin).get("failing_open") else 1)' &&
    ok "health view (json): failing_open true" || fail "json failing_open: $(health_json)"
nlbctl backend-service health web --lb lab 2>/dev/null | grep -qE '^failing open: +yes' &&
    ok "health view: 'failing open: yes'" || fail "table view: $(show_health)"
dp_expect "be1=ACTIVE be2=ACTIVE be3=ACTIVE" "failing open"
answers=$(curl_n 30)
[ "$(grep -c '^be[123]$' <<<"$answers")" = 30 ] && ok "fail open: all 30 requests answered: $(tally "$answers")" ||
    { fail "fail open: $(tally "$answers")"; dp_report; }
for b in be1 be2 be3; do
    grep -q "^$b\$" <<<"$answers" || fail "fail open: no request reached $b"
done
set_health 2 200 || fail "be2's /health -> 200"
be2_healthy_only() { [ "$(health_count HEALTHY)" = 1 ] && be2_healthy; }
wait_until 25 be2_healthy_only && ok "be2's /health back to 200: be2 HEALTHY" || fail "$(show_health)"
health_json | python3 -c 'import json, sys; sys.exit(1 if json.load(sys.stdin).get("failing_open") else 0)' &&
    ok "no longer failing open" || fail "still failing open: $(show_health)"
dp_expect "be1=DRAINING be2=ACTIVE be3=DRAINING" "fail open ended"
answers=$(curl_n 12)
[ "$(grep -c '^be2$' <<<"$answers")" = 12 ] && ok "12 requests all to be2, the only healthy one" ||
    { fail "after fail open ended: $(tally "$answers")"; dp_report; }

[ "$failures" = 0 ] && echo "PASS" || echo "FAILED: $failures"
exit $((failures > 0))
