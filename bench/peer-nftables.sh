#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# nlb against the kernel's own load balancer, side by side, in the lab (issue 6, benchmark 2).
# Root. Real TCP clients (wrk) in nlb-client against three nginx backends (nlb-be1..3,
# 198.19.0.11..13:8080, bench/peer/nginx.conf.in), in three set-ups that the client sees alike:
#
#   (a) nlb      nlb-dataplane between the client and the backends (scripts/lab.sh nat
#                topology), service 198.18.1.1:80 -> WRR over the 3 backends, configured
#                through its agent (nlb-agent put-service)
#   (b) nftables the same two veths (nlb-cl-h, nlb-dp1) moved into a router namespace
#                nlb-pr-router that takes nlb-dataplane's place with the same addresses
#                (198.18.0.1, 198.19.0.1): IPv4 forwarding plus an nftables DNAT rule
#                `dnat to numgen inc mod 3 map { 0 : be1, 1 : be2, 2 : be3 } . 8080`.
#                NAT mode: the backends' default route is the router, replies come back
#                through it (conntrack un-NATs them).
#   (c) direct   no balancer: a veth from the client straight onto the backend bridge
#                (198.19.0.250), client -> be1:8080. One backend: a third of the backend
#                capacity of (a) and (b).
#
# Two wrk runs per set-up: keep-alive (-c CONNS, persistent connections) and
# connection-per-request (-H 'Connection: close': nginx closes after each response and wrk
# opens a new connection for the next request). Every run's connections are checked against
# nginx's own counters (stub_status accepts / requests): keep-alive must reuse connections,
# close must accept one connection per request; (a) and (b) must spread requests over all
# three backends.
#
# CPU placement (--pin, the default; the machine has 2 CPUs): the applications and their TCP
# stacks (wrk, nginx, RPS of the client's and backends' eth0) run on CPU 0 in every set-up;
# the balancer gets CPU 1: nlb-dataplane's worker lcore (EAL pins it; its main lcore is on
# CPU 0 and only answers ARP/agent calls), and for the kernel peer the router's ingress
# (RPS of nlb-cl-h and nlb-dp1 -> CPU 1, so forwarding, conntrack and NAT run there).
# --no-pin leaves everything to the scheduler (nlb's worker stays on CPU 1).
#
# usage: bench/peer-nftables.sh [--duration S] [--rounds R] [--connections N] [--no-pin]
#                               [--driver af_xdp|af_packet|both] [BUILD_DIR]
#   --duration S     seconds per wrk run (default 10)
#   --rounds R       repeat (a), (c), (b) R times, interleaved; the summary gives each
#                    figure's median over the rounds (default 3)
#   --connections N  concurrent wrk connections (default 32; one wrk thread)
#   --driver D       nlb's port driver on the veths (default af_xdp; falls back to af_packet
#                    when af_xdp does not start); both: run (a) with each
#   --spin           control run: during (b) and (c), a busy loop on CPU 1 takes the CPU the
#                    way nlb's poll-mode worker does (shows what that occupancy alone costs
#                    on a machine shared with other work)
#   BUILD_DIR        where nlb-dataplane and nlb-agent are (default build)
#   NLB_PEER_DATAPLANE_ARGS  extra nlb-dataplane arguments (e.g. --no-backoff)
#
# Takes the machine-wide lab lock (/run/lock/nlb-lab.lock; not when NLB_LAB_LOCKED=1 says the
# caller holds it) for the whole run and removes
# everything it made on exit (lab.sh down, the router namespace, nginx, temp files).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/.." && pwd)
lab=$src/scripts/lab.sh
template=$here/peer/nginx.conf.in

duration=10 conns=32 driver=af_xdp pin=1 rounds=3 spin=0 builddir=build
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) duration=${2:-}; shift 2 ;;
    --connections) conns=${2:-}; shift 2 ;;
    --rounds) rounds=${2:-}; shift 2 ;;
    --driver) driver=${2:-}; shift 2 ;;
    --no-pin) pin=0; shift ;;
    --spin) spin=1; shift ;;
    --pin) pin=1; shift ;;
    -h|--help) sed -n '35,48p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "peer-nftables: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) builddir=$1; shift ;;
    esac
done
die() { echo "peer-nftables: error: $*" >&2; exit 1; }
[[ "$duration" =~ ^[1-9][0-9]*$ ]] && [ "$duration" -le 120 ] ||
    { echo "peer-nftables: error: --duration must be 1..120 seconds" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] && [ "$rounds" -le 9 ] ||
    { echo "peer-nftables: error: --rounds must be 1..9" >&2; exit 2; }
[[ "$conns" =~ ^[1-9][0-9]*$ ]] && [ "$conns" -le 1000 ] ||
    { echo "peer-nftables: error: --connections must be 1..1000" >&2; exit 2; }
case "$driver" in af_xdp|af_packet|both) ;; *)
    echo "peer-nftables: error: --driver must be af_xdp, af_packet or both" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, veth, nftables, af_packet/af_xdp)"
for tool in ip ethtool nft nginx wrk curl flock taskset; do
    command -v "$tool" >/dev/null || die "needs '$tool' (scripts/deps.sh)"
done
case "$builddir" in /*) ;; *) builddir=$src/$builddir ;; esac
dataplane=$builddir/apps/dataplane/nlb-dataplane
agent=$builddir/apps/dataplane/nlb-agent
[ -x "$dataplane" ] && [ -x "$agent" ] ||
    die "no nlb-dataplane/nlb-agent in $builddir (meson compile -C $builddir)"
[ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ] || die "needs 2 CPUs (nlb-dataplane: main lcore + worker)"

readonly vip=198.18.1.1 state=/run/nlb-lab router=nlb-pr-router
readonly dsock=$state/dataplane.sock
app_cpu=0 lb_cpu=1

# The machine-wide lab lock, held for the whole run (unless the caller holds it and says so
# with NLB_LAB_LOCKED=1, as for scripts/lab.sh).
if [ "${NLB_LAB_LOCKED:-0}" != 1 ]; then
    exec 9>>/run/lock/nlb-lab.lock
    flock -w 300 9 || die "the lab is busy (another user holds /run/lock/nlb-lab.lock)"
fi
export NLB_LAB_LOCKED=1 NLB_LAB_NO_DATAPLANE=1 NLB_DATAPLANE=$dataplane
tmp=$(mktemp -d /tmp/nlb-peer.XXXXXX) || die "mktemp failed"
nginx_pids=()
dp_pid= dp_driver=

cleanup() {
    local p
    [ -n "$dp_pid" ] && kill "$dp_pid" 2>/dev/null
    for p in "${nginx_pids[@]}"; do kill "$p" 2>/dev/null; done
    if [ -e "/run/netns/$router" ]; then
        ip netns exec "$router" nft delete table ip nlb_peer 2>/dev/null
        ip netns del "$router" 2>/dev/null
    fi
    "$lab" down >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "peer-nftables: $*" >&2; }

# ------------------------------------------------------------------ set-up

set_rps() {  # NS|- IF MASK
    local ns=$1 ifc=$2 mask=$3 cmd
    cmd="echo $mask >/sys/class/net/$ifc/queues/rx-0/rps_cpus"
    if [ "$ns" = - ]; then sh -c "$cmd"; else ip netns exec "$ns" sh -c "$cmd"; fi
}

start_nginx() {  # I: replace lab.sh's python server in nlb-beI by nginx
    local i=$1 dir=$tmp/be$1 pid n body
    pid=$(cat "$state/be$i.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        for n in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    mkdir -p "$dir"
    sed -e "s|@NAME@|be$i|g" -e "s|@ADDR@|198.19.0.1$i|g" -e "s|@DIR@|$dir|g" "$template" \
        >"$dir/nginx.conf" || return 1
    if [ "$pin" = 1 ]; then
        ip netns exec "nlb-be$i" taskset -c "$app_cpu" nginx -c "$dir/nginx.conf" -p "$dir" \
            >"$dir/stdout.log" 2>&1 </dev/null 9<&- &
    else
        ip netns exec "nlb-be$i" nginx -c "$dir/nginx.conf" -p "$dir" \
            >"$dir/stdout.log" 2>&1 </dev/null 9<&- &
    fi
    nginx_pids+=($!)
    echo $! >"$state/nginx$i.pid"  # lab.sh down stops it too
    for n in $(seq 300); do
        body=$(curl -sS --fail --max-time 1 --noproxy '*' "http://198.19.0.1$i:8080/" 2>/dev/null)
        [ "$body" = "be$i" ] && return 0
        sleep 0.05
    done
    log "nginx in nlb-be$i did not answer; its error log:"
    cat "$dir/error.log" "$dir/stdout.log" >&2 2>/dev/null
    return 1
}

lab_up() {
    local i
    # A loaded machine can make lab.sh's wait for its backends time out: one more try.
    if ! "$lab" up nat >"$tmp/lab.log" 2>&1; then
        log "lab.sh up nat failed ($(tail -n 1 "$tmp/lab.log")); trying once more"
        "$lab" up nat >"$tmp/lab.log" 2>&1 || { cat "$tmp/lab.log" >&2; die "lab.sh up nat failed"; }
    fi
    for i in 1 2 3; do start_nginx "$i" || die "nginx did not start in nlb-be$i"; done
    if [ "$pin" = 1 ]; then
        set_rps nlb-client eth0 1
        for i in 1 2 3; do set_rps "nlb-be$i" eth0 1; done
        set_rps - nlb-cl-h 2
        set_rps - nlb-dp1 2
    fi
}

# nlb-dataplane on the lab's two host veth ends with DRIVER; service VIP:80 -> WRR over the
# three backends through the agent. Returns 1 (and says why) when it does not start.
start_nlb() {  # DRIVER
    local drv=$1 conf=$tmp/dataplane-$1.conf n
    "$lab" config nat | sed -e "s/profile = \"af_packet\"/profile = \"$drv\"/" \
        -e 's/^mempool = .*/mempool = { size = 32767; cache = 256; };/' \
        -e 's/^conn_table = .*/conn_table = { capacity = 262144; };/' >"$conf"
    # shellcheck disable=SC2086  # a list of words
    dp_driver=$drv
    setsid "$dataplane" --config "$conf" --drivers-cfg "$src/drivers-cfg" ${NLB_PEER_DATAPLANE_ARGS:-} \
        >"$tmp/dataplane-$drv.log" 2>&1 </dev/null 9<&- &
    dp_pid=$!
    echo "$dp_pid" >"$state/dataplane.pid"
    for n in $(seq 300); do
        grep -q forwarding "$tmp/dataplane-$drv.log" && break
        if ! kill -0 "$dp_pid" 2>/dev/null; then
            log "nlb-dataplane ($drv) exited: $(tail -n 3 "$tmp/dataplane-$drv.log" | tr '\n' ' ')"
            dp_pid=
            return 1
        fi
        sleep 0.1
    done
    for n in $(seq 200); do "$agent" --socket "$dsock" info >/dev/null 2>&1 && break; sleep 0.1; done
    "$agent" --socket "$dsock" put-service --vip "$vip" --port 80 --proto tcp --mode nat \
        --scheduler wrr --version 1 \
        --backend id=1,addr=198.19.0.11,port=8080,weight=1,state=active \
        --backend id=2,addr=198.19.0.12,port=8080,weight=1,state=active \
        --backend id=3,addr=198.19.0.13,port=8080,weight=1,state=active >/dev/null ||
        { log "put-service through the agent failed"; stop_nlb; return 1; }
    for n in $(seq 100); do
        client_get "http://$vip/" >/dev/null && return 0
        sleep 0.1
    done
    log "no answer through nlb-dataplane ($drv); its log:"
    tail -n 20 "$tmp/dataplane-$drv.log" >&2
    stop_nlb
    return 1
}

stop_nlb() {
    local n
    [ -n "$dp_pid" ] || return 0
    kill -TERM "$dp_pid" 2>/dev/null
    for n in $(seq 100); do kill -0 "$dp_pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$dp_pid" 2>/dev/null
    grep -ho 'rx [0-9]* forwarded.*sleeps [0-9]*' "$tmp/dataplane-$dp_driver.log" 2>/dev/null |
        sed 's/^/    nlb-dataplane at exit: /'
    dp_pid=
    rm -f "$state/dataplane.pid"
}

client_get() { ip netns exec nlb-client curl -sS --fail --max-time 2 --noproxy '*' "$1" 2>/dev/null; }

# (c): a veth from the client onto the backend bridge, 198.19.0.250/24 (only for this run).
direct_up() {
    ip link add nlb-pr-cd type veth peer name direct0 netns nlb-client &&
        ethtool -K nlb-pr-cd tx off tso off gso off gro off >/dev/null &&
        sysctl -qw net.ipv6.conf.nlb-pr-cd.disable_ipv6=1 &&
        ip link set nlb-pr-cd master nlb-br0 up &&
        ip netns exec nlb-client ethtool -K direct0 tx off tso off gso off gro off >/dev/null &&
        ip netns exec nlb-client ip addr add 198.19.0.250/24 dev direct0 &&
        ip netns exec nlb-client ip link set direct0 up || return 1
    [ "$pin" = 1 ] && set_rps nlb-client direct0 1
    local n
    for n in $(seq 100); do client_get "http://198.19.0.11:8080/" >/dev/null && return 0; sleep 0.1; done
    return 1
}
direct_down() { ip link del nlb-pr-cd 2>/dev/null; }

# (b): the router namespace in nlb-dataplane's place, with the nftables DNAT load balancer.
router_up() {
    ip netns add "$router" || return 1
    ip link set nlb-cl-h netns "$router" && ip link set nlb-dp1 netns "$router" || return 1
    ip netns exec "$router" sh -e -c '
        ip link set lo up
        sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
        for i in nlb-cl-h nlb-dp1; do
            sysctl -qw net.ipv4.conf.$i.arp_ignore=0 net.ipv4.conf.$i.rp_filter=0 net.ipv6.conf.$i.disable_ipv6=1
        done
        ip addr add 198.18.0.1/24 dev nlb-cl-h
        ip addr add 198.19.0.1/24 dev nlb-dp1
        ip link set nlb-cl-h up
        ip link set nlb-dp1 up' || return 1
    ip netns exec "$router" nft -f - <<EOF || return 1
table ip nlb_peer {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr $vip tcp dport 80 dnat ip to numgen inc mod 3 map { 0 : 198.19.0.11 . 8080, 1 : 198.19.0.12 . 8080, 2 : 198.19.0.13 . 8080 }
    }
}
EOF
    if [ "$pin" = 1 ]; then
        set_rps "$router" nlb-cl-h 2
        set_rps "$router" nlb-dp1 2
    fi
    # The client and backends still hold neighbour entries for nlb-dataplane's MAC addresses.
    ip netns exec nlb-client ip neigh flush dev eth0
    for i in 1 2 3; do ip netns exec "nlb-be$i" ip neigh flush dev eth0; done
    local n
    for n in $(seq 100); do client_get "http://$vip/" >/dev/null && return 0; sleep 0.1; done
    return 1
}

# Gives the two veths back to the host namespace for nlb-dataplane, as lab.sh left them.
router_down() {
    local ifc i
    ip netns exec "$router" nft delete table ip nlb_peer || return 1
    for ifc in nlb-cl-h nlb-dp1; do
        ip -n "$router" link set "$ifc" netns "$$" || return 1
        sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1" "net.ipv4.conf.$ifc.forwarding=0" \
            "net.ipv4.conf.$ifc.arp_ignore=8" || return 1
        ethtool -K "$ifc" tx off tso off gso off gro off >/dev/null || return 1
        ip link set "$ifc" up || return 1
        [ "$pin" = 1 ] && set_rps - "$ifc" 2
    done
    ip netns del "$router" || return 1
    ip netns exec nlb-client ip neigh flush dev eth0
    for i in 1 2 3; do ip netns exec "nlb-be$i" ip neigh flush dev eth0; done
    return 0
}

# ------------------------------------------------------------------ measurement

# CPU ticks (user + system) of nlb-dataplane's worker lcore thread; empty without one.
worker_ticks() {
    local t
    [ -n "$dp_pid" ] || return 0
    for t in /proc/"$dp_pid"/task/*; do
        if [[ "$(cat "$t/comm" 2>/dev/null)" =~ ^(rte|lcore)-worker- ]]; then
            awk '{print $14 + $15}' "$t/stat"
            return 0
        fi
    done
}

# Nanoseconds the nginx processes of the backends ran and waited for a CPU: "RUN WAIT".
nginx_sched() {
    local p c
    for p in "${nginx_pids[@]}"; do
        for c in "$p" $(pgrep -P "$p"); do
            cat "/proc/$c/schedstat" 2>/dev/null
        done
    done | awk '{r += $1; w += $2} END {printf "%.0f %.0f", r, w}'
}

# nginx's stub_status counters of backend I: "ACCEPTS REQUESTS" (each read is itself one
# connection and one request, counted in the figures it returns).
nginx_counts() {
    local out a r
    out=$(curl -sS --fail --max-time 2 --noproxy '*' "http://198.19.0.1$1:8080/nginx_status") || return 1
    read -r a _ r < <(echo "$out" | sed -n 3p)
    echo "$a $r"
}

declare -A rps p99 errs rps_all p99_all
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# One wrk run: SETUP RUN URL BACKENDS... ; RUN is keepalive or close.
wrk_run() {
    local setup=$1 run=$2 url=$3; shift 3
    local out hdr=() pinning=() before=() i b acc=0 reqs=0 a r n share=""
    local -a got=()
    [ "$run" = close ] && hdr=(-H 'Connection: close')
    [ "$pin" = 1 ] && pinning=(taskset -c "$app_cpu")
    for b in "$@"; do
        before+=("$(nginx_counts "$b")") || { fail "$setup/$run: nginx status of be$b unreadable"; return; }
    done
    local t0 t1 w0 w1 cpu=""
    local s0 s1 spinner=
    if [ "$spin" = 1 ] && [ -z "$dp_pid" ]; then
        taskset -c "$lb_cpu" timeout $((duration + 10)) sh -c 'while :; do :; done' &
        spinner=$!
    fi
    t0=$(date +%s%N) w0=$(worker_ticks) s0=$(nginx_sched)
    out=$(ip netns exec nlb-client "${pinning[@]}" wrk -t1 -c"$conns" -d"${duration}s" --latency \
        "${hdr[@]}" "$url" 2>&1)
    t1=$(date +%s%N) w1=$(worker_ticks) s1=$(nginx_sched)
    [ -n "$spinner" ] && { kill "$spinner" 2>/dev/null; wait "$spinner" 2>/dev/null; }
    cpu=$(awk -v a="$s0" -v b="$s1" -v t="$((t1 - t0))" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf ", nginx ran %.0f%% / waited %.0f%% of a CPU", (y[1] - x[1]) * 100 / t, (y[2] - x[2]) * 100 / t }')
    if [ -n "$w0" ] && [ -n "$w1" ]; then
        cpu=$(awk -v w="$((w1 - w0))" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { printf ", nlb worker %.0f%% of a CPU", w / hz * 1e11 / t }')$cpu
    fi
    echo "$out" >"$tmp/wrk-$setup-$run.txt"
    i=0
    for b in "$@"; do
        read -r a r < <(nginx_counts "$b") || { fail "$setup/$run: nginx status of be$b unreadable"; return; }
        # minus the status read that returned these figures
        a=$((a - ${before[i]% *} - 1)) r=$((r - ${before[i]#* } - 1))
        acc=$((acc + a)) reqs=$((reqs + r))
        if [ "$run" = close ]; then got+=("$r"); else got+=("$a"); fi
        i=$((i + 1))
    done
    rps[$setup/$run]=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    p99[$setup/$run]=$(echo "$out" | awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
        printf "%.2f", v }')
    errs[$setup/$run]=$(echo "$out" | awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}
        /Non-2xx/ {print $NF}' | awk '{s += $1} END {print s + 0}')
    if [ -z "${rps[$setup/$run]}" ] || [ -z "${p99[$setup/$run]}" ]; then
        fail "$setup/$run: wrk printed no figures:"; echo "$out"
        rps[$setup/$run]=0 p99[$setup/$run]=0
        return
    fi
    [ "$reqs" -gt 0 ] || { fail "$setup/$run: the backends counted no requests"; return; }
    rps_all[$setup/$run]+="${rps[$setup/$run]} " p99_all[$setup/$run]+="${p99[$setup/$run]} "
    # keep-alive: the wrk connections (a few more if some were re-opened); close: one per request.
    if [ "$run" = close ]; then
        [ $((acc * 100)) -ge $((reqs * 98)) ] ||
            fail "$setup/$run: $acc connections for $reqs requests (expected one per request)"
    else
        [ "$acc" -le $((conns * 2)) ] ||
            fail "$setup/$run: $acc connections for $reqs requests (keep-alive expected <= $((conns * 2)))"
    fi
    # The balancers' spread: of requests (close), of connections (keep-alive; requests per
    # connection differ).
    if [ $# -gt 1 ]; then
        local total=$reqs what=requests
        [ "$run" = close ] || total=$acc what=connections
        share=" ($what:"
        i=0
        for b in "$@"; do
            n=${got[i]}
            share+=" be$b $((n * 100 / total))%"
            [ $((n * 100)) -ge $((total * 20)) ] || fail "$setup/$run: be$b got $n of $total $what"
            i=$((i + 1))
        done
        share+=")"
    fi
    printf '  %-16s %-9s %10s req/s  p99 %8s ms  %7d requests, %6d connections%s%s%s\n' \
        "$setup" "$run" "${rps[$setup/$run]}" "${p99[$setup/$run]}" "$reqs" "$acc" \
        "$share" "$cpu" \
        "$([ "${errs[$setup/$run]}" != 0 ] && echo ", ${errs[$setup/$run]} wrk errors")"
    if [ "${errs[$setup/$run]}" != 0 ]; then
        echo "$out" | grep -E 'Socket errors|Non-2xx' | sed 's/^ */      wrk: /'
    fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
median() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ------------------------------------------------------------------ run

commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "nlb peer benchmark: wrk -t1 -c$conns -d${duration}s, nginx backends (worker_processes 1)"
echo "  $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs, commit $commit," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$spin" = 1 ] && echo "  control: a busy loop on CPU $lb_cpu during (b) and (c)"
if [ "$pin" = 1 ]; then
    echo "  pinned: wrk, nginx and the endpoints' TCP stacks on CPU $app_cpu; the balancer on CPU $lb_cpu"
else
    echo "  not pinned (nlb-dataplane's worker lcore on CPU $lb_cpu, everything else floats)"
fi
lab_up
log "lab up, nginx backends answer"

drivers=("$driver")
[ "$driver" = both ] && drivers=(af_packet af_xdp)
nlb_setups=()
for round in $(seq "$rounds"); do
    [ "$rounds" -gt 1 ] && echo "round $round of $rounds"
    for drv in "${drivers[@]}"; do
        if ! start_nlb "$drv"; then
            if [ "$drv" = af_xdp ] && [ "$driver" = af_xdp ]; then
                log "af_xdp did not start; using af_packet"
                drivers=(af_packet)
                drv=af_packet
                start_nlb "$drv" || die "nlb-dataplane did not start with af_packet either"
            else
                die "nlb-dataplane did not start with $drv"
            fi
        fi
        for run in keepalive close; do wrk_run "nlb-$drv" "$run" "http://$vip/" 1 2 3; done
        [ "$round" = 1 ] && nlb_setups+=("nlb-$drv")
        stop_nlb
    done

    direct_up || die "the direct client -> be1 path does not work"
    for run in keepalive close; do wrk_run direct "$run" "http://198.19.0.11:8080/" 1; done
    direct_down

    router_up || die "the nftables router does not forward"
    for run in keepalive close; do wrk_run nftables "$run" "http://$vip/" 1 2 3; done
    router_down || die "could not give the veths back to nlb-dataplane"
done

echo
echo "summary: median over $rounds round(s) of requests/s and p99 latency; nlb's ratios to the"
echo "nftables peer (b) and to one backend without a balancer (c, a third of the backend capacity):"
echo "req/s ratio > 1 and p99 ratio < 1 mean nlb is better"
for run in keepalive close; do
    nr=$(median "${rps_all[nftables/$run]:-}") np=$(median "${p99_all[nftables/$run]:-}")
    dr=$(median "${rps_all[direct/$run]:-}") dp=$(median "${p99_all[direct/$run]:-}")
    for s in "${nlb_setups[@]}"; do
        r=$(median "${rps_all[$s/$run]:-}") p=$(median "${p99_all[$s/$run]:-}")
        printf '  %-9s (a) %-13s %9s req/s  p99 %7s ms   vs (b): req/s x%s, p99 x%s   vs (c): req/s x%s, p99 x%s\n' \
            "$run" "$s" "$r" "$p" "$(ratio "$r" "$nr")" "$(ratio "$p" "$np")" "$(ratio "$r" "$dr")" "$(ratio "$p" "$dp")"
    done
    printf '  %-9s (b) %-13s %9s req/s  p99 %7s ms\n' "$run" nftables "$nr" "$np"
    printf '  %-9s (c) %-13s %9s req/s  p99 %7s ms\n' "$run" direct "$dr" "$dp"
done
if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
