#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Session persistence end to end (issue 5, SPEC.md rule 9): scripts/lab.sh up nat starts
# nlb-dataplane and nlb-control; everything is configured with nlbctl; real HTTP backends;
# real kernel TCP connections from nlb-client (198.18.0.2, conn_client.py).
#  1. lb, virtual server group be1..3 (weights 1:1:1), backend service web (WRR, draining 0,
#     persistence off, TCP check interval 5 s, thresholds 2), TCP listener :80;
#     the control: persistence off, 30 sequential connections spread over all three;
#  2. persistence on, timeout 20 s: 50 sequential connections from the one client all reach
#     one instance X, and the dataplane counts 49 persistence hits (the first picks);
#  3. 10 s of silence (under the timeout): the next 5 connections still reach X (5 hits);
#  4. X's HTTP server stops: once X is UNHEALTHY, a new instance Y is chosen and remembered:
#     20 connections all reach Y; X's server back and HEALTHY again: the client stays on Y;
#  5. 23 s of silence (past the 20 s timeout): the template has expired, so the next
#     connection is scheduled again (no persistence hit; WRR picks whichever instance is
#     next), and the 20 after it all follow that new pick (20 hits);
#  6. persistence off again: 30 connections spread over all three (no hit).
#
# usage: persist_lab_test.sh LAB_SH NLB_DATAPLANE NLB_CONTROL NLBCTL NLB_AGENT
# Needs root (exit 77 otherwise).
set -uo pipefail
lab=$1 dataplane=$2 control=$3 nlbctl_bin=$4 agent=$5
here=$(cd "$(dirname "$0")" && pwd)
# Root and tool checks, lab lock, cleanup trap, nlbctl() and the helpers.
source "$here/control_lab_lib.sh"
server_py=$(cd "$(dirname "$lab")" && pwd)/lab/backend_server.py
started=$(now)
lab_up_nat

# The dataplane's persistence hits (all lcores) and new connections, "HITS NEW".
dp_counts() {
    "$agent" --socket "$dsock" stats 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin).get("total", {}) or {}
print(int(t.get("persistence_hits", t.get("persistenceHits", 0))),
      int(t.get("new_connections", t.get("newConnections", 0))))'
}
# N sequential connections: their answers in $last_answers, and the persistence hits and
# new connections the dataplane counted meanwhile in $last_hits and $last_new.
run_seq() {
    local h0 n0 h1 n1 answers
    read -r h0 n0 <<<"$(dp_counts)"
    answers=$(conn_seq "$1")
    read -r h1 n1 <<<"$(dp_counts)"
    last_answers=$answers
    last_hits=$((h1 - h0)) last_new=$((n1 - n0))
}
dp_persist() {  # SECONDS: the dataplane's service on the VIP has that persistence timeout
    "$agent" --socket "$dsock" list-services 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = [vs["service"] for vs in d.get("services", []) if vs["service"]["key"]["vip"] == sys.argv[1]]
t = int(s[0].get("persistence_timeout_s", s[0].get("persistenceTimeoutS", 0))) if s else -1
sys.exit(0 if t == int(sys.argv[2]) else 1)' "$vip" "$1"
}
distinct() { grep -E '^be[123]$' <<<"$last_answers" | sort -u | wc -l; }
answered() { grep -cE '^be[123]$' <<<"$last_answers"; }
only() { grep -E '^be[123]$' <<<"$last_answers" | sort -u | head -n 1; }

# ---- 1. configuration; persistence off spreads the connections
nlbctl lb create lab --vip "$vip" --region r1 --vpc v1 --zone z1 >/dev/null || fail "lb create"
nlbctl server-group create sg1 --type virtual --region r1 --vpc v1 --zone z1 \
    --instance id=be1,ip=198.19.0.11 --instance id=be2,ip=198.19.0.12 \
    --instance id=be3,ip=198.19.0.13 >/dev/null || fail "server-group create"
nlbctl backend-service create web --lb lab --port 8080 --scheduler wrr --drain 0 \
    --server-group sg1 --hc-interval 5 --hc-unhealthy 2 --hc-healthy 2 >/dev/null ||
    fail "backend-service create"
nlbctl listener create http --lb lab --protocol tcp --port 80 --backend-service web \
    >/dev/null || fail "listener create"
three_healthy() { [ "$(health_count HEALTHY)" = 3 ]; }
wait_until 10 three_healthy && ok "be1..3 HEALTHY" || fail "not 3 HEALTHY: $(show_health)"
three_active() { [ "$(dp_active_count)" = 3 ]; }
wait_until 3 three_active || fail "dataplane: $(dp_backends)"
wait_traffic >/dev/null && ok "traffic flows" || fail "no traffic"
run_seq 30
[ "$(answered)" = 30 ] && [ "$(distinct)" = 3 ] && [ "$last_hits" = 0 ] &&
    ok "persistence off: 30 connections spread over the three: $(tally "$last_answers")" ||
    fail "persistence off: $(tally "$last_answers"), $last_hits hits"

# ---- 2. persistence on, 20 s: one client's 50 connections all reach one instance
nlbctl backend-service update web --lb lab --persistence 20 >/dev/null || fail "update --persistence 20"
nlbctl --output json backend-service show web --lb lab 2>/dev/null | python3 -c '
import json, sys
b = json.load(sys.stdin)
b = b.get("backend_service", b.get("backendService", b))
sys.exit(0 if b.get("session_persistence", b.get("sessionPersistence")) and
         int(b.get("persistence_timeout_seconds", b.get("persistenceTimeoutSeconds", 0))) == 20 else 1)' &&
    ok "backend service: persistence on, timeout 20 s" || fail "persistence not shown as on, 20 s"
wait_until 3 dp_persist 20 && ok "dataplane service: persistence 20 s" || fail "dataplane service lacks the timeout"
run_seq 50
x=$(only)
[ "$(answered)" = 50 ] && [ "$(distinct)" = 1 ] &&
    ok "persistence on: 50 sequential connections all reached $x" ||
    fail "persistence on: $(tally "$last_answers")"
[ "$last_new" = 50 ] && [ "$last_hits" = 49 ] &&
    ok "dataplane: 50 new connections, 49 persistence hits" ||
    fail "dataplane: $last_new new connections, $last_hits persistence hits (expected 50, 49)"

# ---- 3. 10 s of silence, under the timeout: still X
sleep 10
run_seq 5
[ "$(answered)" = 5 ] && [ "$(only)" = "$x" ] && [ "$(distinct)" = 1 ] && [ "$last_hits" = 5 ] &&
    ok "after 10 s of silence the next 5 connections still reached $x ($last_hits hits)" ||
    fail "after 10 s of silence: $(tally "$last_answers"), $last_hits hits (expected $x, 5)"

# ---- 4. X unhealthy: a new instance is chosen and remembered
kill "$(cat "/run/nlb-lab/$x.pid")" 2>/dev/null
stopped=$(now)
listening() { ip netns exec "nlb-$x" ss -Hltn 'sport = :8080' | grep -q .; }
not_listening() { ! listening; }
wait_until 3 not_listening && ok "$x's HTTP server stopped" || fail "$x still listening"
x_unhealthy() { [ "$(inst_status "$x")" = UNHEALTHY ]; }
wait_until 25 x_unhealthy && ok "$x UNHEALTHY $(since "$stopped") s after its server stopped" ||
    fail "$x not UNHEALTHY: $(show_health)"
x_inactive() { ! dp_backends | grep -q "^198.19.0.1${x#be} ACTIVE$"; }
wait_until 3 x_inactive || fail "dataplane still has $x ACTIVE: $(dp_backends)"
run_seq 20
y=$(only)
[ "$(answered)" = 20 ] && [ "$(distinct)" = 1 ] && [ "$y" != "$x" ] && [ "$last_hits" = 19 ] &&
    ok "$x unhealthy: 20 connections all reached the newly chosen $y ($last_hits hits)" ||
    fail "$x unhealthy: $(tally "$last_answers"), $last_hits hits (expected one other instance, 19)"
ip netns exec "nlb-$x" setsid python3 "$server_py" --name "$x" --port 8080 \
    >>"/run/nlb-lab/$x.log" 2>&1 </dev/null 9<&- &
echo $! >"/run/nlb-lab/$x.pid"
wait_until 5 listening || fail "$x's server did not start"
x_healthy() { [ "$(inst_status "$x")" = HEALTHY ]; }
wait_until 25 x_healthy && ok "$x HEALTHY again" || fail "$x not HEALTHY again: $(show_health)"
wait_until 3 three_active || fail "dataplane: $(dp_backends)"
run_seq 10
[ "$(answered)" = 10 ] && [ "$(only)" = "$y" ] && [ "$(distinct)" = 1 ] && [ "$last_hits" = 10 ] &&
    ok "$x back: the client stays on $y, its remembered instance ($last_hits hits)" ||
    fail "$x back: $(tally "$last_answers"), $last_hits hits (expected $y, 10)"

# ---- 5. past the timeout: scheduled again, then remembered again
# 23 s: the 20 s timeout from the last connection, plus the template's 1.024 s refresh
# granularity and a margin.
sleep 23
run_seq 1
z=$(only)
[ "$(answered)" = 1 ] && [ "$last_hits" = 0 ] && [ "$last_new" = 1 ] &&
    ok "after 23 s of silence the template had expired: the next connection was scheduled again (to $z, no hit)" ||
    fail "after 23 s of silence: $(tally "$last_answers"), $last_hits hits, $last_new new (expected 0 hits)"
run_seq 20
[ "$(answered)" = 20 ] && [ "$(only)" = "$z" ] && [ "$(distinct)" = 1 ] && [ "$last_hits" = 20 ] &&
    ok "and the 20 connections after it followed $z ($last_hits hits)" ||
    fail "after the new pick: $(tally "$last_answers"), $last_hits hits (expected $z, 20)"

# ---- 6. persistence off again
nlbctl backend-service update web --lb lab --persistence off >/dev/null || fail "update --persistence off"
wait_until 3 dp_persist 0 || fail "dataplane service still has a persistence timeout"
run_seq 30
[ "$(answered)" = 30 ] && [ "$(distinct)" = 3 ] && [ "$last_hits" = 0 ] &&
    ok "persistence off again: 30 connections spread over the three: $(tally "$last_answers")" ||
    fail "persistence off again: $(tally "$last_answers"), $last_hits hits"
echo "   took $(since "$started") s"

[ "$failures" = 0 ] && echo "PASS" || echo "FAILED: $failures"
exit $((failures > 0))
