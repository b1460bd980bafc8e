#!/usr/bin/env python3
"""PyTorch training throughput of the same model shapes as `cargo bench --bench throughput`
(run by hand, not by CI). Uses transformers' OpenAIGPTLMHeadModel in fp32 with dropout 0.1 and
torch.optim.AdamW (an elementwise update like genpt's; the update is a small part of a step).

    python3 scripts/torch_throughput.py --preset small --batch 4 --threads 2
"""
import argparse
import time

import torch
from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

PRESETS = {
    "gpt1": dict(n_layer=12, n_embd=768, n_head=12, n_positions=512),
    "small": dict(n_layer=6, n_embd=384, n_head=6, n_positions=256),
    "mini": dict(n_layer=4, n_embd=256, n_head=4, n_positions=128),
    "tiny": dict(n_layer=2, n_embd=128, n_head=2, n_positions=64),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="small")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = PRESETS[a.preset]
    model = OpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=40478, afn="gelu", **cfg))
    time_ = cfg["n_positions"]
    ids = (torch.arange(a.batch * time_) * 7919 % 40478).reshape(a.batch, time_)
    tokens = a.batch * time_

    model.eval()
    with torch.no_grad():
        times = []
        for i in range(a.steps + 1):
            t = time.perf_counter()
            model(ids)
            if i:
                times.append(time.perf_counter() - t)
    print(f"torch {torch.__version__}, preset {a.preset}, batch {a.batch} x {time_}, threads {a.threads}")
    print(f"forward:  {tokens / (sum(times) / len(times)):8.0f} tokens/s")

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2.5e-4, weight_decay=0.01)
    times = []
    for i in range(a.steps + 1):
        t = time.perf_counter()
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    print(f"training: {tokens / (sum(times) / len(times)):8.0f} tokens/s")


if __name__ == "__main__":
    main()
