#!/usr/bin/env bash
# Runs a suite N times and checks that every run gives the same verdicts.
#   bench/repeat.sh [N] [TARGET] [SUITE]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-30}; target=${2:-socket.io@4.8.4}; suite=${3:-eio4}
cargo build --release -q
bin=target/release/siospec
dir=$(mktemp -d)
for i in $(seq 1 "$n"); do
  "$bin" run --target "$target" --suite "$suite" --json "$dir/$i.json" >"$dir/$i.out" 2>&1 || true
  if [ ! -s "$dir/$i.json" ]; then echo "run $i wrote no report:"; tail -5 "$dir/$i.out"; exit 1; fi
  python3 -c 'import json,sys; [print(c["id"], c["verdict"]) for c in json.load(open(sys.argv[1]))["cases"]]' "$dir/$i.json" > "$dir/$i.txt"
  if ! cmp -s "$dir/1.txt" "$dir/$i.txt"; then
    echo "run $i differs from run 1:"; diff "$dir/1.txt" "$dir/$i.txt" || true; exit 1
  fi
done
echo "$n runs of $suite against $target: identical verdicts ($(wc -l < "$dir/1.txt") cases)"
rm -rf "$dir"
