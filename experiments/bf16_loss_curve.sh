#!/usr/bin/env bash
# Issue 26, item 2: does `--precision bf16` (bf16 products, fp32 sums, fp32 master weights and
# Adam moments) pre-train like fp32? gpt1's shape (12 layers, 768 wide, GPT-1's 40,478-token
# vocabulary) with 128 positions, 300 updates of 2 × 128 tokens of Gutenberg books, the same
# seed (so the same batches and dropout masks) in fp32 and in bf16; then
# scripts/compare_loss_curves.py compares the two training-loss curves.
#
#     experiments/bf16_loss_curve.sh [GENPT] [SHARED] [RUNS]
#
# Defaults: target/release/genpt, ../shared, ~/genpt-runs/bf16-curve. Resumable: a finished
# run is skipped, an interrupted one continues from its last checkpoint (every 50 updates).
# About 25 minutes on 2 cores of an AMD EPYC (Zen 4, AVX512-BF16).
set -euo pipefail
cd "$(dirname "$0")/.."
GENPT=${1:-target/release/genpt}
SHARED=${2:-../shared}
RUNS=${3:-$HOME/genpt-runs/bf16-curve}
mkdir -p "$RUNS"

if [ ! -f "$RUNS/data/meta.json" ]; then
    "$GENPT" prepare --corpus "$SHARED"/data/books/book00{0..9}.txt \
        --tokenizer "$SHARED/data/gpt1-bpe" --strip-gutenberg --out "$RUNS/data"
fi

cat > "$RUNS/run.toml" <<TOML
out_dir = "$RUNS/unset"

[model]
preset = "gpt1"
n_positions = 128

[data]
dir = "$RUNS/data"

[train]
batch_size = 2
steps = 300
warmup_steps = 30
eval_every = 100
eval_windows = 16
seed = 1

[optimizer]
lr = 2.5e-4

[checkpoint]
every = 50
keep_last = 1
TOML

for precision in fp32 bf16; do
    out="$RUNS/$precision"
    if [ -f "$out/metrics.jsonl" ] && grep -q '"step":300,' "$out/metrics.jsonl"; then
        echo "$precision: done"
        continue
    fi
    resume=()
    [ -d "$out" ] && resume=(--resume)
    "$GENPT" pretrain --config "$RUNS/run.toml" --set "out_dir=\"$out\"" \
        --precision "$precision" "${resume[@]}"
done

python3 scripts/compare_loss_curves.py "$RUNS/fp32/metrics.jsonl" "$RUNS/bf16/metrics.jsonl" \
    docs/results/bf16_loss_curve.json
