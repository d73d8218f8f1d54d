#!/usr/bin/env bash
# Load test of durable acknowledgements: the release binary on 127.0.0.1, fsync=always (or
# the policy given as $1), wrk with N connections for D seconds, B signals per request. Every
# signal appends a receipt that is fdatasync'ed before the 200 (group commit across
# concurrent requests). Signals are stamped from the current time (bench/signals.lua).
# Usage: bench/run-load.sh [always|batch] [connections] [seconds] [signals per request]
# AUTONOMIC_BIN=path runs another build of the binary (e.g. an older commit, for an A/B).
# The last lines count what the run measured: signals by result (a duplicate or an error
# needed no receipt), receipts written, fsyncs; then `autonomic verify` checks the file.
set -euo pipefail
cd "$(dirname "$0")/.."
policy=${1:-always}; conns=${2:-64}; secs=${3:-10}; per_request=${4:-1}
. bench/lib.sh
bench_setup load
cat > "$dir/autonomic.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$dir/data"
fsync = "$policy"
[sampler]
enabled = false
TOML
for t in $(seq 0 $((conns > 16 ? 15 : conns - 1))); do
  printf '[[tenants]]\nid = "load-%d"\nsku = "enterprise"\n' "$t" >> "$dir/autonomic.toml"
done
bench_start
threads=$((conns < 16 ? conns : 16))
wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s bench/signals.lua "http://$addr" \
  -- "$per_request" | sed -n '1,20p'
curl -s "http://$addr/metrics" | grep -E '^autonomic_(receipts_total|signals_total|ledger_fsync_duration_seconds_(count|sum)|checkpoints_total)'
kill -TERM $pid; wait $pid || true
"$bin" verify --data-dir "$dir/data"
