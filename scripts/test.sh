#!/usr/bin/env bash
# Builds nlb with warnings as errors and runs every test under meson.
# On a fresh Debian 12 machine as root it first installs what is missing.
# Ends with one line "N passed, N failed[, N skipped]" taken from meson's summary.
set -uo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

builddir=${NLB_BUILDDIR:-build}
if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" -Dwerror=true -Dbuildtype=release || { echo "0 passed, 1 failed"; exit 1; }
fi
if ! meson compile -C "$builddir"; then
    echo "0 passed, 1 failed"
    exit 1
fi

log=$(mktemp)
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

num() { grep -E "^$1:" "$log" | tail -1 | awk '{print $NF}'; }
ok=$(num Ok); fail=$(num Fail); xpass=$(num 'Unexpected Pass'); timeout=$(num Timeout); skipped=$(num Skipped)
ok=${ok:-0}; fail=${fail:-0}; xpass=${xpass:-0}; timeout=${timeout:-0}; skipped=${skipped:-0}
failed=$((fail + xpass + timeout))
rm -f "$log"
if [ "$skipped" -gt 0 ]; then
    echo "$ok passed, $failed failed, $skipped skipped"
else
    echo "$ok passed, $failed failed"
fi
exit "$rc"
