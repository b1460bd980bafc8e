#!/usr/bin/env python3
"""genpt's fine-tuning step rebuilt in PyTorch (run by hand, not by CI).

Reads a trace directory that genpt writes with `FinetuneConfig::trace_updates` (`genpt
finetune --trace-updates N`, `genpt demo --trace-updates N`, or the parity fixture's
`cargo run --example finetune_parity_fixture`), see src/finetune/trace.rs:

    initial/          the classifier before the first update (HF layout + head.safetensors)
    train.jsonl       encoded training examples: sequences, classify_at, label | score
    dev.jsonl         encoded dev examples
    config.json       fine-tuning settings, total updates, warmup
    updates.jsonl     genpt's first updates: example indices, losses, gradient norm
    after.json        genpt's parameter norms after the last traced update

and rebuilds the step independently from transformers' `OpenAIGPTModel` (post-LN blocks, the
tied LM head over the real tokens only), the special-token rows appended to `tokens_embed`, the
linear head on the classify token's final state with the four poolings (one sequence; two
orderings summed; one score per answer, softmax across answers; one output for regression),
L3 = L2 + λ·L1 with L1 the mean over sequences of each sequence's mean next-token loss on its
real text tokens, micro-batch gradients averaged, global-norm clipping, and the release's Adam
(`opt.py`: bias-corrected, scheduled step; L2 scaled by it, on rank > 1) with warmup_linear.

    replay TRACE...   the traced updates with dropout off; writes TRACE/torch.json (losses of
                      every update, parameter norms after the last) and prints the largest
                      relative differences to genpt's own record.
    train TRACE       an independent reference: full fine-tuning of TRACE/initial on
                      train.jsonl with dropout on (the model's own rates and the classifier's),
                      PyTorch's own shuffling, dev accuracy after each epoch; options override
                      the trace's settings. Prints and writes TRACE/torch_train.json.

    pip install torch transformers safetensors numpy
    python3 scripts/finetune_parity.py replay tests/fixtures/finetune_parity/*/
    python3 scripts/finetune_parity.py train RUN/finetune/entailment-pretrained/trace --epochs 8
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import OpenAIGPTConfig, OpenAIGPTModel

torch.set_num_threads(max(1, os.cpu_count() or 1))


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Classifier(torch.nn.Module):
    """OpenAIGPTModel + genpt's head, loaded from a genpt fine-tuning model directory."""

    def __init__(self, model_dir, dropout=None):
        super().__init__()
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        head_cfg = json.load(open(os.path.join(model_dir, "head.json")))
        self.vocab = cfg["genpt_real_vocab_size"]
        pdrop = {k: cfg[k] for k in ("embd_pdrop", "attn_pdrop", "resid_pdrop")}
        clf_pdrop = head_cfg["dropout"]
        if dropout is not None:
            pdrop = {k: dropout for k in pdrop}
            clf_pdrop = dropout
        config = OpenAIGPTConfig(
            vocab_size=cfg["vocab_size"],  # real tokens + special rows
            n_positions=cfg["n_positions"], n_embd=cfg["n_embd"], n_layer=cfg["n_layer"],
            n_head=cfg["n_head"], afn="gelu", layer_norm_epsilon=cfg["layer_norm_epsilon"], **pdrop)
        self.transformer = OpenAIGPTModel(config)
        weights = load_file(os.path.join(model_dir, "model.safetensors"))
        weights = {k.removeprefix("transformer."): v for k, v in weights.items()}
        missing, unexpected = self.transformer.load_state_dict(weights, strict=False)
        assert not unexpected, unexpected
        assert all("attn.bias" in m or "position_ids" in m for m in missing), missing
        head = load_file(os.path.join(model_dir, "head.safetensors"))
        self.head_weight = torch.nn.Parameter(head["weight"].clone())  # [width, outputs]
        self.head_bias = torch.nn.Parameter(head["bias"].clone())
        self.pooling = head_cfg["pooling"]
        self.clf_dropout = clf_pdrop

    def named_trainables(self):
        """(genpt name, parameter) for every trainable tensor."""
        out = []
        for name, p in self.transformer.named_parameters():
            ours = name[:-len(".weight")] if name in ("tokens_embed.weight", "positions_embed.weight") else name
            out.append((ours, p))
        out += [("head.weight", self.head_weight), ("head.bias", self.head_bias)]
        return out

    def forward(self, ids, classify_at, with_lm):
        """ids [batch, choices, time], classify_at [batch, choices] →
        (head outputs [batch, k], LM logits [batch·choices, time, vocab] or None)."""
        batch, choices, time = ids.shape
        hidden = self.transformer(input_ids=ids.reshape(batch * choices, time)).last_hidden_state
        width = hidden.shape[-1]
        index = classify_at.reshape(batch * choices, 1, 1).expand(-1, 1, width)
        pooled = hidden.gather(1, index).reshape(batch, choices, width)
        if self.pooling == "SumOrderings":
            pooled = pooled.sum(1, keepdim=True)
        if self.training and self.clf_dropout > 0:
            # One mask per example, shared by its choices (the release's noise_shape).
            keep = torch.bernoulli(torch.full((pooled.shape[0], 1, width), 1 - self.clf_dropout))
            pooled = pooled * keep / (1 - self.clf_dropout)
        b, c, w = pooled.shape
        logits = pooled.reshape(b * c, w) @ self.head_weight + self.head_bias
        logits = logits.reshape(b, c) if self.pooling == "PerChoiceScore" else logits.reshape(b, -1)
        lm = hidden @ self.transformer.tokens_embed.weight[: self.vocab].T if with_lm else None
        return logits, lm


def make_batch(examples):
    choices = len(examples[0]["sequences"])
    time = max(2, max(len(s) for e in examples for s in e["sequences"]))
    ids = torch.zeros(len(examples), choices, time, dtype=torch.long)
    mask = torch.zeros(len(examples), choices, time)
    at = torch.zeros(len(examples), choices, dtype=torch.long)
    for b, e in enumerate(examples):
        for c, seq in enumerate(e["sequences"]):
            ids[b, c, : len(seq)] = torch.tensor(seq)
            mask[b, c, : len(seq)] = 1
            at[b, c] = e["classify_at"][c]
    return ids, mask, at


def losses(model, examples, lm_coef):
    """(L3, L2, L1) for one micro-batch."""
    ids, mask, at = make_batch(examples)
    logits, lm = model(ids, at, lm_coef != 0)
    if "score" in examples[0]:
        target = torch.tensor([e["score"] for e in examples])
        clf = ((logits.reshape(-1) - target) ** 2).mean()
    else:
        clf = F.cross_entropy(logits, torch.tensor([e["label"] for e in examples]))
    if lm is None:
        return clf, clf, torch.zeros(())
    flat_ids = ids.reshape(-1, ids.shape[-1])
    flat_mask = mask.reshape(-1, ids.shape[-1])
    targets = flat_ids[:, 1:]
    # Special tokens have no row in the LM head: they are never targets.
    target_mask = flat_mask[:, 1:] * (targets < model.vocab)
    nll = -torch.log_softmax(lm[:, :-1], -1).gather(-1, targets.clamp(max=model.vocab - 1)[..., None])[..., 0]
    per_sequence = (nll * target_mask).sum(1) / target_mask.sum(1).clamp(min=1)
    aux = per_sequence.mean()
    return clf + lm_coef * aux, clf, aux


class ReleaseAdam:
    """opt.py's adam: lrt = lr·√(1−β2ᵗ)/(1−β1ᵗ)·schedule; p −= lrt·(m/(√v+ε) + w·p), w on rank > 1."""

    def __init__(self, named, lr, l2, b1=0.9, b2=0.999, eps=1e-8, vector_l2=False):
        self.named, self.lr, self.l2, self.b1, self.b2, self.eps, self.vector_l2 = named, lr, l2, b1, b2, eps, vector_l2
        self.state = {n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in named}
        self.t = 0

    @torch.no_grad()
    def step(self, factor):
        self.t += 1
        lrt = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t) * factor
        for n, p in self.named:
            if p.grad is None:
                continue
            m, v = self.state[n]
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            step = m / (v.sqrt() + self.eps)
            if (p.dim() > 1 or self.vector_l2) and self.l2 > 0:
                step = step + self.l2 * p
            p.sub_(lrt * step)


def warmup_linear(step, total, warmup_steps):
    """The release's schedule at update `step` (0-based): x/w in warmup, 1 after, times (1−x)."""
    x, w = step / max(total, 1), warmup_steps / max(total, 1)
    return (x / w if (x <= w and w > 0) else 1.0) * (1 - x)


def update(model, adam, examples, cfg, step, total, warmup_steps):
    """One update in micro-batches: gradients averaged, clipped by global norm, Adam step."""
    model.zero_grad()
    micro = cfg["micro_batch"]
    parts = [examples[i: i + micro] for i in range(0, len(examples), micro)]
    clf_sum = lm_sum = 0.0
    for part in parts:
        total_loss, clf, aux = losses(model, part, cfg["lm_coef"])
        (total_loss / len(parts)).backward()
        clf_sum += float(clf.detach())
        lm_sum += float(aux.detach())
    named = adam.named
    norm = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for _, p in named if p.grad is not None))
    if cfg["max_grad_norm"] > 0 and norm > cfg["max_grad_norm"]:
        for _, p in named:
            if p.grad is not None:
                p.grad.mul_(cfg["max_grad_norm"] / norm)
    factor = warmup_linear(step, total, warmup_steps)
    adam.step(factor)
    return {"clf_loss": clf_sum / len(parts), "lm_loss": lm_sum / len(parts), "grad_norm": norm,
            "lr": cfg["lr"] * factor}


def parameter_norms(model):
    out = {}
    for name, p in model.named_trainables():
        out[name] = float(p.detach().double().norm())
        if name == "tokens_embed":
            out["tokens_embed.special"] = float(p.detach()[model.vocab:].double().norm())
    return out


def replay(trace):
    settings = json.load(open(os.path.join(trace, "config.json")))
    cfg = settings["finetune"]
    train = read_jsonl(os.path.join(trace, "train.jsonl"))
    genpt_updates = read_jsonl(os.path.join(trace, "updates.jsonl"))
    model = Classifier(os.path.join(trace, "initial"), dropout=0.0)
    model.train()  # dropout rates are 0: train mode changes nothing else
    adam = ReleaseAdam(model.named_trainables(), cfg["lr"], cfg["l2"])
    ours = []
    for step, record in enumerate(genpt_updates):
        examples = [train[i] for i in record["examples"]]
        result = update(model, adam, examples, cfg, step, settings["total_updates"], settings["warmup_steps"])
        result["step"] = step + 1
        ours.append(result)
    norms = parameter_norms(model)
    out = {"updates": ours, "parameter_norms": norms, "examples": [r["examples"] for r in genpt_updates],
           "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__}}
    with open(os.path.join(trace, "torch.json"), "w") as f:
        json.dump(out, f, indent=1)
    # Compare with genpt's own record.
    worst_loss = max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for a, b in zip(genpt_updates, ours)
                     for k in ("clf_loss", "lm_loss"))
    genpt_norms = json.load(open(os.path.join(trace, "after.json")))["parameter_norms"]
    worst_norm = max((abs(genpt_norms[n] - v) / max(v, 1e-12), n) for n, v in norms.items())
    print(f"{trace}: {len(ours)} updates; worst loss rel diff {worst_loss:.2e}; "
          f"worst norm rel diff {worst_norm[0]:.2e} ({worst_norm[1]})")
    for a, b in zip(genpt_updates, ours):
        print(f"  update {b['step']:2d}: clf genpt {a['clf_loss']:.7f} torch {b['clf_loss']:.7f}   "
              f"lm genpt {a['lm_loss']:.7f} torch {b['lm_loss']:.7f}")


@torch.no_grad()
def accuracy(model, examples, batch=64):
    model.eval()
    correct = 0
    for i in range(0, len(examples), batch):
        part = examples[i: i + batch]
        ids, _, at = make_batch(part)
        logits, _ = model(ids, at, False)
        if "score" in part[0]:
            raise SystemExit("train: regression tasks are scored by Pearson; not implemented here")
        correct += int((logits.argmax(-1) == torch.tensor([e["label"] for e in part])).sum())
    model.train()
    return correct / len(examples)


def train(trace, args):
    settings = json.load(open(os.path.join(trace, "config.json")))
    cfg = dict(settings["finetune"])
    for key in ("lr", "epochs", "batch_size", "lm_coef", "warmup"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    cfg["micro_batch"] = cfg["batch_size"]
    torch.manual_seed(args.seed)
    train_set = read_jsonl(os.path.join(trace, "train.jsonl"))
    dev = read_jsonl(os.path.join(trace, "dev.jsonl"))
    model = Classifier(os.path.join(trace, "initial"), dropout=args.dropout)
    model.train()
    adam = ReleaseAdam(model.named_trainables(), cfg["lr"], cfg["l2"])
    per_epoch = math.ceil(len(train_set) / cfg["batch_size"])
    total = per_epoch * cfg["epochs"]
    warmup_steps = round(cfg["warmup"] * total)
    step, curve, dev_curve = 0, [], []
    for epoch in range(cfg["epochs"]):
        order = torch.randperm(len(train_set)).tolist()
        for i in range(0, len(order), cfg["batch_size"]):
            result = update(model, adam, [train_set[j] for j in order[i: i + cfg["batch_size"]]], cfg, step,
                            total, warmup_steps)
            step += 1
            curve.append(result["clf_loss"])
        acc = accuracy(model, dev)
        dev_curve.append(acc)
        recent = curve[-per_epoch:]
        print(f"epoch {epoch + 1}: mean train clf loss {sum(recent) / len(recent):.4f}, dev accuracy {acc:.3f}")
    out = {"config": cfg, "dropout": args.dropout, "seed": args.seed, "train_clf_loss": curve,
           "dev_accuracy": dev_curve, "best_dev_accuracy": max(dev_curve)}
    with open(os.path.join(trace, "torch_train.json"), "w") as f:
        json.dump(out, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("replay")
    r.add_argument("traces", nargs="+")
    t = sub.add_parser("train")
    t.add_argument("trace")
    t.add_argument("--dropout", type=float, default=None, help="every dropout rate (default: the model's)")
    t.add_argument("--lr", type=float)
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", dest="batch_size", type=int)
    t.add_argument("--lm-coef", dest="lm_coef", type=float)
    t.add_argument("--warmup", type=float)
    t.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.command == "replay":
        for trace in args.traces:
            replay(trace.rstrip("/"))
    else:
        train(args.trace.rstrip("/"), args)


if __name__ == "__main__":
    sys.exit(main())
