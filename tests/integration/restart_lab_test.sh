#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Faults and restarts (issue 7) in the lab: scripts/lab.sh up nat starts nlb-dataplane and
# nlb-control; a load balancer with be1..3 (TCP checks at the default 5 s interval) and a TCP
# listener :80 are configured with nlbctl. Then:
#  1. nlb-control is killed (SIGKILL) at a random moment (0.5-3.5 s into the API load) KILLS
#     times ($NLB_RESTART_KILLS, default 5) while tests/integration/api_load.py keeps
#     creating/deleting server groups and changing the backend service's persistence (a change
#     the dataplane receives), and a long-lived connection (hold_client.py) exchanges a request
#     every 0.1 s through the dataplane. After each kill: new connections still work without
#     nlb-control; it is restarted with the lab's arguments, but without --probe-first-at-once
#     (its first probes are spread over the 5 s interval, as in production), and then
#       - every change the killed process acknowledged is in the restarted one's state;
#       - the dataplane holds the store's content (persistence, 3 ACTIVE backends) within 2 s of
#         the restart, and never lost an active backend meanwhile (measured by polling the agent);
#       - new connections work.
#     The held connection must never fail, across all kills.
#  2. nlb-dataplane is killed (SIGKILL): `nlbctl backend-service health` reports the dataplane
#     unreachable while it is down; restarted, nlb-control pushes everything within 2 s of the
#     agent answering (measured), the outage line goes, and new connections work again.
# Figures go to stdout ("figure: ...").
#
# usage: restart_lab_test.sh LAB_SH NLB_DATAPLANE NLB_CONTROL NLBCTL NLB_AGENT
# Needs root (exit 77 otherwise).
set -uo pipefail
lab=$1 dataplane=$2 control=$3 nlbctl_bin=$4 agent=$5
here=$(cd "$(dirname "$0")" && pwd)
kills=${NLB_RESTART_KILLS:-5}
resync_limit_ms=2000
source "$here/control_lab_lib.sh"
work=$(mktemp -d /tmp/nlb-restart.XXXXXX)
load= poller=
cleanup() {
    [ -n "$load" ] && kill "$load" 2>/dev/null
    [ -n "$poller" ] && kill "$poller" 2>/dev/null
    if [ "$failures" -gt 0 ]; then
        echo "---- api load log (last lines)"; tail -n 8 "$work/load.log" 2>/dev/null
        echo "---- held connection (last lines)"; tail -n 3 "$work/hold.out" 2>/dev/null
    fi
    finish
    rm -rf "$work"
}
trap cleanup EXIT

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# Every line the daemons log, stamped on arrival (epoch µs; tail follows the files through
# restarts and ends with this shell, so it does not keep the lab lock, fd 9).
stamp_logs() {
    { tail -n 0 -q --pid=$$ -F /run/nlb-lab/control.log /run/nlb-lab/dataplane.log 2>/dev/null |
        while IFS= read -r line; do echo "${EPOCHREALTIME/./} $line"; done >>"$work/stamped"; } 9>&- &
}
since() {  # T0_MS: the stamped lines from T0_MS to the first "in sync" after it, "+MS ms line" each
    awk -v t0="$1" '$1 / 1000 < t0 { next }
        { ms = int($1 / 1000 - t0); $1 = ""; print "+" ms " ms" $0 } / in sync: / { exit }' "$work/stamped"
}
first_after() {  # T0_MS EXTENDED-REGEX: ms from T0_MS to the first stamped line after it that matches
    awk -v t0="$1" -v re="$2" '$1 / 1000 >= t0 && $0 ~ re { printf "%d\n", $1 / 1000 - t0; found = 1; exit }
        END { if (!found) print "never" }' "$work/stamped"
}
wait_until() {  # SECONDS COMMAND...: polls every 0.1 s
    local limit=$1 n
    shift
    for n in $(seq $((limit * 10))); do "$@" && return 0; sleep 0.1; done
    "$@"
}
curl_n() {  # N -> one answer per line ("be1", or "error")
    local i
    for i in $(seq "$1"); do
        ip netns exec nlb-client curl -sS --noproxy '*' --max-time 2 "http://$vip/" 2>/dev/null || echo error
        echo
    done | grep -v '^$'
}
new_conns_ok() { [ "$(curl_n 3 | grep -c '^be[123]$')" = 3 ]; }
health_json() { nlbctl --output json backend-service health web --lb lab 2>/dev/null; }
healthy_count() {
    health_json | python3 -c '
import json, sys
print(sum(1 for i in json.load(sys.stdin).get("instances", []) if i.get("status") == "HEALTHY"))'
}
three_healthy() { [ "$(healthy_count)" = 3 ]; }
store_persistence() {
    nlbctl --output json backend-service show web --lb lab 2>/dev/null | python3 -c '
import json, sys; print(json.load(sys.stdin).get("persistence_timeout_seconds", ""))'
}
start_poller() {  # OUT: polls the agent in the background for at most 30 s
    python3 "$here/restart_check.py" poll "$agent" "$dsock" "$vip" "$1" 30 &
    poller=$!
}
stop_poller() { kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null; poller=; }
control_cmd() {
    setsid "$(cat /run/nlb-lab/control.bin)" --listen "unix:$csock" --state /run/nlb-lab/control.db \
        --dataplane "unix:$dsock" "$@" >>/run/nlb-lab/control.log 2>&1 </dev/null 9<&- &
    echo $! >/run/nlb-lab/control.pid
}
outage_lines() { nlbctl backend-service health web --lb lab 2>/dev/null | grep -c 'unreachable since'; }
outage_json() {
    health_json | python3 -c '
import json, sys; print(len(json.load(sys.stdin).get("unreachable_dataplanes", [])))' 2>/dev/null
}
outage_shown() { [ "$(outage_json)" = 1 ]; }
outage_gone() { [ "$(outage_json)" = 0 ]; }

"$lab" down >/dev/null 2>&1
if ! "$lab" up nat >"$work/up.log" 2>&1; then
    cat "$work/up.log"; echo "FAIL: lab up nat"; exit 1
fi
[ -S "$csock" ] && ok "lab up started nlb-control" || { fail "no nlb-control socket"; exit 1; }

nlbctl lb create lab --vip "$vip" --region r1 --vpc v1 --zone z1 >/dev/null || fail "lb create"
nlbctl server-group create sg1 --type virtual --region r1 --vpc v1 --zone z1 \
    --instance id=be1,ip=198.19.0.11 --instance id=be2,ip=198.19.0.12 \
    --instance id=be3,ip=198.19.0.13 >/dev/null || fail "server-group create"
nlbctl backend-service create web --lb lab --port 8080 --persistence 60 --server-group sg1 \
    >/dev/null || fail "backend-service create"
nlbctl listener create http --lb lab --protocol tcp --port 80 --backend-service web \
    >/dev/null || fail "listener create"
wait_until 10 three_healthy && ok "be1..3 HEALTHY" || fail "not 3 HEALTHY: $(health_json)"
wait_until 10 new_conns_ok && ok "new connections through the VIP" || fail "no traffic: $(curl_n 3)"
[ "$failures" = 0 ] || exit 1

# ---- 1. kill -9 nlb-control under API load
: >"$work/stamped"
stamp_logs
ip netns exec nlb-client "$clientpy" "$here/hold_client.py" "$vip" 80 --interval 0.1 --timeout 3 \
    >"$work/hold.out" 2>&1 &
hold=$!
wait_until 3 grep -q '^ok ' "$work/hold.out" || fail "the held connection did not start"
touch "$work/pause"
python3 "$here/api_load.py" "$nlbctl_bin" "$csock" "$work/load.log" "$work/pause" \
    --max-seconds 600 >/dev/null 2>&1 &
load=$!
max_resync=0 max_agent=0 slow_agent=0 max_slow=0 min_active=3 resync_bad=0 acked_bad=0 conn_bad=0 total_acked=0
for k in $(seq "$kills"); do
    rm -f "$work/pause"
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.5 + 3.0 * r / 32767 }')"
    kill -KILL "$(cat /run/nlb-lab/control.pid)"
    touch "$work/pause"
    # Nothing can be acknowledged after the kill: once the loop pauses, the log holds every
    # acknowledgement of the killed process.
    for _ in $(seq 100); do
        [ "$(tail -n 1 "$work/load.log")" = paused ] && break
        sleep 0.05
    done
    [ "$(tail -n 1 "$work/load.log")" = paused ] || fail "kill $k: the API load did not pause"
    cp "$work/load.log" "$work/acked.$k"
    new_conns_ok || { fail "kill $k: new connections fail while nlb-control is down"; conn_bad=1; }

    : >"$work/poll.$k"
    start_poller "$work/poll.$k"
    sleep 0.2  # the poller is running: the dataplane's content is watched from before the restart
    t0=$(now_ms)
    control_cmd
    wait_until 10 nlbctl lb show lab >/dev/null 2>&1 || { fail "kill $k: nlb-control did not come back"; break; }
    if out=$(python3 "$here/restart_check.py" acked "$work/acked.$k" "$nlbctl_bin" "$csock"); then
        total_acked=$(grep -c '^ack ' "$work/acked.$k")
    else
        fail "kill $k: acknowledged changes lost: $out"; acked_bad=1
    fi
    want=$(store_persistence)
    # Resync: from the restart to nlb-control's "in sync" (its full sync with the dataplane:
    # ListServices, then every difference pushed), stamped as the line arrives.
    synced() { [ "$(first_after "$t0" ' in sync: ')" != never ]; }
    wait_until 5 synced
    settle=$(first_after "$t0" ' in sync: ')
    # The dataplane's content, as its agent reports it, must be the store's (3 ACTIVE backends,
    # the persistence last written), and must never have lost an ACTIVE backend meanwhile.
    agent_ok() {
        [ "$(python3 "$here/restart_check.py" settle "$work/poll.$k" "$t0" "$want" 3 | cut -d' ' -f1)" != never ]
    }
    sleep 1
    wait_until 10 agent_ok || fail "kill $k: the agent never reports the store's content: $(tail -n 3 "$work/poll.$k")"
    stop_poller
    read -r agent_settle first min_seen < <(python3 "$here/restart_check.py" settle "$work/poll.$k" "$t0" "$want" 3)
    echo "   kill $k: $(tail -n 1 <<<"$out"); nlb-control in sync ${settle} ms after the restart;" \
        "agent: content right by ${agent_settle} ms (first answer ${first} ms), fewest ACTIVE backends: ${min_seen}"
    if [ "$settle" != never ] && [ "$settle" -gt "$resync_limit_ms" ] && [ "$settle" -le 5000 ] &&
        since "$t0" | grep -qE 'Deadline Exceeded|timed out'; then
        # The dataplane's agent did not answer a call within its deadline (1 s for GetInfo):
        # counted apart, and shown.
        slow_agent=$((slow_agent + 1))
        echo "   kill $k: over ${resync_limit_ms} ms because the agent did not answer in time:"
        since "$t0" | grep -E 'dataplane' | sed 's/^/     /'
        [ "$settle" -gt "$max_slow" ] && max_slow=$settle
    elif [ "$settle" = never ] || [ "$settle" -gt "$resync_limit_ms" ]; then
        fail "kill $k: not in sync within ${resync_limit_ms} ms: $(since "$t0" | tail -n 8)"
        resync_bad=1
    else
        [ "$settle" -gt "$max_resync" ] && max_resync=$settle
    fi
    [ "$agent_settle" != never ] && [ "$agent_settle" -gt "$max_agent" ] && max_agent=$agent_settle
    [ "$min_seen" != none ] && [ "$min_seen" -lt "$min_active" ] && min_active=$min_seen
    new_conns_ok || { fail "kill $k: new connections fail after the restart"; conn_bad=1; }
    if grep -q '^error' "$work/hold.out" || ! kill -0 "$hold" 2>/dev/null; then
        fail "kill $k: the held connection broke: $(tail -n 1 "$work/hold.out")"; break
    fi
done
kill "$load" 2>/dev/null; wait "$load" 2>/dev/null; load=
ops=$(grep -c '^try ' "$work/load.log") acks=$(grep -c '^ack ' "$work/load.log")
errs=$(grep '^err ' "$work/load.log" | grep -vc 'UNAVAILABLE')
[ "$acked_bad" = 0 ] && ok "$kills kills: every acknowledged change survived ($total_acked acknowledged before the last kill)"
[ "$resync_bad" = 0 ] && ok "$kills kills: nlb-control in sync with the dataplane within ${resync_limit_ms} ms of $((kills - slow_agent)) restarts (max $max_resync ms; agent polls confirm the content by $max_agent ms at most); $slow_agent later (max $max_slow ms) because the agent timed out"
[ "$slow_agent" -le $(((kills + 4) / 5)) ] || fail "$slow_agent of $kills restarts waited for a dataplane agent that timed out"
[ "$min_active" = 3 ] && ok "$kills kills: the dataplane never lost an ACTIVE backend across the restarts" ||
    fail "an ACTIVE backend was withdrawn after a restart (fewest seen: $min_active)"
[ "$conn_bad" = 0 ] && ok "$kills kills: new connections worked while nlb-control was down and after each restart"
[ "$errs" = 0 ] && ok "API load: $ops calls, $acks acknowledged, no error but UNAVAILABLE while down" ||
    fail "API load: $errs unexpected errors: $(grep '^err ' "$work/load.log" | grep -v UNAVAILABLE | head -n 3)"
exchanges=$(grep -c '^ok ' "$work/hold.out")
kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null; hold=
if grep -q '^error' "$work/hold.out"; then
    fail "held connection: $(grep '^error' "$work/hold.out" | head -n 1)"
else
    ok "one held connection: $exchanges requests answered across $kills kills, none failed"
fi
echo "figure: nlb-control kill -9 x$kills under API load: $ops calls, $acks acknowledged," \
    "acknowledged changes lost: $([ "$acked_bad" = 0 ] && echo none || echo SOME), max resync" \
    "$max_resync ms (agent-confirmed by $max_agent ms; $slow_agent over 2 s, max $max_slow ms, when" \
    "the agent timed out), fewest ACTIVE backends $min_active/3, held connection $exchanges requests" \
    "with $(grep -c '^error' "$work/hold.out") errors"

# ---- 2. kill -9 nlb-dataplane
wait_until 10 three_healthy || fail "before the dataplane kill: not 3 HEALTHY"
t_kill=$(now_ms)
kill -KILL "$(cat /run/nlb-lab/dataplane.pid)"
if wait_until 5 outage_shown; then
    t_seen=$(now_ms)
    ok "health view reports the dataplane unreachable $((t_seen - t_kill)) ms after the kill"
    nlbctl backend-service health web --lb lab | grep 'unreachable since' | sed 's/^/   /'
    [ "$(outage_lines)" = 1 ] && ok "nlbctl's health table shows the outage line" ||
        fail "no outage line in: $(nlbctl backend-service health web --lb lab 2>&1)"
else
    fail "health view shows no outage: $(health_json)"
fi
sleep 1
outage_shown && ok "the outage is still reported while the dataplane is down" ||
    fail "outage not reported 1 s later"
: >"$work/poll.dp"
start_poller "$work/poll.dp"
t0=$(now_ms)
setsid "$(cat /run/nlb-lab/dataplane.bin)" --config /run/nlb-lab/dataplane.conf \
    >>/run/nlb-lab/dataplane.log 2>&1 </dev/null 9<&- &
echo $! >/run/nlb-lab/dataplane.pid
in_sync() { [ "$(awk '$2 != "down" { last = $3 } END { print last }' "$work/poll.dp")" = 3 ]; }
wait_until 25 in_sync || fail "after the dataplane restart: $(tail -n 2 "$work/poll.dp")"
sleep 0.5
stop_poller
read -r agent_settle first _ < <(python3 "$here/restart_check.py" settle "$work/poll.dp" "$t0" "$(store_persistence)" 3)
# From the dataplane's "forwarding" (its agent listens from then on) to nlb-control's "in sync".
up_ms=$(first_after "$t0" 'nlb-dataplane: .*forwarding')
sync_ms=$(first_after "$t0" 'restarted [(]instance|answers [(]instance')
done_ms=$(first_after "$t0" ' in sync: ')
if [ "$up_ms" != never ] && [ "$done_ms" != never ]; then
    push=$((done_ms - up_ms))
    echo "figure: nlb-dataplane kill -9: forwarding ${up_ms} ms after the restart, nlb-control noticed" \
        "it at ${sync_ms} ms and was in sync at ${done_ms} ms (${push} ms after it came up); agent" \
        "polls: first answer ${first} ms, content right by ${agent_settle} ms"
    [ "$push" -le "$resync_limit_ms" ] && ok "nlb-dataplane restarted: nlb-control pushed everything ${push} ms after it came up (limit ${resync_limit_ms})" ||
        fail "push took $push ms"
else
    fail "no 'forwarding' ($up_ms) or 'in sync' ($done_ms) after the dataplane restart: $(tail -n 5 "$work/stamped")"
fi
[ "$agent_settle" != never ] && ok "the restarted dataplane holds the store's content" ||
    fail "agent content: $(tail -n 3 "$work/poll.dp")"
wait_until 5 outage_gone && ok "the outage line is gone once the dataplane answers" ||
    fail "outage still reported: $(health_json)"
wait_until 10 new_conns_ok && ok "new connections work after the dataplane restart" ||
    fail "after the dataplane restart: $(curl_n 3)"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all restart checks passed"
