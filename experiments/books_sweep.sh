#!/usr/bin/env bash
# Issue 22: the short sweep that chose configs/books-lm.toml's model and vocabulary. Each arm
# pre-trains for about 3 minutes of 2 CPU cores (the number of updates is set from a 20-update
# speed probe so that the arms take the same wall time), with warmup over the first 10% and
# cosine decay to 0, batch 8 x 256 tokens, then reports its validation loss and bits per byte on
# the first 20 kB of each of the 13 held-out books (`genpt lm-eval`). Results: docs/evidence.md,
# "A books language model worth transferring".
#
# Usage: experiments/books_sweep.sh   (RUN=~/genpt-runs/sweep; GENPT as in books_pretrain.sh)
# Needs BOOKS/{split,bpe,data}, which experiments/books_pretrain.sh writes in its first minute.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SHARED=$(realpath "${GENPT_SHARED:-../shared}")
RUN=${RUN:-$HOME/genpt-runs/sweep}
BOOKS=${BOOKS:-$HOME/genpt-runs/books}
if [ -z "${GENPT:-}" ]; then
    cargo build --release
    GENPT=$REPO/target/release/genpt
fi
mkdir -p "$RUN"
cd "$RUN"
[ -f data-gpt1/meta.json ] || "$GENPT" prepare --corpus "$SHARED/data/books" \
    --tokenizer "$SHARED/data/gpt1-bpe" --out data-gpt1 --strip-gutenberg --val-fraction 0.05
cat > base.toml <<'EOF'
out_dir = "x"
[model]
preset = "mini"
n_positions = 256
[data]
dir = "x"
[train]
batch_size = 8
steps = 20
warmup_steps = 2
eval_every = 0
eval_windows = 64
seed = 1
[optimizer]
lr = 1e-3
[checkpoint]
every = 0
keep_last = 1
EOF
# name, data directory, tokenizer, updates, overrides
arm() {
    local name=$1 data=$2 tok=$3 steps=$4
    shift 4
    if [ ! -f "$name/done" ]; then
        rm -rf "$name"
        "$GENPT" pretrain --config base.toml --set out_dir=\""$RUN/$name"\" --set data.dir=\""$data"\" \
            --set train.steps="$steps" --set train.warmup_steps=$((steps / 10)) "$@" 2> "$name.log"
        "$GENPT" lm-eval --model "$(ls -d "$name"/checkpoints/step-* | tail -1)" --tokenizer "$tok" \
            --corpus "$BOOKS/split/val" --strip-gutenberg --max-bytes 20000 --passages 0 > "$name/lm-eval.json"
        touch "$name/done"
    fi
    python3 - "$name" <<'PY'
import json, sys
n = sys.argv[1]
rs = [json.loads(l) for l in open(f"{n}/metrics.jsonl")]
tps = sorted(r["tokens_per_s"] for r in rs if "tokens_per_s" in r)
ev = json.load(open(f"{n}/lm-eval.json"))
print(f"{n:2s} updates {rs[-1]['step']:4d} tokens {rs[-1]['tokens']:7d} {tps[len(tps)//2]:5.0f} tok/s "
      f"val loss {rs[-1]['val_loss']:.3f} bits/byte {ev['bits_per_byte']:.3f}")
PY
}
V8="$BOOKS/data"
T8="$BOOKS/bpe"
arm A "$V8" "$T8" 350                                 # post-LN GPT-1 block, 4 x 256, 8k vocabulary
arm B "$V8" "$T8" 150 --set model.n_layer=6 --set model.n_embd=384 --set model.n_head=6
arm C "$RUN/data-gpt1" "$SHARED/data/gpt1-bpe" 150      # GPT-1's 40,478-piece vocabulary
arm D "$V8" "$T8" 250 --set model.n_layer=6           # deeper
arm E "$V8" "$T8" 350 --set model.dropout=0.0         # no dropout
arm F "$V8" "$T8" 350 --set model.preset=\"gpt2-mini\"  # pre-LN GPT-2 block
arm G "$V8" "$T8" 350 --set optimizer.lr=3e-4         # post-LN, lower learning rate
