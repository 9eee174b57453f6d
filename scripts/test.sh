#!/usr/bin/env bash
# Builds nlb with warnings as errors and runs every test under meson, then the
# concurrent tests again under ThreadSanitizer (a build directory of their own),
# then the fuzz targets for 45 s each (clang, libFuzzer; build-fuzz).
# On a fresh Debian 12 machine as root it first installs what is missing.
# Ends with one line "N passed, N failed[, N skipped]" taken from meson's summaries.
set -uo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

builddir=${NLB_BUILDDIR:-build}
tsandir=${NLB_TSAN_BUILDDIR:-build-tsan}
fuzzdir=${NLB_FUZZ_BUILDDIR:-build-fuzz}
ok=0; failed=0; skipped=0; rc=0

# Adds the counts of one meson test log to the totals.
count() {
    local log=$1 n
    num() { grep -E "^$1:" "$log" | tail -1 | awk '{print $NF}'; }
    n=$(num Ok); ok=$((ok + ${n:-0}))
    for k in Fail 'Unexpected Pass' Timeout; do n=$(num "$k"); failed=$((failed + ${n:-0})); done
    n=$(num Skipped); skipped=$((skipped + ${n:-0}))
}
summary() {
    if [ "$skipped" -gt 0 ]; then
        echo "$ok passed, $failed failed, $skipped skipped"
    else
        echo "$ok passed, $failed failed"
    fi
}

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
count "$log"

# The lock-free structures' concurrent tests under ThreadSanitizer. Only when the
# whole suite was asked for (no test names or suite options given).
if [ $# -eq 0 ]; then
    tsan_tests=(snapshot-thread conn-concurrent-thread)
    if [ ! -f "$tsandir/build.ninja" ]; then
        meson setup "$tsandir" -Dwerror=true -Dbuildtype=debugoptimized -Dsanitizer_tests=thread \
            -Dbench=false -Dcontrol=false >/dev/null || failed=$((failed + 1))
    fi
    if meson compile -C "$tsandir" test-snapshot-thread test-conn-concurrent-thread; then
        meson test -C "$tsandir" --print-errorlogs "${tsan_tests[@]}" 2>&1 | tee "$log"
        [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
        count "$log"
    else
        failed=$((failed + 1)); rc=1
    fi
fi

# The libFuzzer targets (tests/fuzz), each for a bounded time on a copy of its
# committed corpus, in a clang build directory of their own. Only for the whole
# suite; without clang or libFuzzer the step says why and counts nothing.
if [ $# -eq 0 ]; then
    fuzz_targets=(fuzz-pipeline fuzz-config fuzz-api-validation)
    if ! command -v clang++ >/dev/null 2>&1; then
        echo "fuzz: skipped: clang++ not found (the fuzz targets need clang's libFuzzer)"
    else
        if [ ! -f "$fuzzdir/build.ninja" ]; then
            CXX=clang++ meson setup "$fuzzdir" -Dwerror=true -Dbuildtype=debugoptimized -Dfuzz=true \
                -Dbench=false >/dev/null || failed=$((failed + 1))
        fi
        # meson defines the targets only when clang links -fsanitize=fuzzer (tests/fuzz/meson.build).
        present=()
        for t in "${fuzz_targets[@]}"; do
            grep -q "^build tests/fuzz/$t:" "$fuzzdir/build.ninja" 2>/dev/null && present+=("$t")
        done
        if [ ! -f "$fuzzdir/build.ninja" ]; then
            rc=1  # meson setup failed (counted above)
        elif [ ${#present[@]} -eq 0 ]; then
            echo "fuzz: skipped: $fuzzdir defines no fuzz targets (it needs clang++ linking" \
                "-fsanitize=fuzzer; Debian: libclang-rt-14-dev; see its meson-log.txt)"
        elif meson compile -C "$fuzzdir" "${present[@]}"; then
            meson test -C "$fuzzdir" --print-errorlogs --suite fuzz 2>&1 | tee "$log"
            [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
            count "$log"
        else
            failed=$((failed + 1)); rc=1
        fi
    fi
fi
rm -f "$log"
summary
exit "$rc"
