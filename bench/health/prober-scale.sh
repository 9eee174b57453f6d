#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# prober-scale.sh: the health prober at its target scale, as root.
#
# Creates a network namespace with 198.18.200.1/24 on a veth pair (the host end
# is 198.18.200.2), starts `nlb-health-scale listen` inside it holding 10 000
# listening sockets (ports 20000-29999), then runs `nlb-health-scale probe` from
# the host namespace against them at a 5 s interval: a warm-up of one interval
# (the first round is spread over it), then a 30 s measured window. Prints the
# prober process's CPU use as % of one core (target: < 20 %) and exits non-zero
# when it is over, or when any target is not HEALTHY. Cleans up on any exit.
#
# usage: bench/health/prober-scale.sh [BUILD_DIR] [-- extra nlb-health-scale probe options]
#   e.g. bench/health/prober-scale.sh build-prober -- --http
set -euo pipefail

BUILD=${1:-build}
shift || true
[[ "${1:-}" == "--" ]] && shift
EXTRA=("$@")

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN="$ROOT/$BUILD/bench/health/nlb-health-scale"
[[ "$BUILD" = /* ]] && BIN="$BUILD/bench/health/nlb-health-scale"

COUNT=10000
FIRST_PORT=20000
NS_ADDR=198.18.200.1
HOST_ADDR=198.18.200.2
NS=nlb-hp-$$
VETH_HOST=nlbhp$$h
VETH_NS=nlbhp$$n
LISTENER_PID=

if [[ $(id -u) -ne 0 ]]; then
    echo "prober-scale.sh: needs root (network namespace and veth)" >&2
    exit 2
fi
if [[ ! -x "$BIN" ]]; then
    echo "prober-scale.sh: $BIN not built (meson compile -C $BUILD nlb-health-scale)" >&2
    exit 2
fi
if ip -4 -br addr | grep -q '198\.18\.200\.'; then
    echo "prober-scale.sh: 198.18.200.0/24 is already in use on this host" >&2
    exit 2
fi

cleanup() {
    set +e
    if [[ -n "$LISTENER_PID" ]]; then
        kill "$LISTENER_PID" 2>/dev/null
        wait "$LISTENER_PID" 2>/dev/null
    fi
    ip link del "$VETH_HOST" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT INT TERM

# 10 000 listeners plus accepted sockets in one process: raise the soft limit to the hard one.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $((COUNT + 2048)) ]]; then
    echo "prober-scale.sh: open-file limit $(ulimit -n) is below $((COUNT + 2048))" >&2
    exit 2
fi

ip netns add "$NS"
ip link add "$VETH_HOST" type veth peer name "$VETH_NS"
ip link set "$VETH_NS" netns "$NS"
ip addr add "$HOST_ADDR/24" dev "$VETH_HOST"
ip link set "$VETH_HOST" up
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip addr add "$NS_ADDR/24" dev "$VETH_NS"
ip netns exec "$NS" ip link set "$VETH_NS" up
# Real kernel stacks on both sides; keep checksums real on the lab veth (DESIGN.md lab facts).
ethtool -K "$VETH_HOST" tx off tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$NS" ethtool -K "$VETH_NS" tx off tso off gso off gro off >/dev/null 2>&1 || true

LISTEN_OPTS=()
for a in "${EXTRA[@]}"; do if [[ "$a" == --http ]]; then LISTEN_OPTS+=(--http); fi; done
READY=$(mktemp)
ip netns exec "$NS" "$BIN" listen --addr "$NS_ADDR" --first-port "$FIRST_PORT" \
    --count "$COUNT" --seconds 120 "${LISTEN_OPTS[@]}" >"$READY" 2>&1 &
LISTENER_PID=$!
for _ in $(seq 1 100); do
    grep -q '^listening' "$READY" && break
    if ! kill -0 "$LISTENER_PID" 2>/dev/null; then
        cat "$READY" >&2
        exit 1
    fi
    sleep 0.1
done
grep -q '^listening' "$READY" || { echo "listener did not start" >&2; exit 1; }
echo "namespace $NS: $(cat "$READY") sockets on $NS_ADDR:$FIRST_PORT-$((FIRST_PORT + COUNT - 1))"
rm -f "$READY"


echo "probing $COUNT targets every 5 s from $HOST_ADDR (6 s warm-up, 30 s measured)"
timeout 60 "$BIN" probe --addr "$NS_ADDR" --first-port "$FIRST_PORT" --count "$COUNT" \
    --source "$HOST_ADDR" --interval-ms 5000 --timeout-ms 2000 --warmup-s 6 --seconds 30 \
    --max-cpu-pct 20 "${EXTRA[@]}"
