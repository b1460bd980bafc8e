"""Median dev scores of experiments/finetune_table5.sh, as a Markdown table.

Usage: python3 scripts/table5_summary.py runs/table5
Reads RUN/TASK-VARIANT-SEED/metrics.json (written by `genpt finetune`): best_dev_score is the
task's headline metric (SST-2/RTE/Story Cloze accuracy, CoLA MCC, MRPC F1, STS-B Pearson).
"""
import json
import pathlib
import statistics
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "runs/table5")
tasks = ["sst2", "cola", "mrpc", "stsb", "rte", "storycloze"]
variants = ["full", "no-aux", "random"]
scores = {}
for path in root.glob("*/metrics.json"):
    task, rest = path.parent.name.split("-", 1)
    variant, seed = rest.rsplit("-", 1)
    scores.setdefault((task, variant), []).append(json.loads(path.read_text())["best_dev_score"])

print("| variant | " + " | ".join(tasks) + " | mean |")
print("|---|" + "---|" * (len(tasks) + 1))
for v in variants:
    cells, values = [], []
    for t in tasks:
        s = scores.get((t, v), [])
        if s:
            m = statistics.median(s) * 100
            values.append(m)
            cells.append(f"{m:.1f} ({len(s)})")
        else:
            cells.append("–")
    mean = f"{sum(values) / len(values):.1f}" if len(values) == len(tasks) else "–"
    print(f"| {v} | " + " | ".join(cells) + f" | {mean} |")
print("\ncells: median over seeds of the best dev score ×100 (number of seeds)")
