#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The nlb lab (DESIGN.md "Lab topology"): network namespaces with real kernel TCP stacks
# around nlb-dataplane, addresses only from 198.18.0.0/15 and 2001:2::/48.
#
#   scripts/lab.sh up [nat|dsr|tunnel]   build the topology and start the backends (default nat)
#   scripts/lab.sh down                  remove everything the lab made (idempotent)
#   scripts/lab.sh status                what exists now; exit 0 when the lab is up and healthy
#   scripts/lab.sh config [MODE]         print the nlb-dataplane config for the lab (no root)
#
#  ns nlb-client                                host
#  eth0 198.18.0.2/24 ──veth── nlb-cl-h  ◀── nlb-dataplane port 0 (af_packet), 198.18.0.1
#       2001:2:0:18::2/64                         2001:2:0:18::1
#                                       nlb-dp1  ◀── nlb-dataplane port 1 (af_packet), 198.19.0.1
#                                          │ veth                        2001:2:0:19::1
#                                       nlb-dp1-br
#                                          │
#                                  bridge nlb-br0 198.19.0.254/24, 2001:2:0:19::fe/64 (health probes)
#                      ┌───────────────┼───────────────┬──────────────────┐
#                 nlb-be1-br      nlb-be2-br      nlb-be3-br       nlb-clr-br (dsr, tunnel)
#                      │               │               │                  │
#  ns nlb-beN eth0 198.19.0.1N/24, 2001:2:0:19::1N/64  │   ns nlb-client ret0 198.19.0.250/24,
#  HTTP server on :8080 (GET / -> "beN", /health -> 200)    2001:2:0:19::fa/64 (return path)
#
# VIP (dsr and tunnel modes; nat uses the same VIP on the dataplane): 198.18.1.1 and 2001:2:0:1::1.
#
# Modes:
#   nat     backends' default route via the dataplane (198.19.0.1, 2001:2:0:19::1); the client's
#           default route via 198.18.0.1 / 2001:2:0:18::1.
#   dsr     the VIP on each backend's loopback, arp_ignore=1 / arp_announce=2. Replies go straight
#           to the client: the client namespace has a second leg (ret0) on the backend bridge and
#           the backends route 198.18.0.0/24 and 2001:2:0:18::/64 via it. rp_filter is off in the
#           client (replies from the VIP arrive on ret0, not on the interface that routes the VIP).
#           No host routing or host sysctl is involved.
#   tunnel  as dsr, but the VIP is on an ipip device (tun4, IPv4-in-IPv4) and an ip6tnl device
#           (tun6, mode any: IPv4/IPv6-in-IPv6) in each backend, rp_filter off. The backend segment
#           has MTU 1600, but DPDK's af_packet PMD refuses an MTU above 1500 (max_rx_pktlen 1518),
#           so the dataplane's backend port stays at 1500 and the client's eth0 gets MTU 1460
#           instead: its largest packet still fits after an outer IPv6 header. Without
#           CONFIG_NET_IPIP / CONFIG_IPV6_TUNNEL the userspace decapsulator stands in (below).
#           nlb-dataplane's outer source addresses come from 198.19.1.0/24 and 2001:2:0:1901::/64
#           (tunnel.source_prefix_v4/v6).
#
# Host side: the af_packet ends (nlb-cl-h, nlb-dp1) get no address, no IPv6, no forwarding and
# never answer ARP, so the host kernel never acts on the dataplane's traffic. Offloads are off on
# every veth end (ethtool -K IF tx off tso off gso off gro off): veth otherwise hands af_packet
# packets with partial checksums (DESIGN.md).
#
# nlb-dataplane: `up` starts it last, in the background, with the lab config (log
# /run/nlb-lab/dataplane.log, pid file dataplane.pid, agent socket /run/nlb-lab/dataplane.sock)
# and waits until its workers forward; `down` stops it (SIGTERM) first. The binary is
# $NLB_DATAPLANE, else nlb-dataplane on PATH, else the newest build*/apps/dataplane/nlb-dataplane
# of this checkout; extra arguments come from $NLB_DATAPLANE_ARGS (e.g. --service ... to run
# without the agent). Set NLB_LAB_NO_DATAPLANE=1 to build the topology only.
#
# Tunnel mode without kernel tunnels: where the kernel lacks ipip/ip6tnl, each backend gets a
# TUN device vip0 that owns the VIPs and scripts/lab/decap.py, which reads IPv4-in-IPv4 and
# IPv4/IPv6-in-IPv6 packets addressed to the backend from raw sockets and writes the inner packet
# to vip0, so the backend's own TCP stack answers the client directly (pid files decapN.pid).
#
# State lives in /run/nlb-lab/ (mode, pid files, logs, dataplane.conf).
set -uo pipefail

readonly state_dir=/run/nlb-lab
readonly here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly server_py="$here/lab/backend_server.py"
readonly decap_py="$here/lab/decap.py"
readonly namespaces=(nlb-client nlb-be1 nlb-be2 nlb-be3)
readonly host_links=(nlb-cl-h nlb-dp1 nlb-dp1-br nlb-be1-br nlb-be2-br nlb-be3-br nlb-clr-br nlb-br0)
readonly backends=(1 2 3)
readonly vip4=198.18.1.1 vip6=2001:2:0:1::1
readonly http_port=8080

log() { echo "lab: $*" >&2; }
die() { echo "lab: error: $*" >&2; exit 1; }

# Runs a command; on failure reports it and returns 1 (callers decide whether that is fatal).
run() {
    local out
    if ! out=$("$@" 2>&1); then
        echo "lab: failed: $*: $out" >&2
        return 1
    fi
}
nsrun() { local ns=$1; shift; run ip netns exec "$ns" "$@"; }

need_root() { [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, veth, bridge)"; }
need_tools() {
    local t
    for t in ip ethtool sysctl ps flock; do command -v "$t" >/dev/null || die "needs '$t'"; done
    python=$(command -v python3) || die "needs python3 for the backend HTTP servers"
}

# One lab at a time on a machine: lab.sh invocations serialise on one machine-wide lock file,
# /run/lock/nlb-lab.lock (not this script: checkouts elsewhere, e.g. a clean clone in /tmp,
# share /run/nlb-lab and the namespaces). A caller that holds it for longer (a test: flock on
# fd 9 of that file, see tests/integration/e2e_lib.sh) sets NLB_LAB_LOCKED=1.
readonly lock_file=/run/lock/nlb-lab.lock
take_lock() {
    [ "${NLB_LAB_LOCKED:-0}" = 1 ] && return
    exec 9>>"$lock_file"
    flock -w 120 9 || die "another lab user holds $lock_file"
}

valid_mode() { case "$1" in nat|dsr|tunnel) return 0 ;; *) return 1 ;; esac; }

# ------------------------------------------------------------------ config

print_config() {
    local mode=$1 cpus backend_mtu=1500 tunnel=""
    cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
    [ "$cpus" -ge 2 ] || die "nlb-dataplane needs 2 CPUs (main lcore + one worker); this machine has $cpus"
    if [ "$mode" = tunnel ]; then
        tunnel='tunnel = { source_prefix_v4 = "198.19.1.0/24"; source_prefix_v6 = "2001:2:0:1901::/64"; };'
    fi
    cat <<EOF
# nlb-dataplane configuration for the lab (scripts/lab.sh, mode $mode).
# Ports are af_packet vdevs on the host ends of the lab veths; EAL runs without hugepages.
eal = { lcores = "0-1"; main_lcore = 0; no_huge = true; memory_mb = 512; file_prefix = "nlb-lab"; };
workers = [1];
mempool = { size = 8191; cache = 128; };
conn_table = { capacity = 65536; };
agent = { socket = "$state_dir/dataplane.sock"; };
$tunnel
ports = (
  { name = "client"; profile = "af_packet"; iface = "nlb-cl-h"; role = "client";
    ipv4 = "198.18.0.1/24"; ipv6 = "2001:2:0:18::1/64"; },
  { name = "backend"; profile = "af_packet"; iface = "nlb-dp1"; role = "backend"; mtu = $backend_mtu;
    ipv4 = "198.19.0.1/24"; ipv6 = "2001:2:0:19::1/64"; }
);
EOF
}

# ------------------------------------------------------------------ up

offloads_off() {  # [ns] IF
    if [ $# -eq 2 ]; then
        nsrun "$1" ethtool -K "$2" tx off tso off gso off gro off
    else
        run ethtool -K "$1" tx off tso off gso off gro off
    fi
}

# A host-side veth end that only carries frames: no addresses, no IPv6, no routing, no ARP.
quiet_host_end() {
    local ifc=$1
    run sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1" &&
        run sysctl -qw "net.ipv4.conf.$ifc.forwarding=0" &&
        run sysctl -qw "net.ipv4.conf.$ifc.arp_ignore=8"
}

tunnel_supported() {
    local ok=0
    ip netns add nlb-probe 2>/dev/null || return 1
    ip netns exec nlb-probe ip link add tun4 type ipip local 198.19.0.11 2>/dev/null &&
        ip netns exec nlb-probe ip link add tun6 type ip6tnl mode any local 2001:2:0:19::11 remote :: 2>/dev/null &&
        ok=1
    ip netns del nlb-probe
    [ "$ok" = 1 ]
}

build_host() {
    local mode=$1 bmtu=$2
    run ip link add nlb-br0 type bridge stp_state 0 forward_delay 0 || return 1
    run ip link set nlb-br0 mtu "$bmtu" || return 1
    run sysctl -qw net.ipv4.conf.nlb-br0.forwarding=0 || return 1
    run ip addr add 198.19.0.254/24 dev nlb-br0 || return 1
    run ip addr add 2001:2:0:19::fe/64 dev nlb-br0 nodad || return 1
    run ip link set nlb-br0 up || return 1

    # Port 0: client veth, host end for af_packet.
    run ip link add nlb-cl-h type veth peer name eth0 netns nlb-client || return 1
    quiet_host_end nlb-cl-h || return 1
    offloads_off nlb-cl-h || return 1
    run ip link set nlb-cl-h up || return 1

    # Port 1: veth into the bridge, host end for af_packet.
    run ip link add nlb-dp1 mtu "$bmtu" type veth peer name nlb-dp1-br mtu "$bmtu" || return 1
    quiet_host_end nlb-dp1 || return 1
    quiet_host_end nlb-dp1-br || return 1
    offloads_off nlb-dp1 || return 1
    offloads_off nlb-dp1-br || return 1
    run ip link set nlb-dp1-br master nlb-br0 up || return 1
    run ip link set nlb-dp1 up || return 1
}

build_client() {
    local mode=$1 bmtu=$2 ns=nlb-client
    nsrun $ns ip link set lo up || return 1
    nsrun $ns sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 || return 1
    offloads_off $ns eth0 || return 1
    nsrun $ns ip addr add 198.18.0.2/24 dev eth0 || return 1
    nsrun $ns ip addr add 2001:2:0:18::2/64 dev eth0 nodad || return 1
    if [ "$mode" = tunnel ]; then nsrun $ns ip link set eth0 mtu 1460 || return 1; fi
    nsrun $ns ip link set eth0 up || return 1
    nsrun $ns ip route add default via 198.18.0.1 dev eth0 || return 1
    nsrun $ns ip -6 route add default via 2001:2:0:18::1 dev eth0 || return 1
    if [ "$mode" != nat ]; then
        # Return leg for direct server return: the backends reply straight to it.
        run ip link add nlb-clr-br mtu "$bmtu" type veth peer name ret0 mtu "$bmtu" netns $ns || return 1
        quiet_host_end nlb-clr-br || return 1
        offloads_off nlb-clr-br || return 1
        run ip link set nlb-clr-br master nlb-br0 up || return 1
        offloads_off $ns ret0 || return 1
        nsrun $ns sysctl -qw net.ipv4.conf.eth0.rp_filter=0 || return 1
        nsrun $ns ip addr add 198.19.0.250/24 dev ret0 || return 1
        nsrun $ns ip addr add 2001:2:0:19::fa/64 dev ret0 nodad || return 1
        nsrun $ns ip link set ret0 up || return 1
        nsrun $ns sysctl -qw net.ipv4.conf.ret0.rp_filter=0 || return 1
    fi
}

build_backend() {
    local mode=$1 bmtu=$2 i=$3 ns=nlb-be$3
    run ip link add "nlb-be$i-br" mtu "$bmtu" type veth peer name eth0 mtu "$bmtu" netns "$ns" || return 1
    quiet_host_end "nlb-be$i-br" || return 1
    offloads_off "nlb-be$i-br" || return 1
    run ip link set "nlb-be$i-br" master nlb-br0 up || return 1
    nsrun "$ns" ip link set lo up || return 1
    offloads_off "$ns" eth0 || return 1
    nsrun "$ns" ip addr add "198.19.0.1$i/24" dev eth0 || return 1
    nsrun "$ns" ip addr add "2001:2:0:19::1$i/64" dev eth0 nodad || return 1
    nsrun "$ns" ip link set eth0 up || return 1
    case "$mode" in
    nat)
        nsrun "$ns" ip route add default via 198.19.0.1 dev eth0 || return 1
        nsrun "$ns" ip -6 route add default via 2001:2:0:19::1 dev eth0 || return 1
        ;;
    dsr|tunnel)
        nsrun "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
            net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 || return 1
        nsrun "$ns" ip route add 198.18.0.0/24 via 198.19.0.250 dev eth0 || return 1
        nsrun "$ns" ip -6 route add 2001:2:0:18::/64 via 2001:2:0:19::fa dev eth0 || return 1
        ;;
    esac
    if [ "$mode" = dsr ]; then
        nsrun "$ns" ip addr add "$vip4/32" dev lo || return 1
        nsrun "$ns" ip addr add "$vip6/128" dev lo nodad || return 1
    fi
    if [ "$mode" = tunnel ]; then
        nsrun "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
            net.ipv4.conf.eth0.rp_filter=0 || return 1
    fi
    if [ "$mode" = tunnel ] && [ "$kernel_tunnels" = 0 ]; then
        nsrun "$ns" ip tuntap add dev vip0 mode tun || return 1
        nsrun "$ns" sysctl -qw net.ipv4.conf.vip0.rp_filter=0 || return 1
        nsrun "$ns" ip addr add "$vip4/32" dev vip0 || return 1
        nsrun "$ns" ip addr add "$vip6/128" dev vip0 nodad || return 1
        nsrun "$ns" ip link set vip0 up || return 1
        ip netns exec "$ns" setsid "$python" "$decap_py" --tun vip0 \
            --local "198.19.0.1$i" --local "2001:2:0:19::1$i" \
            >"$state_dir/decap$i.log" 2>&1 </dev/null 9<&- &
        echo $! >"$state_dir/decap$i.pid"
    elif [ "$mode" = tunnel ]; then
        nsrun "$ns" ip link add tun4 type ipip local "198.19.0.1$i" || return 1
        nsrun "$ns" ip link add tun6 type ip6tnl mode any local "2001:2:0:19::1$i" remote :: || return 1
        nsrun "$ns" sysctl -qw net.ipv4.conf.tun4.rp_filter=0 net.ipv4.conf.tun6.rp_filter=0 || return 1
        nsrun "$ns" ip addr add "$vip4/32" dev tun4 || return 1
        nsrun "$ns" ip addr add "$vip6/128" dev tun6 nodad || return 1
        nsrun "$ns" ip link set tun4 up || return 1
        nsrun "$ns" ip link set tun6 up || return 1
    fi
}

start_server() {
    local i=$1
    ip netns exec "nlb-be$i" setsid "$python" "$server_py" --name "be$i" --port "$http_port" \
        >"$state_dir/be$i.log" 2>&1 </dev/null 9<&- &
    echo $! >"$state_dir/be$i.pid"
}

http_get() {  # URL -> body on stdout; fails on anything but 200
    curl -sS --fail --max-time 2 --noproxy '*' "$1" 2>/dev/null
}

wait_servers() {
    local i tries
    for i in "${backends[@]}"; do
        for tries in $(seq 50); do
            [ "$(http_get "http://198.19.0.1$i:$http_port/health")" = ok ] && break
            if [ "$tries" = 50 ]; then
                log "backend be$i did not answer on 198.19.0.1$i:$http_port; its log:"
                cat "$state_dir/be$i.log" >&2
                return 1
            fi
            sleep 0.1
        done
    done
}

cmd_up() {
    local mode=${1:-nat} bmtu=1500 ns i conf
    valid_mode "$mode" || die "unknown mode '$mode' (nat, dsr or tunnel)"
    need_root
    need_tools
    command -v curl >/dev/null || die "needs curl"
    conf=$(print_config "$mode") || exit 1
    take_lock
    if [ "$(cat "$state_dir/mode" 2>/dev/null)" = "$mode" ] && lab_healthy; then
        log "already up (mode $mode)"
        return 0
    fi
    kernel_tunnels=1
    if [ "$mode" = tunnel ]; then
        if ! tunnel_supported; then
            kernel_tunnels=0
            log "no ipip/ip6tnl in this kernel: backends decapsulate in userspace ($decap_py)"
        fi
        bmtu=1600
    fi
    do_down
    mkdir -p "$state_dir" || die "cannot create $state_dir"
    echo "$conf" >"$state_dir/dataplane.conf" || { do_down; die "cannot write $state_dir/dataplane.conf"; }
    for ns in "${namespaces[@]}"; do
        run ip netns add "$ns" || { do_down; die "cannot create namespace $ns"; }
    done
    if ! build_host "$mode" "$bmtu" || ! build_client "$mode" "$bmtu"; then
        do_down
        die "building the lab failed (see above); everything was removed"
    fi
    for i in "${backends[@]}"; do
        build_backend "$mode" "$bmtu" "$i" || { do_down; die "building backend be$i failed; everything was removed"; }
    done
    for i in "${backends[@]}"; do start_server "$i"; done
    if ! wait_servers; then
        do_down
        die "backend servers did not start; everything was removed"
    fi
    if [ "${NLB_LAB_NO_DATAPLANE:-0}" != 1 ]; then
        if ! start_dataplane; then
            do_down
            die "nlb-dataplane did not start; everything was removed"
        fi
    fi
    if [ "${NLB_LAB_NO_DATAPLANE:-0}" != 1 ] && [ "${NLB_LAB_NO_CONTROL:-0}" != 1 ]; then
        start_control || { do_down; die "nlb-control did not start; everything was removed"; }
    fi
    echo "$mode" >"$state_dir/mode"
    log "up (mode $mode): client 198.18.0.2 in nlb-client, backends 198.19.0.11-13:$http_port," \
        "dataplane config $state_dir/dataplane.conf" \
        "$([ -f "$state_dir/dataplane.pid" ] && echo "nlb-dataplane pid $(cat "$state_dir/dataplane.pid")")"
}

find_dataplane() {
    local f newest=""
    if [ -n "${NLB_DATAPLANE:-}" ]; then echo "$NLB_DATAPLANE"; return; fi
    if command -v nlb-dataplane >/dev/null; then command -v nlb-dataplane; return; fi
    for f in "$here"/../build*/apps/dataplane/nlb-dataplane; do
        [ -x "$f" ] || continue
        if [ -z "$newest" ] || [ "$f" -nt "$newest" ]; then newest=$f; fi
    done
    [ -n "$newest" ] && echo "$newest"
}

# Starts nlb-dataplane on the lab config and waits until its workers forward (at most 20 s).
start_dataplane() {
    local bin n
    bin=$(find_dataplane) || true
    if [ -z "$bin" ]; then
        log "no nlb-dataplane binary (set NLB_DATAPLANE or build it)"
        return 1
    fi
    # shellcheck disable=SC2086  # NLB_DATAPLANE_ARGS is a list of words
    setsid "$bin" --config "$state_dir/dataplane.conf" ${NLB_DATAPLANE_ARGS:-} \
        >"$state_dir/dataplane.log" 2>&1 </dev/null 9<&- &
    echo $! >"$state_dir/dataplane.pid"
    for n in $(seq 200); do
        if grep -q "forwarding" "$state_dir/dataplane.log" 2>/dev/null; then
            echo "$bin" >"$state_dir/dataplane.bin"
            return 0
        fi
        if ! running "$(cat "$state_dir/dataplane.pid")"; then
            log "nlb-dataplane ($bin) exited; its log:"
            cat "$state_dir/dataplane.log" >&2
            return 1
        fi
        sleep 0.1
    done
    log "nlb-dataplane ($bin) did not report forwarding in 20 s; its log:"
    cat "$state_dir/dataplane.log" >&2
    return 1
}

# ------------------------------------------------------------------ nlb-control (helper "sync")
# `up` starts nlb-control after nlb-dataplane, wired to its agent socket: API on
# unix:/run/nlb-lab/control.sock (nlbctl --server unix:/run/nlb-lab/control.sock), a fresh state
# database /run/nlb-lab/control.db, log control.log, pid file control.pid; `up` returns once it has
# synced with the dataplane (log line "in sync"; "connected (instance" from older builds). Probes leave
# from the host (198.19.0.254 on the backend bridge), first probe at once. The binary is
# $NLB_CONTROL, else nlb-control on PATH, else the newest build*/control/nlb-control. Set
# NLB_LAB_NO_CONTROL=1 to drive the dataplane's agent directly instead. `down` stops it through
# its pid file like every other lab process.
find_control() {
    local f newest=""
    if [ -n "${NLB_CONTROL:-}" ]; then echo "$NLB_CONTROL"; return; fi
    if command -v nlb-control >/dev/null; then command -v nlb-control; return; fi
    for f in "$here"/../build*/control/nlb-control; do
        [ -x "$f" ] || continue
        if [ -z "$newest" ] || [ "$f" -nt "$newest" ]; then newest=$f; fi
    done
    [ -n "$newest" ] && echo "$newest"
}

start_control() {
    local bin n
    bin=$(find_control) || true
    [ -n "$bin" ] || { log "no nlb-control binary (set NLB_CONTROL or build it)"; return 1; }
    setsid "$bin" --listen "unix:$state_dir/control.sock" --state "$state_dir/control.db" --init-state \
        --dataplane "unix:$state_dir/dataplane.sock" --probe-first-at-once \
        >"$state_dir/control.log" 2>&1 </dev/null 9<&- &
    echo $! >"$state_dir/control.pid"
    for n in $(seq 100); do
        if grep -qE " in sync: |connected \(instance" "$state_dir/control.log" 2>/dev/null; then
            echo "$bin" >"$state_dir/control.bin"
            return 0
        fi
        running "$(cat "$state_dir/control.pid")" || break
        sleep 0.1
    done
    log "nlb-control ($bin) did not sync with nlb-dataplane in 10 s; its log:"
    cat "$state_dir/control.log" >&2
    return 1
}

# ------------------------------------------------------------------ down

# True while PID runs. A zombie does not count: the servers are reparented to init, which may
# take its time reaping them.
running() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ "$state" != Z* ]]
}

kill_pid() {  # PID: TERM, then KILL after 2 s
    local pid=$1 n
    running "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    for n in $(seq 40); do
        running "$pid" || return 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
}

do_down() {
    local f ns pid ifc n
    # nlb-dataplane first, so it stops its ports while their interfaces still exist.
    if [ -f "$state_dir/dataplane.pid" ]; then
        pid=$(cat "$state_dir/dataplane.pid")
        if running "$pid"; then
            kill -TERM "$pid" 2>/dev/null
            for n in $(seq 100); do running "$pid" || break; sleep 0.05; done
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    for f in "$state_dir"/*.pid; do
        [ -f "$f" ] || continue
        kill_pid "$(cat "$f")"
    done
    # Anything else still running inside the lab's namespaces was started for the lab.
    for ns in "${namespaces[@]}"; do
        [ -e "/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill_pid "$pid"; done
        ip netns del "$ns" 2>/dev/null
    done
    ip netns del nlb-probe 2>/dev/null
    for ifc in "${host_links[@]}"; do
        ip link show "$ifc" >/dev/null 2>&1 && ip link del "$ifc" 2>/dev/null
    done
    rm -rf "$state_dir"
    return 0
}

cmd_down() {
    need_root
    take_lock
    do_down
    log "down"
}

# ------------------------------------------------------------------ status

lab_healthy() {
    local ns i ifc
    for ns in "${namespaces[@]}"; do [ -e "/run/netns/$ns" ] || return 1; done
    for ifc in nlb-cl-h nlb-dp1 nlb-br0; do ip link show "$ifc" >/dev/null 2>&1 || return 1; done
    for i in "${backends[@]}"; do
        running "$(cat "$state_dir/be$i.pid" 2>/dev/null)" || return 1
        [ "$(http_get "http://198.19.0.1$i:$http_port/health")" = ok ] || return 1
    done
    if [ "${NLB_LAB_NO_DATAPLANE:-0}" != 1 ]; then
        running "$(cat "$state_dir/dataplane.pid" 2>/dev/null)" || return 1
    fi
}

cmd_status() {
    local ns ifc i pid
    echo "mode: $(cat "$state_dir/mode" 2>/dev/null || echo '(down)')"
    echo "namespaces:"
    for ns in "${namespaces[@]}"; do
        [ -e "/run/netns/$ns" ] && echo "  $ns"
    done
    echo "host links:"
    for ifc in "${host_links[@]}"; do
        ip -br link show "$ifc" 2>/dev/null | sed 's/^/  /'
    done
    echo "backends:"
    for i in "${backends[@]}"; do
        pid=$(cat "$state_dir/be$i.pid" 2>/dev/null)
        if [ -n "$pid" ] && running "$pid"; then
            echo "  be$i pid $pid, GET / -> $(http_get "http://198.19.0.1$i:$http_port/" || echo 'no answer')"
        else
            echo "  be$i not running"
        fi
    done
    pid=$(cat "$state_dir/dataplane.pid" 2>/dev/null)
    if [ -n "$pid" ] && running "$pid"; then
        echo "nlb-dataplane: pid $pid ($(cat "$state_dir/dataplane.bin" 2>/dev/null)), log $state_dir/dataplane.log"
    else
        echo "nlb-dataplane: not running"
    fi
    if [ -f "$state_dir/mode" ] && lab_healthy; then
        echo "healthy"
        return 0
    fi
    echo "not up"
    return 1
}

# ------------------------------------------------------------------ main

case "${1:-}" in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
config)
    mode=${2:-nat}
    valid_mode "$mode" || die "unknown mode '$mode' (nat, dsr or tunnel)"
    print_config "$mode"
    ;;
*)
    sed -n '7,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
