#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The schedulers observed from real traffic (issue 5, SPEC.md rule 10): scripts/lab.sh up nat
# starts nlb-dataplane and nlb-control; everything is configured with nlbctl; real HTTP
# backends; the clients are real kernel TCP connections from nlb-client (conn_client.py,
# one process for many connections).
#  0. the dataplane is restarted with a default gateway 198.18.0.2 (the client namespace) on
#     its client port, so it can answer clients outside the on-link 198.18.0.0/24: the
#     1000 client addresses of step 3 (198.18.8.1-198.18.11.232, aliases on nlb-client's eth0);
#  1. WRR, weights 1:2:3: 3000 sequential new connections split within 5 % of 500/1000/1500;
#  2. WLC: a group with be1 only, 20 long-lived connections (all on be1), then be2 and be3
#     join: 20 more long-lived connections go to be2 and be3 only, 10 each (±1), and 30
#     short ones avoid be1 (20 active) as well;
#  3. SOURCE_IP (draining 0): one connection from each of 1000 client addresses, twice: every
#     address maps to the same instance both times, all three get clients; be2 removed:
#     every client of be2 moves, every client of be1 and be3 keeps its instance.
#
# usage: sched_lab_test.sh LAB_SH NLB_DATAPLANE NLB_CONTROL NLBCTL NLB_AGENT
# Needs root (exit 77 otherwise).
set -uo pipefail
lab=$1 dataplane=$2 control=$3 nlbctl_bin=$4 agent=$5
here=$(cd "$(dirname "$0")" && pwd)
# Root and tool checks, lab lock, cleanup trap, nlbctl() and the helpers.
source "$here/control_lab_lib.sh"
started=$(now)
work=$(mktemp -d)
cleanup_work() { rm -rf "$work"; }
trap 'cleanup_work; finish' EXIT
lab_up_nat

# ---- 0. the dataplane again, with a default gateway into the client namespace
kill -TERM "$(cat /run/nlb-lab/dataplane.pid)"
for _ in $(seq 100); do kill -0 "$(cat /run/nlb-lab/dataplane.pid)" 2>/dev/null || break; sleep 0.05; done
sed -i 's|ipv4 = "198.18.0.1/24";|ipv4 = "198.18.0.1/24"; gateway_v4 = "198.18.0.2";|' /run/nlb-lab/dataplane.conf
grep -q 'gateway_v4 = "198.18.0.2"' /run/nlb-lab/dataplane.conf || fail "gateway not in the dataplane config"
setsid "$(cat /run/nlb-lab/dataplane.bin)" --config /run/nlb-lab/dataplane.conf \
    >>/run/nlb-lab/dataplane.log 2>&1 </dev/null 9<&- &
echo $! >/run/nlb-lab/dataplane.pid
dp_up() { "$agent" --socket "$dsock" info >/dev/null 2>&1; }
wait_until 20 dp_up && ok "nlb-dataplane restarted with gateway_v4 198.18.0.2 on its client port" ||
    { fail "the dataplane did not come back"; exit 1; }
seq 1000 | awk '{ n = $1 - 1; printf "198.18.%d.%d\n", 8 + int(n / 250), 1 + n % 250 }' >"$work/clients"
sed 's|^|addr add |; s|$|/32 dev eth0|' "$work/clients" >"$work/batch"
ip netns exec nlb-client ip -batch "$work/batch" || fail "adding the client aliases"
[ "$(ip netns exec nlb-client ip -4 -o addr show dev eth0 | grep -c ' 198\.18\.\(8\|9\|10\|11\)\.')" = 1000 ] &&
    ok "1000 client addresses on nlb-client's eth0 ($(head -n 1 "$work/clients")-$(tail -n 1 "$work/clients"))" ||
    fail "aliases: $(ip netns exec nlb-client ip -4 -o addr show dev eth0 | wc -l)"

# ---- 1. WRR 1:2:3 over 3000 connections
nlbctl lb create lab --vip "$vip" --region r1 --vpc v1 --zone z1 >/dev/null || fail "lb create"
nlbctl server-group create sg1 --type virtual --region r1 --vpc v1 --zone z1 \
    --instance id=be1,ip=198.19.0.11,weight=1 --instance id=be2,ip=198.19.0.12,weight=2 \
    --instance id=be3,ip=198.19.0.13,weight=3 >/dev/null || fail "server-group create"
nlbctl backend-service create web --lb lab --port 8080 --scheduler wrr --drain 0 --server-group sg1 \
    --hc-interval 5 --hc-unhealthy 2 --hc-healthy 2 >/dev/null || fail "backend-service create"
nlbctl listener create http --lb lab --protocol tcp --port 80 --backend-service web \
    >/dev/null || fail "listener create"
three_healthy() { [ "$(health_count HEALTHY)" = 3 ]; }
wait_until 10 three_healthy && ok "be1..3 HEALTHY" || fail "not 3 HEALTHY: $(show_health)"
three_active() { [ "$(dp_active_count)" = 3 ]; }
wait_until 3 three_active || fail "dataplane: $(dp_backends)"
wait_traffic >/dev/null && ok "traffic flows" || fail "no traffic"
t=$(now)
conn_seq 3000 >"$work/wrr"
echo "   3000 connections in $(since "$t") s: $(tally "$(cat "$work/wrr")")"
python3 - "$work/wrr" <<'EOF' && ok "WRR 1:2:3 shares within 5 %" || fail "WRR shares"
import collections, sys
c = collections.Counter(line.strip() for line in open(sys.argv[1]))
total = sum(c.values())
bad = total != 3000 or any(k not in ("be1", "be2", "be3") for k in c)
for name, share in (("be1", 1 / 6), ("be2", 2 / 6), ("be3", 3 / 6)):
    got = c[name] / total if total else 0
    print("   %s: %d of %d = %.2f %% (expected %.2f %%)" % (name, c[name], total, 100 * got, 100 * share))
    bad |= abs(got - share) > 0.05 * share
sys.exit(1 if bad else 0)
EOF

# ---- 2. WLC: 20 long-lived connections on be1, then be2 and be3 join
nlbctl server-group create sg2 --type virtual --region r1 --vpc v1 --zone z1 \
    --instance id=be1,ip=198.19.0.11 >/dev/null || fail "sg2 create"
nlbctl backend-service update web --lb lab --scheduler wlc --server-group sg2 >/dev/null ||
    fail "update --scheduler wlc --server-group sg2"
only_be1() { [ "$(dp_backends | tr '\n' ' ')" = "198.19.0.11 ACTIVE " ]; }
wait_until 10 only_be1 && ok "WLC over sg2 (be1 only)" || fail "dataplane: $(dp_backends)"
conn_client hold "$vip" 80 20 >"$work/hold1" 2>&1 &
holds="$holds $!"
held1() { grep -q '^held 20$' "$work/hold1"; }
wait_until 15 held1 && [ "$(grep -c '^ok be1$' "$work/hold1")" = 20 ] &&
    ok "20 long-lived connections on be1" || fail "first 20: $(tally "$(grep '^ok\|^error' "$work/hold1")")"
nlbctl server-group add-instance sg2 --instance id=be2,ip=198.19.0.12 \
    --instance id=be3,ip=198.19.0.13 >/dev/null || fail "add-instance be2, be3"
wait_until 15 three_healthy && wait_until 3 three_active && ok "be2, be3 joined (HEALTHY, ACTIVE)" ||
    fail "be2, be3: $(show_health) $(dp_backends)"
conn_client hold "$vip" 80 20 >"$work/hold2" 2>&1 &
holds="$holds $!"
held2() { grep -q '^held 20$' "$work/hold2"; }
wait_until 15 held2
n1=$(grep -c '^ok be1$' "$work/hold2") n2=$(grep -c '^ok be2$' "$work/hold2") n3=$(grep -c '^ok be3$' "$work/hold2")
echo "   20 more long-lived connections: be1 $n1, be2 $n2, be3 $n3 (be1 holds 20)"
held2 && [ "$n1" = 0 ] && [ $((n2 - n3)) -le 1 ] && [ $((n3 - n2)) -le 1 ] &&
    ok "WLC: the new long-lived connections go to the least loaded be2 and be3, evenly" ||
    fail "WLC long-lived: $(cat "$work/hold2")"
answers=$(conn_seq 30)
[ "$(grep -cE '^(be2|be3)$' <<<"$answers")" = 30 ] && ok "WLC: 30 short connections avoid be1: $(tally "$answers")" ||
    fail "WLC short: $(tally "$answers")"
health_json | python3 -c '
import json, sys
c = {i["instance"]["id"]: int(i.get("active_connections", 0)) for i in json.load(sys.stdin)["instances"]}
print("   health view connections:", c)
sys.exit(0 if c.get("be1", 0) >= 20 and c.get("be2", 0) >= 9 and c.get("be3", 0) >= 9 else 1)' &&
    ok "health view counts the held connections" || fail "health view: $(show_health)"
grep -q '^error' "$work/hold1" "$work/hold2" && fail "a held connection failed: $(grep -h '^error' "$work/hold1" "$work/hold2")"
for p in $holds; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
holds=

# ---- 3. SOURCE_IP over 1000 client addresses
nlbctl backend-service update web --lb lab --scheduler source-ip >/dev/null || fail "update --scheduler source-ip"
t=$(now)
conn_client sources "$vip" 80 "$work/clients" --rounds 2 >"$work/sip12"
echo "   2000 connections from 1000 addresses in $(since "$t") s"
head -n 1000 "$work/sip12" >"$work/sip1"
tail -n 1000 "$work/sip12" >"$work/sip2"
echo "   first round: $(tally "$(cut -d' ' -f2 "$work/sip1")")"
[ "$(grep -cE ' be[123]$' "$work/sip1")" = 1000 ] && [ "$(cut -d' ' -f2 "$work/sip1" | sort -u | wc -l)" = 3 ] &&
    ok "SOURCE_IP: 1000 addresses answered, spread over the three" || fail "first round: $(tally "$(cut -d' ' -f2 "$work/sip1")")"
cmp -s "$work/sip1" "$work/sip2" && ok "SOURCE_IP: every address maps to the same instance again" ||
    fail "second round differs on $(diff "$work/sip1" "$work/sip2" | grep -c '^<') addresses"
nlbctl server-group remove-instance sg2 --id be2 >/dev/null || fail "remove-instance be2"
no_be2() { ! dp_backends | grep -q '^198.19.0.12 '; }
wait_until 3 no_be2 || fail "be2 still in the dataplane: $(dp_backends)"
conn_client sources "$vip" 80 "$work/clients" >"$work/sip3"
python3 - "$work/sip1" "$work/sip3" <<'EOF' && ok "SOURCE_IP: removing be2 moved all of be2's clients and at most 1 % of the others" || fail "SOURCE_IP after removing be2"
import sys
before = dict(line.split() for line in open(sys.argv[1]))
after = dict(line.split() for line in open(sys.argv[2]))
of_be2 = [a for a, b in before.items() if b == "be2"]
others = [a for a, b in before.items() if b != "be2"]
moved_be2 = sum(1 for a in of_be2 if after.get(a) in ("be1", "be3"))
moved_others = sum(1 for a in others if after.get(a) != before[a])
print("   be2 had %d clients, %d moved to be1/be3; %d of the other %d clients moved"
      % (len(of_be2), moved_be2, moved_others, len(others)))
# Maglev (SPEC rule 10) keeps nearly every other client: the table is rebuilt from the new set
# of backends, so a few positions of the survivors change hands too (Maglev paper, 3.4).
sys.exit(0 if len(after) == 1000 and of_be2 and moved_be2 == len(of_be2)
         and moved_others <= 0.01 * len(others) else 1)
EOF
echo "   took $(since "$started") s"

[ "$failures" = 0 ] && echo "PASS" || echo "FAILED: $failures"
exit $((failures > 0))
