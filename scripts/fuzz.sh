#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (the OData $filter parser with the query options and SQL
# lowering, and the $batch codec), each for N seconds.
#
#   scripts/fuzz.sh [seconds per target, default 60] [target…]   (targets: filter batch)
#
# Needs a nightly toolchain (rustup); installs cargo-fuzz when missing. fuzz/ is its own
# workspace with its own target directory (fuzz/target), so CARGO_TARGET_DIR is unset here.
# New inputs go to fuzz/corpus/<target> (not committed); fuzz/seeds/<target> holds the
# committed starting inputs. Crashes land in fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if [ $# -gt 0 ]; then shift; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(filter batch)
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
unset CARGO_TARGET_DIR
cd fuzz
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  dict=()
  if [ -f "$target.dict" ]; then
    dict=("-dict=$target.dict")
  fi
  echo "== fuzzing $target for ${seconds}s"
  cargo +nightly fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 "${dict[@]}"
done
