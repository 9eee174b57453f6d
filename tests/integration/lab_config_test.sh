#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# nlb-dataplane --check-config accepts the lab's generated configuration for every mode
# (exit 0, "FILE: OK") and rejects a broken copy with exit 2 and a FILE:LINE: key message.
# usage: lab_config_test.sh LAB_SH NLB_DATAPLANE DRIVERS_CFG_DIR
set -uo pipefail
lab=$1 dataplane=$2 drivers=$3
if [ "$(getconf _NPROCESSORS_ONLN)" -lt 2 ]; then
    echo "skipped: the lab config needs 2 CPUs"
    exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for mode in nat dsr tunnel; do
    "$lab" config "$mode" >"$dir/$mode.conf" || fail "lab.sh config $mode"
    out=$("$dataplane" --check-config "$dir/$mode.conf" --drivers-cfg "$drivers" 2>&1)
    rc=$?
    [ "$rc" = 0 ] && [ "$out" = "$dir/$mode.conf: OK" ] && echo "ok: $mode config accepted" ||
        fail "$mode config: rc=$rc: $out"
done

# Broken copies: an MTU beyond the af_packet profile, an unknown key, a syntax error.
sed 's/mtu = 1500;/mtu = 70000;/' "$dir/nat.conf" >"$dir/bad-mtu.conf"
line=$(grep -n 'mtu = 70000' "$dir/bad-mtu.conf" | cut -d: -f1)
sed 's/^workers = \[1\];/workers = [1]; colour = "red";/' "$dir/nat.conf" >"$dir/bad-key.conf"
sed 's/^workers = \[1\];/workers = [1/' "$dir/nat.conf" >"$dir/bad-syntax.conf"
check_bad() {  # file, expected message prefix
    local out rc
    out=$("$dataplane" --check-config "$1" --drivers-cfg "$drivers" 2>&1)
    rc=$?
    if [ "$rc" = 2 ] && [[ "$out" == "$2"* ]]; then echo "ok: rejected: $out"; else fail "$1: rc=$rc: $out"; fi
}
check_bad "$dir/bad-mtu.conf" "$dir/bad-mtu.conf:$line: key 'ports.[1].mtu': 70000 is out of range 68..1900"
check_bad "$dir/bad-key.conf" "$dir/bad-key.conf:$(grep -n colour "$dir/bad-key.conf" | cut -d: -f1): key 'colour': unknown key"
check_bad "$dir/bad-syntax.conf" "$dir/bad-syntax.conf:"

echo "$failures failure(s)"
[ "$failures" = 0 ]
