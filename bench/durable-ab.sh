#!/usr/bin/env bash
# A/B of durable acknowledgements, two builds of `autonomic` in one session, alternating
# (A B A B ...) so that both see the same disk and the same noise; then the disk's own
# fdatasync pace. Prints each run and the median signals/s of each build per scenario.
# Usage: bench/durable-ab.sh A_BIN B_BIN [seconds per run] [runs per build]
# FSYNC=batch runs the same scenarios with `fsync = "batch"` (acknowledged before the sync).
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1; b=$2; secs=${3:-6}; runs=${4:-3}; policy=${FSYNC:-always}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
# scenario = "connections signals-per-request"
for scenario in "1 1" "64 1" "16 100"; do
  set -- $scenario
  conns=$1; per=$2
  for run in $(seq "$runs"); do
    for side in A B; do
      bin=$a; [ "$side" = B ] && bin=$b
      rps=$(AUTONOMIC_BIN=$bin bench/run-load.sh "$policy" "$conns" "$secs" "$per" 2>/dev/null \
        | tee "$out.$side.$conns.$per.$run" | awk '/^Requests\/sec:/ {print $2}')
      signals=$(awk -v r="$rps" -v p="$per" 'BEGIN {printf "%.0f", r * p}')
      governed=$({ grep -o 'result="governed"} [0-9]*' "$out.$side.$conns.$per.$run" || true; } \
        | awk '{print $2}')
      other=$({ grep -E '^autonomic_signals_total' "$out.$side.$conns.$per.$run" || true; } \
        | { grep -v governed || true; } | awk '{s += $2} END {print s + 0}')
      verified=$(grep -c '^ok: ' "$out.$side.$conns.$per.$run" || true)
      echo "$side conns=$conns per_request=$per run=$run signals/s=$signals governed=$governed not_governed=$other verified=$verified"
      echo "$side $conns $per $signals" >> "$out"
    done
  done
done
echo
echo "median signals/s, fsync = $policy (A = $a, B = $b):"
for scenario in "1 1" "64 1" "16 100"; do
  set -- $scenario
  ma=$(awk -v c="$1" -v p="$2" '$1 == "A" && $2 == c && $3 == p {print $4}' "$out" | median)
  mb=$(awk -v c="$1" -v p="$2" '$1 == "B" && $2 == c && $3 == p {print $4}' "$out" | median)
  echo "conns=$1 per_request=$2: A $ma  B $mb  B/A $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", b / a}')"
done
rm -f "$out".*
echo
python3 bench/fdatasync.py "${TMPDIR:-/tmp}"
