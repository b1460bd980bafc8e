"""docs/results/books.json from experiments/books_reproduction.sh's run directories, and the
Markdown tables docs/evidence.md quotes (printed).

Usage: python3 scripts/books_summary.py PRETRAIN_RUN FINETUNE_RUN OUT_JSON

PRETRAIN_RUN is experiments/books_pretrain.sh's RUN (snapshots/step-N/ with lm-eval.txt and
zeroshot-TASK.txt, pretrain/metrics.jsonl); FINETUNE_RUN is scripts/books_finetune.py's OUT.
Missing parts are left out of the JSON, so it can be written while the fine-tuning still runs.
Fine-tuning results are read from FINETUNE_RUN or from the committed archive of
scripts/books_finetune.py; without PRETRAIN_RUN, OUT_JSON's pre-training part is kept.
"""
import json
import os
import statistics
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import books_finetune as bf  # noqa: E402

METRIC = {"storycloze": "accuracy", "stsb": "pearson", "sst2": "accuracy", "rte": "accuracy",
          "mrpc": "f1", "cola": "mcc", "qnli": "accuracy"}
ZERO_SHOT = {"storycloze": "accuracy", "storycloze-all": "accuracy", "sst2": "accuracy",
             "cola": "mcc", "dpr": "accuracy"}


def safetensors_params(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    total = 0
    for name, t in header.items():
        if name != "__metadata__":
            count = 1
            for d in t["shape"]:
                count *= d
            total += count
    return total


def pretrain_summary(run):
    snaps = sorted(d for d in os.listdir(os.path.join(run, "snapshots")) if d.startswith("step-")
                   and not d.endswith(".partial"))
    metrics = [json.loads(l) for l in open(os.path.join(run, "pretrain", "metrics.jsonl"))]
    train_seconds = 0.0
    previous = 0
    for m in metrics:
        if "tokens_per_s" in m and m["tokens_per_s"] > 0:
            train_seconds += (m["tokens"] - previous) / m["tokens_per_s"]
        previous = m["tokens"]
    tokens_per_update = metrics[0]["tokens"] // metrics[0]["step"]
    checkpoints, zeroshot = [], {t: [] for t in ZERO_SHOT}
    for d in snaps:
        step = int(d.split("-")[1])
        path = os.path.join(run, "snapshots", d)
        if not os.path.exists(os.path.join(path, "lm-eval.txt")):
            continue
        ev = json.load(open(os.path.join(path, "lm-eval.txt")))
        checkpoints.append({"step": step, "tokens": step * tokens_per_update,
                            "bits_per_byte": ev["bits_per_byte"],
                            "token_perplexity": ev["token_perplexity"],
                            "last_word_accuracy": ev["last_word_accuracy"]})
        for task, key in ZERO_SHOT.items():
            f = os.path.join(path, f"zeroshot-{task}.txt")
            if os.path.exists(f):
                zeroshot[task].append([step * tokens_per_update, json.load(open(f))[key]])
    final = os.path.join(run, "snapshots", snaps[-1])
    config = json.load(open(os.path.join(final, "config.json")))
    val = [m for m in metrics if "val_loss" in m]
    return {
        "tokens": metrics[-1]["tokens"],
        "updates": metrics[-1]["step"],
        "hours": train_seconds / 3600,
        "params": safetensors_params(os.path.join(final, "model.safetensors")),
        "vocab": config["vocab_size"],
        "shape": {k: config.get(k) for k in ("model_type", "n_layer", "n_embd", "n_head", "n_positions")},
        "bits_per_byte": checkpoints[-1]["bits_per_byte"] if checkpoints else None,
        "val_loss": val[-1]["val_loss"] if val else None,
        "checkpoints": checkpoints,
    }, {t: v for t, v in zeroshot.items() if v}


def finetune_summary(ft):
    r = bf.Runner(None, None, None, None, ft, None)
    finetune, layers = {}, {}
    for task in bf.TASKS:
        scores = {init: bf.rate_search(lambda lr, init=init: r.result(task, init, lr, 1), init)
                  for init in ("pretrained", "random")}
        if any(v is None for s in scores.values() for v in s.values()):
            continue
        best = {init: max(s, key=lambda lr: s[lr]) for init, s in scores.items()}
        cells = {
            "pretrained": [r.result(task, "pretrained", best["pretrained"], s) for s in (1, 2, 3)],
            "no_aux": [r.result(task, "no_aux", best["pretrained"], s) for s in (1, 2, 3)],
            "random": [r.result(task, "random", best["random"], s) for s in (1, 2, 3)],
        }
        finetune[task] = {"metric": METRIC[task.split("@")[0]], "lr": best,
                          "grid": {i: {f"{lr:g}": v for lr, v in s.items()} for i, s in scores.items()},
                          **{k: [x for x in v if x is not None] for k, v in cells.items()}}
        if task in bf.LAYER_TASKS:
            points = [[n, r.result(task, "pretrained", best["pretrained"], 1, layers=n)]
                      for n in range(16)]
            points = [p for p in points if p[1] is not None]
            if points:
                n_all = points[-1][0] + 1
                points.append([n_all, scores["pretrained"][best["pretrained"]]])
                layers[task] = points
    return finetune, layers


def table(finetune):
    lines = ["| task | metric | pre-trained, λ = 0.5 | pre-trained, λ = 0 | random init, λ = 0.5 | lr (pre-trained / random) |",
             "|---|---|---|---|---|---|"]
    for task, e in finetune.items():
        def cell(xs):
            if not xs:
                return "–"
            return f"{100 * statistics.median(xs):.1f} ({100 * min(xs):.1f}–{100 * max(xs):.1f})"
        lines.append(f"| {task} | {e['metric']} | {cell(e['pretrained'])} | {cell(e['no_aux'])} | "
                     f"{cell(e['random'])} | {e['lr']['pretrained']:g} / {e['lr']['random']:g} |")
    return "\n".join(lines)


def main(run, ft, out):
    result = {"machine": "2 cores AMD EPYC (avx512_bf16), 24 GiB; flex backend, fp32",
              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True).stdout.strip()}
    if os.path.isdir(os.path.join(run, "snapshots")):
        result["pretrain"], result["zeroshot"] = pretrain_summary(run)
    else:  # a fresh machine: the pre-training summary already written is kept
        with open(out) as f:
            kept = json.load(f)
        result["pretrain"], result["zeroshot"] = kept["pretrain"], kept["zeroshot"]
    result["finetune"], result["layers"] = finetune_summary(ft)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".partial", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(out + ".partial", out)
    p = result["pretrain"]
    print(f"pre-training: {p['updates']} updates, {p['tokens'] / 1e6:.1f}M tokens, "
          f"{p['hours']:.2f} h of updates, {p['params'] / 1e6:.2f}M parameters, vocabulary {p['vocab']}")
    print("| update | tokens | bits per byte | token perplexity | last word | " +
          " | ".join(f"zero-shot {t}" for t in result["zeroshot"]) + " |")
    print("|---|---|---|---|---|" + "---|" * len(result["zeroshot"]))
    for i, c in enumerate(p["checkpoints"]):
        zs = " | ".join(f"{v[i][1]:.3f}" if i < len(v) else "–" for v in result["zeroshot"].values())
        lw = f"{c['last_word_accuracy']:.3f}" if c["last_word_accuracy"] is not None else "–"
        print(f"| {c['step']} | {c['tokens'] / 1e6:.2f}M | {c['bits_per_byte']:.3f} | "
              f"{c['token_perplexity']:.1f} | {lw} | {zs} |")
    if result.get("finetune"):
        print()
        print(table(result["finetune"]))
    for task, points in result.get("layers", {}).items():
        print(f"layers {task}: " + ", ".join(f"{n}: {s:.3f}" for n, s in points))


if __name__ == "__main__":
    main(*sys.argv[1:4])
