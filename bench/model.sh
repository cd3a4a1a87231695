#!/usr/bin/env bash
# Model-checker benchmarks for docs/performance.md. Each configuration runs RUNS times; prints
# the median wall seconds, median peak RSS and the counts, as Markdown table rows.
#   bash bench/model.sh [RUNS]        (needs: cargo build --release; GNU time at /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BIN=./target/release/warmcheck
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
run() { # label, args...
  local label=$1; shift
  local secs=() rss=() line=""
  for _ in $(seq "$RUNS"); do
    out=$( { /usr/bin/time -f "TIME %e %M" "$BIN" check --quiet "$@" 2>&1 1>&3; } 3>/tmp/bench.out ) || true
    secs+=("$(echo "$out" | awk '/^TIME/ {print $2}')")
    rss+=("$(echo "$out" | awk '/^TIME/ {print $3}')")
    line=$(grep '^states' /tmp/bench.out)
  done
  local s m
  s=$(printf '%s\n' "${secs[@]}" | median)
  m=$(printf '%s\n' "${rss[@]}" | median)
  local states unique
  states=$(echo "$line" | sed -E 's/^states ([0-9]+),.*/\1/')
  unique=$(echo "$line" | sed -E 's/.*unique states ([0-9]+),.*/\1/')
  printf '| %s | `%s` | %s | %s | %.0f | %.0f | %s |\n' "$label" "$*" "$states" "$unique" \
    "$(echo "$unique / $s" | bc -l)" "$(echo "$m / 1024" | bc -l)" "$s"
}
echo "| run | arguments | states | unique states | unique states/s | peak MiB | seconds (median of $RUNS) |"
echo "|---|---|---|---|---|---|---|"
run "default, BFS, 2 threads" --strategy bfs --threads 2
run "default, DFS, 2 threads" --strategy dfs --threads 2
run "default, BFS, 1 thread" --strategy bfs --threads 1
run "default, DFS, 1 thread" --strategy dfs --threads 1
run "default, BFS, symmetry" --strategy bfs --threads 2 --symmetry
run "default, DFS, symmetry" --strategy dfs --threads 2 --symmetry
run "3 crashes, DFS" --crashes 3 --strategy dfs --threads 2
run "3 crashes, BFS" --crashes 3 --strategy bfs --threads 2
