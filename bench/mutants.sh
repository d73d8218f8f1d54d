#!/usr/bin/env bash
# Mutation testing of the core (cargo-mutants; configuration in .cargo/mutants.toml).
#
#   bench/mutants.sh count                  how many mutants the core has
#   bench/mutants.sh shards N [K...]        run shards K (default: all, 0..N-1) of N, one
#                                           after the other; counts per shard and in total
#   bench/mutants.sh diff BASE [MAX]        only the mutants of the lines changed since the
#                                           commit BASE (at most MAX, default 40; more are
#                                           sampled); exit 1 if one is missed (CI);
#                                           MUTANTS_RESUME=1 resumes a stopped run
#   bench/mutants.sh whole [JOBS]           every mutant of the core, in two stages (below);
#                                           resumes where a stopped run left off
#   bench/mutants.sh run NAME ARGS...       any other selection, e.g. `run named -F 'validate'`
#
# Each mutant is built and tested with one cargo job at a time (`--jobs 1`), under `nice -n 19`.
# The tests: the core's own (unit and core/tests, one binary: all.rs), the reference-model and property
# suites of autonomic-tests (TESTS_SUITES below) and autonomic-c's same-trace test. They are a
# subset of the workspace's tests, so a mutant they catch the workspace catches too: the
# figure is a LOWER bound on what `cargo test --workspace` catches (doc tests and the
# binary-driving suites are left out to keep a mutant under a few minutes).
#
# `whole` and `diff` test in two stages (`two_stage` below): first against the core's own tests
# only (a mutant then builds in ~10 s instead of ~40 s), then only the mutants that stage missed
# against the whole selection above (one that made the core's tests hang counts as caught: a
# timeout). `whole` resumes where a stopped run left off.
#
# Output: target/mutants/<run>/mutants.out (cargo-mutants' own files: caught.txt, missed.txt,
# unviable.txt, timeout.txt, outcomes.json, logs/), and target/mutants/missed.txt, the missed
# mutants of the last run. Installs cargo-mutants if it is missing. MUTANTS_TEST_TIMEOUT=SECONDS
# sets a mutant's test timeout (default: 3 x the baseline's test time, at least 60 s).
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS_SUITES=(prop_governor prop_chain prop_validation prop_timing sim)
C_SUITES=(same_trace)
out_root=target/mutants

command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked

# The test targets, built and run for every mutant (passed to every cargo invocation, the
# build included, so that only they are built).
targets=(--lib --test=all)
for t in "${TESTS_SUITES[@]}" "${C_SUITES[@]}"; do
  targets+=("--test=$t")
done
packages=(-p autonomic-core -p autonomic-tests -p autonomic-c)

# The mutants build in their own target dir, kept between runs for its compiled dependencies.
# Never the source tree's: cargo names a workspace crate's artifacts by its path relative to
# the workspace, so a scratch copy's mutated build would take the place of the tree's own.
mutants_target=$PWD/$out_root/build
export CARGO_TERM_COLOR=never

# cargo-mutants' own baseline runs only the mutated package's tests, which the target list
# above does not fit; so the baseline is run here, on the unmutated tree (in its usual target
# dir), and sets the timeouts: a mutant's tests may take 3 x the baseline's, at least 60 s;
# its build 1 800 s (the first one also builds the dependencies).
timeouts=()
baseline() {
  local started secs
  mkdir -p "$out_root"
  echo "baseline: building and running the selected tests on the unmutated tree" >&2
  nice -n 19 cargo test -q "${packages[@]}" "${targets[@]}" --no-run > "$out_root/baseline.log" 2>&1 ||
    { tail -20 "$out_root/baseline.log" >&2; echo "baseline build failed" >&2; exit 1; }
  started=$(date +%s)
  nice -n 19 cargo test -q "${packages[@]}" "${targets[@]}" >> "$out_root/baseline.log" 2>&1 ||
    { tail -40 "$out_root/baseline.log" >&2; echo "baseline tests failed: fix them first" >&2; exit 1; }
  secs=$(($(date +%s) - started))
  echo "baseline: tests pass in ${secs} s" >&2
  # A baseline slowed by other work on the machine makes long timeouts: MUTANTS_TEST_TIMEOUT
  # (seconds) overrides them.
  timeouts=(--baseline=skip --timeout "${MUTANTS_TEST_TIMEOUT:-$((secs * 3 > 60 ? secs * 3 : 60))}"
    --build-timeout 1800)
}

# MUTANTS_TARGETS: which test targets a mutant is tested with (default: all of `targets`);
# MUTANTS_JOBS: mutants tested at once (default 1).
mutants() {
  local args=() t
  local -n selected=${MUTANTS_TARGETS:-targets}
  for t in "${selected[@]}"; do args+=("--cargo-arg=$t"); done
  local target=(env CARGO_TARGET_DIR="${MUTANTS_BUILD_DIR:-$mutants_target}")
  # Parallel jobs each build in their own copy of the tree (cargo-mutants' default): one
  # shared target dir would let one job's build replace the binaries another is testing.
  [ "${MUTANTS_JOBS:-1}" -gt 1 ] && target=(env -u CARGO_TARGET_DIR)
  "${target[@]}" nice -n 19 cargo mutants \
    --package autonomic-core --jobs "${MUTANTS_JOBS:-1}" --colors never --no-times \
    "${args[@]}" "$@"
}

# The core's own tests: the first stage of `whole`.
core_targets=(--lib --test=all)

# Prints "caught missed unviable timeout" of a finished run's mutants.out.
counts() {
  local n
  for kind in caught missed unviable timeout; do
    n=0
    [ -f "$1/$kind.txt" ] && n=$(grep -c . "$1/$kind.txt" || true)
    printf '%s ' "$n"
  done
}

# Runs cargo-mutants into target/mutants/$1 with the rest as its arguments; prints one line.
run_one() {
  local name=$1 started status
  shift
  rm -rf "${out_root:?}/$name"
  mkdir -p "$out_root/$name"
  started=$(date +%s)
  status=0
  mutants --output "$out_root/$name" "${timeouts[@]}" "$@" > "$out_root/$name/log.txt" 2>&1 || status=$?
  # 0 all caught, 2 some missed, 3 some timed out; anything else is a failed run.
  case $status in
    0 | 2 | 3) ;;
    *)
      tail -20 "$out_root/$name/log.txt" >&2
      echo "$name: cargo mutants failed (exit $status); log: $out_root/$name/log.txt" >&2
      return 1
      ;;
  esac
  read -r caught missed unviable timeout <<< "$(counts "$out_root/$name/mutants.out")"
  printf '%-16s caught %4d  missed %4d  unviable %4d  timeout %4d  (%d s)\n' \
    "$name" "$caught" "$missed" "$unviable" "$timeout" "$(($(date +%s) - started))"
}

# The score over viable mutants: (caught + timeout) / (caught + missed + timeout). A mutant
# that makes the tests hang fails them (as CI would); timeouts are also shown apart, since a
# slow machine can turn a slow pass into one.
score() {
  awk -v c="$1" -v m="$2" -v t="$3" \
    'BEGIN { v = c + m + t; if (v) printf "%.1f %% of %d viable", 100 * (c + t) / v, v; else printf "no viable mutants" }'
}

# A mutant's name as a regex matching only itself (the regex crate's metacharacters escaped).
regex_quote() {
  printf '%s' "$1" | sed 's/[][\\.+*?(){}|^$]/\\&/g'
}

# add_lines DEST FILE...: DEST becomes the sorted union of its lines and those of the FILEs
# that exist.
add_lines() {
  local dest=$1 f
  shift
  {
    [ -f "$dest" ] && cat "$dest"
    for f in "$@"; do [ -f "$f" ] && cat "$f"; done
    true
  } | sort -u > "$dest.new"
  mv "$dest.new" "$dest"
}

# Tests the mutants ARGS select (cargo-mutants arguments) into target/mutants/NAME in two
# stages: first against the core's own tests only (a mutant then builds in seconds), then the
# mutants that stage missed against the whole selection (named one by one, with `--iterate`
# carrying what the first stage caught into the counts). A mutant the core's tests catch the
# selection catches too (they are part of it), so the outcome is the selection's. Pass
# `--iterate` among ARGS to resume an earlier run in the same directory. Builds in its own
# target dir, without debug info, linking with mold when it is installed. Needs `baseline`
# first (for the second stage's timeout). Prints the counts; exits on a failed run.
two_stage() {
  local name=$1 dir=$out_root/$1 status
  shift
  mkdir -p "$dir"
  (
    export MUTANTS_BUILD_DIR=$PWD/$out_root/build-$name
    export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0
    if command -v mold > /dev/null; then export RUSTFLAGS="-C link-arg=-fuse-ld=mold"; fi
    echo "$name, stage 1: against the core's own tests" >&2
    # With cargo-nextest installed, stage 1 runs each test in its own process and stops at the
    # first failure (libtest runs a whole test binary to its end): the same outcome, sooner.
    local runner=()
    command -v cargo-nextest > /dev/null && runner=(--test-tool nextest)
    # Every timeout of earlier passes, in timeouts.txt: counted as caught, never run again
    # (a mutant is named by its line, so one of a changed line is a new mutant, and runs).
    local hung=() m
    add_lines "$dir/timeouts.txt" "$dir/stage1.out/timeout.txt" "$dir/mutants.out/timeout.txt"
    # cargo-mutants' resume list (previously_caught.txt) mixes the caught and the unviable:
    # unviables.txt keeps the unviable apart, after every stage, so a stopped run loses none.
    add_lines "$dir/unviables.txt" "$dir/stage1.out/unviable.txt" "$dir/mutants.out/unviable.txt"
    while IFS= read -r m; do hung+=(--exclude-re "^$(regex_quote "$m")\$"); done < "$dir/timeouts.txt"
    status=0
    # The core's tests take a few seconds: a mutant that makes them loop is stopped at 60 s.
    MUTANTS_TARGETS=core_targets mutants --output "$dir" --baseline=skip --build-timeout 1800 \
      --timeout "${MUTANTS_TEST_TIMEOUT:-60}" --test-package autonomic-core "${runner[@]}" \
      "${hung[@]}" "$@" > "$dir/stage1.log" 2>&1 || status=$?
    case $status in 0 | 2 | 3) ;; *) tail -20 "$dir/stage1.log" >&2; exit 1 ;; esac
    rm -rf "$dir/stage1.out" && cp -r "$dir/mutants.out" "$dir/stage1.out"
    add_lines "$dir/timeouts.txt" "$dir/stage1.out/timeout.txt"
    add_lines "$dir/unviables.txt" "$dir/stage1.out/unviable.txt"
    printf '%s, stage 1 (core tests): caught %d  missed %d  unviable %d  timeout %d\n' \
      "$name" $(counts "$dir/stage1.out")
    # Stage 2 tests only what stage 1 missed, each mutant named by an exact `--re`. A mutant
    # that made the core's tests hang has failed them (CI would fail the same way): it counts
    # as caught, from timeouts.txt, and is not run again against the slower selection.
    local survivors=()
    [ -f "$dir/stage1.out/missed.txt" ] && mapfile -t survivors < "$dir/stage1.out/missed.txt"
    if [ ${#survivors[@]} -eq 0 ]; then
      echo "$name, stage 2: nothing to do, stage 1 missed no mutant" >&2
      exit 0
    fi
    echo "$name, stage 2: the ${#survivors[@]} survivors of stage 1, against the whole selection" >&2
    local args=() a
    for a in "$@"; do [ "$a" = --iterate ] || args+=("$a"); done
    for m in "${survivors[@]}"; do args+=(--re "^$(regex_quote "$m")\$"); done
    status=0
    mutants --output "$dir" "${timeouts[@]}" --iterate "${args[@]}" > "$dir/stage2.log" 2>&1 ||
      status=$?
    case $status in 0 | 2 | 3) ;; *) tail -20 "$dir/stage2.log" >&2; exit 1 ;; esac
  ) || exit 1
  # Counted over the mutants the selection has now: a resumed run's lists also name mutants of
  # lines that have changed since (cargo-mutants names a mutant by file, line and column).
  local out=$dir/mutants.out caught missed unviable timeout args=() a
  for a in "$@"; do [ "$a" = --iterate ] || args+=("$a"); done
  mutants --list "${args[@]}" | sort -u > "$dir/current.txt"
  of_current() { cat "$@" 2> /dev/null | sort -u | comm -12 "$dir/current.txt" - | grep -c . || true; }
  # Never count an unviable mutant of an earlier pass (in previously_caught.txt) as caught.
  add_lines "$dir/unviables.txt" "$out/unviable.txt" "$dir/stage1.out/unviable.txt"
  cat "$out/caught.txt" "$out/previously_caught.txt" 2> /dev/null | sort -u |
    comm -23 - "$dir/unviables.txt" | comm -23 - "$dir/timeouts.txt" > "$dir/caught-all.txt" || true
  caught=$(of_current "$dir/caught-all.txt")
  missed=$(of_current "$out/missed.txt")
  timeout=$(of_current "$out/timeout.txt" "$dir/timeouts.txt")
  unviable=$(of_current "$dir/unviables.txt")
  printf '%s: caught %d  missed %d  unviable %d  timeout %d: %s\n' "$name" "$caught" "$missed" \
    "$unviable" "$timeout" "$(score "$caught" "$missed" "$timeout")"
}

case ${1:-} in
  count)
    mutants --list | grep -c .
    ;;
  shards)
    n=${2:?usage: bench/mutants.sh shards N [K...]}
    shift 2
    shards=("$@")
    [ ${#shards[@]} -gt 0 ] || mapfile -t shards < <(seq 0 $((n - 1)))
    baseline
    total=(0 0 0 0)
    mkdir -p "$out_root"
    : > "$out_root/missed.txt.new"
    for k in "${shards[@]}"; do
      run_one "shard-$k-of-$n" --shard "$k/$n"
      dir=$out_root/shard-$k-of-$n/mutants.out
      read -r -a c <<< "$(counts "$dir")"
      for i in 0 1 2 3; do total[i]=$((total[i] + c[i])); done
      [ -f "$dir/missed.txt" ] && cat "$dir/missed.txt" >> "$out_root/missed.txt.new"
    done
    mv "$out_root/missed.txt.new" "$out_root/missed.txt"
    printf 'total (%d of %d shards): caught %d  missed %d  unviable %d  timeout %d: %s\n' \
      "${#shards[@]}" "$n" "${total[@]}" "$(score "${total[0]}" "${total[1]}" "${total[3]}")"
    echo "missed mutants: $out_root/missed.txt"
    ;;
  diff)
    base=${2:?usage: bench/mutants.sh diff BASE [MAX]}
    max=${3:-40}
    mkdir -p "$out_root"
    diff_file=$out_root/in-diff.patch
    git diff "$base" -- core/src > "$diff_file"
    # A listing that fails (a broken .cargo/mutants.toml, say) fails the run: never "0 mutants".
    listed=$(mutants --in-diff "$diff_file" --list) ||
      { echo "cargo mutants --list failed: see above" >&2; exit 1; }
    count=$(printf '%s' "$listed" | grep -c . || true)
    echo "mutants in the lines changed since $(git rev-parse --short "$base"): $count"
    if [ "$count" -eq 0 ]; then
      exit 0
    fi
    baseline
    sample=()
    if [ "$count" -gt "$max" ]; then
      n=$(((count + max - 1) / max))
      sample=(--shard "0/$n")
      echo "!!! MORE THAN $max MUTANTS: ONLY A SAMPLE IS TESTED, every ${n}th (shard 0/$n, round-robin)."
      echo "!!! The others are not checked here; run bench/mutants.sh shards for the whole core."
    fi
    # MUTANTS_RESUME=1 goes on from a stopped run of the same diff (what it caught is skipped).
    resume=()
    if [ -n "${MUTANTS_RESUME:-}" ] && [ -d "$out_root/in-diff/mutants.out" ]; then
      resume=(--iterate)
    else
      rm -rf "${out_root:?}/in-diff"
    fi
    two_stage in-diff --in-diff "$diff_file" "${sample[@]}" "${resume[@]}"
    cp "$out_root/in-diff/mutants.out/missed.txt" "$out_root/missed.txt" 2> /dev/null || : > "$out_root/missed.txt"
    if [ -s "$out_root/missed.txt" ]; then
      echo "MISSED: the tests do not catch these mutants of the changed lines:"
      cat "$out_root/missed.txt"
      exit 1
    fi
    ;;
  whole)
    export MUTANTS_JOBS=${2:-1}
    baseline
    resume=()
    [ -d "$out_root/whole/mutants.out" ] && resume=(--iterate)
    two_stage whole "${resume[@]}"
    printf 'whole core: %d mutants\n' "$(mutants --list | grep -c .)"
    cp "$out_root/whole/mutants.out/missed.txt" "$out_root/missed.txt" 2> /dev/null || : > "$out_root/missed.txt"
    echo "missed mutants: $out_root/missed.txt"
    ;;
  run)
    name=${2:?usage: bench/mutants.sh run NAME [cargo-mutants args...]}
    shift 2
    baseline
    run_one "$name" "$@"
    cp "$out_root/$name/mutants.out/missed.txt" "$out_root/missed.txt" 2> /dev/null || : > "$out_root/missed.txt"
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
