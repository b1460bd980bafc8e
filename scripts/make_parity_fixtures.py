#!/usr/bin/env python3
"""Writes the parity fixtures under tests/fixtures/parity/ (run by hand, not by CI).

For each configuration: a small random `openai-gpt` checkpoint saved by
`transformers.OpenAIGPTLMHeadModel.save_pretrained`, and `expected.json` with what PyTorch
computes for it in eval mode (no dropout): the LM logits, the next-token loss (mean over tokens
and examples) and the L2 norm of each parameter's gradient of that loss. One configuration is
also written in the official release's npy layout, to check that reader against the same numbers.

    pip install torch transformers numpy safetensors
    python3 scripts/make_parity_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "parity")

# name, config, batch, time. "ctx16" fills its whole context; "deep3" does not.
CASES = [
    ("ctx16", dict(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4), 2, 16),
    ("deep3", dict(vocab_size=61, n_positions=24, n_embd=24, n_layer=3, n_head=3), 3, 11),
]


def our_name(hf_name):
    """genpt's parameter path for a Hugging Face tensor name."""
    name = hf_name.removeprefix("transformer.")
    if name in ("tokens_embed.weight", "positions_embed.weight"):
        return name.removesuffix(".weight")
    return name


def make_case(name, cfg, batch, time, seed):
    torch.manual_seed(seed)
    config = OpenAIGPTConfig(**cfg, afn="gelu", layer_norm_epsilon=1e-5)
    model = OpenAIGPTLMHeadModel(config)
    # Random init is N(0, 0.02) with unit gains and zero biases; make every tensor non-trivial
    # (gains and biases too) so that a mistake in any of them shows in the outputs.
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("bias"):
                p.normal_(0.0, 0.1)
            elif ".ln_" in pname and pname.endswith("weight"):
                p.normal_(1.0, 0.2)
            else:
                p.normal_(0.0, 0.15)
    model.eval()
    out_dir = os.path.join(ROOT, name)
    model.save_pretrained(out_dir, safe_serialization=True)

    ids = torch.randint(0, cfg["vocab_size"], (batch, time), generator=torch.Generator().manual_seed(seed + 1))
    result = model(ids, labels=ids)
    result.loss.backward()
    grad_norms = {}
    for pname, p in model.named_parameters():
        if pname == "lm_head.weight":
            continue  # tied: its gradient is already in tokens_embed's
        grad_norms[our_name(pname)] = float(p.grad.double().norm())
    trajectory = openai_adam_trajectory(model, ids)
    expected = {
        "adam_trajectory": trajectory,
        "config": cfg,
        "ids": ids.tolist(),
        "logits_shape": list(result.logits.shape),
        "logits": [round(float(x), 7) for x in result.logits.detach().flatten()],
        "loss": float(result.loss),
        "grad_norms": grad_norms,
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    return model, expected


def openai_adam_trajectory(model, ids, steps=6, lr=1e-2, total=10, warmup_steps=2, l2=0.01,
                           max_grad_norm=1.0, b1=0.9, b2=0.999, eps=1e-8):
    """The release's `adam` (opt.py) with `warmup_cosine`, in PyTorch, eval mode: the loss before
    each update and each parameter's norm after the last one."""
    import copy
    import math
    model = copy.deepcopy(model)
    params = [(n, p) for n, p in model.named_parameters() if n != "lm_head.weight"]
    state = {n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in params}
    losses = []
    for t in range(steps):
        model.zero_grad()
        loss = model(ids, labels=ids).loss
        loss.backward()
        losses.append(float(loss))
        grads = {n: p.grad.clone() for n, p in params}
        norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads.values()))
        if norm > max_grad_norm:
            grads = {n: g * (max_grad_norm / norm) for n, g in grads.items()}
        x, w = t / total, warmup_steps / total
        factor = x / w if x <= w else 0.5 * (1 + math.cos(math.pi * x))
        tt = t + 1
        lrt = lr * math.sqrt(1 - b2 ** tt) / (1 - b1 ** tt) * factor
        with torch.no_grad():
            for n, p in params:
                m, v = state[n]
                m.mul_(b1).add_(grads[n], alpha=1 - b1)
                v.mul_(b2).addcmul_(grads[n], grads[n], value=1 - b2)
                step = m / (v.sqrt() + eps)
                if p.dim() > 1:
                    step = step + l2 * p
                p.sub_(lrt * step)
    return {
        "steps": steps, "lr": lr, "total": total, "warmup_steps": warmup_steps, "l2": l2,
        "max_grad_norm": max_grad_norm, "losses": losses,
        "param_norms": {our_name(n): float(p.detach().double().norm()) for n, p in params},
    }


def write_openai_layout(model, out_dir, expected):
    """The release's layout: params_shapes.json and params_0..9.npy (one flat float32 array)."""
    os.makedirs(out_dir, exist_ok=True)
    t = model.transformer
    tensors = [t.positions_embed.weight, t.tokens_embed.weight]
    for block in t.h:
        for p in (block.attn.c_attn.weight, block.attn.c_attn.bias, block.attn.c_proj.weight,
                  block.attn.c_proj.bias, block.ln_1.weight, block.ln_1.bias, block.mlp.c_fc.weight,
                  block.mlp.c_fc.bias, block.mlp.c_proj.weight, block.mlp.c_proj.bias,
                  block.ln_2.weight, block.ln_2.bias):
            tensors.append(p)
    arrays = [p.detach().numpy().astype(np.float32) for p in tensors]
    # Conv weights carry a leading kernel-width axis of 1 in the release.
    arrays = [a[None] if (a.ndim == 2 and i >= 2) else a for i, a in enumerate(arrays)]
    with open(os.path.join(out_dir, "params_shapes.json"), "w") as f:
        json.dump([list(a.shape) for a in arrays], f)
    flat = np.concatenate([a.ravel() for a in arrays])
    for i, part in enumerate(np.array_split(flat, 10)):
        np.save(os.path.join(out_dir, f"params_{i}.npy"), part)
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump({k: expected[k] for k in ("config", "ids", "logits_shape", "logits")}, f, indent=1)


def main():
    for i, (name, cfg, batch, time) in enumerate(CASES):
        model, expected = make_case(name, cfg, batch, time, seed=1000 + i)
        if name == "ctx16":
            write_openai_layout(model, os.path.join(ROOT, name + "-openai"), expected)
        print(f"{name}: loss {expected['loss']:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
