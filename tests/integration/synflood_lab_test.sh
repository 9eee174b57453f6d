#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# SYN flood in the lab: nlb-synflood sends COUNT spoofed SYNs (random sources in
# 198.18.0.0/15 outside the lab's own /24s) from the nlb-client namespace to the IPv4 VIP,
# as fast as the socket takes them or at RATE, while the lab's connection table holds 65536
# connections (scripts/lab.sh: conn_table.capacity). Before the flood, HELD long-lived
# connections (hold_client.py, a request every 200 ms) are established; they exchange data
# during the whole flood. Then:
#   - every held connection kept working: no reset, no timeout (90 s), answers during the
#     flood, still ESTABLISHED in the table (nlb-agent conns) afterwards;
#   - the table filled up (the flood made more new connections than it holds) and never
#     held more than its capacity (sampled every 0.2 s during the flood): the embryonic
#     entries were evicted, never the established ones;
#   - new connections made during the flood (every 0.2 s) are counted; at RATE they must all
#     succeed (a SYN refused while the table evicts is answered when curl retransmits it);
#   - nlb-dataplane is alive, new connections work again after the flood, and the counters
#     say what happened: new connections, conn_table_full drops, per-reason drops, what the
#     client port received.
# Prints a "figures:" line (count, rate, table max, drops) for the README.
#
# usage: synflood_lab_test.sh LAB_SH NLB_DATAPLANE NLB_AGENT NLB_SYNFLOOD
# env: NLB_SYNFLOOD_COUNT (default 1000000), NLB_SYNFLOOD_RATE (SYNs/s, default 0: as fast as
# the socket takes them), NLB_SYNFLOOD_HELD (default 4), NLB_SYNFLOOD_MAX_STALL (seconds: when
# set, no held connection may wait longer for an answer during the flood). With a rate, every
# SYN must also show up as a new connection or a conn_table_full drop (at least 99 %).
# The SYN-ACKs the backends send to the spoofed sources die in the dataplane as no_neighbour
# (those sources are on no subnet of the client port); what the af_packet ring of the client
# port overflowed never reaches the dataplane at all: the af_packet PMD reports no rx_missed,
# so the test prints "sent - client_rx" as what the kernel dropped. Those losses hit the held
# connections' segments too: TCP retransmits them (a stall of up to ~13 s when the flood lasts
# 10 s, RTO doubling from 200 ms), which is why the held clients wait up to 90 s for an answer.
# Needs root (exit 77 otherwise) and the nlb-agent client (exit 77 without it).
set -uo pipefail
lab=$1 dataplane=$2 agent=${3:-} synflood=${4:-}
count=${NLB_SYNFLOOD_COUNT:-1000000}
rate=${NLB_SYNFLOOD_RATE:-0}
max_stall=${NLB_SYNFLOOD_MAX_STALL:-}
held=${NLB_SYNFLOOD_HELD:-4}
source "$(dirname "$0")/e2e_lib.sh"
e2e_need_agent
[ -x "$synflood" ] || { echo "FAIL: no nlb-synflood at '$synflood'"; exit 1; }
e2e_init
# NLB_SYNFLOOD_DATAPLANE_ARGS: extra nlb-dataplane arguments (e.g. --drivers-cfg DIR for a
# larger af_packet ring).
# shellcheck disable=SC2086
e2e_up nat ${NLB_SYNFLOOD_DATAPLANE_ARGS:-}
put_service 4 nat 1,1,1 >/dev/null || fail "put-service IPv4"

capacity=$(agentc info | "$syspython" -c '
import json, sys
d = json.load(sys.stdin)
print(int(d.get("conn_table_capacity", d.get("connTableCapacity", 0))))')
[ "$capacity" = 65536 ] && ok "connection table capacity $capacity" ||
    fail "connection table capacity is '$capacity', the lab config says 65536"

# "active new_connections conn_table_full rx_missed rx_packets(client port) all_drops" from
# nlb-agent stats.
counters() {
    agentc stats | "$syspython" -c '
import json, sys
d = json.load(sys.stdin)
t = d.get("total", {}) or {}
drops = t.get("drops", {}) or {}
client = [p for p in d.get("ports", []) if p.get("name") == "client"] or [{}]
missed = int(client[0].get("rx_missed", client[0].get("rxMissed", 0)))
rx = int(client[0].get("rx_packets", client[0].get("rxPackets", 0)))
print(int(t.get("active_connections", t.get("activeConnections", 0))),
      int(t.get("new_connections", t.get("newConnections", 0))),
      int(drops.get("conn_table_full", 0)), missed, rx, sum(int(v) for v in drops.values()),
      int(t.get("evicted_connections", t.get("evictedConnections", 0))))'
}

# The kernel's drops on the client veth (frames the flood sent faster than the host end's
# backlog took them): "rx_dropped of nlb-cl-h + tx_dropped of the client's eth0".
veth_drops() {
    local a b
    a=$(ip -s -j link show dev nlb-cl-h | "$syspython" -c 'import json,sys; s=json.load(sys.stdin)[0]["stats64"]; print(s["rx"]["dropped"])')
    b=$(ip netns exec nlb-client ip -s -j link show dev eth0 | "$syspython" -c 'import json,sys; s=json.load(sys.stdin)[0]["stats64"]; print(s["tx"]["dropped"])')
    echo $((a + b))
}
stamp() { while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done; }

work=$(mktemp -d)
holds=()
cleanup_holds() {
    local p
    for p in "${holds[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap 'cleanup_holds; rm -rf "$work"; e2e_down' EXIT

# Long-lived connections, established before the flood.
# Each answer line gets the time it arrived, to measure the longest stall during the flood.
# The timeout (90 s) is longer than TCP needs to retransmit a segment lost in a full queue
# throughout the flood; a reset or a connection the dataplane lost still ends it with an error.
for i in $(seq "$held"); do
    ip netns exec nlb-client "$syspython" "$e2e_here/hold_client.py" "$vip4" 80 --interval 0.2 \
        --timeout 90 > >(stamp >"$work/hold$i") 2>&1 &
    holds+=($!)
done
for i in $(seq "$held"); do
    for _ in $(seq 50); do grep -q ' ok ' "$work/hold$i" && break; sleep 0.1; done
    grep -q ' ok ' "$work/hold$i" || fail "held connection $i got no answer: $(cat "$work/hold$i")"
done
ok "$held long-lived connections established"

read -r active0 new0 full0 missed0 rx0 drops0 evicted0 <<<"$(counters)" || fail "stats before"
drops_by_reason >"$work/drops_before"
vdrops0=$(veth_drops)
mac=$(cat /sys/class/net/nlb-cl-h/address)

# Sample the table size while the flood runs.
: >"$work/samples"
(
    while [ ! -f "$work/flood_done" ]; do
        counters >>"$work/samples" 2>/dev/null
        sleep 0.2
    done
) &
sampler=$!
# New connections during the flood: one request on a new connection every 0.2 s (curl may
# retransmit its SYN: a SYN the table refuses while it evicts is answered on the retry).
(
    url=$(vip_url 4 nat)
    for _ in $(seq 600); do
        [ -f "$work/flood_done" ] && break
        out=$(ip netns exec nlb-client curl -sS --noproxy '*' --connect-timeout 5 --max-time 10 \
            "$url" 2>/dev/null) && echo "$out" || echo error
        sleep 0.2
    done
) >"$work/fresh" &
fresh=$!
for i in $(seq "$held"); do grep -c ' ok ' "$work/hold$i"; done >"$work/answers_before"
flood_start=$(date +%s.%N)

ip netns exec nlb-client "$synflood" --iface eth0 --dst-mac "$mac" --dst "$vip4" --dport 80 \
    --count "$count" --rate "$rate" --seed "$RANDOM" --exclude 198.18.0.0/24 --exclude 198.18.1.0/24 \
    --exclude 198.19.0.0/24 --exclude 198.19.1.0/24 >"$work/flood" 2>&1
flood_rc=$?
sleep 1  # the dataplane works off what the af_packet ring still holds
touch "$work/flood_done"
wait "$sampler" "$fresh"
cat "$work/flood"
[ "$flood_rc" = 0 ] && ok "flood: $(cat "$work/flood")" || fail "nlb-synflood exited $flood_rc"
pps=$(awk '/^sent/ {gsub(/[(]/, "", $6); print $6}' "$work/flood")

pid=$(cat /run/nlb-lab/dataplane.pid)
running "$pid" && ok "nlb-dataplane still running" || fail "nlb-dataplane died"

# The held connections: alive, never an error, answered during the flood.
sleep 2  # answers after the flood
flood_end=$(date +%s.%N)
for i in $(seq "$held"); do grep -c ' ok ' "$work/hold$i"; done >"$work/answers_after"
survived=0
for i in $(seq "$held"); do
    b=$(sed -n "${i}p" "$work/answers_before") a=$(sed -n "${i}p" "$work/answers_after")
    if ! grep -q ' error' "$work/hold$i" && [ "$a" -gt "$b" ]; then
        survived=$((survived + 1))
    else
        fail "held connection $i: $(grep ' error' "$work/hold$i" | head -1) answers $b -> $a"
    fi
done
[ "$survived" = "$held" ] && ok "all $held held connections kept working through the flood (no reset, no timeout)"
# The longest wait for an answer on one held connection, from the flood's start to its end + 2 s.
stall=0
for i in $(seq "$held"); do
    st=$(awk '$2 == "ok" { print $1 }' "$work/hold$i" | awk -v s="$flood_start" -v e="$flood_end" '
        BEGIN { last = s; m = 0 } $1 >= s && $1 <= e { if ($1 - last > m) m = $1 - last; last = $1 }
        END { if (e - last > m) m = e - last; printf "%.2f", m }')
    stall=$(echo "if ($st > $stall) $st else $stall" | bc)
done
if [ -n "$max_stall" ]; then
    [ "$(echo "$stall < $max_stall" | bc)" = 1 ] &&
        ok "the held connections never waited more than ${stall}s for an answer (bound ${max_stall}s)" ||
        fail "a held connection waited ${stall}s for an answer (bound ${max_stall}s)"
else
    echo "longest stall of the held connections during the flood: ${stall}s"
fi

# Still in the table, established.
ports=$(for i in $(seq "$held"); do awk '$2 == "port" {print $3; exit}' "$work/hold$i"; done | tr '\n' ' ')
est=$(agentc conns --page-size 10000 | "$syspython" -c '
import json, sys
want = set(int(p) for p in sys.argv[1].split())
d = json.load(sys.stdin)
n = 0
for c in d.get("connections", []):
    if c.get("client_address", c.get("clientAddress")) == "198.18.0.2" and \
       int(c.get("client_port", c.get("clientPort", 0))) in want and c.get("state") == "ESTABLISHED":
        n += 1
print(n)' "$ports" 2>/dev/null)
[ "$est" = "$held" ] && ok "the $held held connections are ESTABLISHED in the table" ||
    fail "$est of $held held connections ESTABLISHED in the table"

read -r active1 new1 full1 missed1 rx1 drops1 evicted1 <<<"$(counters)" || fail "stats after"
drops_by_reason >"$work/drops_after"
echo "drops during the flood, by reason:"
awk 'NR == FNR { b[$1] = $2; next } $2 - b[$1] > 0 { printf "  %s %d\n", $1, $2 - b[$1] }' \
    "$work/drops_before" "$work/drops_after"
vdrops=$(( $(veth_drops) - vdrops0 ))
max=$(awk 'BEGIN {m = 0} {if ($1 > m) m = $1} END {print m}' "$work/samples")
n_samples=$(wc -l <"$work/samples")
new=$((new1 - new0)) full=$((full1 - full0)) missed=$((missed1 - missed0))
rx=$((rx1 - rx0)) all_drops=$((drops1 - drops0))
[ "$n_samples" -gt 0 ] || fail "no stats sample during the flood"
[ "$max" -le "$capacity" ] && [ "$active1" -le "$capacity" ] &&
    ok "the table never held more than its capacity: max $max of $capacity in $n_samples samples, $active1 after" ||
    fail "the table held $max (after: $active1), capacity $capacity"
# More new connections than the table holds: it was full, embryonic entries made room. The
# flood lasts less than the 30 s syn_recv timeout, so room came from evictions, which the
# dataplane counts (evicted_connections): at least every connection beyond the capacity.
evicted=$((evicted1 - evicted0))
if [ "$new" -gt "$capacity" ] && [ "$evicted" -ge $((new - capacity - active0)) ]; then
    ok "$new new connections through a table of $capacity: $evicted embryonic entries evicted (counted by the dataplane; at least $((new - capacity - active0)) needed), the held ones never"
else
    fail "the flood made $new new connections (capacity $capacity), $evicted evicted: the table never filled, or evictions are not counted"
fi
[ "$max" -ge $((capacity * 9 / 10)) ] && ok "the table was full during the flood (max $max)" ||
    fail "the table never came near full (max $max of $capacity)"

fresh_ok=$(grep -c '^be[123]$' "$work/fresh") fresh_bad=$(grep -vc '^be[123]$' "$work/fresh")
if [ "$rate" != 0 ]; then
    [ "$fresh_bad" = 0 ] && [ "$fresh_ok" -gt 0 ] &&
        ok "$fresh_ok new connections during the flood, none failed" ||
        fail "new connections during the flood: $fresh_ok ok, $fresh_bad failed"
else
    echo "new connections during the flood: $fresh_ok ok, $fresh_bad failed"
fi

# Every SYN the dataplane received is accounted for: a new connection, or conn_table_full
# (the one insert per eviction batch that must wait for the evicted entries' RCU grace
# period, see lib/conn/conn_table.h). The client port also received the held and new
# connections' segments meanwhile (a few thousand at most).
other=$((rx - new - full))
[ "$other" -ge 0 ] && [ "$other" -le 5000 ] &&
    ok "of $rx packets received on the client port, $new were new connections and $full conn_table_full drops ($other other segments)" ||
    fail "client port received $rx, but $new new connections + $full conn_table_full ($other other)"

# New connections work again.
got=$(requests 4 nat 10 | grep -c '^be[123]$')
[ "$got" = 10 ] && ok "10/10 new connections after the flood" || fail "$got/10 new connections after the flood"

echo "figures: syns=$count rate_pps=$pps dataplane_new_connections=$new table_max=$max/$capacity evicted=$evicted" \
    "client_rx=$rx lost_before_dataplane=$((count - rx)) conn_table_full=$full all_drops=$all_drops client_rx_missed=$missed veth_dropped=$vdrops held=$held survived=$survived" \
    "longest_stall_s=$stall new_during_flood_ok=$fresh_ok failed=$fresh_bad"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
