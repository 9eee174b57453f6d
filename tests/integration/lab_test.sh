#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The lab (scripts/lab.sh) end to end: up in nat mode, every backend answers from the host
# namespace over IPv4 and IPv6 (/ gives its name, /health 200, keep-alive and concurrent
# connections work), offloads are off on every lab veth end, routes match the mode, `up`
# twice changes nothing; then dsr mode (VIP on loopback, return leg from the client); tunnel
# mode either builds its tunnel devices or refuses clearly without leaving anything; `down`
# leaves no namespace, link, process or file and can be repeated.
#
# usage: lab_test.sh LAB_SH
# Needs root (network namespaces); exits 77 (skipped) otherwise.
set -uo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root for network namespaces"
    exit 77
fi
for tool in ip ethtool curl python3 flock ps; do
    if ! command -v "$tool" >/dev/null; then
        echo "skipped: needs '$tool'"
        exit 77
    fi
done

lab=$1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
get() { curl -sS -g --max-time 3 --noproxy '*' "$@"; }
# A zombie waiting for init to reap it is not running.
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ "$st" != Z* ]]; }

# Hold the lab lock for the whole test so no other lab run interleaves.
exec 9>>/run/lock/nlb-lab.lock  # the machine-wide lab lock (scripts/lab.sh)
flock -w 120 9 || { echo "FAIL: the lab is busy"; exit 1; }
export NLB_LAB_LOCKED=1
trap '"$lab" down >/dev/null 2>&1' EXIT

"$lab" down || fail "down on a clean machine"

# ---------------------------------------------------------------- nat
"$lab" up nat || { fail "up nat"; exit 1; }

for i in 1 2 3; do
    for host in "198.19.0.1$i" "[2001:2:0:19::1$i]"; do
        body=$(get "http://$host:8080/")
        [ "$body" = "be$i" ] && ok "GET http://$host:8080/ -> be$i" ||
            fail "GET http://$host:8080/ gave '$body', not 'be$i'"
        code=$(get -o /dev/null -w '%{http_code}' "http://$host:8080/health")
        [ "$code" = 200 ] && ok "GET /health on $host -> 200" || fail "GET /health on $host gave '$code'"
    done
done

# Keep-alive: two requests, one connection.
out=$(get -v http://198.19.0.11:8080/ http://198.19.0.11:8080/health 2>&1)
grep -qi 're-\?using existing connection' <<<"$out" && ok "keep-alive" ||
    fail "second request did not reuse the connection: $out"
# Concurrency: a connection held open does not block others.
exec 8<>/dev/tcp/198.19.0.12/8080
body=$(get http://198.19.0.12:8080/)
exec 8>&-
[ "$body" = be2 ] && ok "a second connection is served while one is open" ||
    fail "server blocked by an idle connection ('$body')"
pids=()
for n in $(seq 20); do get -o /dev/null -w '%{http_code}\n' http://198.19.0.13:8080/ >>"${TMPDIR:-/tmp}/nlb-lab-par.$$" & pids+=($!); done
wait "${pids[@]}"
good=$(grep -c '^200$' "${TMPDIR:-/tmp}/nlb-lab-par.$$")
rm -f "${TMPDIR:-/tmp}/nlb-lab-par.$$"
[ "$good" = 20 ] && ok "20 parallel requests" || fail "only $good of 20 parallel requests succeeded"

# Offloads off on every veth end, host and namespaces.
check_offloads() {  # label, then the command prefix to run ethtool
    local label=$1; shift
    local feats
    feats=$("$@" | grep -E '^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload):')
    if [ "$(grep -c ': off' <<<"$feats")" = 4 ]; then ok "offloads off on $label"; else fail "offloads on $label: $feats"; fi
}
for ifc in nlb-cl-h nlb-dp1 nlb-dp1-br nlb-be1-br nlb-be2-br nlb-be3-br; do check_offloads "$ifc" ethtool -k "$ifc"; done
for ns in nlb-client nlb-be1 nlb-be2 nlb-be3; do check_offloads "$ns/eth0" ip netns exec "$ns" ethtool -k eth0; done

# Routes of nat mode; the host routes nothing but the backend subnet.
[ "$(ip netns exec nlb-client ip route show default)" = "default via 198.18.0.1 dev eth0 " ] &&
    ok "client default route via the dataplane" || fail "client route: $(ip netns exec nlb-client ip route show default)"
grep -q 'via 2001:2:0:19::1 ' <<<"$(ip netns exec nlb-be1 ip -6 route show default)" &&
    ok "backend IPv6 default route via the dataplane" || fail "backend v6 route: $(ip netns exec nlb-be1 ip -6 route)"
host_routes=$(ip route show | grep -E '198\.1[89]\.' || true)
[ "$host_routes" = "198.19.0.0/24 dev nlb-br0 proto kernel scope link src 198.19.0.254 " ] &&
    ok "host has only the backend subnet" || fail "host lab routes: $host_routes"
[ -z "$(ip -4 addr show dev nlb-cl-h; ip -4 addr show dev nlb-dp1)" ] &&
    ok "af_packet host ends carry no address" || fail "af_packet host ends have addresses"

# up twice: no change, same server processes.
before=$(cat /run/nlb-lab/be*.pid)
"$lab" up nat || fail "second up nat"
[ "$before" = "$(cat /run/nlb-lab/be*.pid)" ] && ok "up twice keeps the running lab" || fail "up twice restarted the servers"
"$lab" status >/dev/null && ok "status says healthy" || fail "status after up"
server_pids=$(cat /run/nlb-lab/be*.pid)

# ---------------------------------------------------------------- dsr
"$lab" up dsr || fail "up dsr"
grep -q '198.18.1.1/32.*2001:2:0:1::1/128' <<<"$(ip netns exec nlb-be1 ip -br addr show dev lo)" &&
    ok "VIP on be1's loopback" || fail "be1 lo: $(ip netns exec nlb-be1 ip -br addr show dev lo)"
[ "$(ip netns exec nlb-be2 sysctl -n net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce | tr '\n' ' ')" = "1 2 " ] &&
    ok "arp_ignore=1 arp_announce=2" || fail "arp sysctls in be2"
grep -q '^198.18.0.0/24 via 198.19.0.250 dev eth0' <<<"$(ip netns exec nlb-be3 ip route)" &&
    ok "backend route back to the client" || fail "be3 routes: $(ip netns exec nlb-be3 ip route)"
body=$(ip netns exec nlb-client curl -sS -g --max-time 3 --noproxy '*' 'http://[2001:2:0:19::13]:8080/')
[ "$body" = be3 ] && ok "client return leg reaches the backends" || fail "client -> be3 over ret0: '$body'"
for pid in $server_pids; do running "$pid" && fail "nat server $pid survived the switch to dsr"; done

# ---------------------------------------------------------------- tunnel
if out=$("$lab" up tunnel 2>&1); then
    # Kernel tunnels (tun4) where the kernel has them, else the userspace decapsulator's vip0.
    vipdev=$(ip netns exec nlb-be1 ip -br addr show | awk '/198\.18\.1\.1/ {print $1}')
    case "$vipdev" in
    tun4) ok "tunnel: VIP on tun4" ;;
    vip0) running "$(cat /run/nlb-lab/decap1.pid 2>/dev/null)" && ok "tunnel: VIP on vip0, userspace decapsulator running" ||
            fail "tunnel: VIP on vip0 but no decapsulator" ;;
    *) fail "tunnel: no VIP on tun4 or vip0" ;;
    esac
    [ "$(get http://198.19.0.11:8080/)" = be1 ] && ok "tunnel: backends serve" || fail "tunnel: be1 does not serve"
elif grep -q 'CONFIG_NET_IPIP' <<<"$out"; then
    ok "tunnel mode refused clearly on a kernel without ipip: $out"
    "$lab" status >/dev/null && ok "the dsr lab is untouched by the refusal" || fail "refused tunnel broke the running lab"
else
    fail "up tunnel: $out"
fi

# ---------------------------------------------------------------- down
server_pids=$(cat /run/nlb-lab/be*.pid 2>/dev/null)
"$lab" down || fail "down"
left_ns=$(ip netns list | grep -E '^nlb-' || true)
[ -z "$left_ns" ] && ok "no nlb namespaces left" || fail "namespaces left: $left_ns"
left_links=$(ip -br link | grep -E '^nlb-' || true)
[ -z "$left_links" ] && ok "no nlb links left" || fail "links left: $left_links"
for pid in $server_pids; do running "$pid" && fail "server $pid still running"; done
[ -n "$server_pids" ] && ok "server processes gone"
[ ! -e /run/nlb-lab ] && ok "/run/nlb-lab removed" || fail "/run/nlb-lab left behind"
"$lab" down && ok "down twice" || fail "second down"
"$lab" status >/dev/null && fail "status says up after down" || ok "status says down"

echo "$failures failure(s)"
[ "$failures" = 0 ]
