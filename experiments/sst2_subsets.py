"""Does pre-training's lead on SST-2 with 250 and 1,000 labels survive other samples of labels?

The label-efficiency curve (scripts/books_finetune.py) fine-tuned on one subset of SST-2's
training sentences per size, the first N of one shuffle (seed 0), and scored the dev set that
also chose the learning rates. This reruns both arms on 5 other, disjoint subsets x 2 seeds, at
the rates that grid chose, and scores each run's selected model on held-out training sentences
that no run of the project trained on or was selected by.

Usage: python3 experiments/sst2_subsets.py GENPT MODEL SHARED_DATA OUT

Splits (from the same seed-0 shuffle of SST-2's 67,349 training rows as
scripts/books_task_splits.py, whose first 16,000 rows the curve used):
  subset k (k = 1..5): rows 16000 + 1000(k-1) .. 16000 + 1000k; its first 250 are the 250-label
                       subset, so 250 and 1,000 are nested within a subset as in the curve;
  held-out test:       rows 21000 .. 23000 (2,000 sentences), scored with `genpt eval`.
Each run fine-tunes as the curve did (`genpt finetune --task sst2`, 3 epochs, lambda 0.5, the
best epoch chosen on the official dev set), then `genpt eval` scores OUT/best on the test rows.
Rates: the grid's choices for both sizes, pre-trained 5e-4 and random init 5e-4
(docs/results/books-finetune/sst2@{250,1000}-*-lr0.0005-s{2,3}.json).

Resumable: a run whose result.json exists is not made again; results are also copied to
docs/results/sst2-subsets/ (committed), from which a fresh machine continues. Environment:
JOBS (1) runs side by side, each with RAYON_NUM_THREADS = THREADS (default 2 / JOBS; a run's
losses do not depend on its thread count, docs/evidence.md); SUBSETS (1 2 3 4 5);
SEEDS (1 2); SIZES (250 1000).
"""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from books_task_splits import read_tsv, write_tsv  # noqa: E402  (the curve's own split code)
ARCHIVE = os.path.join(REPO, "docs", "results", "sst2-subsets")
RATE = {"pretrained": 5e-4, "random": 5e-4}
CURVE_ROWS, SUBSET_ROWS, TEST_ROWS = 16000, 1000, 2000


def make_splits(shared, out, subsets):
    header, rows = read_tsv(os.path.join(shared, "glue", "SST-2", "train.tsv"))
    dev_header, dev_rows = read_tsv(os.path.join(shared, "glue", "SST-2", "dev.tsv"))
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)  # the curve's shuffle
    test_start = CURVE_ROWS + 5 * SUBSET_ROWS
    test = os.path.join(out, "splits", "test")
    os.makedirs(test, exist_ok=True)
    # `genpt eval --split dev` scores dev.tsv: the held-out rows go there.
    write_tsv(os.path.join(test, "dev.tsv"), header,
              [rows[i] for i in order[test_start:test_start + TEST_ROWS]])
    for k in subsets:
        start = CURVE_ROWS + (k - 1) * SUBSET_ROWS
        for n in (250, 1000):
            d = os.path.join(out, "splits", f"subset{k}@{n}")
            os.makedirs(d, exist_ok=True)
            write_tsv(os.path.join(d, "train.tsv"), header, [rows[i] for i in order[start:start + n]])
            write_tsv(os.path.join(d, "dev.tsv"), dev_header, dev_rows)
    return test


def run_one(genpt, model, out, test, name, split, arm, seed, threads):
    archived = os.path.join(ARCHIVE, name + ".json")
    if os.path.exists(archived):
        with open(archived) as f:
            return json.load(f)
    run = os.path.join(out, "runs", name)
    if os.path.exists(run):
        shutil.rmtree(run)
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    args = [genpt, "finetune", "--task", "sst2", "--data", split, "--model", model,
            "--lr", str(RATE[arm]), "--epochs", "3", "--seed", str(seed), "--out", run,
            "--lm-coef", "0.5"]
    if arm == "random":
        args += ["--init", "random"]
    t0 = time.time()
    with open(run + ".log", "w") as log:
        for cmd in (args, [genpt, "eval", "--model", os.path.join(run, "best"), "--data", test,
                           "--split", "dev", "--out", os.path.join(run, "test")]):
            if subprocess.call(cmd, stdout=log, stderr=log, env=env) != 0:
                sys.exit(f"{name} failed: see {run}.log")
    with open(os.path.join(run, "metrics.json")) as f:
        trained = json.load(f)
    with open(os.path.join(run, "test", "metrics.json")) as f:
        tested = json.load(f)
    result = {"name": name, "arm": arm, "seed": seed, "lr": RATE[arm],
              "best_dev_score": trained["best_dev_score"], "best_epoch": trained["best_epoch"],
              "test": tested, "seconds": round(time.time() - t0)}
    shutil.rmtree(run)  # the weights; the result is what is kept
    os.makedirs(ARCHIVE, exist_ok=True)
    with open(archived + ".partial", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(archived + ".partial", archived)
    print(f"{name}: dev {result['best_dev_score']:.4f} test {json.dumps(tested)} "
          f"({result['seconds']} s)", flush=True)
    return result


def test_accuracy(result):
    t = result["test"]
    for key in ("accuracy", "acc", "score"):
        if key in t:
            return t[key]
    return t.get("metrics", {}).get("accuracy")


def summary(results, subsets, seeds, sizes):
    lines = []
    for n in sizes:
        leads_dev, leads_test = [], []
        for k in subsets:
            mean = lambda arm, f: statistics.mean(
                f(results[f"sst2-subset{k}@{n}-{arm}-s{s}"]) for s in seeds)
            dev = mean("pretrained", lambda r: r["best_dev_score"]) - mean("random", lambda r: r["best_dev_score"])
            test = mean("pretrained", test_accuracy) - mean("random", test_accuracy)
            leads_dev.append(100 * dev)
            leads_test.append(100 * test)
            lines.append(f"SST-2@{n} subset {k}: lead (pre-trained - random, mean of {len(seeds)} "
                         f"seeds) dev {100 * dev:+.1f}, held-out test {100 * test:+.1f} points")
        for label, leads in (("dev", leads_dev), ("held-out test", leads_test)):
            lines.append(f"SST-2@{n} {label}: median lead {statistics.median(leads):+.1f} points, "
                         f"range {min(leads):+.1f} .. {max(leads):+.1f} over {len(leads)} subsets")
    return "\n".join(lines)


def main(genpt, model, shared, out):
    subsets = [int(s) for s in os.environ.get("SUBSETS", "1 2 3 4 5").split()]
    seeds = [int(s) for s in os.environ.get("SEEDS", "1 2").split()]
    sizes = [int(s) for s in os.environ.get("SIZES", "250 1000").split()]
    jobs = int(os.environ.get("JOBS", "1"))
    threads = int(os.environ.get("THREADS", str(max(1, 2 // jobs))))
    test = make_splits(shared, out, subsets)
    os.makedirs(os.path.join(out, "runs"), exist_ok=True)
    plan = [(f"sst2-subset{k}@{n}-{arm}-s{seed}", os.path.join(out, "splits", f"subset{k}@{n}"), arm, seed)
            for n in sizes for k in subsets for seed in seeds for arm in ("pretrained", "random")]
    print(f"{len(plan)} runs, {jobs} at a time", flush=True)
    with ThreadPoolExecutor(jobs) as pool:
        futures = {name: pool.submit(run_one, genpt, model, out, test, name, split, arm, seed,
                                     threads)
                   for name, split, arm, seed in plan}
        results = {name: f.result() for name, f in futures.items()}
    print(summary(results, subsets, seeds, sizes))


if __name__ == "__main__":
    main(*[os.path.abspath(a) if os.path.exists(a) else a for a in sys.argv[1:5]])
