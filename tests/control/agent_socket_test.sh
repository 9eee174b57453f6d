#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Who may reach nlb-dataplane's agent socket (issue 7, "Who gets in"): the real dataplane on
# net_ring/net_null vdevs (EAL --no-huge --no-shconf) with `agent.group` set creates its
# socket owner root, mode 0660, group agent.group; a process of another user that is not in
# the group cannot connect to it, a user of the group and root can; a group that does not exist is a config error
# (exit 2, one line) before EAL starts. Root only (chown to a group, a second user).
# usage: agent_socket_test.sh NLB_DATAPLANE DRIVERS_CFG_DIR
set -uo pipefail
dataplane=$1 drivers=$2
if [ "$(id -u)" != 0 ]; then
    echo "skipped: needs root (the socket's owner and group are set by a root dataplane)"
    exit 77
fi
if [ "$(getconf _NPROCESSORS_ONLN)" -lt 2 ]; then
    echo "skipped: needs 2 CPUs (main lcore + one worker)"
    exit 77
fi
# A group other than root's, and a user in neither root's group nor that one.
group=$(getent group daemon >/dev/null && echo daemon || echo nogroup)
gid=$(getent group "$group" | cut -d: -f3)
outsider=nobody
dir=$(mktemp -d)
chmod 0755 "$dir"
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
failures=0
fail() { echo "FAIL (${SECONDS}s): $*"; failures=$((failures + 1)); }
ok() { echo "ok (${SECONDS}s): $*"; }

write_config() {  # file, agent group
    cat >"$1" <<CONF
eal = { lcores = "0-1"; no_huge = true; memory_mb = 128; extra_args = ["--no-shconf", "--log-level=lib.eal:error"]; };
mempool = { size = 8191; cache = 64; };
agent = { socket = "$dir/run/dataplane.sock"; group = "$2"; };
ports = (
  { name = "front"; vdev = "net_ring0"; role = "client"; ipv4 = "198.18.0.1/24"; rx_descriptors = 256; tx_descriptors = 256; },
  { name = "back"; vdev = "net_null0"; role = "backend"; ipv4 = "198.19.0.1/24"; rx_descriptors = 256; tx_descriptors = 256; }
);
CONF
}

# Connects to the unix socket as user $1; prints "connected" or the error.
try_connect() {
    setpriv --reuid="$1" --regid="$(id -g "$1")" --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(e.strerror)' "$dir/run/dataplane.sock" 2>&1
}

write_config "$dir/good.conf" "$group"
mkdir -p "$dir/run" && chmod 0755 "$dir/run"
"$dataplane" --config "$dir/good.conf" --drivers-cfg "$drivers" >"$dir/out" 2>&1 &
pid=$!
for n in $(seq 400); do  # up to 40 s: EAL start-up is slow on a loaded machine
    [ -S "$dir/run/dataplane.sock" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
sock=$dir/run/dataplane.sock
if [ -S "$sock" ]; then
    read -r mode uid sgid <<<"$(stat -c '%a %u %g' "$sock")"
    [ "$mode" = 660 ] && ok "agent socket mode 0660" || fail "agent socket mode $mode"
    [ "$uid" = 0 ] && ok "agent socket owner root" || fail "agent socket owner uid $uid"
    [ "$sgid" = "$gid" ] && ok "agent socket group $group (agent.group)" ||
        fail "agent socket group $sgid, expected $gid ($group)"
    r=$(try_connect "$outsider")
    [ "$r" = "Permission denied" ] && ok "user $outsider (not in $group) cannot connect" ||
        fail "user $outsider: $r"
    # A user whose group is agent.group (the control process's group) gets in.
    member=$(getent passwd | awk -F: -v g="$gid" '$4 == g && $3 != 0 { print $1; exit }')
    if [ -n "$member" ]; then
        r=$(try_connect "$member")
        [ "$r" = connected ] && ok "user $member (group $group) connects" || fail "user $member: $r"
    fi
    r=$(try_connect root)
    [ "$r" = connected ] && ok "root connects" || fail "root: $r"
else
    fail "no agent socket: $(cat "$dir/out")"
fi
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" = 0 ] && ok "stopped: exit 0" || fail "stop: exit $rc: $(cat "$dir/out")"

write_config "$dir/bad.conf" "nlb-no-such-group"
out=$("$dataplane" --config "$dir/bad.conf" --drivers-cfg "$drivers" 2>&1)
rc=$?
[ "$rc" = 2 ] &&
    [[ "$out" == "$dir/bad.conf:3: key 'agent.group': group 'nlb-no-such-group' does not exist" ]] &&
    ok "unknown agent.group: exit 2, one line" || fail "unknown agent.group: rc=$rc: $out"

[ "$failures" = 0 ] && echo "all agent socket checks passed" || echo "$failures failure(s)"
[ "$failures" = 0 ]
