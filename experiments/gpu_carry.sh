#!/usr/bin/env bash
# On the CPU machine: builds what experiments/gpu_check.sh runs on a lent GPU and puts it under
# gpu-carry/ (ignored by git; carried with the `run` tool's `carry`, 64 MiB in all): stripped
# release binaries per GPU feature, the GPU test binaries, a books corpus prepared with the GPT-1
# tokenizer, and that tokenizer. Each feature builds in its own target directory
# (target/gpu-FEATURE): the wgpu/cubecl stack is 20-30 CPU-minutes per feature on 2 cores.
#
#   experiments/gpu_carry.sh [FEATURE ...]     # default: cuda vulkan
#
# Needs ../shared (or GENPT_SHARED) for the books and the vocabulary.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${GENPT_SHARED:-../shared}
CARRY=gpu-carry
mkdir -p "$CARRY"
features=("$@")
[ ${#features[@]} -gt 0 ] || features=(cuda vulkan)
for feature in "${features[@]}"; do
    target=target/gpu-$feature
    nice cargo build --release --features "$feature" --target-dir "$target" --bin genpt
    strip -o "$CARRY/genpt-$feature" "$target/release/genpt"
    for test in gpu parity gpt2_parity; do
        bin=$(nice cargo test --release --features "$feature" --target-dir "$target" --test "$test" \
            --no-run --message-format json 2>/dev/null |
            python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m.get("target", {}).get("kind") == ["test"]: print(m["executable"])')
        strip -o "$CARRY/${test//_/-}-tests-$feature" "$bin"
    done
done
# About 2.5 M tokens of books (the first 20 of 261), for throughput and a short pre-training.
if [ ! -f "$CARRY/corpus/meta.json" ]; then
    "$CARRY/genpt-${features[0]}" prepare --corpus $(ls "$SHARED"/data/books/book*.txt | head -20) \
        --tokenizer "$SHARED/data/gpt1-bpe" --strip-gutenberg --out "$CARRY/corpus"
fi
mkdir -p "$CARRY/tokenizer"
cp "$SHARED"/data/gpt1-bpe/encoder_bpe_40000.json "$SHARED"/data/gpt1-bpe/vocab_40000.bpe "$CARRY/tokenizer/"
du -sh "$CARRY"
