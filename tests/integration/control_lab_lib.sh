# SPDX-License-Identifier: Apache-2.0
# Shared by the lab tests that drive nlb-control through nlbctl (control_lab_test.sh,
# health_lab_test.sh): scripts/lab.sh up starts nlb-dataplane and nlb-control.
#
# A test sets lab, dataplane, control, nlbctl_bin and agent (its arguments), then sources
# this file. It skips (exit 77) when not root or a tool is missing, takes the machine-wide
# lab lock for the whole test, and installs a trap that kills $hold (a held client, if
# any) and $holds (more of them), prints the daemons' logs when a check failed, and brings the lab down.

if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root (network namespaces, af_packet)"
    exit 77
fi
for tool in ip ethtool curl flock python3; do
    command -v "$tool" >/dev/null || { echo "skipped: needs '$tool'"; exit 77; }
done
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
readonly vip=198.18.1.1
# Clients in nlb-client run on the system python: a python3 found on PATH may be a pyenv shim,
# and under load its start-up (a chain of bash scripts) once took longer than a test's wait.
readonly clientpy=/usr/bin/python3
# The tests' own python3 too: a shim's 0.6 s per call (over 1 s on a busy host) made each
# poll of a wait slow and spread the checks that follow a change over seconds. Hashed, not a
# function: "python3 ... &" must stay one process, so $! is python's pid and a kill reaches it
# (a function runs in a subshell whose python child outlived the kill and held the lab lock).
hash -p "$clientpy" python3
readonly csock=/run/nlb-lab/control.sock dsock=/run/nlb-lab/dataplane.sock
hold=
holds=  # more client pids the trap kills (space-separated)
exec 9>>/run/lock/nlb-lab.lock  # the machine-wide lab lock (scripts/lab.sh)
flock -w 300 9 || { echo "FAIL: the lab is busy"; exit 1; }
export NLB_LAB_LOCKED=1 NLB_DATAPLANE=$dataplane NLB_CONTROL=$control NLB_DATAPLANE_ARGS=""
finish() {
    [ -n "$hold" ] && kill "$hold" 2>/dev/null
    local p
    for p in $holds; do kill "$p" 2>/dev/null; done
    if [ "$failures" -gt 0 ]; then
        echo "---- nlb-control log"; tail -n 30 /run/nlb-lab/control.log 2>/dev/null
        echo "---- nlb-dataplane log"; tail -n 20 /run/nlb-lab/dataplane.log 2>/dev/null
    fi
    "$lab" down >/dev/null 2>&1
    # A helper this test started in the background inherits fd 9; one still running would keep
    # the lab lock, and the next lab test would wait 300 s and fail. The lab's daemons close it.
    for p in $(exec 9>&-; find /proc/[0-9]*/fd -maxdepth 1 -lname /run/lock/nlb-lab.lock \
        2>/dev/null | cut -d/ -f3 | sort -u); do
        [ "$p" = "$$" ] && continue
        echo "   left running, holding the lab lock: pid $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-120); stopped"
        kill "$p" 2>/dev/null
    done
}
trap finish EXIT

nlbctl() { "$nlbctl_bin" --server "unix:$csock" "$@"; }

# ---- Helpers for the issue-5 lab tests (drain_lab_test.sh, sched_lab_test.sh,
# persist_lab_test.sh); the older tests define their own copies of some of them.
# The lb is "lab", the backend service "web".
wait_until() {  # SECONDS COMMAND...: polls every 0.1 s until COMMAND succeeds
    local limit=$1 n
    shift
    for n in $(seq $((limit * 10))); do "$@" && return 0; sleep 0.1; done
    "$@"
}
now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % ($(now) - float(sys.argv[1])))" "$1"; }
tally() { sort <<<"$1" | uniq -c | tr -s ' \n' ' '; }
health_json() { nlbctl --output json backend-service health web --lb lab 2>/dev/null; }
show_health() { nlbctl backend-service health web --lb lab 2>&1 | sed 's/^/   /'; }
health_count() {  # STATUS -> number of instances of lab/web in that status
    health_json | python3 -c '
import json, sys
text = sys.stdin.read()
d = json.loads(text) if text.strip() else {}
print(sum(1 for i in d.get("instances", []) if i.get("status") == sys.argv[1]))' "$1"
}
inst_status() {  # ID -> that instance's status in the health view ("-" if absent)
    health_json | python3 -c '
import json, sys
text = sys.stdin.read()
d = json.loads(text) if text.strip() else {}
s = [i.get("status", "-") for i in d.get("instances", []) if i.get("instance", {}).get("id") == sys.argv[1]]
print(s[0] if s else "-")' "$1"
}
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
dp_active_count() { dp_backends | grep -c ' ACTIVE$'; }
# conn_client.py (one process, many connections) run in the client namespace.
conn_client() { ip netns exec nlb-client "$clientpy" "$here/conn_client.py" "$@"; }
# N -> one answer per line from N sequential new connections to the VIP.
conn_seq() { conn_client seq "$vip" 80 "$@"; }
lab_up_nat() {  # brings the lab up (nat) with nlb-control, or fails the test
    "$lab" down >/dev/null 2>&1
    local out
    out=$(mktemp)
    if ! "$lab" up nat >"$out" 2>&1; then
        cat "$out"; rm -f "$out"
        echo "FAIL: lab up nat"; exit 1
    fi
    rm -f "$out"
    [ -S "$csock" ] && ok "lab up started nlb-control ($csock)" || { fail "no nlb-control socket"; exit 1; }
}
# Waits until traffic reaches backends (the dataplane resolves its neighbours first).
wait_traffic() {
    local answers="" n
    for n in $(seq 20); do
        answers=$(conn_seq 6)
        [ "$(grep -c '^be[123]$' <<<"$answers")" = 6 ] && return 0
        sleep 0.5
    done
    echo "$answers"
    return 1
}
# hold_on NAME OUT: a hold_client.py connection that landed on NAME (up to 12 tries); sets
# $hold to its pid (empty when none landed there).
hold_on() {
    local want=$1 out=$2 attempt
    for attempt in $(seq 12); do
        : >"$out"
        ip netns exec nlb-client "$clientpy" "$here/hold_client.py" "$vip" 80 --interval 0.1 >"$out" 2>&1 &
        hold=$!
        for _ in $(seq 100); do grep -q '^ok ' "$out" && break; sleep 0.1; done
        [ "$(awk '/^ok / {print $2; exit}' "$out")" = "$want" ] && return 0
        kill "$hold" 2>/dev/null; wait "$hold" 2>/dev/null; hold=
    done
    return 1
}
