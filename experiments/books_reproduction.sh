#!/usr/bin/env bash
# Issue 22, everything from nothing: the books language model, Table 5 three ways with three
# seeds, Figure 2 (left and right) and the label-efficiency curve, on 2 CPU cores.
#
#   1. experiments/books_pretrain.sh: vocabulary, shards, pre-training with bits per byte and
#      the zero-shot heuristics at 10 log-spaced updates (about 1 h 25 min of 2 cores);
#   2. scripts/books_task_splits.py: QNLI's dev split divided in two, SST-2 training subsets;
#   3. scripts/books_finetune.py: the fine-tuning runs (prints its plan and an ETA);
#   4. scripts/books_summary.py: docs/results/books.json; examples/books_plots.rs: the plots
#      in docs/results/.
# Every step resumes where it stopped: rerun the same command after an interruption.
#
# Usage: experiments/books_reproduction.sh
# Environment: RUN (default ~/genpt-runs), MODEL (fine-tune from this model directory instead
# of the one step 1 trains, e.g. models/books-lm), and those of the scripts above (EPOCHS,
# SEEDS, TASKS, LAYERS, STEPS).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SHARED=$(realpath "${GENPT_SHARED:-../shared}")
RUN=${RUN:-$HOME/genpt-runs}
echo "budget: pre-training about 1.5 h; fine-tuning 11 tasks x 13 runs plus 8 layer runs" \
     "(the ETA below is measured as it goes); results in docs/results/books.json"
cargo build --release --bin genpt --example books_plots
GENPT=$REPO/target/release/genpt
if [ -z "${MODEL:-}" ]; then
    RUN=$RUN/books GENPT=$GENPT experiments/books_pretrain.sh
    MODEL=$(ls -d "$RUN"/books/snapshots/step-* | grep -v partial | tail -1)
fi
python3 scripts/books_task_splits.py "$SHARED/data" "$RUN/task-splits"
python3 scripts/books_finetune.py "$GENPT" "$(realpath "$MODEL")" "$SHARED/data" \
    "$RUN/task-splits" "$RUN/finetune"
python3 scripts/books_summary.py "$RUN/books" "$RUN/finetune" docs/results/books.json
target/release/examples/books_plots docs/results/books.json docs/results
