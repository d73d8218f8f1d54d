#!/usr/bin/env bash
# Durable signal latency with and without 16 clients looping on big ledger reads.
# Preloads 60 000 receipts (every preload signal distinct and state-changing) (120 requests of 500 signals), then runs wrk with 1 connection
# posting signals for S seconds, first alone, then while a second wrk loops 16 connections on
# `GET /v1/ledger?tail=T`. Prints the signal latencies of both runs, the reads served, and
# the signals governed (every one must be: see bench/signals.lua).
# Usage: bench/reads-during-writes.sh [seconds] [tail]   (AUTONOMIC_BIN=path for another build)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}; tail=${2:-1000}
. bench/lib.sh
bench_setup reads
cat > "$dir/autonomic.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$dir/data"
ledger_capacity = 65536
[sampler]
enabled = false
[[tenants]]
id = "load-0"
sku = "enterprise"
[[tenants]]
id = "load-1"
sku = "enterprise"
[[tenants]]
id = "bulk"
sku = "enterprise"
TOML
bench_start
now=$(date +%s%3N)
for r in $(seq 0 119); do
  python3 - "$r" "$now" > "$dir/batch.json" <<'PY'
import sys
r, now = int(sys.argv[1]), int(sys.argv[2])
out = []
metrics = ["cpu", "memory", "latency", "error_rate", "disk", "network", "connections"]
for i in range(500):
    n = r * 500 + i
    pair, high = n // 2, n % 2 == 0
    slot, window = pair % 105, pair // 105
    value = 75 + slot // 7 if high else slot // 7
    out.append('{"tenant":"bulk","metric":"%s","value":%d,"ts_ms":%d}'
               % (metrics[slot % 7], value, now + window * 5000))
print("[" + ",".join(out) + "]")
PY
  curl -s -o /dev/null -w '' -H 'content-type: application/json' --data-binary @"$dir/batch.json" "http://$addr/v1/signals"
done
echo "preloaded: $(curl -s "http://$addr/metrics" | grep -E '^autonomic_receipts_total')"
echo "== signals alone (1 connection, ${secs}s)"
wrk -t1 -c1 -d"${secs}s" --latency -s bench/signals.lua "http://$addr" -- 1 | grep -E 'Requests/sec|50%|90%|99%'
echo "== signals while 16 connections loop on GET /v1/ledger?tail=$tail"
wrk -t2 -c16 -d"$((secs + 2))s" "http://$addr/v1/ledger?tail=$tail" > "$dir/reads.txt" &
rpid=$!
sleep 1
wrk -t1 -c1 -d"${secs}s" --latency -s bench/signals.lua "http://$addr" -- 1 1 | grep -E 'Requests/sec|50%|90%|99%'
wait $rpid || true
echo "reads: $(grep -E 'requests in|Non-2xx' "$dir/reads.txt" | tr '\n' ' ')"
curl -s "http://$addr/metrics" | grep -E '^autonomic_signals_total'
echo "rss: $(ps -o rss= -p $pid) KiB"
