# SPDX-License-Identifier: Apache-2.0
# Shared by the lab tests that drive nlb-control through nlbctl (control_lab_test.sh,
# health_lab_test.sh): scripts/lab.sh up starts nlb-dataplane and nlb-control.
#
# A test sets lab, dataplane, control, nlbctl_bin and agent (its arguments), then sources
# this file. It skips (exit 77) when not root or a tool is missing, takes the machine-wide
# lab lock for the whole test, and installs a trap that kills $hold (a held client, if
# any), prints the daemons' logs when a check failed, and brings the lab down.

if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root (network namespaces, af_packet)"
    exit 77
fi
for tool in ip ethtool curl flock python3; do
    command -v "$tool" >/dev/null || { echo "skipped: needs '$tool'"; exit 77; }
done
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
readonly vip=198.18.1.1
readonly csock=/run/nlb-lab/control.sock dsock=/run/nlb-lab/dataplane.sock
hold=
exec 9>>/run/lock/nlb-lab.lock  # the machine-wide lab lock (scripts/lab.sh)
flock -w 300 9 || { echo "FAIL: the lab is busy"; exit 1; }
export NLB_LAB_LOCKED=1 NLB_DATAPLANE=$dataplane NLB_CONTROL=$control NLB_DATAPLANE_ARGS=""
finish() {
    [ -n "$hold" ] && kill "$hold" 2>/dev/null
    if [ "$failures" -gt 0 ]; then
        echo "---- nlb-control log"; tail -n 30 /run/nlb-lab/control.log 2>/dev/null
        echo "---- nlb-dataplane log"; tail -n 20 /run/nlb-lab/dataplane.log 2>/dev/null
    fi
    "$lab" down >/dev/null 2>&1
}
trap finish EXIT

nlbctl() { "$nlbctl_bin" --server "unix:$csock" "$@"; }
