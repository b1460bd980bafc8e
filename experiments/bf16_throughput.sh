#!/usr/bin/env bash
# Issue 26: genpt's fp32 and bf16 against PyTorch's fp32 and bf16 autocast on the same cores,
# each case back to back, two rounds (timings on shared cores vary ±30% between runs: read
# the ratios within a round). Then the bf16 GEMM kernel against flex's fp32 matmul.
#
#     experiments/bf16_throughput.sh [PYTHON]   # PYTHON: one with torch and transformers
#                                               # (default ~/venvs/torch/bin/python)
# Cases: gpt1 forward and training (batch 2 × 512), mini training (batch 8 × 128), mini
# fine-tuning with λ = 0.5 (batch 8 × 128), gpt1 cached generation at context 512 (and with
# bf16 weights through the AVX2 path, GENPT_AVX512BF16=0).
# About 15 minutes on 2 cores; stop other work first (the numbers assume idle cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-$HOME/venvs/torch/bin/python}
bin() { cargo bench --bench "$1" --no-run 2>&1 | sed -n "s/.*(\(target\/[^)]*$1-[0-9a-f]*\)).*/\1/p"; }
THROUGHPUT=$(bin throughput)
GENERATION=$(bin generation)
GEMM=$(bin bf16_gemm)
TORCH=scripts/torch_throughput.py
grep -m1 "model name" /proc/cpuinfo
grep -o -w 'avx512_bf16\|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
"$PY" -c "import torch; print('torch', torch.__version__)"
for round in 1 2; do
    echo "== round $round"
    echo "-- gpt1, batch 2 x 512"
    "$PY" $TORCH --preset gpt1 --batch 2 --steps 3 | grep -E "^(forward|training):" | sed 's/^/torch fp32 /'
    "$PY" $TORCH --preset gpt1 --batch 2 --steps 3 --bf16 | grep -E "^(forward|training):" | sed 's/^/torch bf16 /'
    for p in fp32 bf16; do
        $THROUGHPUT --preset gpt1 --batch 2 --time 512 --steps 3 --precision $p |
            grep -E "forward:|training:|per step" | sed "s/^/genpt $p /"
    done
    echo "-- mini, batch 8 x 128, training"
    "$PY" $TORCH --preset mini --batch 8 --steps 5 | grep -E "^training:" | sed 's/^/torch fp32 /'
    "$PY" $TORCH --preset mini --batch 8 --steps 5 --bf16 | grep -E "^training:" | sed 's/^/torch bf16 /'
    for p in fp32 bf16; do
        $THROUGHPUT --preset mini --batch 8 --steps 5 --precision $p --only training |
            grep -E "training:" | sed "s/^/genpt $p /"
    done
    echo "-- mini, batch 8 x 128, fine-tuning with lambda 0.5"
    "$PY" $TORCH --preset mini --batch 8 --steps 5 --finetune 0.5 | grep -E "^finetune" | sed 's/^/torch fp32 /'
    "$PY" $TORCH --preset mini --batch 8 --steps 5 --finetune 0.5 --bf16 | grep -E "^finetune" | sed 's/^/torch bf16 /'
    for p in fp32 bf16; do
        $THROUGHPUT --preset mini --batch 8 --steps 5 --finetune 0.5 --precision $p | sed "s/^/genpt $p /"
    done
    echo "-- gpt1 generation, context 512 (496-token prompt, 16 new tokens)"
    # transformers 5's OpenAIGPTLMHeadModel has no key/value cache: torch is timed on gpt2's
    # shape (GPT2LMHeadModel, 124M, the same blocks but pre-LN) where it has one.
    for p in "" --bf16; do
        "$PY" $TORCH --preset gpt2 --generate --context 512 --tokens 16 $p 2>/dev/null |
            grep -E "^generation" | sed "s/^/torch gpt2 ${p:-fp32} /" || echo "torch generation failed"
    done
    for p in fp32 bf16; do
        $GENERATION --preset gpt2 --context 512 --tokens 16 --batch 1 --precision $p |
            grep -E "with cache|= " | sed "s/^/genpt gpt2 $p /"
        $GENERATION --preset gpt1 --context 512 --tokens 16 --batch 8 --precision $p |
            grep -E "bandwidth|with cache|= |batched" | sed "s/^/genpt $p /"
    done
done
echo "== PyTorch matmul peaks"
"$PY" scripts/torch_matmul_peak.py
echo "== gpt1 decoding with bf16 weights through the AVX2 path (what CPUs without AVX512-BF16 run)"
for round in 1 2; do
    for case in fp32 bf16 bf16-avx2; do
        if [ "$case" = bf16-avx2 ]; then export GENPT_AVX512BF16=0; else unset GENPT_AVX512BF16; fi
        $GENERATION --preset gpt1 --context 512 --tokens 16 --batch 1 --precision "${case%-avx2}" 2>&1 |
            grep -E "with cache" | sed "s/^/round $round $case /"
    done
done
unset GENPT_AVX512BF16
echo "== bf16 GEMM against flex fp32 (one gpt1 layer's training products)"
$GEMM --repeats 3 | tail -14
