#!/usr/bin/env python3
"""Summarises several `genpt demo` runs (one per seed): the median and spread of each task's dev
accuracy, pre-trained and random, the zero-shot row, and whether the demo shows the paper's
effect (pre-trained >= random everywhere; >= random + 0.10 on the tasks that need the world's
facts and zero-shot). Prints a Markdown table and writes summary.png (grouped bars at the median,
whiskers from the lowest to the highest seed) beside the first run's directory.

    pip install matplotlib
    python3 scripts/demo_summary.py ~/genpt-runs/demo-seeds/seed*/
"""
import json
import os
import statistics
import sys

FACT_TASKS = {"classification", "similarity", "choice", "zero-shot choice"}
CHANCE = {"classification": 1 / 6, "entailment": 0.5, "similarity": 0.5, "choice": 0.25, "zero-shot choice": 0.25}


def main(dirs):
    runs = []
    for d in dirs:
        with open(os.path.join(d, "results.json")) as f:
            runs.append(json.load(f))
    tasks = [r["task"] for r in runs[0]["finetune_dev_accuracy"]] + ["zero-shot choice"]
    table = {t: {"pre-trained": [], "random init": []} for t in tasks}
    for r in runs:
        for row in r["finetune_dev_accuracy"]:
            table[row["task"]]["pre-trained"].append(row["pretrained"])
            table[row["task"]]["random init"].append(row["random"])
        for row in r["zero_shot_choice_accuracy"]:
            table["zero-shot choice"]["pre-trained" if row["model"] == "pre-trained" else "random init"].append(row["accuracy"])
    print(f"{len(runs)} runs; seconds per run: " + ", ".join(f"{r['seconds']:.0f}" for r in runs))
    print("fact recall of the pre-trained models: " + ", ".join(f"{r.get('pretrained_fact_recall', float('nan')):.3f}" for r in runs))
    print()
    print("| task | chance | pre-trained median (min–max) | random median (min–max) | median gain | required | met |")
    print("|---|---|---|---|---|---|---|")
    ok_all = True
    for t in tasks:
        p, q = table[t]["pre-trained"], table[t]["random init"]
        gain = statistics.median(p) - statistics.median(q)
        need = 0.10 if t in FACT_TASKS else 0.0
        ok = gain >= need - 1e-12
        ok_all &= ok
        print(f"| {t} | {CHANCE[t]:.3f} | {statistics.median(p):.3f} ({min(p):.3f}–{max(p):.3f}) | "
              f"{statistics.median(q):.3f} ({min(q):.3f}–{max(q):.3f}) | {gain:+.3f} | ≥ {need:+.2f} | {'yes' if ok else 'NO'} |")
    print(f"\nall requirements met: {'yes' if ok_all else 'NO'}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no summary.png")
        return
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.38
    for k, series in enumerate(["pre-trained", "random init"]):
        xs = [i + (k - 0.5) * width for i in range(len(tasks))]
        meds = [statistics.median(table[t][series]) for t in tasks]
        lo = [m - min(table[t][series]) for m, t in zip(meds, tasks)]
        hi = [max(table[t][series]) - m for m, t in zip(meds, tasks)]
        ax.bar(xs, meds, width * 0.95, yerr=[lo, hi], capsize=4, label=series)
    for i, t in enumerate(tasks):
        ax.hlines(CHANCE[t], i - 0.45, i + 0.45, colors="black", linestyles="dashed", linewidth=1)
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("dev accuracy")
    ax.set_title(f"genpt demo, {len(runs)} seeds: median, whiskers min–max, dashed chance")
    ax.legend()
    out = os.path.join(os.path.dirname(os.path.abspath(dirs[0].rstrip("/"))), "summary.png")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
