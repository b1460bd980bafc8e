"""Issue 22, parts 2-4: Table 5, Figure 2 (left) and the label-efficiency curve, fine-tuned from
the books language model. Called by experiments/books_reproduction.sh; resumable (a run whose
metrics.json exists is not run again, and one interrupted after a whole epoch continues from its
resume point with `genpt finetune --resume`), and it prints its plan, its progress and an ETA.

Usage: python3 scripts/books_finetune.py GENPT MODEL SHARED_DATA SPLITS OUT

For every task, in the order of TASKS (the issue's targets first):
  1. the learning-rate grid, seed 1, lambda = 0.5: GRID["pretrained"] from MODEL's weights and
     GRID["random"] from a random initialisation of the same shape;
     If an initialisation's best rate is an edge of its grid, the next rate beyond that edge
     is tried too (the edge rule, up to EXTEND = 2 extra rates, the same rule for both);
  2. each initialisation keeps the learning rate of its best seed-1 dev score (the same rule for
     both; a tie goes to the rate tried first), and runs seeds 2 and 3 with it; lambda = 0 (no
     auxiliary LM) runs seeds 1-3 at the pre-trained model's learning rate. An initialisation's
     seeds start as soon as its own rate is chosen.
After each of LAYER_TASKS, Figure 2 (left): that task fine-tuned keeping the first n pre-trained blocks
(n = 0 .. n_layer; 0 keeps the embeddings only), seed 1, the pre-trained learning rate.
The scores are the best dev score over the epochs (genpt finetune's model selection), which is
what both initialisations are compared on. A fine-tuned model's weights are deleted once its
metrics are written (only metrics.json and metrics.jsonl are kept).

Environment: EPOCHS (3), EXTEND (2), SEEDS (1 2 3), TASKS (a space-separated subset, in order), LAYERS (1 to
run Figure 2 left, default 1), ARCHIVE (default docs/results/books-finetune), JOBS (1).

JOBS = 2 runs independent runs side by side (the two grids; each initialisation's seeds once
its rate is chosen; the layers), each with RAYON_NUM_THREADS = cores / JOBS. On these 2 cores
two one-thread runs of the books model make 1.7x the examples per second of one two-thread run,
and a run's losses do not depend on its thread count (checked: SST-2, 100 steps, one and two
threads, the same losses and gradient norms at every step, bit for bit). The decisions are the
same as with JOBS = 1: a rate beyond a grid's edge is tried only once that grid is done.
When more runs are queued than there are lanes, a free lane takes, in this order: rate-search
runs (an initialisation's seeds wait on them), then the seeds of the two initialisations, then
lambda = 0's seeds, then the layers; in the order queued within each (see PRIORITY).

Each finished run's metrics.json is also copied to ARCHIVE/RUN.json, which is committed: a run
found there is not made again, so the experiment continues on a fresh machine.
`python3 scripts/books_finetune.py --sync OUT` copies the finished runs of OUT to ARCHIVE.
"""
import heapq
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHIVE = os.environ.get("ARCHIVE", os.path.join(REPO, "docs", "results", "books-finetune"))


def sync(out):
    """Copies every finished run's metrics.json under `out` to ARCHIVE."""
    os.makedirs(ARCHIVE, exist_ok=True)
    copied = 0
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name, "metrics.json")
        target = os.path.join(ARCHIVE, name + ".json")
        if os.path.isfile(path) and not os.path.exists(target):
            shutil.copy(path, target)
            copied += 1
    return copied

GRID = {"pretrained": [1e-4, 2.5e-4, 5e-4], "random": [2.5e-4, 5e-4, 1e-3]}
EXTEND = int(os.environ.get("EXTEND", "2"))


def next_rate(lr, up):
    """The neighbour of `lr` on the 1-2.5-5 series (1e-4, 2.5e-4, 5e-4, 1e-3, ...)."""
    series = [m * 10.0**e for e in range(-7, 0) for m in (1.0, 2.5, 5.0)]
    i = min(range(len(series)), key=lambda i: abs(series[i] / lr - 1))
    return float(f"{series[i + 1 if up else i - 1]:.3g}")


TASKS = [
    "storycloze", "stsb", "sst2@1000", "sst2@250", "rte", "mrpc", "cola", "qnli",
    "sst2@4000", "sst2@16000", "sst2",
]
LAYER_TASKS = ["stsb", "sst2@1000"]


def rate_search(score, init):
    """Seed-1 dev scores by learning rate for one initialisation: its grid, then the edge rule,
    the same for both initialisations: while the best rate is the highest or lowest tried, the
    next rate beyond it is tried too (at most EXTEND times). `score(lr)` runs or looks up one
    run; a None (not run yet) stops the search."""
    scores = {lr: score(lr) for lr in GRID[init]}
    for _ in range(EXTEND):
        if any(v is None for v in scores.values()):
            break
        rates = sorted(scores)
        top = max(scores, key=lambda lr: scores[lr])
        if top not in (rates[0], rates[-1]):
            break
        lr = next_rate(top, up=top == rates[-1])
        scores[lr] = score(lr)
    return scores


def task_source(name, shared, splits):
    """(genpt task name, data directory) of a task of TASKS."""
    if name.startswith("sst2@"):
        return "sst2", os.path.join(splits, "SST-2@" + name.split("@")[1])
    return {
        "storycloze": ("storycloze", os.path.join(shared, "storycloze")),
        "stsb": ("stsb", os.path.join(shared, "glue", "STS-B")),
        "sst2": ("sst2", os.path.join(shared, "glue", "SST-2")),
        "rte": ("rte", os.path.join(shared, "glue", "RTE")),
        "mrpc": ("mrpc", os.path.join(shared, "glue", "MRPC")),
        "cola": ("cola", os.path.join(shared, "glue", "CoLA")),
        "qnli": ("qnli", os.path.join(splits, "QNLI")),
    }[name]


def train_size(task, data):
    """Training examples, for the ETA (Story Cloze trains on part of its validation file)."""
    if task == "storycloze":
        return 1497
    with open(os.path.join(data, "train.tsv"), encoding="utf-8") as f:
        return sum(1 for _ in f) - 1


# Which queued run a free lane takes first (lowest first): what other runs wait on, then the
# comparison of the two initialisations, then the ablation and Figure 2's layers.
PRIORITY = {"search": 0, "pretrained": 1, "random": 1, "no_aux": 2, "layers": 3}


class Lanes:
    """JOBS lanes for runs. A run takes its place in the queue when it is submitted (in the
    submitting thread, so the order does not depend on which worker thread wakes first); a free
    lane goes to the waiting run with the lowest (priority, order queued)."""

    def __init__(self, n):
        self.free, self.waiting = n, []
        self.order = itertools.count()
        self.cv = threading.Condition()

    def queue(self, priority):
        with self.cv:
            ticket = (priority, next(self.order))
            heapq.heappush(self.waiting, ticket)
            return ticket

    def acquire(self, ticket):
        with self.cv:
            self.cv.wait_for(lambda: self.free > 0 and self.waiting[0] == ticket)
            heapq.heappop(self.waiting)
            self.free -= 1
            self.cv.notify_all()  # the next in line may also find a free lane

    def release(self):
        with self.cv:
            self.free += 1
            self.cv.notify_all()


class Runner:
    def __init__(self, genpt, model, shared, splits, out, epochs, jobs=1):
        self.genpt, self.model, self.shared, self.splits = genpt, model, shared, splits
        self.out, self.epochs, self.jobs = out, epochs, jobs
        self.started = time.time()
        self.spent = 0.0  # seconds of the runs made by this process
        self.done_work = 0  # their training examples x epochs
        self.lanes = Lanes(jobs)
        # a thread per queued run (a task queues fewer than 64); each waits for a lane in `run`
        self.pool = ThreadPoolExecutor(max_workers=64)
        self.lock = threading.Lock()  # guards spent and done_work
        self.env = dict(os.environ)
        if jobs > 1:
            self.env["RAYON_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))

    def submit(self, task, variant, lr, seed, layers=None, remaining=0, search=False):
        """Queues a run; returns its future (`.result()` waits for the score). A run already
        made is not queued."""
        done = self.result(task, variant, lr, seed, layers)
        if done is not None:
            future = Future()
            future.set_result(done)
            return future
        ticket = self.lanes.queue(PRIORITY["search" if search else
                                           "layers" if layers is not None else variant])
        future = self.pool.submit(self.run, ticket, task, variant, lr, seed, layers, remaining)
        future.add_done_callback(self.free_lane)
        return future

    def free_lane(self, _future):
        """Frees a finished run's lane a second after its score is out, so that the runs that
        waited on that score (an initialisation's seeds after its last rate) are queued first."""
        time.sleep(1)
        self.lanes.release()

    def run_dir(self, task, variant, lr, seed, layers=None):
        name = f"{task}-{variant}-lr{lr:g}-s{seed}"
        if layers is not None:
            name += f"-layers{layers}"
        return os.path.join(self.out, name)

    def result(self, task, variant, lr, seed, layers=None):
        run = self.run_dir(task, variant, lr, seed, layers)
        for path in (os.path.join(run, "metrics.json"),
                     os.path.join(ARCHIVE, os.path.basename(run) + ".json")):
            if os.path.exists(path):
                with open(path) as f:
                    return json.load(f)["best_dev_score"]
        return None

    def run(self, ticket, task, variant, lr, seed, layers, remaining):
        self.lanes.acquire(ticket)  # freed by free_lane
        genpt_task, data = task_source(task, self.shared, self.splits)
        out = self.run_dir(task, variant, lr, seed, layers)
        args = [self.genpt, "finetune", "--task", genpt_task, "--data", data,
                "--model", self.model, "--lr", str(lr), "--epochs", str(self.epochs),
                "--seed", str(seed), "--out", out,
                "--lm-coef", "0" if variant == "no_aux" else "0.5"]
        if variant == "random":
            args += ["--init", "random"]
        if layers is not None:
            args += ["--transfer-layers", str(layers)]
        work = train_size(genpt_task, data) * self.epochs
        eta = ""
        with self.lock:
            if self.done_work:  # seconds per unit of work, over all lanes
                eta = f", ETA for this task's remaining runs {remaining * work * self.spent / self.done_work / self.jobs / 60:.0f} min"
        print(f"[{(time.time() - self.started) / 60:.0f} min] {os.path.basename(out)}{eta}", flush=True)
        resuming = os.path.exists(os.path.join(out, "resume", "state.json"))
        if resuming:
            args.append("--resume")  # an interrupted run continues after its last whole epoch
        elif os.path.exists(out):
            shutil.rmtree(out)  # one stopped in its first epoch starts again
        t0 = time.time()
        with open(out + ".log", "a" if resuming else "w") as log:
            code = subprocess.call(args, stderr=log, stdout=log, env=self.env)
        if code != 0:
            with open(out + ".log") as f:
                sys.exit(f"{os.path.basename(out)} failed:\n" + "".join(f.readlines()[-5:]))
        if not resuming:  # a resumed run did only part of its work here: no rate from it
            with self.lock:
                self.spent += time.time() - t0
                self.done_work += work
        for entry in os.listdir(out):  # keep the metrics, not the weights
            path = os.path.join(out, entry)
            if os.path.isdir(path):
                shutil.rmtree(path)
        os.makedirs(ARCHIVE, exist_ok=True)
        shutil.copy(os.path.join(out, "metrics.json"),
                    os.path.join(ARCHIVE, os.path.basename(out) + ".json"))
        score = self.result(task, variant, lr, seed, layers)
        print(f"    {os.path.basename(out)}: best dev {score:.4f} in {time.time() - t0:.0f} s", flush=True)
        return score


def main(genpt, model, shared, splits, out):
    epochs = int(os.environ.get("EPOCHS", "3"))
    seeds = [int(s) for s in os.environ.get("SEEDS", "1 2 3").split()]
    tasks = os.environ.get("TASKS", " ".join(TASKS)).split()
    jobs = int(os.environ.get("JOBS", "1"))
    os.makedirs(out, exist_ok=True)
    r = Runner(genpt, model, shared, splits, out, epochs, jobs)
    with open(os.path.join(model, "config.json")) as f:
        n_layer = json.load(f)["n_layer"]
    runs_per_task = 2 * len(GRID["pretrained"]) + 3 * len(seeds) - 2
    print(f"plan: {len(tasks)} tasks x {runs_per_task} runs, {epochs} epochs each, {jobs} at a time; "
          f"grids {GRID}; then Figure 2 left on {LAYER_TASKS}", flush=True)
    chosen = {}
    for task in tasks:
        left = [runs_per_task]

        def start(*args, **kwargs):
            left[0] -= 1
            return r.submit(task, *args, remaining=max(left[0], 0), **kwargs)

        # Both grids are queued at once, pre-trained first; each initialisation's edge rule
        # then waits for its own grid only.
        search_runs = {}

        def search_run(init, lr):
            """The future of one rate-search run (seed 1), queued on first use."""
            if (init, lr) not in search_runs:
                if lr not in GRID[init]:
                    left[0] += 1  # an edge-rule rate: one run more than the plan counted
                search_runs[init, lr] = start(init, lr, seeds[0], search=True)
            return search_runs[init, lr]

        for init in ("pretrained", "random"):
            for lr in GRID[init]:
                search_run(init, lr)
        # Rate-search runs that the results already made call for are queued now, before any
        # seed run: the other initialisation's seeds must not take their lanes.
        for init in ("pretrained", "random"):
            rate_search(lambda lr, init=init: search_run(init, lr).result()
                        if search_run(init, lr).done() else None, init)

        def search(init):
            """The rate search of one initialisation, then its seed runs at its rate, queued as
            soon as its own search is done (the other's may still be running)."""
            def score(lr):
                return search_run(init, lr).result()
            scores = rate_search(score, init)
            lr = max(scores, key=lambda lr: scores[lr])  # a tie goes to the rate tried first
            variants = ("pretrained", "no_aux") if init == "pretrained" else ("random",)
            runs = [start(v, lr, seed) for v in variants for seed in seeds
                    if v == "no_aux" or seed != seeds[0]]
            for run in runs:
                run.result()
            return lr

        with ThreadPoolExecutor(max_workers=2) as searches:
            best = dict(zip(("pretrained", "random"),
                            searches.map(search, ("pretrained", "random"))))
        chosen[task] = best
        cells = {v: [r.result(task, v, best["random" if v == "random" else "pretrained"], s)
                     for s in seeds] for v in ("pretrained", "no_aux", "random")}
        print(f"== {task}: lr {best}; medians " + ", ".join(
            f"{v} {statistics.median(x):.4f}" for v, x in cells.items()), flush=True)
        if task in LAYER_TASKS and os.environ.get("LAYERS", "1") == "1":
            layers = [r.submit(task, "pretrained", best["pretrained"], seeds[0], layers=n,
                               remaining=n_layer - 1 - n)
                      for n in range(n_layer)]  # n = n_layer is the full model, run above
            for run in layers:
                run.result()
        with open(os.path.join(out, "chosen_lr.json"), "w") as f:
            json.dump(chosen, f, indent=1)
    with open(os.path.join(out, "chosen_lr.json"), "w") as f:
        json.dump(chosen, f, indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "--sync":
        print(f"{sync(sys.argv[2])} runs copied to {ARCHIVE}")
    else:
        main(*sys.argv[1:6])
