#!/usr/bin/env python3
"""Issue 17, the PyTorch side of experiments/gpu_check.sh (UNTESTED: written without a GPU).

On CUDA: the measured dense matmul rate (bf16, and fp32 with TF32 off), then transformers'
OpenAIGPTLMHeadModel at gpt1 shape (12 × 768, context 512, 40,478 tokens) trained as genpt's
pre-training does (dropout 0.1, next-token loss, backward, global-norm clipping, AdamW), in
fp32, in bf16 autocast, each without and with torch.compile. Prints one line per measurement
and writes them to --out as JSON.

    python3 experiments/gpu_torch.py --batch 16 --steps 30 --out gpu-check/torch.json
"""
import argparse
import json
import time

import torch


def matmul_tflops(dtype, n=8192, reps=20):
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def train_rate(batch, steps, amp, compile_):
    from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

    torch.manual_seed(0)
    cfg = OpenAIGPTConfig(vocab_size=40478, n_positions=512, n_embd=768, n_layer=12, n_head=12, afn="gelu")
    model = OpenAIGPTLMHeadModel(cfg).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=2.5e-4, weight_decay=0.01)
    step_model = torch.compile(model) if compile_ else model
    ids = torch.randint(0, 40478, (batch, 513), device="cuda")

    def update():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            logits = step_model(ids[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(5):  # warm-up (and compilation)
        update()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        update()
    torch.cuda.synchronize()
    return batch * 512 * steps / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--out", default="torch.json")
    a = p.parse_args()
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name(), "matmul_tflops": {}, "train_tokens_per_s": {}}
    torch.backends.cuda.matmul.allow_tf32 = False
    result["matmul_tflops"]["fp32"] = matmul_tflops(torch.float32)
    result["matmul_tflops"]["bf16"] = matmul_tflops(torch.bfloat16)
    for name, tflops in result["matmul_tflops"].items():
        print(f"matmul {name}: {tflops:.1f} TFLOP/s (8192^3)", flush=True)
    for amp in (False, True):
        for compile_ in (False, True):
            name = ("bf16-autocast" if amp else "fp32") + ("+compile" if compile_ else "")
            try:
                rate = train_rate(a.batch, a.steps, amp, compile_)
                result["train_tokens_per_s"][name] = rate
                print(f"torch {name}: {rate:,.0f} training tokens/s ({a.batch} x 512)", flush=True)
            except Exception as e:  # torch.compile may be missing a compiler on the machine
                print(f"torch {name}: FAILED {type(e).__name__}: {e}", flush=True)
            torch.cuda.empty_cache()
    json.dump(result, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
