#!/usr/bin/env python3
"""PyTorch training throughput of the same model shapes as `cargo bench --bench throughput`
(run by hand, not by CI). Uses transformers' OpenAIGPTLMHeadModel (GPT2LMHeadModel for the gpt2
presets) in fp32 with dropout 0.1 and torch.optim.AdamW (an elementwise update like genpt's;
the update is a small part of a step).

    python3 scripts/torch_throughput.py --preset small --batch 4 --threads 2
    python3 scripts/torch_throughput.py --preset mini --batch 8 --finetune 0.5
    python3 scripts/torch_throughput.py --preset gpt2 --batch 1 --threads 2
    python3 scripts/torch_throughput.py --preset gpt2 --generate --context 64 --tokens 16
    python3 scripts/torch_throughput.py --preset gpt1 --batch 2 --bf16

`--bf16` runs every forward pass under `torch.autocast("cpu", dtype=torch.bfloat16)` (bf16
matmuls with fp32 master weights and fp32 sums, PyTorch's CPU mixed precision): what genpt's
`--precision bf16` is compared with.

`--generate` times greedy decoding with the key/value cache as `cargo bench --bench generation`
does: a prompt of `context - tokens` tokens, then `tokens` new ones; the rate counts the tokens
after the first (whose time includes the prompt's forward pass).

`--finetune λ` times a fine-tuning update as `cargo bench --bench throughput -- --finetune λ`
does: three special rows appended to the embedding, a linear head on the last (classify) token's
state with dropout 0.1, cross-entropy plus λ times the mean next-token loss over the real tokens
through the tied head (skipped when λ = 0), backward, clipping, AdamW.
"""
import argparse
import contextlib
import time

import torch
from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

PRESETS = {
    "gpt1": dict(n_layer=12, n_embd=768, n_head=12, n_positions=512),
    "small": dict(n_layer=6, n_embd=384, n_head=6, n_positions=256),
    "mini": dict(n_layer=4, n_embd=256, n_head=4, n_positions=128),
    "tiny": dict(n_layer=2, n_embd=128, n_head=2, n_positions=64),
    "gpt2": dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024),
    "gpt2-small": dict(n_layer=6, n_embd=384, n_head=6, n_positions=256),
    "gpt2-mini": dict(n_layer=4, n_embd=256, n_head=4, n_positions=128),
    "gpt2-tiny": dict(n_layer=2, n_embd=128, n_head=2, n_positions=64),
}


def make_model(preset):
    """The preset's LM-head model, randomly initialised, and its vocabulary size."""
    cfg = PRESETS[preset]
    if preset.startswith("gpt2"):
        from transformers import GPT2Config, GPT2LMHeadModel
        config = GPT2Config(vocab_size=50257, activation_function="gelu_new", **cfg)
        config._attn_implementation = "eager"  # the attention genpt computes, spelled out
        return GPT2LMHeadModel(config), 50257
    return OpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=40478, afn="gelu", **cfg)), 40478


def precision(a):
    """The context every forward pass runs in: bf16 autocast with --bf16, else nothing."""
    if a.bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def generation(a):
    torch.set_num_threads(a.threads)
    model, vocab = make_model(a.preset)
    model.eval()
    prompt = (torch.arange(a.context - a.tokens) * 7919 % vocab)[None]
    with torch.no_grad(), precision(a):
        for _ in range(2):  # warm-up, then the timed run
            start = time.perf_counter()
            out = model(prompt, use_cache=True)
            past, next_id = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            first = time.perf_counter()
            for _ in range(a.tokens - 1):
                out = model(next_id, past_key_values=past, use_cache=True)
                past, next_id = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            end = time.perf_counter()
    print(f"torch {torch.__version__}, preset {a.preset}, context {a.context}, threads {a.threads}, bf16 autocast {a.bf16}")
    print(f"generation with cache: first token {first - start:.2f} s, then "
          f"{(a.tokens - 1) / (end - first):.2f} tokens/s")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="small")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--finetune", type=float, default=None)
    p.add_argument("--time", type=int, default=None, help="tokens per sequence (default: the context)")
    p.add_argument("--generate", action="store_true")
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast")
    a = p.parse_args()
    if a.finetune is not None:
        return finetune(a)
    if a.generate:
        return generation(a)
    torch.set_num_threads(a.threads)
    cfg = PRESETS[a.preset]
    model, vocab = make_model(a.preset)
    time_ = a.time or cfg["n_positions"]
    ids = (torch.arange(a.batch * time_) * 7919 % vocab).reshape(a.batch, time_)
    tokens = a.batch * time_

    model.eval()
    with torch.no_grad(), precision(a):
        times = []
        for i in range(a.steps + 1):
            t = time.perf_counter()
            model(ids).logits.sum().item()
            if i:
                times.append(time.perf_counter() - t)
        logits_only = tokens / (sum(times) / len(times))
        times = []
        for i in range(a.steps + 1):
            t = time.perf_counter()
            logits = model(ids).logits
            # Every next token's log-probability, as genpt's forward benchmark computes.
            torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).sum().item()
            if i:
                times.append(time.perf_counter() - t)
    print(f"torch {torch.__version__}, preset {a.preset}, batch {a.batch} x {time_}, threads {a.threads}, bf16 autocast {a.bf16}")
    print(f"forward:  {tokens / (sum(times) / len(times)):8.0f} tokens/s")
    print(f"forward to logits only: {logits_only:8.0f} tokens/s")

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2.5e-4, weight_decay=0.01)
    times = []
    for i in range(a.steps + 1):
        t = time.perf_counter()
        with precision(a):
            loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    print(f"training: {tokens / (sum(times) / len(times)):8.0f} tokens/s")


def finetune(a):
    from transformers import OpenAIGPTModel

    torch.set_num_threads(a.threads)
    cfg = PRESETS[a.preset]
    vocab = 40478
    model = OpenAIGPTModel(OpenAIGPTConfig(vocab_size=vocab + 3, afn="gelu", **cfg))
    head = torch.nn.Linear(cfg["n_embd"], 2)
    torch.nn.init.normal_(head.weight, std=0.02)
    drop = torch.nn.Dropout(0.1)
    time_ = cfg["n_positions"]
    ids = (torch.arange(a.batch * time_).reshape(a.batch, time_) * 7919 % vocab)
    ids[:, -1] = vocab + 2
    labels = torch.arange(a.batch) % 2
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=6.25e-5, weight_decay=0.01)
    model.train()
    times = []
    for i in range(a.steps + 1):
        t = time.perf_counter()
        with precision(a):
            hidden = model(ids).last_hidden_state
            loss = torch.nn.functional.cross_entropy(head(drop(hidden[:, -1])), labels)
            if a.finetune != 0:
                w = model.tokens_embed.weight[:vocab]
                logits = hidden[:, :-1] @ w.t()
                targets = ids[:, 1:]
                keep = targets < vocab
                lm = torch.nn.functional.cross_entropy(logits[keep].float(), targets[keep])
                loss = loss + a.finetune * lm
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    print(f"torch {torch.__version__}, preset {a.preset}, batch {a.batch} x {time_}, threads {a.threads}, bf16 autocast {a.bf16}")
    print(f"finetune (lm_coef {a.finetune}): {a.batch * time_ / (sum(times) / len(times)):8.0f} tokens/s")


if __name__ == "__main__":
    main()
