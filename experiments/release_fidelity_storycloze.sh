#!/usr/bin/env bash
# Issue 15: Story Cloze (the release's one task) fine-tuned in both fidelity modes from the same
# small pre-trained model, same seeds, same data; prints each run's dev accuracy per log, the
# best, and the training losses. Numbers go to docs/fidelity.md by hand.
#
# Usage: experiments/release_fidelity_storycloze.sh [MODEL_DIR] [SEEDS...]
# MODEL_DIR: a pre-trained model (default runs/pretrain-books/best, from
# experiments/pretrain_books.sh; with PRETRAIN_STEPS set and no model there, a short run of
# configs/pretrain-books.toml is made first).
# Environment: LIMIT (examples per split, default 400), EPOCHS (2), BATCH (8), LR (2.5e-4),
# OUT (runs/release-fidelity).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${GENPT_SHARED:-../shared}
MODEL=${1:-runs/pretrain-books/best}
shift || true
SEEDS=${*:-1 2}
LIMIT=${LIMIT:-400}
EPOCHS=${EPOCHS:-2}
BATCH=${BATCH:-8}
LR=${LR:-2.5e-4}
OUT=${OUT:-runs/release-fidelity}
cargo build --release
if [ ! -d "$MODEL" ] && [ -n "${PRETRAIN_STEPS:-}" ]; then
    [ -f runs/books-data/meta.json ] || target/release/genpt prepare --corpus "$SHARED/data/books" \
        --tokenizer "$SHARED/data/gpt1-bpe" --out runs/books-data --strip-gutenberg --val-fraction 0.05
    target/release/genpt pretrain --config configs/pretrain-books.toml --set train.steps="$PRETRAIN_STEPS" \
        --set train.warmup_steps=$((PRETRAIN_STEPS / 10)) --set zeroshot.every=0 \
        --set out_dir="$OUT/pretrain"
    MODEL="$OUT/pretrain/best"
fi
mkdir -p "$OUT"
for seed in $SEEDS; do
    for fidelity in hf release; do
        run="$OUT/storycloze-$fidelity-$seed"
        [ -f "$run/metrics.json" ] && continue   # rerunning resumes where it stopped
        echo "== $fidelity seed $seed"
        /usr/bin/time -f "%e s wall, %M KB peak" target/release/genpt finetune --task storycloze \
            --data "$SHARED/data/storycloze" --tokenizer "$SHARED/data/gpt1-bpe" --model "$MODEL" \
            --limit "$LIMIT" --epochs "$EPOCHS" --batch-size "$BATCH" --lr "$LR" --seed "$seed" \
            --fidelity "$fidelity" --out "$run" 2> "$run.log" || { tail -5 "$run.log"; exit 1; }
        tail -2 "$run.log"
        rm -rf "$run/best"   # keep metrics.json and metrics.jsonl, not the weights
    done
done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "storycloze-*/metrics.jsonl"))):
    rows = [json.loads(l) for l in open(path)]
    steps = [r for r in rows if "clf_loss" in r]
    logs = [r for r in rows if "dev_score" in r]
    first, last = steps[:5], steps[-5:]
    mean = lambda rs, k: sum(r[k] for r in rs) / max(len(rs), 1)
    run = os.path.basename(os.path.dirname(path))
    dev = " ".join(f"{r['step']}:{r['dev_score']:.3f}" for r in logs)
    print(f"{run}: {len(steps)} updates; clf loss {mean(first, 'clf_loss'):.3f} -> {mean(last, 'clf_loss'):.3f}, "
          f"lm loss {mean(first, 'lm_loss'):.3f} -> {mean(last, 'lm_loss'):.3f}; dev acc by update {dev}")
PY
