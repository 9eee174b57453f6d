#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# End to end, one forwarding mode (nat, dsr or tunnel): the real nlb-dataplane in the lab,
# a WRR service with weights 1:2:3 over be1..be3 for IPv4 and for IPv6 (through the agent
# API with nlb-agent; with --service when the client is not built yet), 300 requests per
# family from curl in nlb-client, each on a new connection: all answered, split by weight
# within 10 %. ARP for the VIP and the port address and IPv6 ND for the VIP are answered
# with the dataplane port's MAC; ICMP and ICMPv6 echo to the VIP and own addresses are
# answered. Adding a VIP sends a gratuitous ARP / unsolicited NA; a next hop that never
# answers gets exactly 3 ARP requests, and a UDP listener spreads 60 new flows 1:2:3 over UDP
# echo servers (nat run). SIGTERM stops the daemon cleanly and removes its agent socket.
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
    # A VIP that appears is announced: gratuitous ARP and unsolicited NA on the client port.
    cap=$(mktemp)
    ip netns exec nlb-client timeout 5 tcpdump -l -n -i eth0 -c 2 \
        "(arp and host $vip4) or (icmp6 and ip6[40] == 136)" >"$cap" 2>/dev/null &
    capture=$!
    sleep 0.5
    put_service 4 "$mode" "$weights" >/dev/null && ok "put-service IPv4 ($mode)" || fail "put-service IPv4"
    put_service 6 "$mode" "$weights" >/dev/null && ok "put-service IPv6 ($mode)" || fail "put-service IPv6"
    wait "$capture"
    grep -q "Request who-has $vip4 tell $vip4" "$cap" && ok "gratuitous ARP for $vip4 on adding it" ||
        fail "no gratuitous ARP for $vip4: $(cat "$cap")"
    grep -q "neighbor advertisement, tgt is $vip6" "$cap" && ok "unsolicited NA for $vip6 on adding it" ||
        fail "no unsolicited NA for $vip6: $(cat "$cap")"
    rm -f "$cap"
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

# A next hop that never answers: ARP is retried 3 times (1 s apart), the waiting packets are
# dropped, and the client's connection attempt fails instead of hanging the dataplane.
if e2e_has_agent && [ "$mode" = nat ]; then
    cap=$(mktemp)
    timeout 5 tcpdump -l -n -i nlb-br0 "arp and host 198.19.0.99" >"$cap" 2>/dev/null &
    capture=$!
    agentc put-service --vip "$vip4" --port 81 --proto tcp --mode nat --scheduler wrr --version 1 \
        --backend id=99,addr=198.19.0.99,port=8080,weight=1,state=active >/dev/null || fail "put-service :81"
    if ip netns exec nlb-client curl -sS --noproxy '*' --max-time 2 "http://$vip4:81/" >/dev/null 2>&1; then
        fail "a request to an unresolvable backend succeeded"
    fi
    wait "$capture"
    probes=$(grep -c "Request who-has 198.19.0.99" "$cap")
    [ "$probes" = 3 ] && ok "unresolvable next hop: 3 ARP requests, request failed" ||
        fail "unresolvable next hop: $probes ARP requests (want 3): $(cat "$cap")"
    rm -f "$cap"
    got=$(requests 4 "$mode" 3 | grep -c '^be[123]$')
    [ "$got" = 3 ] && ok "the other service still forwards" || fail "other service after the failed resolution: $got/3"
fi

# UDP listeners (nat): a UDP echo on every backend answers with its name; 60 datagrams, each
# from a new source port (a new flow), all answered (a lost datagram is retried on its flow,
# as UDP clients do) and split 1:2:3.
if e2e_has_agent && [ "$mode" = nat ]; then
    for i in 1 2 3; do
        ip netns exec "nlb-be$i" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 5353))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(sys.argv[1].encode(), peer)
' "be$i" >/dev/null 2>&1 &
    done
    for fam in 4 6; do
        vip=$vip4 prefix=198.19.0.1
        [ "$fam" = 6 ] && { vip=$vip6; prefix=2001:2:0:19::1; }
        agentc put-service --vip "$vip" --port 5353 --proto udp --mode nat --scheduler wrr --version 1 \
            --backend "id=$((fam * 10 + 5)),addr=${prefix}1,port=5353,weight=1,state=active" \
            --backend "id=$((fam * 10 + 6)),addr=${prefix}2,port=5353,weight=2,state=active" \
            --backend "id=$((fam * 10 + 7)),addr=${prefix}3,port=5353,weight=3,state=active" >/dev/null ||
            fail "put-service udp IPv$fam"
        out=$(mktemp)
        ip netns exec nlb-client python3 -c '
import socket, sys
vip = sys.argv[1]
fam = socket.AF_INET6 if ":" in vip else socket.AF_INET
for i in range(60):
    # Like any UDP client (a DNS resolver), retry a lost datagram a few times from the
    # same socket: the same flow, so the same backend.
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    answer = "error"
    for attempt in range(3):
        try:
            s.sendto(b"ping", (vip, 5353))
            answer = s.recvfrom(64)[0].decode()
            break
        except socket.timeout:
            pass
    print(answer)
    s.close()
' "$vip" >"$out"
        check_spread "$out" 1,2,3 60 "nat IPv$fam UDP: 60 datagrams on new flows"
        rm -f "$out"
    done
fi

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
