#!/usr/bin/env bash
# Issue 22, part 1: the books language model that models/books-lm publishes.
#
# Trains an 8,451-piece vocabulary on the training books (the same 248 that `genpt prepare`
# puts in the training split), tokenizes all 261 books with it (13 whole books held out), then
# pre-trains configs/books-lm.toml in segments (`--until S`, then `--resume`), so that it stops
# at log-spaced updates. After each segment the checkpoint's weights are kept under snapshots/
# and scored:
#   - bits per byte on the 13 held-out books (`genpt lm-eval`, first MAX_BYTES of each);
#   - the section 5 zero-shot heuristics on the full dev sets (Figure 2, right).
# Every step is skipped when its output exists, so rerunning after an interruption (kill,
# reboot, end of session) continues where it stopped; the pre-training itself resumes from its
# newest checkpoint, byte-exact.
#
# Usage: experiments/books_pretrain.sh            (RUN=~/genpt-runs/books by default)
# Environment: RUN, GENPT (a genpt binary; default: target/release/genpt, built first),
# STEPS (the updates of the whole run), MAX_BYTES (per held-out book for bits per byte).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SHARED=$(realpath "${GENPT_SHARED:-../shared}")
RUN=${RUN:-$HOME/genpt-runs/books}
STEPS=${STEPS:-8500}
MAX_BYTES=${MAX_BYTES:-30000}
if [ -z "${GENPT:-}" ]; then
    cargo build --release
    GENPT=$REPO/target/release/genpt
fi
mkdir -p "$RUN"
cd "$RUN"
START=$(date +%s)
log() { echo "[$(date +%H:%M:%S) +$(( ($(date +%s) - START) / 60 )) min] $*"; }

# 1. Which books are held out: `prepare`'s split (by file-name hash) with the GPT-1 vocabulary.
if [ ! -f split/done ]; then
    rm -rf split && mkdir -p split/train split/val
    "$GENPT" prepare --corpus "$SHARED/data/books" --tokenizer "$SHARED/data/gpt1-bpe" \
        --out split/gpt1-data --strip-gutenberg --val-fraction 0.05
    python3 - "$SHARED/data/books" <<'PY'
import json, os, sys
books = sys.argv[1]
held = set(json.load(open("split/gpt1-data/meta.json"))["validation"]["documents"])
for name in sorted(os.listdir(books)):
    if name.endswith(".txt"):
        os.symlink(os.path.join(books, name), os.path.join("split", "val" if name in held else "train", name))
PY
    touch split/done
fi
log "held-out books: $(ls split/val | tr '\n' ' ')"

# 2. The vocabulary, from the training books only, and the shards.
if [ ! -f bpe/vocab.json ] && [ ! -f bpe/encoder_bpe_8000.json ]; then
    "$GENPT" tokenizer train --corpus split/train --merges 8000 --out bpe.partial
    rm -rf bpe && mv bpe.partial bpe
fi
if [ ! -f data/meta.json ]; then
    "$GENPT" prepare --corpus "$SHARED/data/books" --tokenizer bpe --out data \
        --strip-gutenberg --val-fraction 0.05
fi

# 3. Pre-training in segments ending at log-spaced updates, each one scored.
# Update 1 (next to the random initialisation), then STEPS/256, STEPS/128, ..., STEPS.
SEGMENTS=(1)
for k in 8 7 6 5 4 3 2 1 0; do SEGMENTS+=($((STEPS >> k))); done
mkdir -p snapshots
for until in "${SEGMENTS[@]}"; do
    snap=$(printf 'snapshots/step-%08d' "$until")
    if [ ! -f "$snap/model.safetensors" ]; then
        resume=()
        [ -d pretrain/checkpoints ] && resume=(--resume)
        log "pre-training to update $until of $STEPS"
        "$GENPT" pretrain --config "$REPO/configs/books-lm.toml" --set out_dir=\""$RUN/pretrain"\" \
            --set data.dir=\""$RUN/data"\" --set train.steps="$STEPS" --until "$until" \
            "${resume[@]}" 2>> pretrain.log
        ckpt=$(printf 'pretrain/checkpoints/step-%08d' "$until")
        mkdir -p "$snap.partial"
        cp "$ckpt/config.json" "$ckpt/model.safetensors" "$snap.partial/"
        cp bpe/* "$snap.partial/"
        rm -rf "$snap" && mv "$snap.partial" "$snap"
    fi
    if [ ! -f "$snap/lm-eval.txt" ]; then
        "$GENPT" lm-eval --model "$snap" --tokenizer bpe --corpus split/val --strip-gutenberg \
            --max-bytes "$MAX_BYTES" --passages 200 > "$snap/lm-eval.txt.partial"
        mv "$snap/lm-eval.txt.partial" "$snap/lm-eval.txt"
    fi
    log "update $until: $(tr '\n' ' ' < "$snap/lm-eval.txt")"
    for task in storycloze sst2 cola dpr; do
        [ -f "$snap/zeroshot-$task.txt" ] && continue
        case $task in
            storycloze) data="$SHARED/data/storycloze" ;;
            sst2) data="$SHARED/data/glue/SST-2" ;;
            cola) data="$SHARED/data/glue/CoLA" ;;
            dpr) data="$SHARED/data/winograd" ;;
        esac
        "$GENPT" zeroshot --task "$task" --data "$data" --model "$snap" --tokenizer bpe \
            --out "$snap" > "$snap/zeroshot-$task.txt.partial"
        mv "$snap/zeroshot-$task.txt.partial" "$snap/zeroshot-$task.txt"
    done
    log "update $until zero-shot: $(cat "$snap"/zeroshot-*.txt | tr '\n' ' ')"
done
log "done; final model: $RUN/$(printf 'snapshots/step-%08d' "$STEPS")"
