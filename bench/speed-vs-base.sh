#!/usr/bin/env bash
# Unique states per second of the checker at a base commit (default d01a514, the build the
# issue-11 target is measured against) and at HEAD, on the same machine in the same run.
#
#   bash bench/speed-vs-base.sh [RUNS] [BASE]      (RUNS default 5, BASE default d01a514)
#
# Builds both with `cargo build --release` (BASE in a temporary git worktree with its own target
# directory, removed at the end), then runs `check --strategy dfs --quiet` at the default bounds
# of design `current` with --threads 1 and --threads 2, RUNS rounds, each round running base and
# head at 1 thread then at 2, so that drift in the machine's load hits all four alike. Prints the median
# unique states/s of each and the ratio HEAD / BASE.
#
# The model grew after d01a514 (more actions, about twice the states at the default bounds), so
# compare states per second, not seconds: the runs explore different state spaces.
# Run it on a quiet machine (check `uptime`); it prints the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BASE=${2:-d01a514}
ARGS=(check --variant current --strategy dfs --quiet)
tmp=$(mktemp -d)
cleanup() {
  git worktree remove --force "$tmp/base" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "building $BASE and HEAD ($(git rev-parse --short HEAD)) in release mode..." >&2
git worktree add --detach --quiet "$tmp/base" "$BASE"
(cd "$tmp/base" && CARGO_TARGET_DIR="$tmp/base-target" cargo build --release --quiet -p warmcheck-conformance)
cargo build --release --quiet -p warmcheck-conformance
base_bin="$tmp/base-target/release/warmcheck"
head_bin="./target/release/warmcheck"

# Unique states/s of one run, from the summary line `states S, unique states U, unique states/s R, ...`.
rate() { # binary, threads
  "$1" "${ARGS[@]}" --threads "$2" --trace-dir "$tmp/traces" \
    | sed -nE 's/^states [0-9]+, unique states ([0-9]+), unique states\/s ([0-9]+),.*/\2 \1/p'
}

echo "load before: $(uptime)"
declare -A rates unique
# Rounds outermost: each round runs both builds at both thread counts back to back, so that a
# slow spell of the machine hits the 1- and 2-thread figures alike (with the thread counts in
# separate phases, one slow phase once made the 2-thread/1-thread ratio of both builds 0.8 of
# what the interleaved rounds gave).
for _ in $(seq "$RUNS"); do
  for t in 1 2; do
    for which in base head; do
      bin=$base_bin; [ "$which" = head ] && bin=$head_bin
      read -r r u < <(rate "$bin" "$t")
      rates[$which.$t]+="$r "
      unique[$which.$t]=$u
    done
  done
done
echo "load after:  $(uptime)"
echo
echo "| build | threads | unique states | unique states/s (median of $RUNS) |"
echo "|---|---|---|---|"
for t in 1 2; do
  for which in base head; do
    label=$BASE; [ "$which" = head ] && label="HEAD $(git rev-parse --short HEAD)"
    m=$(tr ' ' '\n' <<<"${rates[$which.$t]}" | grep . | median)
    printf '| %s | %s | %s | %.0f |\n' "$label" "$t" "${unique[$which.$t]}" "$m"
    eval "med_${which}_$t=$m"
  done
done
echo
for t in 1 2; do
  b=$(eval echo "\$med_base_$t"); h=$(eval echo "\$med_head_$t")
  printf 'threads %s: HEAD / %s = %.2fx unique states/s\n' "$t" "$BASE" "$(echo "$h / $b" | bc -l)"
done
printf 'HEAD 2 threads / 1 thread = %.2fx\n' "$(echo "$med_head_2 / $med_head_1" | bc -l)"
