#!/usr/bin/env bash
# Wall time and the harness's own peak memory for one suite run, repeated.
#   bench/run.sh [TARGET] [SUITE...]      e.g. bench/run.sh socket.io@4.8.4 eio4
# Peak memory is VmHWM of the siospec process alone (the target's driver is a
# separate process and is not counted).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-socket.io@4.8.4}; shift || true
suites=("${@:-eio4}")
runs=${RUNS:-5}
cargo build --release -q
bin=target/release/siospec
$bin targets prepare "$target" >/dev/null
args=(run --target "$target")
for s in "${suites[@]}"; do args+=(--suite "$s"); done
for i in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  "$bin" "${args[@]}" > /tmp/siospec-bench.out 2>&1 &
  pid=$!
  hwm=0
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
    sleep 0.02
  done
  wait "$pid" && rc=0 || rc=$?
  end=$(date +%s.%N)
  cases=$(tail -1 /tmp/siospec-bench.out | awk '{print $1}')
  printf 'run %d: %s cases, %.2f s wall, peak %d MB, exit %d\n' "$i" "$cases" "$(python3 -c "print($end - $start)")" $((hwm / 1024)) "$rc"
done
