#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# End to end, malformed input: 10 000 bad frames from the client namespace (scapy:
# truncated IPv4/IPv6 headers, bad IHL / total / payload / UDP lengths, bad TCP data
# offsets and flags, bad IPv4 header checksums, IPv6 fragments, unknown IP protocols and
# ethertypes, malformed ARP, bad addresses) towards the dataplane's client port. Afterwards
# the daemon still runs and forwards (requests over IPv4 and IPv6 succeed), and its drop
# counters (nlb-agent stats, total.drops) grew by exactly what was sent, reason by reason.
#
# usage: e2e_malformed_test.sh LAB_SH NLB_DATAPLANE NLB_AGENT
# Needs root (exit 77 otherwise) and the nlb-agent client (exit 77 without it).
set -uo pipefail
lab=$1 dataplane=$2 agent=${3:-}
source "$(dirname "$0")/e2e_lib.sh"
e2e_need_agent
e2e_init
e2e_up nat
put_service 4 nat 1,1,1 >/dev/null || fail "put-service IPv4"
put_service 6 nat 1,1,1 >/dev/null || fail "put-service IPv6"

before=$(mktemp) sent=$(mktemp) after=$(mktemp)
drops_by_reason >"$before" || fail "stats before"
mac=$(cat /sys/class/net/nlb-cl-h/address)
ip netns exec nlb-client "$syspython" "$e2e_here/probe.py" malformed 10000 "$mac" >"$sent" ||
    fail "sending malformed frames: $(cat "$sent")"
total=$(awk '{s += $2} END {print s}' "$sent")
[ "$total" = 10000 ] && ok "sent 10000 malformed frames ($(wc -l <"$sent") kinds)" || fail "sent $total frames"
sleep 1

pid=$(cat /run/nlb-lab/dataplane.pid)
running "$pid" && ok "nlb-dataplane still running" || fail "nlb-dataplane died"
for fam in 4 6; do
    got=$(requests "$fam" nat 10 | grep -c '^be[123]$')
    [ "$got" = 10 ] && ok "IPv$fam: 10/10 requests after the flood" || fail "IPv$fam: $got/10 requests after the flood"
done
drops_by_reason >"$after" || fail "stats after"

# Every kind is dropped under the reason of its name, once per frame. The kernels of the lab
# send a little of their own meanwhile (IPv6 DAD and MLD from ::, router solicitations), so a
# counter may grow by up to 50 more than was sent.
accounted=0
while read -r reason count; do
    b=$(awk -v r="$reason" '$1 == r {print $2}' "$before")
    a=$(awk -v r="$reason" '$1 == r {print $2}' "$after")
    delta=$(( ${a:-0} - ${b:-0} ))
    if [ "$delta" -ge "$count" ] && [ "$delta" -le $((count + 50)) ]; then
        accounted=$((accounted + count))
    else
        fail "drops[$reason] grew by $delta, $count sent"
    fi
done <"$sent"
[ "$accounted" = 10000 ] && ok "drop counters account for all 10000 frames" || fail "drop counters account for $accounted of 10000"
echo "drops after the flood:"; sed 's/^/  /' "$after"
rm -f "$before" "$sent" "$after"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
