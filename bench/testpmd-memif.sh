#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/testpmd-memif.sh — issue 6, benchmark 1: nlb-dataplane against dpdk-testpmd
# over memif, one worker lcore, with testpmd's own io-forward as the same-run baseline.
#
#   generator/receiver: one dpdk-testpmd (io forwarding, one forwarding lcore), ports
#     0 net_pcap   rx_pcap=traffic.pcap,infinite_rx=1     -> 1 (memif "client" link)
#     1 net_memif  client link (memif client)             -> 0 (pcap, tx drops)
#     2 net_pcap   rx_pcap=arp.pcap (read once)           -> 3 (memif "backend" link)
#     3 net_memif  backend link (memif client): what arrives here is counted
#   device under test, either
#     nlb-dataplane: client port = memif server of link 1, backend port = memif server of
#       link 2, one worker, a service VIP:80 -> 2 backends in nat, dsr or tunnel mode; the
#       ARP requests of port 2 (one per backend, asking for nlb's backend address) teach
#       it the backends' MACs, as they would on a LAN where the backends speak first;
#     or dpdk-testpmd --forward-mode=io between the same two memif links (the baseline).
#
# The rate is the receiver's port 3 Rx-pps from testpmd's `show port stats 3` taken at the
# end of a fixed window after warm-up (testpmd computes it from its packet counters and
# the TSC between the two calls). Every nlb run is paired with a baseline run just
# before it (the ratio is of the pair). Same CPU pinning for both: the generator/receiver's
# forwarding lcore and both DUT main lcores on CPU 0, the DUT's one forwarding lcore
# (nlb worker / testpmd io lcore) on CPU 1. Everything runs with --no-huge.
#
# Usage (as root; from the repository root or anywhere):
#   bench/testpmd-memif.sh [--build DIR] [--flows "1000 1000000"] [--modes "nat dsr tunnel"]
#                          [--rounds R] [--warmup S] [--window S] [--no-baseline] [--nice N]
# --nice N runs the generator and both DUTs at that nice level (e.g. -10 on a machine
# busy with other work, so the busy-polling lcores get their CPU; the same for both).
# Prints one line per run and a table of Mpps, baseline and ratio. Exit 0 when every run
# produced a rate, 1 when one failed, 2 on a usage error, 77 when something it needs is
# missing (a clear message says what). Cleans up processes, memif sockets, pcaps and the
# DPDK runtime directories it created, also on Ctrl-C.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$repo/build"
flows_list="1000 1000000"
modes="nat dsr tunnel"
rounds=3
warmup=""
window=5
baseline=1
nice_level=0
burst=${NLB_BENCH_BURST:-64}

usage() {
    sed -n '3,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
    exit 2
}
die_usage() { echo "testpmd-memif: $*" >&2; exit 2; }
skip() { echo "testpmd-memif: skipped: $*" >&2; exit 77; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=${2:?}; shift 2 ;;
        --flows) flows_list=${2:?}; shift 2 ;;
        --modes) modes=${2:?}; shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        --window) window=${2:?}; shift 2 ;;
        --no-baseline) baseline=0; shift ;;
        --nice) nice_level=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) die_usage "unknown argument '$1' (see --help)" ;;
    esac
done
for f in $flows_list; do
    is_uint "$f" && [ "$f" -ge 1 ] && [ "$f" -le 4000000 ] ||
        die_usage "--flows: '$f' is not a number in 1..4000000"
done
for m in $modes; do
    case "$m" in nat|dsr|tunnel) ;; *) die_usage "--modes: '$m' is not nat, dsr or tunnel" ;; esac
done
is_uint "$rounds" && [ "$rounds" -ge 1 ] && [ "$rounds" -le 16 ] || die_usage "--rounds: '$rounds' not in 1..16"
is_uint "$window" && [ "$window" -ge 1 ] && [ "$window" -le 60 ] || die_usage "--window: '$window' not in 1..60"
[[ "$nice_level" =~ ^-?[0-9]+$ ]] && [ "$nice_level" -ge -20 ] && [ "$nice_level" -le 19 ] ||
    die_usage "--nice: '$nice_level' not in -20..19"
[ -z "$warmup" ] || { is_uint "$warmup" && [ "$warmup" -le 60 ]; } || die_usage "--warmup: '$warmup' not in 0..60"

[ "$(id -u)" -eq 0 ] || skip "needs root (DPDK EAL with --no-huge, memif sockets)"
testpmd=$(command -v dpdk-testpmd || true)
[ -n "$testpmd" ] || skip "dpdk-testpmd not found (Debian package dpdk)"
pmd_dir=$(ls -d /usr/lib/x86_64-linux-gnu/dpdk/pmds-* 2>/dev/null | head -1)
for d in memif pcap; do
    ls "$pmd_dir"/librte_net_$d.so* >/dev/null 2>&1 ||
        skip "DPDK driver net_$d not installed (Debian package librte-net-$d23)"
done
dataplane="${NLB_BENCH_DATAPLANE:-$build/apps/dataplane/nlb-dataplane}"  # override: A/B of two builds
agent="$build/apps/dataplane/nlb-agent"
pcapgen="$build/bench/memif/nlb-bench-pcapgen"
for b in "$dataplane" "$agent" "$pcapgen"; do
    [ -x "$b" ] || skip "$b not built (meson setup $build -Dbench=true && meson compile -C $build)"
done
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs (generator and DUT worker pinned apart)"

tmp=$(mktemp -d /tmp/nlb-memif.XXXXXX)
prefix="nlb-memif-$$"
pids=()
cleanup() {
    local p i
    exec 3>&- 2>/dev/null || true  # an interactive testpmd quits on SIGTERM only at EOF
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for i in $(seq 20); do
        local alive=0
        for p in "${pids[@]}"; do [ "$(ps -o stat= -p "$p" 2>/dev/null)" = "" ] ||
            [[ "$(ps -o stat= -p "$p")" == Z* ]] || alive=1; done
        [ $alive -eq 1 ] || break
        sleep 0.5
    done
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [ -n "${NLB_BENCH_KEEP:-}" ] && echo "testpmd-memif: kept $tmp" >&2 || rm -rf "$tmp"
    rm -rf /var/run/dpdk/"$prefix"-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

vip=198.18.1.1
nlb_client_mac=02:00:00:00:00:01
nlb_backend_mac=02:00:00:00:00:02
gen_client_mac=02:00:00:00:01:01
gen_backend_mac=02:00:00:00:02:01
memif_args="socket-abstract=no,rsize=10,bsize=2048"
sock_client="$tmp/client.sock"
sock_backend="$tmp/backend.sock"

log() { echo "testpmd-memif: $*" >&2; }

# wait_for CMD... : up to 60 s for a command to succeed.
wait_for() {
    local i
    for i in $(seq 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    return 1
}

# stop_pid PID: SIGTERM, then wait (SIGKILL after 15 s); drops it from pids.
stop_pid() {
    local p=$1 i
    kill "$p" 2>/dev/null || true
    for i in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    local keep=() q
    for q in "${pids[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    pids=("${keep[@]}")
}

# start_nlb MODE FLOWS: nlb-dataplane on both memif links (servers), service VIP:80.
start_nlb() {
    local mode=$1 flows=$2 bport=80 cap=65536 mem=512 pool=16383
    [ "$mode" = nat ] && bport=8080
    while [ "$cap" -lt $((flows * 2)) ]; do cap=$((cap * 2)); done
    [ "$cap" -le 1048576 ] || mem=$((512 + cap / 1024 / 2))
    rm -f "$sock_client" "$sock_backend"
    cat >"$tmp/nlb.conf" <<EOF
eal = { lcores = "0-1"; main_lcore = 0; no_huge = true; memory_mb = $mem; file_prefix = "$prefix-nlb"; };
workers = [1];
mempool = { size = $pool; cache = 256; };
conn_table = { capacity = $cap; timeouts = { syn_recv = 600; established = 600; }; };
agent = { socket = "$tmp/agent.sock"; };
ports = (
  { name = "client"; profile = "memif"; role = "client"; tx_queues = 1;
    vdev = "net_memif0,role=server,id=0,socket=$sock_client,$memif_args,mac=$nlb_client_mac";
    ipv4 = "198.18.0.1/24"; gateway_v4 = "198.18.0.2"; },
  { name = "backend"; profile = "memif"; role = "backend"; tx_queues = 1;
    vdev = "net_memif1,role=server,id=1,socket=$sock_backend,$memif_args,mac=$nlb_backend_mac";
    ipv4 = "198.19.0.1/24"; }
);
EOF
    ${NLB_BENCH_DUT_WRAP:-} nice -n "$nice_level" "$dataplane" --config "$tmp/nlb.conf" --drivers-cfg "$repo/drivers-cfg" --no-backoff \
        --service "vip=$vip,port=80,proto=tcp,mode=$mode,sched=wrr,backend=198.19.0.11/$bport/1,backend=198.19.0.12/$bport/1" \
        >"$tmp/dut.log" 2>&1 &
    pids+=($!)
    dut_pid=$!
    if ! wait_for "$agent" --socket "$tmp/agent.sock" info; then
        log "nlb-dataplane did not start:"; tail -5 "$tmp/dut.log" >&2; return 1
    fi
}

# start_iofwd: the baseline, testpmd io-forward between the same two memif links.
start_iofwd() {
    rm -f "$sock_client" "$sock_backend"
    nice -n "$nice_level" "$testpmd" --lcores=0@0,1@1 --main-lcore=0 --no-huge -m 512 --file-prefix="$prefix-fwd" --no-pci \
        --vdev="net_memif0,role=server,id=0,socket=$sock_client,$memif_args,mac=$nlb_client_mac" \
        --vdev="net_memif1,role=server,id=1,socket=$sock_backend,$memif_args,mac=$nlb_backend_mac" \
        -- --forward-mode=io --port-topology=paired --rxq=1 --txq=1 --nb-cores=1 \
        --stats-period=3600 --total-num-mbufs=16384 >"$tmp/dut.log" 2>&1 &
    pids+=($!)
    dut_pid=$!
    if ! wait_for test -S "$sock_backend"; then
        log "testpmd io-forward did not start:"; tail -5 "$tmp/dut.log" >&2; return 1
    fi
    sleep 1
}

# run_generator FLOWS WARMUP KIND: replays the pcaps into the DUT (KIND nlb or io) and
# writes "RX_PPS OFFERED_PPS ATTEMPTED_PPS" of the measurement window to $tmp/rate
# (attempted: what the generator read from the pcap; above offered when the DUT's ring
# was full). Stops the DUT itself, after the generator stopped sending and before it
# disconnects: a memif peer vanishing under traffic can crash the other side (DPDK 22.11
# net_memif unmaps the rings from its interrupt thread while a worker transmits).
run_generator() {
    local flows=$1 wu=$2 kind=$3 pkts mbufs mem
    rm -f "$tmp/rate" "$tmp/totals"
    pkts=$((flows * (rounds + 1)))
    mbufs=$((pkts + 65536))
    mem=$((512 + mbufs * 512 / 1048576))
    rm -f "$tmp/cmd" && mkfifo "$tmp/cmd"
    nice -n "$nice_level" stdbuf -o0 "$testpmd" --lcores=0@0,1@0 --main-lcore=0 --no-huge -m "$mem" --file-prefix="$prefix-gen" --no-pci \
        --vdev="net_pcap0,rx_pcap=$tmp/traffic-$flows.pcap,infinite_rx=1" \
        --vdev="net_memif0,role=client,id=0,socket=$sock_client,$memif_args,mac=$gen_client_mac" \
        --vdev="net_pcap1,rx_pcap=$tmp/arp.pcap" \
        --vdev="net_memif1,role=client,id=1,socket=$sock_backend,$memif_args,mac=$gen_backend_mac" \
        -- -i --forward-mode=io --port-topology=paired --rxq=1 --txq=1 --nb-cores=1 \
        --mbuf-size=256 --total-num-mbufs="$mbufs" --no-flush-rx --burst="$burst" <"$tmp/cmd" >"$tmp/gen.log" 2>&1 &
    local gen=$!
    pids+=($gen)
    exec 3>"$tmp/cmd"
    # Ports configured and both memif links up before forwarding starts, so the ARP
    # requests (read once) reach the DUT.
    local ok=0 i mark
    for i in $(seq 240); do
        kill -0 "$gen" 2>/dev/null || break
        if grep -q 'testpmd>' "$tmp/gen.log"; then
            mark=$(wc -l <"$tmp/gen.log")
            echo "show port info 1" >&3
            echo "show port info 3" >&3
            sleep 0.5
            [ "$(tail -n +"$((mark + 1))" "$tmp/gen.log" | grep -c 'Link status: up')" -ge 2 ] && { ok=1; break; }
        fi
        sleep 0.5
    done
    if [ $ok -ne 1 ]; then
        log "generator: links did not come up:"; grep -iE 'error|fail|cannot' "$tmp/gen.log" | tail -5 >&2
        exec 3>&-; stop_pid "$gen"; return 1
    fi
    echo "set fwd io retry" >&3
    echo "start" >&3
    # Warm-up: WARMUP seconds, and at least until the generator has read the whole pcap
    # once (every flow's SYN sent) plus one second, at most 20 s (nlb's neighbours learnt
    # at the start stay reachable for 30 s).
    local t=0 read_pkts
    while [ "$t" -lt 20 ]; do
        sleep 1
        t=$((t + 1))
        echo "show port stats 0" >&3
        sleep 0.2
        read_pkts=$(awk '/NIC statistics for port/ { port = $6 }
            /RX-packets:/ && port == 0 { n = $2 } END { print n + 0 }' "$tmp/gen.log")
        [ "$read_pkts" -lt "$pkts" ] || { [ "$t" -ge "$wu" ] && break; }
    done
    [ "$read_pkts" -ge "$pkts" ] || log "warning: the generator read only $read_pkts of $pkts packets before the window"
    echo "show port stats all" >&3
    sleep "$window"
    echo "show port stats all" >&3
    sleep 0.5
    echo "stop" >&3
    sleep 1
    [ "$kind" != nlb ] || nlb_totals >"$tmp/totals"
    stop_pid "$dut_pid"
    echo "quit" >&3
    exec 3>&-
    for i in $(seq 60); do kill -0 "$gen" 2>/dev/null || break; sleep 0.5; done
    stop_pid "$gen"
    # Last Rx-pps of ports 3 and 0 and last Tx-pps of port 1 (the window's show).
    awk '/NIC statistics for port/ { port = $6 }
         /Rx-pps:/ && port == 3 { rx = $2 }
         /Rx-pps:/ && port == 0 { at = $2 }
         /Tx-pps:/ && port == 1 { tx = $2 }
         END { if (rx == "" || tx == "" || at == "") exit 1; print rx, tx, at }' "$tmp/gen.log" >"$tmp/rate"
}

# nlb_totals: nlb-agent's total counters in one line (packets, connections, drops).
nlb_totals() {
    "$agent" --socket "$tmp/agent.sock" stats | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin).get("total", {})
print("packets %s new_connections %s active %s drops %s" % (t.get("packets", 0),
      t.get("new_connections", 0), t.get("active_connections", 0), t.get("drops", {})))' 2>/dev/null || echo "?"
}

mpps() { awk -v p="$1" 'BEGIN { printf "%.3f", p / 1e6 }'; }

results=()
fail=0
log "work dir $tmp, DPDK file prefix $prefix-*"
log "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
"$pcapgen" arp --out "$tmp/arp.pcap" --target 198.19.0.1 \
    --backend 198.19.0.11=02:00:00:00:02:11 --backend 198.19.0.12=02:00:00:00:02:12 >/dev/null
for flows in $flows_list; do
    wu=$warmup
    [ -n "$wu" ] || { wu=3; [ "$flows" -le 100000 ] || wu=6; }
    log "writing $flows-flow pcap"
    "$pcapgen" traffic --out "$tmp/traffic-$flows.pcap" --flows "$flows" --rounds "$rounds" \
        --vip "$vip" --port 80 --dst-mac "$nlb_client_mac" --src-mac "$gen_client_mac" >/dev/null
    for mode in $modes; do
        # Each nlb run has its own baseline run just before it: the machine's load drifts.
        base=""
        if [ "$baseline" -eq 1 ]; then
            if start_iofwd && run_generator "$flows" "$wu" io; then
                read -r base offered attempted <"$tmp/rate"
                log "flows $flows testpmd-io: $(mpps "$base") Mpps (offered $(mpps "$offered"), generator read $(mpps "$attempted"))"
            else
                log "flows $flows testpmd-io: no rate"; fail=1
            fi
            stop_pid "$dut_pid"
        fi
        if start_nlb "$mode" "$flows" && run_generator "$flows" "$wu" nlb; then
            read -r rate offered attempted <"$tmp/rate"
            log "flows $flows nlb-$mode: $(mpps "$rate") Mpps (offered $(mpps "$offered"), generator read $(mpps "$attempted")); nlb: $(cat "$tmp/totals")"
            if [ -n "$base" ] && [ "$base" -gt 0 ]; then
                results+=("$(printf '%-7s %9s %10s %12s %7s' "$mode" "$flows" "$(mpps "$rate")" "$(mpps "$base")" \
                    "$(awk -v a="$rate" -v b="$base" 'BEGIN { printf "%.2f", a / b }')")")
            else
                results+=("$(printf '%-7s %9s %10s %12s %7s' "$mode" "$flows" "$(mpps "$rate")" "-" "-")")
            fi
            [ "$rate" -gt 0 ] || fail=1
        else
            log "flows $flows nlb-$mode: no rate"; tail -3 "$tmp/dut.log" >&2; fail=1
        fi
        stop_pid "$dut_pid"
    done
    rm -f "$tmp/traffic-$flows.pcap"
done

echo "testpmd over memif: one DUT forwarding lcore (CPU 1); generator+receiver lcore on CPU 0; window ${window}s"
printf '%-7s %9s %10s %12s %7s\n' mode flows nlb_Mpps testpmd_Mpps ratio
for l in "${results[@]}"; do echo "$l"; done
exit $fail
