"""Per-epoch training losses of the fine-tuning runs, for reading a miss: a model that fits its
training set but not dev over-fits; one whose training loss stays high is short of capacity or
of updates. genpt finetune logs every update to RUN/metrics.jsonl, which is too large to commit
(about 2 MB for a full SST-2 run); this keeps the per-epoch means of each run found under OUT
in ARCHIVE/train_loss.json (added to, never dropped from, so runs of earlier machines stay).

Usage: python3 scripts/books_train_loss.py OUT [ARCHIVE]   (ARCHIVE: docs/results/books-finetune)
"""
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def epoch_means(path):
    """[{epoch, updates, clf_loss, lm_loss}] from one run's metrics.jsonl (update lines only)."""
    sums = {}
    with open(path) as f:
        for line in f:
            m = json.loads(line)
            if "clf_loss" not in m:
                continue
            s = sums.setdefault(m["epoch"], [0, 0.0, 0.0])
            s[0] += 1
            s[1] += m["clf_loss"]
            s[2] += m.get("lm_loss", 0.0)
    return [{"epoch": e, "updates": n, "clf_loss": round(c / n, 5), "lm_loss": round(l / n, 5)}
            for e, (n, c, l) in sorted(sums.items())]


def main(out, archive):
    target = os.path.join(archive, "train_loss.json")
    table = json.load(open(target)) if os.path.exists(target) else {}
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name, "metrics.jsonl")
        if os.path.exists(os.path.join(out, name, "metrics.json")) and os.path.exists(path):
            table[name] = epoch_means(path)  # finished runs only
    with open(target, "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
    for name, epochs in sorted(table.items()):
        print(name, " ".join(f"e{e['epoch']} clf {e['clf_loss']:.3f}" for e in epochs))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else
         os.path.join(REPO, "docs", "results", "books-finetune"))
