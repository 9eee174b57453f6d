#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Malformed-packet storm in the lab while legitimate clients keep requesting: storm.py (scapy,
# nlb-client namespace) sends about 400 distinct bad frames in some 30 classes (every header truncated at
# every length, bad IHL, IPv4 total length larger and smaller than the frame, TCP data offsets
# past the end, IPv6 extension chains that overrun or never end, IPv6 fragments, zero /
# broadcast / loopback / multicast addresses, stacked VLAN tags, bad versions, checksums,
# flags, lengths, protocols, ethertypes) REPEAT times each, paced, towards the dataplane's
# client port. Meanwhile two loops (IPv4 and IPv6) open a new connection per request to the
# VIP. Then:
#   - no legitimate request failed, and each loop made requests during the storm;
#   - nlb-dataplane is alive and still forwards;
#   - every drop reason grew by exactly what storm.py sent under it (+50 at most for what the
#     lab's kernels send on their own: IPv6 DAD / MLD from ::), so every bad frame was
#     counted once under its named reason and none was forwarded.
# IPv4 fragments are not in the storm: the af_packet PMD opens its sockets with
# PACKET_FANOUT_FLAG_DEFRAG, so the kernel reassembles IPv4 fragments (or holds lone ones)
# before the dataplane sees them (lib/net/parse.h's ipv4_fragment is covered by unit tests).
# Frames shorter than 14 bytes and truncated 802.1Q tags never leave / enter a veth either.
#
# usage: storm_lab_test.sh LAB_SH NLB_DATAPLANE NLB_AGENT
# env: NLB_STORM_REPEAT (default 100: about 40 000 frames).
# Needs root (exit 77 otherwise) and the nlb-agent client (exit 77 without it).
set -uo pipefail
lab=$1 dataplane=$2 agent=${3:-}
repeat=${NLB_STORM_REPEAT:-100}
source "$(dirname "$0")/e2e_lib.sh"
e2e_need_agent
e2e_init
e2e_up nat
put_service 4 nat 1,1,1 >/dev/null || fail "put-service IPv4"
put_service 6 nat 1,1,1 >/dev/null || fail "put-service IPv6"

work=$(mktemp -d)
loops=()
trap 'for p in "${loops[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; e2e_down' EXIT

# A legitimate client: one new connection per request until the storm is over (at most 3000
# requests, 120 s); one line per request, the backend's name or "error <curl exit code>".
legit_loop() {  # FAMILY OUT
    local url
    url=$(vip_url "$1" nat)
    ip netns exec nlb-client bash -c '
        url=$1 done=$2 end=$((SECONDS + 120))
        for i in $(seq 3000); do
            [ -f "$done" ] && break
            [ "$SECONDS" -ge "$end" ] && break
            out=$(curl -sS -g --noproxy "*" --connect-timeout 5 --max-time 10 "$url" 2>/dev/null)
            rc=$?
            if [ "$rc" = 0 ]; then echo "$out"; else echo "error $rc"; fi
        done' legit "$url" "$work/storm_done" >"$2" 2>&1
}

for fam in 4 6; do
    got=$(requests "$fam" nat 3 | grep -c '^be[123]$')
    [ "$got" = 3 ] || fail "IPv$fam: $got/3 requests before the storm"
done

before=$(mktemp -p "$work") sent=$(mktemp -p "$work") after=$(mktemp -p "$work")
mac=$(cat /sys/class/net/nlb-cl-h/address)
ip netns exec nlb-client "$syspython" "$e2e_here/storm.py" list "$mac" >"$work/classes" ||
    fail "storm.py list"
n_classes=$(wc -l <"$work/classes")
n_frames=$(awk '{s += $3} END {print s + 0}' "$work/classes")
drops_by_reason >"$before" || fail "stats before"
legit_loop 4 "$work/legit4" &
loops+=($!)
legit_loop 6 "$work/legit6" &
loops+=($!)
sleep 0.5
start=$(date +%s.%N)
ip netns exec nlb-client "$syspython" "$e2e_here/storm.py" send "$mac" "$repeat" >"$sent" 2>"$work/storm_err" ||
    fail "storm.py: $(cat "$work/storm_err")"
secs=$(echo "$(date +%s.%N) - $start" | bc)
sleep 0.5
touch "$work/storm_done"
wait "${loops[@]}"
loops=()
total=$(awk '{s += $2} END {print s + 0}' "$sent")
[ "$total" = $((n_frames * repeat)) ] &&
    ok "sent $total malformed frames ($n_frames kinds in $n_classes classes, $repeat times) in ${secs}s" ||
    fail "sent $total frames, expected $((n_frames * repeat))"

pid=$(cat /run/nlb-lab/dataplane.pid)
running "$pid" && ok "nlb-dataplane still running" || fail "nlb-dataplane died"
for fam in 4 6; do
    n_ok=$(grep -c '^be[123]$' "$work/legit$fam")
    n_bad=$(grep -vc '^be[123]$' "$work/legit$fam")
    if [ "$n_bad" = 0 ] && [ "$n_ok" -ge 10 ]; then
        ok "IPv$fam: $n_ok legitimate requests during the storm, 0 failed"
    else
        fail "IPv$fam: $n_ok legitimate requests ok, $n_bad failed: $(grep -v '^be[123]$' "$work/legit$fam" | sort | uniq -c | head -3)"
    fi
    echo "legit$fam ok=$n_ok failed=$n_bad" >>"$work/figures"
done
for fam in 4 6; do
    got=$(requests "$fam" nat 10 | grep -c '^be[123]$')
    [ "$got" = 10 ] && ok "IPv$fam: 10/10 requests after the storm" || fail "IPv$fam: $got/10 requests after the storm"
done
drops_by_reason >"$after" || fail "stats after"

accounted=0
while read -r reason count; do
    b=$(awk -v r="$reason" '$1 == r {print $2}' "$before")
    a=$(awk -v r="$reason" '$1 == r {print $2}' "$after")
    delta=$(( ${a:-0} - ${b:-0} ))
    if [ "$delta" -ge "$count" ] && [ "$delta" -le $((count + 50)) ]; then
        accounted=$((accounted + count))
        echo "  $reason: sent $count, counted $delta"
    else
        fail "drops[$reason] grew by $delta, $count sent"
    fi
done <"$sent"
[ "$accounted" = "$total" ] && ok "drop counters account for all $total frames, each under its reason" ||
    fail "drop counters account for $accounted of $total"
echo "figures: frames=$total classes=$n_classes reasons=$(wc -l <"$sent") seconds=$secs $(tr '\n' ' ' <"$work/figures")"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
