#!/usr/bin/env python3
"""PyTorch's fp32 matrix-product rate on the 12 products of one gpt1 layer's training step at
1,024 tokens (the shapes of `cargo bench --bench bf16_gemm`): the forward X·W of each linear
layer and its backward products dY·Wᵀ and Xᵀ·dY, each as PyTorch's autograd forms them (the
transposes are views, as in a training step). Best of `--repeats` after one warm-up, 2 threads.
Held to AVX2 with ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2.

    python3 scripts/torch_gemm_shapes.py [--tokens 1024] [--repeats 5]
"""
import argparse
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--tokens", type=int, default=1024)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()
torch.set_num_threads(args.threads)
print(f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, threads {args.threads}")

t = args.tokens
layers = {"c_attn": (768, 2304), "attn.c_proj": (768, 768), "c_fc": (768, 3072), "mlp.c_proj": (3072, 768)}
total_flops, total_seconds = 0.0, 0.0
for name, (k_in, n_out) in layers.items():
    x = torch.randn(t, k_in)
    w = torch.randn(k_in, n_out)
    dy = torch.randn(t, n_out)
    products = {
        "X·W": (lambda: x @ w, (t, k_in, n_out)),
        "dY·Wᵀ": (lambda: dy @ w.t(), (t, n_out, k_in)),
        "Xᵀ·dY": (lambda: x.t() @ dy, (k_in, t, n_out)),
    }
    for label, (product, (m, k, n)) in products.items():
        product()
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            product()
            best = min(best, time.perf_counter() - start)
        flops = 2.0 * m * k * n
        total_flops += flops
        total_seconds += best
        print(f"{name:12} {label:6} {m:5} × {k:5} × {n:5}  {flops / best / 1e9:7.1f} GFLOP/s")
print(f"all 12: {total_flops / total_seconds / 1e9:.1f} GFLOP/s")
