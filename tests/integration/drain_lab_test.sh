#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Connection draining end to end (issue 5, SPEC.md rule 7), the cases control-lab (draining
# 10 s) leaves out: scripts/lab.sh up nat starts nlb-dataplane and nlb-control; everything
# is configured with nlbctl; real HTTP backends, real kernel clients in nlb-client.
#  1. lb, virtual server group be1..3, backend service web with draining 0, TCP listener :80;
#  2. draining 0: a long-lived connection on be2, be2 removed from the group: the held
#     connection is reset at once (0.1 s; asserted: 3 s, for a loaded machine), be2 leaves
#     the dataplane service at once, and 30 new connections avoid it;
#  3. draining 300: be2 back in the group (HEALTHY, ACTIVE), a long-lived connection on it,
#     be2 removed: the health view shows it DRAINING with ~300 s left and 1 connection; new
#     connections avoid it, also one from the ports of a closed connection that was on be2
#     (reused at once while be2 was ACTIVE, it went to be2 again); the held connection keeps
#     working; the client closes it 2 s after the removal (later when those checks took
#     longer) and be2 is purged (gone from the dataplane and the health view) within about
#     1 s of that close (asserted: 3 s, for a loaded machine), not after 300 s.
#
# usage: drain_lab_test.sh LAB_SH NLB_DATAPLANE NLB_CONTROL NLBCTL NLB_AGENT
# Needs root (exit 77 otherwise).
set -uo pipefail
lab=$1 dataplane=$2 control=$3 nlbctl_bin=$4 agent=$5
here=$(cd "$(dirname "$0")" && pwd)
# Root and tool checks, lab lock, cleanup trap, nlbctl() and the helpers.
source "$here/control_lab_lib.sh"
started=$(now)
lab_up_nat

# ---- 1. configuration
nlbctl lb create lab --vip "$vip" --region r1 --vpc v1 --zone z1 >/dev/null || fail "lb create"
nlbctl server-group create sg1 --type virtual --region r1 --vpc v1 --zone z1 \
    --instance id=be1,ip=198.19.0.11 --instance id=be2,ip=198.19.0.12 \
    --instance id=be3,ip=198.19.0.13 >/dev/null || fail "server-group create"
nlbctl backend-service create web --lb lab --port 8080 --drain 0 --server-group sg1 \
    --hc-interval 5 --hc-unhealthy 2 --hc-healthy 2 >/dev/null || fail "backend-service create"
nlbctl listener create http --lb lab --protocol tcp --port 80 --backend-service web \
    >/dev/null || fail "listener create"
three_healthy() { [ "$(health_count HEALTHY)" = 3 ]; }
wait_until 10 three_healthy && ok "be1..3 HEALTHY" || fail "not 3 HEALTHY: $(show_health)"
three_active() { [ "$(dp_active_count)" = 3 ]; }
wait_until 3 three_active && ok "dataplane: 3 ACTIVE backends" || fail "dataplane: $(dp_backends)"
wait_traffic >/dev/null && ok "traffic flows" || fail "no traffic"

# ---- 2. draining 0: the held connection is reset at once
hold_out=$(mktemp)
if ! hold_on be2 "$hold_out"; then
    fail "no long-lived connection landed on be2"
else
    ok "long-lived connection on be2 ($(grep -c '^ok ' "$hold_out") answers so far)"
    nlbctl server-group remove-instance sg1 --id be2 >/dev/null || fail "remove-instance be2"
    removed=$(now)
    ended() { grep -q '^error' "$hold_out"; }
    wait_until 5 ended
    took=$(since "$removed")
    if grep -q '^error reset' "$hold_out"; then
        # At once: 0.1 s measured on a quiet machine; 3 s leaves room for a loaded one.
        python3 -c "import sys; sys.exit(0 if $took <= 3.0 else 1)" &&
            ok "draining 0: the held connection was reset ${took} s after be2 left" ||
            fail "draining 0: reset only after ${took} s (expected at once, 3 s at most)"
    else
        fail "draining 0: held connection not reset: $(tail -n 2 "$hold_out")"
    fi
    gone() { ! dp_backends | grep -q '^198.19.0.12 '; }
    gone && ok "draining 0: be2 left the dataplane service at once" || fail "be2 still there: $(dp_backends)"
    [ "$(inst_status be2)" = - ] && ok "draining 0: be2 is not in the health view" ||
        fail "health view after draining 0: $(show_health)"
    kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null; hold=
    answers=$(conn_seq 30)
    [ "$(grep -cE '^(be1|be3)$' <<<"$answers")" = 30 ] && ok "30 new connections avoid be2: $(tally "$answers")" ||
        fail "after removing be2: $(tally "$answers")"
fi

# ---- 3. draining 300, the client closes its connection 2 s after the removal
nlbctl backend-service update web --lb lab --drain 300 >/dev/null || fail "update --drain 300"
nlbctl server-group add-instance sg1 --instance id=be2,ip=198.19.0.12 >/dev/null || fail "add-instance be2"
wait_until 15 three_healthy && ok "be2 back: HEALTHY" || fail "be2 not HEALTHY again: $(show_health)"
wait_until 3 three_active || fail "dataplane: $(dp_backends)"
if ! hold_on be2 "$hold_out"; then
    fail "no long-lived connection landed on be2"
else
    ok "long-lived connection on be2"
    # Local ports whose connection (closed with a RST: CLOSE in the dataplane) went to be2.
    reuse() { conn_client reuse "$vip" 80 "$1"; }
    sport=
    for p in $(seq 61000 61011); do  # above the ephemeral range: no TIME_WAIT of ours
        [ "$(reuse "$p")" = be2 ] && { sport=$p; break; }
    done
    [ -n "$sport" ] && [ "$(reuse "$sport")" = be2 ] &&
        ok "ports of a closed connection reused while be2 takes new ones: be2 again (port $sport)" ||
        fail "reused ports while be2 is ACTIVE: '${sport:-no port landed on be2}'"
    nlbctl server-group remove-instance sg1 --id be2 >/dev/null || fail "remove-instance be2"
    removed=$(now)
    be2_draining() { dp_backends | grep -q '^198.19.0.12 DRAINING$'; }
    wait_until 1 be2_draining && ok "dataplane: be2 DRAINING" || fail "be2 not DRAINING: $(dp_backends)"
    if [ -n "$sport" ]; then  # CLOSE lasts 10 s in the dataplane: this comes 1-2 s after
        again=$(reuse "$sport")
        [ "$again" = be1 ] || [ "$again" = be3 ] &&
            ok "the same ports reused while be2 drains: a new connection on $again" ||
            fail "the same ports reused while be2 drains: '$again'"
    fi
    python3 -c '
import json, sys, time
d = [i for i in json.loads(sys.argv[1]).get("instances", []) if i["instance"]["id"] == "be2"]
left = int(d[0].get("draining_deadline_unix", 0)) - time.time() if d else 0
print("   be2: %s, %s connection(s), %.0f s left" % (d[0]["status"] if d else "-",
      d[0].get("active_connections", 0) if d else 0, left))
sys.exit(0 if d and d[0]["status"] == "DRAINING" and int(d[0].get("active_connections", 0)) == 1
         and 295 <= left <= 301 else 1)' "$(health_json)" &&
        ok "health view (json): be2 DRAINING, 1 connection, ~300 s left" || fail "health view: $(health_json)"
    table=$(nlbctl backend-service health web --lb lab 2>&1)
    sed 's/^/   /' <<<"$table"
    grep -qE '^be2 .* DRAINING +(29[5-9]|300)s left \(until [^)]*\) +1$' <<<"$table" &&
        ok "health view (table): be2 DRAINING with the seconds left and its 1 connection" ||
        fail "table view: $table"
    answers=$(conn_seq 20)
    [ "$(grep -cE '^(be1|be3)$' <<<"$answers")" = 20 ] && ok "20 new connections avoid draining be2" ||
        fail "while be2 drains: $(tally "$answers")"
    sleep "$(python3 -c "print(max(0.0, 2.0 - ($(now) - $removed)))")"
    lines=$(grep -c '^ok be2$' "$hold_out")
    ! grep -q '^error' "$hold_out" && [ "$lines" -gt 5 ] &&
        ok "the held connection kept working while draining ($lines answers)" ||
        fail "held connection while draining: $(tail -n 2 "$hold_out")"
    kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null; hold=  # SIGTERM: the client closes (FIN)
    closed=$(now)
    echo "   the client closed its connection $(python3 -c "print('%.1f' % ($closed - $removed))") s after the removal"
    # One poller (the agent every 50 ms, at most 5 s): seconds from the close until be2 is gone.
    took=$(python3 - "$agent" "$dsock" "$vip" "$closed" <<'PYEOF'
import json, subprocess, sys, time
agent, sock, vip, closed = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
while time.time() - closed < 5:
    out = subprocess.run([agent, "--socket", sock, "list-services"], capture_output=True, text=True).stdout
    if out.strip():
        addrs = [b["address"] for vs in json.loads(out).get("services", [])
                 if vs["service"]["key"]["vip"] == vip for b in vs["service"].get("backends", [])]
        if "198.19.0.12" not in addrs:
            print("%.2f" % (time.time() - closed))
            sys.exit(0)
    time.sleep(0.05)
print("never")
PYEOF
)
    if [ "$took" != never ]; then
        # The target is 1 s (nlb-control looks every 100 ms; 0.5-1.0 s measured on a quiet
        # machine, the agent call included). 3 s leaves room for a loaded one: 1.4-2.2 s seen
        # at load 16-18 with other busy-polling dataplanes on the same 2 CPUs, where the
        # agent's GetStats and PutService answers are late.
        python3 -c "import sys; sys.exit(0 if $took <= 3.0 else 1)" &&
            ok "be2 purged from the dataplane ${took} s after the close (timeout 300 s)" ||
            fail "be2 purged ${took} s after the close, expected about 1 s (3 s at most)"
    else
        fail "be2 not purged 5 s after the close: $(dp_backends); $(show_health)"
    fi
    [ "$(inst_status be2)" = - ] && ok "be2 left the health view" || fail "health view: $(show_health)"
fi
rm -f "$hold_out"
echo "   took $(since "$started") s"

[ "$failures" = 0 ] && echo "PASS" || echo "FAILED: $failures"
exit $((failures > 0))
