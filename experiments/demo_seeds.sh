#!/usr/bin/env bash
# `genpt demo` with its default settings for seeds 1-5, each a fresh run, then the 5-seed summary
# (medians, spread, scripts/demo_summary.py). Resumable: seeds whose results.json exists are
# skipped. About 7 minutes a seed on 2 cores.
#
#     experiments/demo_seeds.sh [RUNS_DIR]        (default ~/genpt-runs/demo-seeds)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-$HOME/genpt-runs/demo-seeds}
mkdir -p "$runs"
cargo build --release --quiet
for seed in 1 2 3 4 5; do
  out=$runs/seed$seed
  [ -f "$out/results.json" ] && continue
  rm -rf "$out"
  /usr/bin/time -v target/release/genpt demo --seed "$seed" --out "$out" > "$out.log" 2>&1
done
python3 scripts/demo_summary.py "$runs"/seed*/
