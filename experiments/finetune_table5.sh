#!/usr/bin/env bash
# The paper's Table 5 at small scale: fine-tune the model pre-trained by
# experiments/pretrain_books.sh on SST-2, CoLA, MRPC, STS-B, RTE and Story Cloze, three ways:
#   full     — pre-trained, auxiliary LM loss λ = 0.5 (the paper's method)
#   no-aux   — pre-trained, λ = 0 (Table 5 "w/o aux LM")
#   random   — the same architecture from a random initialisation, λ = 0.5 ("w/o pre-training")
# over several seeds, then prints the median dev score of each cell (scripts/table5_summary.py).
#
# Usage: experiments/finetune_table5.sh [MODEL_DIR] [SEEDS...]
# Environment: LIMIT (training examples per task, default 2000), EPOCHS (3), LR (6.25e-5),
# BATCH (32), OUT (runs/table5).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${GENPT_SHARED:-../shared}
MODEL=${1:-runs/pretrain-books/best}
shift || true
SEEDS=${*:-1 2 3}
LIMIT=${LIMIT:-2000}
EPOCHS=${EPOCHS:-3}
LR=${LR:-6.25e-5}
BATCH=${BATCH:-32}
OUT=${OUT:-runs/table5}
cargo build --release
mkdir -p "$OUT"
declare -A DATA=(
    [sst2]="$SHARED/data/glue/SST-2" [cola]="$SHARED/data/glue/CoLA" [mrpc]="$SHARED/data/glue/MRPC"
    [stsb]="$SHARED/data/glue/STS-B" [rte]="$SHARED/data/glue/RTE" [storycloze]="$SHARED/data/storycloze"
)
for seed in $SEEDS; do
    for task in sst2 cola mrpc stsb rte storycloze; do
        for variant in full no-aux random; do
            run="$OUT/$task-$variant-$seed"
            [ -f "$run/metrics.json" ] && continue   # rerunning resumes where it stopped
            case $variant in
                full) extra=(--lm-coef 0.5) ;;
                no-aux) extra=(--lm-coef 0) ;;
                random) extra=(--lm-coef 0.5 --init random) ;;
            esac
            echo "== $task $variant seed $seed"
            target/release/genpt finetune --task "$task" --data "${DATA[$task]}" \
                --tokenizer "$SHARED/data/gpt1-bpe" --model "$MODEL" --limit "$LIMIT" \
                --epochs "$EPOCHS" --lr "$LR" --batch-size "$BATCH" --seed "$seed" \
                --out "$run" "${extra[@]}" 2> "$run.log" || { tail -5 "$run.log"; exit 1; }
            tail -1 "$run.log"
            rm -rf "$run/best"   # keep metrics.json and metrics.jsonl, not the weights
        done
    done
done
python3 scripts/table5_summary.py "$OUT"
