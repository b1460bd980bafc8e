"""A threshold-free reading of the SST-2 zero-shot heuristic: how well the score difference
log p(" positive") - log p(" negative") (after the sentence and "very") ranks the positive
sentences above the negative ones, as the area under the ROC curve (0.5: no information,
whatever threshold one would pick; 1: a perfect ranking).

The heuristic's accuracy compares that difference with 0. A model whose difference carries the
sentiment but sits on the wrong side of 0 for most sentences (a prior for one label word) has a
low accuracy and a high AUC; a model whose difference ignores the sentence has an AUC near 0.5.

Usage: python3 scripts/zeroshot_auc.py OUT/zeroshot-sst2.jsonl [...]
(the per-example file `genpt zeroshot --task sst2 --out OUT` writes; `scores` is
[negative, positive] for each sentence.)
"""
import json
import sys


def auc(differences, labels):
    """Mann-Whitney U / (positives x negatives), ties counted one half."""
    ranked = sorted(zip(differences, labels))
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # ranks i+1 ..= j share their mean
        rank_sum += mid_rank * sum(1 for k in range(i, j) if ranked[k][1] == 1)
        i = j
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def main(paths):
    for path in paths:
        with open(path) as f:
            rows = [json.loads(line) for line in f]
        # JSON has no infinities: genpt writes a score of -inf (an empty continuation) as null.
        score = lambda v: float("-inf") if v is None else v
        differences = [score(r["scores"][1]) - score(r["scores"][0]) for r in rows]
        labels = [r["label"] for r in rows]
        mean = lambda xs: sum(xs) / len(xs)
        pos = [d for d, l in zip(differences, labels) if l == 1]
        neg = [d for d, l in zip(differences, labels) if l == 0]
        accuracy = mean([float(r["predicted"] == r["label"]) for r in rows])
        print(f"{path}: {len(rows)} sentences, accuracy {accuracy:.3f}, "
              f"AUC {auc(differences, labels):.3f}; mean difference {mean(pos):.3f} on positive "
              f"sentences, {mean(neg):.3f} on negative ones; "
              f"{sum(r['predicted'] for r in rows)} predicted positive")


if __name__ == "__main__":
    assert auc([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]) == 1.0
    assert auc([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0]) == 0.0
    assert auc([0.5, 0.5], [0, 1]) == 0.5
    main(sys.argv[1:])
