#!/usr/bin/env python3
"""The PyTorch side of experiments/gpu_check.sh: what genpt's GPU numbers are compared with.

On CUDA: the dense matmul rate (bf16, and fp32 with TF32 off), then a GPT-1 (post-LN, tied
output layer, dropout 0.1, 40,478 tokens) at the preset's shape trained as genpt's pre-training
does (next-token loss, backward, global-norm clipping at 1, Adam), in fp32 and in bf16 autocast,
each eagerly and under torch.compile. The model is written out here (nanoGPT's style) so that
only torch is needed on the machine; scaled_dot_product_attention is PyTorch's fused attention.
Prints one line per measurement and writes them to --out as JSON.

    python3 experiments/gpu_torch.py --preset gpt1 --batch 8 --steps 20 --out gpu-check/torch.json
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# layers, width, heads, context
PRESETS = {"gpt1": (12, 768, 12, 512), "tiny": (2, 128, 2, 64)}
VOCAB = 40478


class Block(nn.Module):
    def __init__(self, d, heads, dropout):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.ln_1, self.ln_2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        a = self.c_proj(a.transpose(1, 2).reshape(b, t, d))
        # GPT-1 is post-LN: the LayerNorm after each residual sum.
        n = self.ln_1(x + self.drop(a))
        m = self.mlp_proj(F.gelu(self.c_fc(n), approximate="tanh"))
        return self.ln_2(n + self.drop(m))


class Gpt1(nn.Module):
    def __init__(self, layers, d, heads, context, dropout=0.1):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(VOCAB, d), nn.Embedding(context, d)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d, heads, dropout) for _ in range(layers))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.drop(self.tokens(ids) + self.positions(positions))
        for block in self.blocks:
            h = block(h)
        # The output layer is the token embedding, transposed.
        return h @ self.tokens.weight.t()


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


def train_rate(preset, batch, steps, amp, compile_):
    layers, d, heads, context = PRESETS[preset]
    torch.manual_seed(0)
    model = Gpt1(layers, d, heads, context).cuda().train()
    opt = torch.optim.Adam(model.parameters(), lr=2.5e-4)
    step_model = torch.compile(model) if compile_ else model
    ids = torch.randint(0, VOCAB, (batch, context + 1), device="cuda")

    def update():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            logits = step_model(ids[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())
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
    return batch * context * steps / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="gpt1", choices=sorted(PRESETS))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", default="torch.json")
    a = p.parse_args()
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name(),
              "preset": a.preset, "batch": a.batch, "matmul_tflops": {}, "train_tokens_per_s": {}}
    torch.backends.cuda.matmul.allow_tf32 = False
    result["matmul_tflops"]["fp32"] = matmul_tflops(torch.float32)
    result["matmul_tflops"]["bf16"] = matmul_tflops(torch.bfloat16)
    for name, tflops in result["matmul_tflops"].items():
        print(f"matmul {name}: {tflops:.1f} TFLOP/s (8192^3)", flush=True)
    for amp in (False, True):
        for compile_ in (False, True):
            name = ("bf16-autocast" if amp else "fp32") + ("+compile" if compile_ else "")
            try:
                rate = train_rate(a.preset, a.batch, a.steps, amp, compile_)
                result["train_tokens_per_s"][name] = rate
                print(f"torch {name}: {rate:,.0f} training tokens/s", flush=True)
            except Exception as e:  # torch.compile may lack a compiler on the machine
                print(f"torch {name}: FAILED {type(e).__name__}: {e}", flush=True)
            torch.cuda.empty_cache()
            json.dump(result, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
