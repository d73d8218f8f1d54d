#!/usr/bin/env bash
# The governor's bare transition (criterion bench `governor/step`) side by side with the same
# table as an Erlang gen_statem (bench/erlang/governor.erl), both on the same 1 000 000-event
# trace, alternating Rust / Erlang for $rounds rounds in one run. Each round checks that both
# sides print the same checksum (the same table), then the script prints the medians of
# ns/event and the ratios Erlang/Rust. Each round also measures the core's whole signal path
# (criterion bench `signal_path`: validation, entitlement, SHA-256 id, dedup, governor) so the
# per-event ratio of a whole signal to a gen_statem call comes from the same run.
# Usage: bench/governor-vs-erlang.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
events=1000000
if ! command -v escript >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq erlang-nox
fi
dir=$(mktemp -d -p "${TMPDIR:-/tmp}" governor-vs-erlang.XXXX)
trap 'rm -rf "$dir"' EXIT
erlc -o "$dir" bench/erlang/governor.erl
cargo bench -q -p autonomic-core --bench governor --no-run
cargo bench -q -p autonomic-core --bench core --no-run
export CRITERION_HOME=$dir/criterion
# The median of the numbers on stdin (one per line, odd count).
middle() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# The value of KEY= in the line of stdin that matches PATTERN.
field() { awk -v p="$1" -v k="$2=" '$0 ~ p {for (i = 1; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1)}'; }
for round in $(seq "$rounds"); do
  timeout 120 cargo bench -q -p autonomic-core --bench governor -- --noplot > "$dir/rust.out"
  rust_sum=$(field 'mode=step' checksum < "$dir/rust.out")
  # criterion's median time of one iteration (the whole trace), in ns.
  rust_ns=$(python3 -c 'import json, sys; e = json.load(open(sys.argv[1])); print(e["median"]["point_estimate"] / int(sys.argv[2]))' \
    "$CRITERION_HOME/governor/step/new/estimates.json" "$events")
  timeout 120 cargo bench -q -p autonomic-core --bench core -- --noplot --warm-up-time 1 \
    --measurement-time 3 '^signal_path$' > /dev/null 2>&1
  signal_ns=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
    "$CRITERION_HOME/signal_path/new/estimates.json")
  timeout 120 erl -noshell -pa "$dir" -eval "governor:main([\"$events\"])" -s init stop > "$dir/erl.out"
  call_ns=$(field 'mode=call' ns_per_event < "$dir/erl.out")
  pure_ns=$(field 'mode=pure' ns_per_event < "$dir/erl.out")
  for sum in $(field 'mode=' checksum < "$dir/erl.out"); do
    [ "$sum" = "$rust_sum" ] || { echo "checksums differ: rust $rust_sum, erlang $sum" >&2; exit 1; }
  done
  echo "round=$round rust_step_ns=$rust_ns rust_signal_ns=$signal_ns erlang_call_ns=$call_ns erlang_pure_ns=$pure_ns checksum=$rust_sum"
  echo "$rust_ns $call_ns $pure_ns $signal_ns" >> "$dir/rounds"
done
rust=$(awk '{print $1}' "$dir/rounds" | middle)
call=$(awk '{print $2}' "$dir/rounds" | middle)
pure=$(awk '{print $3}' "$dir/rounds" | middle)
signal=$(awk '{print $4}' "$dir/rounds" | middle)
echo "median ns/event over $rounds rounds: rust step=$rust rust signal path=$signal erlang call=$call erlang pure=$pure"
awk -v r="$rust" -v c="$call" -v p="$pure" -v s="$signal" \
  'BEGIN {printf "ratio erlang/rust: call=%.1f pure=%.1f; gen_statem call / core signal path=%.1f\n", c / r, p / r, c / s}'
