#!/usr/bin/env bash
# Builds the Cortex-M4F firmware in release and runs it under QEMU (mps2-an386) three times: at
# the small capacities, at the smallest useful ones (the `minimal` feature) and at the defaults
# with fewer dedup ids (`default-tenants`). Checks each run's exit status and its final
# "chain verified" line, and prints the ELF's flash and RAM use.
# Installs what it needs when missing: the thumbv7em-none-eabihf target, qemu-system-arm and
# a `size` (binutils-arm-none-eabi) when neither arm-none-eabi-size nor llvm-size is on PATH.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
timeout_s=60
target=thumbv7em-none-eabihf
elf="${CARGO_TARGET_DIR:-$here/target}/$target/release/autonomic-cortex-m"

apt_install() {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

rustup target list --installed | grep -qx "$target" || rustup target add "$target"
command -v qemu-system-arm >/dev/null || apt_install qemu-system-arm
size_tool="$(command -v arm-none-eabi-size || command -v llvm-size || true)"
if [ -z "$size_tool" ]; then
  apt_install binutils-arm-none-eabi
  size_tool="$(command -v arm-none-eabi-size)"
fi

# Flash holds the vector table, code, read-only data and the image of .data; RAM holds .data,
# .bss and the stack (its high-water mark, $1, as the firmware measured it).
sizes() {
  "$size_tool" -A "$elf" | awk -v stack="$1" '
    $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { code += $2 }
    $1 == ".data" { data = $2 }
    $1 == ".bss" || $1 == ".uninit" { bss += $2 }
    END { printf "flash %d bytes (code+rodata %d, .data image %d); RAM %d bytes (.data %d, .bss %d, stack %d)\n",
      code + data, code, data, data + bss + stack, data, bss, stack }'
}

for features in "" minimal default-tenants; do
  label="${features:-small}"
  echo "== $label capacities"
  cargo build --release --locked ${features:+--features "$features"}
  status=0
  output="$(timeout "$timeout_s" cargo run --release --locked ${features:+--features "$features"} 2>/dev/null)" || status=$?
  echo "$output"
  if [ "$status" -ne 0 ]; then
    echo "FAIL ($label): QEMU exited with status $status" >&2
    exit 1
  fi
  if ! grep -q "^chain verified: .* every expectation held$" <<<"$output"; then
    echo "FAIL ($label): no 'chain verified' line" >&2
    exit 1
  fi
  stack="$(sed -n 's/^stack high-water: \([0-9]*\) bytes$/\1/p' <<<"$output")"
  "$size_tool" "$elf"
  echo "$label: $(sizes "$stack")"
done
echo "cortex-m: 3 passed, 0 failed"
