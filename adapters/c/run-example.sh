#!/usr/bin/env bash
# Builds the staticlib (release), compiles examples/agent.c against include/autonomic.h with
# -Wall -Wextra -Werror, runs it; then again under AddressSanitizer + UBSan. Exits non-zero
# on any failure.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/tmp/c-example
mkdir -p "$out"

cargo build --release -p autonomic-c --lib
lib=$target/release/libautonomic_c.a
cc=${CC:-cc}
flags=(-std=c11 -D_POSIX_C_SOURCE=200809L -D_ISOC11_SOURCE -Wall -Wextra -Werror -Iinclude)
libs=("$lib" -lpthread -ldl -lm)

echo "== agent (plain)"
"$cc" "${flags[@]}" -O2 examples/agent.c "${libs[@]}" -o "$out/agent"
"$out/agent" "$out/ledger-plain.bin"

echo "== agent (-fsanitize=address,undefined)"
"$cc" "${flags[@]}" -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
  -fno-sanitize-recover=all examples/agent.c "${libs[@]}" -o "$out/agent-asan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 "$out/agent-asan" "$out/ledger-asan.bin"
echo "run-example: ok"
