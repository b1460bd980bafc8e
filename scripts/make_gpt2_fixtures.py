#!/usr/bin/env python3
"""Writes the GPT-2 parity fixtures under tests/fixtures/gpt2/ (run by hand, not by CI).

For each case: a `gpt2` checkpoint and `expected.json` with what PyTorch + transformers'
`GPT2LMHeadModel` computes for it in eval mode (no dropout): the LM logits, the next-token loss
(mean over tokens and examples), the L2 norm of each parameter's gradient of that loss, greedy
continuations from `generate` (with its KV cache), and the parameter names `GPT2Model` keeps, so
that genpt's saved checkpoints can be checked against them. The three cases cover the three
layouts a checkpoint comes in:

  tiny-random-gpt2  hf-internal-testing/tiny-random-gpt2 as published (5 layers, width 32,
                    4 heads, vocab 1000), copied from ../shared/fixtures/tiny-random-gpt2:
                    `transformer.` prefix, no lm_head, no buffers.
  ctx8              fills its whole context of 8; saved by hand the way older transformers
                    saved GPT2LMHeadModel: `transformer.` prefix, the tied `lm_head.weight`, and
                    the causal-mask buffers `h.{i}.attn.bias` / `h.{i}.attn.masked_bias`.
  odd3              odd sizes (width 36, 3 heads of 12, FFN 50, vocab 77, 3 layers, short
                    sequence in a context of 40); saved by hand as OpenAI's `gpt2` on the Hub
                    is: GPT2Model's names without prefix, `h.{i}.attn.bias` buffers, no lm_head.

The random cases perturb every tensor (gains, biases, ln_f included) so that a mistake in any of
them shows in the outputs.

    pip install torch transformers numpy safetensors
    python3 scripts/make_gpt2_fixtures.py
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "tests", "fixtures", "gpt2")
TINY = os.path.join(HERE, "..", "..", "shared", "fixtures", "tiny-random-gpt2")

# name, config (None: the published tiny-random-gpt2), batch, time, seed
CASES = [
    ("tiny-random-gpt2", None, 2, 10, 3000),
    ("ctx8", dict(vocab_size=101, n_positions=8, n_embd=32, n_layer=2, n_head=4), 2, 8, 3001),
    ("odd3", dict(vocab_size=77, n_positions=40, n_embd=36, n_layer=3, n_head=3, n_inner=50), 3, 13, 3002),
]


def our_name(hf_name):
    """genpt's parameter path for a Hugging Face tensor name."""
    name = hf_name.removeprefix("transformer.")
    return {"wte.weight": "tokens_embed", "wpe.weight": "positions_embed"}.get(name, name)


def perturb(model):
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("bias"):
                p.normal_(0.0, 0.1)
            elif (".ln_" in pname or "ln_f" in pname) and pname.endswith("weight"):
                p.normal_(1.0, 0.2)
            else:
                p.normal_(0.0, 0.15)


def save_old_style(model, out_dir):
    """The layout of checkpoints saved by older transformers: every state_dict entry with its
    `transformer.` prefix, the tied lm_head, and each layer's mask buffers."""
    os.makedirs(out_dir, exist_ok=True)
    model.config.save_pretrained(out_dir)
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    tensors["lm_head.weight"] = model.lm_head.weight.detach().clone()
    n = model.config.n_positions
    for i in range(model.config.n_layer):
        tensors[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
        tensors[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})


def save_hub_style(model, out_dir):
    """The layout of the Hub's `gpt2` checkpoint: GPT2Model names (no prefix), each layer's
    causal-mask buffer, no lm_head."""
    os.makedirs(out_dir, exist_ok=True)
    model.config.save_pretrained(out_dir)
    tensors = {k: v.detach().clone().contiguous() for k, v in model.transformer.state_dict().items()}
    n = model.config.n_positions
    for i in range(model.config.n_layer):
        tensors[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})


def make_case(name, cfg, batch, time, seed):
    out_dir = os.path.join(ROOT, name)
    torch.manual_seed(seed)
    if cfg is None:
        os.makedirs(out_dir, exist_ok=True)
        for f in ("config.json", "model.safetensors", "LICENSE"):
            shutil.copy(os.path.join(TINY, f), os.path.join(out_dir, f))
        model = GPT2LMHeadModel.from_pretrained(out_dir, attn_implementation="eager")
    else:
        last = cfg["vocab_size"] - 1  # stands in for <|endoftext|>
        config = GPT2Config(**cfg, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                            bos_token_id=last, eos_token_id=last, attn_implementation="eager")
        model = GPT2LMHeadModel(config)
        perturb(model)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        if name == "ctx8":
            save_old_style(model, out_dir)
        else:
            save_hub_style(model, out_dir)
    model.eval()
    vocab = model.config.vocab_size

    ids = torch.randint(0, vocab, (batch, time), generator=torch.Generator().manual_seed(seed + 1))
    result = model(ids, labels=ids)
    result.loss.backward()
    grad_norms = {}
    for pname, p in model.named_parameters():
        if pname == "lm_head.weight":
            continue  # tied: its gradient is already in wte's
        grad_norms[our_name(pname)] = float(p.grad.double().norm())

    # Greedy continuations through generate's KV cache, from a prompt of 3 tokens.
    prompt = ids[:1, :3]
    new = min(6, model.config.n_positions - 3)
    with torch.no_grad():
        greedy = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                max_new_tokens=new, min_new_tokens=new, pad_token_id=0)
    expected = {
        "config": cfg if cfg is not None else {k: getattr(model.config, k) for k in
                                                ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")},
        "ids": ids.tolist(),
        "logits_shape": list(result.logits.shape),
        "logits": [round(float(x), 7) for x in result.logits.detach().flatten()],
        "loss": float(result.loss.detach()),
        "grad_norms": grad_norms,
        "greedy_prompt": prompt[0].tolist(),
        "greedy": greedy[0, prompt.shape[1]:].tolist(),
        "hf_parameter_names": sorted(n for n, _ in model.transformer.named_parameters()),
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    # The files on disk, read back by transformers itself, give the same logits.
    reloaded = GPT2LMHeadModel.from_pretrained(out_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        assert torch.equal(reloaded(ids).logits, result.logits.detach()), name
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    return expected


def main():
    for name, cfg, batch, time, seed in CASES:
        expected = make_case(name, cfg, batch, time, seed)
        print(f"{name}: loss {expected['loss']:.6f}, greedy {expected['greedy']}", file=sys.stderr)


if __name__ == "__main__":
    main()
