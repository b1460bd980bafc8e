#!/usr/bin/env bash
# Issue 41: training and forward throughput on the AVX2 code paths, measured on a machine that
# has AVX-512, against PyTorch held to AVX2 too, each pair back to back; then the same with
# AVX-512 for both. genpt's GEMM is capped at build time (no `avx512` feature), its own kernels
# at run time (GENPT_CPU_ISA=avx2); PyTorch's through ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA
# and MKL_ENABLE_INSTRUCTIONS.
#
#   cargo bench --no-default-features --features flex --bench throughput --no-run   # AVX2 GEMM
#   cp target/release/deps/throughput-HASH /tmp/throughput-avx2
#   cargo bench --bench throughput --no-run                                          # AVX-512
#   cp target/release/deps/throughput-HASH /tmp/throughput-avx512
#   PYTHON=~/venvs/torch/bin/python bash experiments/avx2_throughput.sh > avx2.log 2>&1
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
AVX2=${AVX2:-/tmp/throughput-avx2}
AVX512=${AVX512:-/tmp/throughput-avx512}
torch_avx2=(env ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2)
grep -m1 "model name" /proc/cpuinfo
"${torch_avx2[@]}" "$PYTHON" -c 'import torch; print("torch", torch.__version__, "capability", torch.backends.cpu.get_cpu_capability())'
for case in "mini 8 128" "gpt1 2 512"; do
    set -- $case
    for round in 1 2; do
        echo "== $1 ${2}x$3, round $round, AVX2"
        GENPT_CPU_ISA=avx2 RAYON_NUM_THREADS=2 "$AVX2" --preset "$1" --batch "$2" --time "$3" --steps 3
        "${torch_avx2[@]}" "$PYTHON" scripts/torch_throughput.py --preset "$1" --batch "$2" --time "$3" --steps 3 --threads 2
        echo "== $1 ${2}x$3, round $round, AVX-512"
        RAYON_NUM_THREADS=2 "$AVX512" --preset "$1" --batch "$2" --time "$3" --steps 3
        "$PYTHON" scripts/torch_throughput.py --preset "$1" --batch "$2" --time "$3" --steps 3 --threads 2
    done
done
