#!/usr/bin/env python3
"""PyTorch's matrix-product rate on this CPU in fp32 and bf16: the peaks for docs/speed.md's
roofline line (issue 26). One gpt1-shaped product, 1024 × 768 × 3072, best of 10 after 3
warm-ups, on 2 threads.

    python3 scripts/torch_matmul_peak.py
"""
import time

import torch

torch.set_num_threads(2)
m, k, n = 1024, 768, 3072
for dtype in (torch.float32, torch.bfloat16):
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    print(f"torch {torch.__version__} {dtype}: {2 * m * k * n / best / 1e9:.0f} GFLOP/s")
