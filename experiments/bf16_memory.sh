#!/usr/bin/env bash
# Memory of bf16 inference (issue 26, item 3; docs/speed.md "Memory of bf16 inference"): a
# gpt1-sized model with random weights, VmRSS of `genpt serve` once it has answered a
# completion, and peak RSS of `genpt score` over 64 ids, in fp32 and bf16. A few seconds each;
# needs curl and GNU time.
#
#     experiments/bf16_memory.sh [PRESET]    # default gpt1
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${1:-gpt1}
cargo build -q --release --example random_model
cargo build -q --release
DIR=$(mktemp -d)/model
target/release/examples/random_model "$PRESET" "$DIR"
TOKENIZER=${GENPT_SHARED:-../shared}/data/gpt1-bpe
IDS=$(seq -s, 1 64)
port=18200
for p in fp32 bf16; do
    port=$((port + 1))
    target/release/genpt serve --model "$DIR" --tokenizer "$TOKENIZER" --addr 127.0.0.1:$port \
        --precision $p > /dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 240); do curl -sf http://127.0.0.1:$port/health > /dev/null && break; sleep 0.5; done
    curl -s http://127.0.0.1:$port/v1/completions -H 'content-type: application/json' \
        -d '{"prompt": "the cat sat on", "max_tokens": 8}' > /dev/null
    sleep 1
    echo "serve $p: $(grep VmRSS /proc/$pid/status)"
    kill $pid; wait $pid 2> /dev/null || true
    /usr/bin/time -f "score $p: peak RSS %M kB" target/release/genpt score --model "$DIR" \
        --ids "$IDS" --precision $p 2>&1 > /dev/null | grep "peak RSS"
done
rm -r "$(dirname "$DIR")"
