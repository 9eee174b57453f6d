#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# nlb-synflood refuses what could send outside the lab's address space or run unbounded:
# a destination outside 198.18.0.0/15, a missing or zero --count, bad --exclude / --dst-mac /
# --dport values, unknown options, an interface that does not exist. Each is exit 2 with a
# message naming the problem, and nothing is sent (no root needed: it fails before opening
# its socket).
#
# usage: synflood_args_test.sh NLB_SYNFLOOD
set -uo pipefail
tool=$1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

good=(--iface nlb-no-such-if0 --dst-mac 02:00:00:00:00:01 --dst 198.18.1.1 --dport 80 --count 10)
# expect WANT_TEXT ARGS...: exit 2 and WANT_TEXT in stderr.
expect() {
    local want=$1 out rc
    shift
    out=$("$tool" "$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" = 2 ] && grep -qF -- "$want" <<<"$out"; then
        ok "refused ($want): $*"
    else
        fail "exit $rc, '$out' for: $*"
    fi
}
expect "--dst must lie in 198.18.0.0/15" "${good[@]/198.18.1.1/10.0.0.1}"
expect "--dst must lie in 198.18.0.0/15" "${good[@]/198.18.1.1/198.20.0.1}"
expect "--dst must lie in 198.18.0.0/15" "${good[@]/198.18.1.1/8.8.8.8}"
expect "--dst must be an IPv4 address" "${good[@]/198.18.1.1/2001:2::1}"
expect "--count must be 1..1000000000" "${good[@]}" --count 0
expect "are required" --iface eth0 --dst-mac 02:00:00:00:00:01 --dst 198.18.1.1 --dport 80
expect "--exclude must be a /24" "${good[@]}" --exclude 198.18.0.0/16
expect "--dst-mac must look like" "${good[@]/02:00:00:00:00:01/02:00:00:00:01}"
expect "--dport must be 1..65535" "${good[@]}" --dport 70000
expect "unknown option" "${good[@]}" --src 10.0.0.1
expect "Failed to find interface nlb-no-such-if0" "${good[@]}"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
