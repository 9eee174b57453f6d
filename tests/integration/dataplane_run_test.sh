#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# nlb-dataplane as a process, on net_ring/net_null vdevs under EAL --no-huge --no-shconf (no
# root, no NIC): it brings both ports up, creates its agent socket directory and replaces a
# stale socket file with the agent's socket, stops cleanly on SIGTERM and on SIGINT (exit 0, socket file gone); a port
# that cannot be configured ends it with exit 1 and "Failed to configure port 0 (...)"; a
# config error with exit 2 before EAL starts.
# usage: dataplane_run_test.sh NLB_DATAPLANE DRIVERS_CFG_DIR
set -uo pipefail
dataplane=$1 drivers=$2
if [ "$(getconf _NPROCESSORS_ONLN)" -lt 2 ]; then
    echo "skipped: needs 2 CPUs (main lcore + one worker)"
    exit 77
fi
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

write_config() {  # file, port-0 extra keys
    cat >"$1" <<CONF
eal = { lcores = "0-1"; no_huge = true; memory_mb = 128; extra_args = ["--no-shconf", "--log-level=lib.eal:error"]; };
mempool = { size = 8191; cache = 64; };
agent = { socket = "$dir/run/agent/dataplane.sock"; };
ports = (
  { name = "front"; vdev = "net_ring0"; role = "client"; ipv4 = "198.18.0.1/24"; rx_descriptors = 256; tx_descriptors = 256; $2 },
  { name = "back"; vdev = "net_null0"; role = "backend"; ipv4 = "198.19.0.1/24"; rx_descriptors = 256; tx_descriptors = 256; }
);
CONF
}

run_and_stop() {  # signal
    local sig=$1 n rc
    rm -rf "$dir/run"  # the dataplane must create the directory itself
    "$dataplane" --config "$dir/good.conf" --drivers-cfg "$drivers" >"$dir/out" 2>&1 &
    pid=$!
    for n in $(seq 100); do
        grep -q 'forwarding' "$dir/out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q 'port 0 front (net_ring0' "$dir/out" && grep -q 'port 1 back (net_null0' "$dir/out" &&
        ok "$sig run: both ports up" || fail "$sig run: ports not reported up: $(cat "$dir/out")"
    [ -d "$dir/run/agent" ] && ok "$sig run: agent socket directory created" || fail "$sig run: no socket directory"
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    pid=
    [ "$rc" = 0 ] && ok "$sig: exit 0" || fail "$sig: exit $rc: $(cat "$dir/out")"
    grep -q 'nlb-dataplane: stopping' "$dir/out" && ok "$sig: stopped cleanly" || fail "$sig: no clean stop"
    [ ! -e "$dir/run/agent/dataplane.sock" ] && ok "$sig: no socket file left" || fail "$sig: socket file left"
}

write_config "$dir/good.conf" ""
run_and_stop TERM
# A stale socket file from a crashed run is removed at start.
mkdir -p "$dir/run/agent" && echo stale >"$dir/run/agent/dataplane.sock"
"$dataplane" --config "$dir/good.conf" --drivers-cfg "$drivers" >"$dir/out" 2>&1 &
pid=$!
for n in $(seq 100); do grep -q 'forwarding' "$dir/out" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
# The agent listens there now: a socket, not the stale file.
[ -S "$dir/run/agent/dataplane.sock" ] && ok "stale socket file replaced by the agent's socket" ||
    fail "stale socket file kept: $(ls -l "$dir/run/agent/dataplane.sock" 2>&1)"
kill -INT "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" = 0 ] && ok "INT: exit 0" || fail "INT: exit $rc"

# net_ring has 16 queue pairs: 17 TX queues pass the loader but not the device.
write_config "$dir/bad-port.conf" "tx_queues = 17;"
out=$(timeout 20 "$dataplane" --config "$dir/bad-port.conf" --drivers-cfg "$drivers" 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -q '^Failed to configure port 0 (net_ring0): 1 RX / 17 TX queues asked, the device has at most 16 / 16$' <<<"$out" &&
    ok "port failure: exit 1 with a clear message" || fail "port failure: rc=$rc: $out"

write_config "$dir/bad-config.conf" "mtu = 70000;"
out=$("$dataplane" --config "$dir/bad-config.conf" --drivers-cfg "$drivers" 2>&1)
rc=$?
[ "$rc" = 2 ] && [[ "$out" == "$dir/bad-config.conf:5: key 'ports.[0].mtu': 70000 is out of range 68..9600" ]] &&
    ok "config error: exit 2, one line, before EAL" || fail "config error: rc=$rc: $out"

echo "$failures failure(s)"
[ "$failures" = 0 ]
