# Shared by the load scripts (source it after `cd` to the repository root).
#   bench_setup NAME  — checks wrk, picks the binary ($AUTONOMIC_BIN, else a release build),
#                       makes a scratch dir $dir (removed on exit) for $dir/autonomic.toml
#   bench_start       — runs the sidecar on that config, sets $pid and $addr
bench_setup() {
  command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 2; }
  bin=${AUTONOMIC_BIN:-}
  if [ -z "$bin" ]; then
    cargo build --release --bin autonomic -q
    bin=./target/release/autonomic
  fi
  dir=$(mktemp -d -p "${TMPDIR:-/tmp}" "autonomic-$1.XXXX")
  pid=
  # The sidecar may have stopped already: a failed kill must not fail the script (set -e).
  trap '{ [ -z "$pid" ] || kill $pid 2>/dev/null || true; }; rm -rf "$dir"' EXIT
}

bench_start() {
  "$bin" run --config "$dir/autonomic.toml" 2> "$dir/run.log" &
  pid=$!
  for _ in $(seq 100); do [ -s "$dir/data/listen.addr" ] && break; sleep 0.05; done
  addr=$(cat "$dir/data/listen.addr")
}
