# SPDX-License-Identifier: Apache-2.0
# Shared by the end-to-end tests (e2e_*_test.sh): the real nlb-dataplane in the lab
# (scripts/lab.sh), configured through the agent API with the nlb-agent client, with real
# kernel clients (curl, hold_client.py) in the nlb-client namespace.
#
# A test sources this file after setting: lab (scripts/lab.sh), dataplane (the binary),
# agent (the nlb-agent binary, may be missing: then the test skips unless it can run with
# --service only, see e2e_need_agent). e2e_init checks root, takes the lab lock for the
# whole test and installs a trap that brings the lab down.

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ "$st" != Z* ]]; }

readonly e2e_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly vip4=198.18.1.1 vip6=2001:2:0:1::1
readonly sock=/run/nlb-lab/dataplane.sock
# /usr/bin/python3 has scapy; the python3 on PATH may be a pyenv shim without it.
readonly syspython=/usr/bin/python3

e2e_init() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: needs root (network namespaces, af_packet)"
        exit 77
    fi
    local tool
    for tool in ip ethtool curl flock ps; do
        command -v "$tool" >/dev/null || { echo "skipped: needs '$tool'"; exit 77; }
    done
    [ -x "$dataplane" ] || { echo "FAIL: no nlb-dataplane at $dataplane"; exit 1; }
    exec 9>>/run/lock/nlb-lab.lock  # the machine-wide lab lock (scripts/lab.sh)
    flock -w 300 9 || { echo "FAIL: the lab is busy"; exit 1; }
    # These tests drive the dataplane through its agent API themselves: no nlb-control in the
    # lab (it would push its own, empty, desired state).
    export NLB_LAB_LOCKED=1 NLB_DATAPLANE=$dataplane NLB_LAB_NO_CONTROL=1
    trap 'e2e_down' EXIT
}

e2e_has_agent() { [ -n "${agent:-}" ] && [ -x "$agent" ]; }

e2e_need_agent() {
    if ! e2e_has_agent; then
        echo "skipped: needs the nlb-agent client (apps/dataplane/agent_client), not built yet"
        exit 77
    fi
}

# e2e_up MODE [--service ...]: the lab with nlb-dataplane; extra words go to the daemon.
e2e_up() {
    local mode=$1
    shift
    export NLB_DATAPLANE_ARGS="$*"
    if ! "$lab" up "$mode" >/tmp/nlb-e2e-up.$$ 2>&1; then
        cat /tmp/nlb-e2e-up.$$
        rm -f /tmp/nlb-e2e-up.$$
        echo "FAIL: lab up $mode"
        exit 1
    fi
    rm -f /tmp/nlb-e2e-up.$$
    if e2e_has_agent; then
        local n
        for n in $(seq 50); do
            "$agent" --socket "$sock" list-services >/dev/null 2>&1 && return 0
            sleep 0.1
        done
        fail "the agent socket $sock does not answer"
    fi
}

e2e_down() {
    local log=/run/nlb-lab/dataplane.log
    if [ "$failures" -gt 0 ] && [ -f "$log" ]; then
        echo "---- nlb-dataplane log"
        tail -n 40 "$log"
    fi
    "$lab" down >/dev/null 2>&1
}

agentc() { "$agent" --socket "$sock" "$@"; }

# The VIP port a mode uses and the port backends listen on.
vip_port() { [ "$1" = nat ] && echo 80 || echo 8080; }

# put_service FAMILY MODE WEIGHTS [STATES] [VERSION]: service VIP:port/tcp with backends
# be1..be3 (WRR), WEIGHTS like "1,2,3", STATES like "active,active,draining".
put_service() {
    local fam=$1 mode=$2 weights=$3 states=${4:-active,active,active} version=${5:-1}
    local vip=$vip4 prefix=198.19.0.1 i args=()
    [ "$fam" = 6 ] && { vip=$vip6; prefix=2001:2:0:19::1; }
    IFS=, read -r -a w <<<"$weights"
    IFS=, read -r -a st <<<"$states"
    for i in 1 2 3; do
        [ "${w[$((i - 1))]:-}" = "-" ] && continue
        args+=(--backend "id=$((fam * 10 + i)),addr=$prefix$i,port=8080,weight=${w[$((i - 1))]},state=${st[$((i - 1))]}")
    done
    agentc put-service --vip "$vip" --port "$(vip_port "$mode")" --proto tcp --mode "$mode" \
        --scheduler wrr --version "$version" "${args[@]}"
}

# The same service as --service arguments for nlb-dataplane (when there is no agent).
service_arg() {
    local fam=$1 mode=$2 weights=$3 vip=$vip4 prefix=198.19.0.1 i out
    [ "$fam" = 6 ] && { vip=$vip6; prefix=2001:2:0:19::1; }
    IFS=, read -r -a w <<<"$weights"
    out="--service vip=$vip,port=$(vip_port "$mode"),proto=tcp,mode=$mode,sched=wrr"
    for i in 1 2 3; do out+=",backend=$prefix$i/8080/${w[$((i - 1))]}"; done
    echo "$out"
}

vip_url() {  # FAMILY MODE [PATH]
    if [ "$1" = 6 ]; then echo "http://[$vip6]:$(vip_port "$2")${3:-/}"; else echo "http://$vip4:$(vip_port "$2")${3:-/}"; fi
}

# requests FAMILY MODE N: N requests, one new connection each, from the client namespace;
# prints one line per request: the backend's name, or "error".
requests() {
    local url n=$3 cfg
    url=$(vip_url "$1" "$2")
    # One request first: when the VIP does not answer at all, do not wait 300 timeouts.
    if ! ip netns exec nlb-client curl -sS -g --noproxy '*' --max-time 3 "$url" 2>/dev/null; then
        echo error
        return
    fi
    n=$((n - 1))
    cfg=$(mktemp)
    for _ in $(seq "$n"); do printf 'url = "%s"\n' "$url"; done >"$cfg"
    ip netns exec nlb-client curl -sS -g --noproxy '*' --max-time 20 --connect-timeout 2 \
        -H 'Connection: close' -K "$cfg" 2>/dev/null
    rm -f "$cfg"
}

# check_spread COUNTS_FILE "1,2,3" N LABEL: every request answered, split by weight within 10 %.
check_spread() {
    local file=$1 weights=$2 n=$3 label=$4 total=0 i got want lo hi okay=1 summary=""
    IFS=, read -r -a w <<<"$weights"
    for i in 0 1 2; do total=$((total + w[i])); done
    got=$(grep -c '^be[123]$' "$file")
    if [ "$got" -ne "$n" ]; then
        fail "$label: $got of $n requests answered"
        okay=0
    fi
    for i in 1 2 3; do
        got=$(grep -c "^be$i\$" "$file")
        want=$((n * w[i - 1] / total))
        lo=$((want - (want + 9) / 10)); hi=$((want + (want + 9) / 10))
        summary+=" be$i=$got(want $want)"
        if [ "$got" -lt "$lo" ] || [ "$got" -gt "$hi" ]; then okay=0; fi
    done
    if [ "$okay" = 1 ]; then ok "$label: $n/$n answered,$summary"; else fail "$label: spread$summary"; fi
}

# Total drops by reason from `nlb-agent stats` (JSON): prints "reason count" lines.
drops_by_reason() {
    agentc stats | "$syspython" -c '
import json, sys
d = json.load(sys.stdin)
total = d.get("total", {}) or {}
for k, v in sorted((total.get("drops") or {}).items()):
    print(k, int(v))
'
}
