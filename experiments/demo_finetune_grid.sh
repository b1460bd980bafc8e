#!/usr/bin/env bash
# Fine-tuning settings on the demo's pre-trained model: reuses stages 1-3 of a demo run and
# fine-tunes the chosen tasks from pre-trained and random weights for each setting
# "lr λ examples epochs warmup", printing one line of dev accuracies (pre-trained, random) each.
#
#     experiments/demo_finetune_grid.sh RUN TASKS "5e-4 0.5 400 8 0.05" "2e-3 0 400 8 0.05" ...
set -euo pipefail
cd "$(dirname "$0")/.."
run=$1; tasks=$2; shift 2
for spec in "$@"; do
  read -r lr lam n epochs warmup <<< "$spec"
  out=$run-grid/$tasks-lr$lr-lam$lam-n$n-e$epochs-w$warmup
  mkdir -p "$(dirname "$out")"
  target/release/genpt demo --reuse "$run" --tasks "$tasks" --finetune-lr "$lr" --lm-coef "$lam" \
    --train-examples "$n" --epochs "$epochs" --warmup "$warmup" --out "$out" > "$out.log" 2>&1
  echo "$spec: $(grep -E '^[a-z-]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ ' "$out.log" | tr -s ' ' | tr '\n' ';')"
done
