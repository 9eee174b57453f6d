#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# End to end, one forwarding mode (nat, dsr or tunnel): the real nlb-dataplane in the lab,
# a WRR service with weights 1:2:3 over be1..be3 for IPv4 and for IPv6 (through the agent
# API with nlb-agent; with --service when the client is not built yet), 300 requests per
# family from curl in nlb-client, each on a new connection: all answered, split by weight
# within 10 %. ARP for the VIP and the port address and IPv6 ND for the VIP are answered
# with the dataplane port's MAC; ICMP and ICMPv6 echo to the VIP and own addresses are
# answered. SIGTERM stops the daemon cleanly and removes its agent socket.
#
# usage: e2e_forward_test.sh MODE LAB_SH NLB_DATAPLANE [NLB_AGENT]
# Needs root; exits 77 (skipped) otherwise.
set -uo pipefail
mode=$1 lab=$2 dataplane=$3 agent=${4:-}
source "$(dirname "$0")/e2e_lib.sh"
e2e_init

weights=1,2,3
if e2e_has_agent; then
    e2e_up "$mode"
    put_service 4 "$mode" "$weights" >/dev/null && ok "put-service IPv4 ($mode)" || fail "put-service IPv4"
    put_service 6 "$mode" "$weights" >/dev/null && ok "put-service IPv6 ($mode)" || fail "put-service IPv6"
else
    echo "note: no nlb-agent client; services given with --service"
    e2e_up "$mode" "$(service_arg 4 "$mode" "$weights")" "$(service_arg 6 "$mode" "$weights")"
fi

out=$(mktemp)
for fam in 4 6; do
    requests "$fam" "$mode" 300 >"$out"
    check_spread "$out" "$weights" 300 "$mode IPv$fam: 300 requests"
done
rm -f "$out"

# ARP / ND and echo, from the client namespace with scapy.
mac=$(cat /sys/class/net/nlb-cl-h/address)
probe() { ip netns exec nlb-client "$syspython" "$e2e_here/probe.py" "$@"; }
got=$(probe arp "$vip4") && [ "$got" = "$mac" ] && ok "ARP for the VIP answered with $mac" ||
    fail "ARP for the VIP: '$got' (want $mac)"
got=$(probe arp 198.18.0.1) && [ "$got" = "$mac" ] && ok "ARP for the port address answered" ||
    fail "ARP for 198.18.0.1: '$got'"
got=$(probe ns "$vip6") && [ "$got" = "$mac" ] && ok "ND for the IPv6 VIP answered with $mac" ||
    fail "NS for the IPv6 VIP: '$got' (want $mac)"
for target in "$vip4" "$vip6" 198.18.0.1 2001:2:0:18::1; do
    got=$(probe ping "$target" 3)
    [ "$got" = "replies 3/3" ] && ok "ping $target: $got" || fail "ping $target: $got"
done
# The dataplane learnt the client (it asked for the gateway) and its kernel learnt us.
ip netns exec nlb-client ip neigh show 198.18.0.1 | grep -q "$mac" &&
    ok "client's neighbour entry for 198.18.0.1 is the dataplane's MAC" ||
    fail "client neighbour: $(ip netns exec nlb-client ip neigh show 198.18.0.1)"

# Clean stop: SIGTERM, exit 0, socket removed.
pid=$(cat /run/nlb-lab/dataplane.pid)
kill -TERM "$pid"
for _ in $(seq 100); do running "$pid" || break; sleep 0.05; done
if running "$pid"; then
    fail "nlb-dataplane still running 5 s after SIGTERM"
else
    grep -q "nlb-dataplane: stopping" /run/nlb-lab/dataplane.log && ok "SIGTERM: workers and ports stopped" ||
        fail "no clean stop in the log"
    [ -e "$sock" ] && fail "agent socket left behind" || ok "agent socket removed"
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
