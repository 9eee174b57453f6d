#!/usr/bin/env bash
# Runs one libFuzzer target for CI: copies the committed seed corpus to a
# temporary directory (so the run never modifies it), fuzzes with the given
# libFuzzer options, and keeps any crashing input in the artifact directory.
# Usage: run_fuzz.sh TARGET SEED_DIR ARTIFACT_DIR [libFuzzer options...]
# Exits non-zero when the target crashes, leaks or breaks an invariant.
set -euo pipefail
target=$(realpath "$1") seeds=$(realpath "$2") artifacts=$(realpath -m "$3")
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds/." "$work/"
mkdir -p "$artifacts"
# Run inside the temporary directory: nothing a target might write lands in the tree.
cd "$work"
"$target" -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" "$work"
