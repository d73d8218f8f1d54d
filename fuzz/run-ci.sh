#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS, default 30) from the committed seed
# corpus; exits non-zero on any crash, leak, timeout or build failure. Installs cargo-fuzz if
# it is missing. Needs the nightly toolchain.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-30}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked || cargo install cargo-fuzz --locked
fi

targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build -s none
status=0
for t in $targets; do
  echo "==== fuzz $t for ${seconds}s"
  # A scratch copy of the seeds, so CI does not grow the committed corpus directory.
  work=$(mktemp -d)
  cp corpus/"$t"/seed-* "$work"/ 2>/dev/null || true
  if ! cargo +nightly fuzz run -s none "$t" "$work" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 2>&1 | tail -n 25; then
    echo "fuzz target $t FAILED (artifacts in fuzz/artifacts/$t)"
    status=1
  fi
  rm -rf "$work"
done
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
echo "fuzz: every target ran ${seconds}s without a crash"
