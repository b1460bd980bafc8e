#!/usr/bin/env python3
"""Checks genpt against transformers on a fresh random checkpoint (run by hand, not by CI).

1. `genpt score` on a random `openai-gpt` checkpoint (not one of the test fixtures) must agree
   with transformers' log-probabilities to 1e-4.
2. HF -> `genpt convert --to openai` -> `genpt convert --to hf` must give a directory that
   `OpenAIGPTLMHeadModel.from_pretrained` loads, with the same logits as the original.

    cargo build --release && python3 scripts/check_hf_agreement.py [--genpt target/release/genpt]
"""
import argparse
import json
import subprocess
import sys
import tempfile

import torch
from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--genpt", default="target/release/genpt")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    config = OpenAIGPTConfig(vocab_size=517, n_positions=40, n_embd=48, n_layer=3, n_head=4, afn="gelu")
    model = OpenAIGPTLMHeadModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    ids = torch.randint(0, config.vocab_size, (1, 40))
    with torch.no_grad():
        logits = model(ids).logits
    reference = torch.log_softmax(logits[0, :-1], -1).gather(1, ids[0, 1:, None])[:, 0]

    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(f"{tmp}/hf")
        out = subprocess.run(
            [args.genpt, "score", "--model", f"{tmp}/hf", "--ids", ",".join(map(str, ids[0].tolist()))],
            check=True, capture_output=True, text=True,
        ).stdout
        got = torch.tensor(json.loads(out)["next_token_logprobs"])
        diff = (got - reference).abs().max().item()
        print(f"genpt score vs transformers: max |Δ logprob| = {diff:.2e}")
        failures += diff > 1e-4

        subprocess.run([args.genpt, "convert", "--model", f"{tmp}/hf", "--to", "openai", "--out", f"{tmp}/npy"], check=True)
        subprocess.run([args.genpt, "convert", "--model", f"{tmp}/npy", "--n-head", "4", "--to", "hf", "--out", f"{tmp}/back"], check=True)
        reloaded = OpenAIGPTLMHeadModel.from_pretrained(f"{tmp}/back").eval()
        with torch.no_grad():
            diff = (reloaded(ids).logits - logits).abs().max().item()
        print(f"HF -> openai -> HF round trip, reloaded by transformers: max |Δ logit| = {diff:.2e}")
        failures += diff > 1e-6
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
