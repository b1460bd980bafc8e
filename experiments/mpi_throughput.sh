#!/usr/bin/env bash
# Issue 27, item 4: data-parallel pre-training on one 2-core machine, 2 MPI ranks x 1 thread
# against 1 process x 2 threads, for the mini and gpt1 shapes. Both arms train the same
# micro-batches (the ranks' grad_accum 1 against the process' grad_accum 2), so tokens per
# update are equal; prints tokens/s (median over the updates after the first) and, for the
# ranks, the all-reduce time per update (`allreduce_s` in metrics.jsonl: the exchange with the
# wait for the slower rank).
#
# Usage: experiments/mpi_throughput.sh      (RUN=~/genpt-runs/mpi by default)
# Environment: RUN, GENPT (a genpt built with --features mpi; default: built here),
# STEPS_MINI (20), STEPS_GPT1 (5).
# Data: 6 of the Gutenberg books tokenized with models/books-lm's 8,451-piece vocabulary (so
# "gpt1" here is GPT-1's body with that vocabulary).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SHARED=$(realpath "${GENPT_SHARED:-../shared}")
RUN=${RUN:-$HOME/genpt-runs/mpi}
if [ -z "${GENPT:-}" ]; then
    cargo build --release --features mpi
    GENPT=$REPO/target/release/genpt
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$RUN" && cd "$RUN"
if [ ! -f data/meta.json ]; then
    rm -rf books && mkdir books
    for b in $(ls "$SHARED/data/books" | grep '^book.*\.txt$' | head -6); do
        ln -s "$SHARED/data/books/$b" books/$b
    done
    "$GENPT" prepare --corpus books --tokenizer "$REPO/models/books-lm" --out data \
        --strip-gutenberg --val-fraction 0.2
fi

config() { # preset positions batch grad_accum steps out
    cat > "$6.toml" <<TOML
out_dir = "$6"
[model]
preset = "$1"
n_positions = $2
[data]
dir = "$RUN/data"
verify = false
[train]
batch_size = $3
grad_accum = $4
steps = $5
warmup_steps = 1
eval_every = 0
seed = 1
[checkpoint]
every = 0
keep_last = 1
TOML
}

summary() { # run directory
    python3 - "$1/metrics.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l][1:]
tps = statistics.median(r["tokens_per_s"] for r in rows)
ar = [r["allreduce_s"] for r in rows if "allreduce_s" in r]
print(f"{tps:8.0f} tokens/s" + (f", all-reduce {statistics.median(ar) * 1e3:.0f} ms per update" if ar else ""))
PY
}

for shape in "mini 128 8 ${STEPS_MINI:-20}" "gpt1 512 2 ${STEPS_GPT1:-5}"; do
    set -- $shape
    rm -rf "$1-one" "$1-two"
    config "$1" "$2" "$3" 2 "$4" "$RUN/$1-one"
    config "$1" "$2" "$3" 1 "$4" "$RUN/$1-two"
    RAYON_NUM_THREADS=2 "$GENPT" pretrain --config "$1-one.toml" 2> "$1-one.log"
    mpirun --oversubscribe -np 2 -x RAYON_NUM_THREADS=1 "$GENPT" pretrain --config "$1-two.toml" 2> "$1-two.log"
    echo "$1 ($2 positions, $3 windows x 2 micro-batches per update, $4 updates):"
    echo "  1 process x 2 threads: $(summary "$1-one")"
    echo "  2 ranks x 1 thread:    $(summary "$1-two")"
done
