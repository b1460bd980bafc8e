"""Issue 25, item 4: kill -9 pre-training at random moments, resume each time, and check that
the run ends byte-identical to an uninterrupted one.

A small model (2 layers, 64 wide) pre-trains on 6 Gutenberg books with validation every 25
updates (which also saves `best/`), a checkpoint every 10 and the zero-shot heuristics every 50
(SST-2 and Story Cloze, 40 examples each), so that kills land during updates, saves,
validation and zero-shot evaluation. Each segment runs `genpt pretrain --resume` (or a fresh
start while no checkpoint exists) and is killed with SIGKILL after a random delay; after KILLS
kills the run is finished without interruption. Then the final checkpoint (weights, Adam's
moments, state.json), `best/` and every metrics record but its timing fields must equal the
uninterrupted run's, byte for byte.

Usage: python3 experiments/kill_anywhere.py GENPT [RUN_DIR] [KILLS] [SEED]
(defaults ~/genpt-runs/kill, 50, 1). Prints one line per kill (what was on disk when it
landed) and a JSON summary at the end, also written to RUN_DIR/summary.json.
"""
import filecmp
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.realpath(os.environ.get("GENPT_SHARED", os.path.join(REPO, "..", "shared")))
TIMING = {"tokens_per_s"}


def config(run, data, out):
    path = os.path.join(run, os.path.basename(out) + ".toml")
    with open(path, "w") as f:
        f.write(f"""out_dir = "{out}"
[model]
preset = "gpt2-mini"
n_layer = 2
n_embd = 64
n_head = 2
n_positions = 128
[data]
dir = "{data}"
[train]
batch_size = 4
steps = 2000
warmup_steps = 10
eval_every = 25
eval_windows = 16
seed = 3
[optimizer]
lr = 1e-3
[checkpoint]
every = 10
keep_last = 2
[zeroshot]
every = 50
tokenizer = "{REPO}/models/books-lm"
limit = 40
[zeroshot.tasks]
sst2 = "{SHARED}/data/glue/SST-2"
storycloze = "{SHARED}/data/storycloze"
""")
    return path


def checkpoints(out):
    return sorted(p for p in glob.glob(os.path.join(out, "checkpoints", "step-*")))


def records(out):
    rows = []
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            rows.append({k: v for k, v in row.items() if k not in TIMING})
    return rows


def same_dir(a, b):
    names = sorted(os.listdir(a))
    if names != sorted(os.listdir(b)):
        return False
    return all(filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False) for n in names)


def main():
    genpt = os.path.realpath(sys.argv[1])
    run = os.path.realpath(sys.argv[2] if len(sys.argv) > 2 else os.path.expanduser("~/genpt-runs/kill"))
    kills = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    os.makedirs(run, exist_ok=True)
    data = os.path.join(run, "data")
    if not os.path.exists(os.path.join(data, "meta.json")):
        books = os.path.join(run, "books")
        os.makedirs(books, exist_ok=True)
        for name in sorted(os.listdir(os.path.join(SHARED, "data", "books")))[:6]:
            if name.endswith(".txt") and not os.path.exists(os.path.join(books, name)):
                os.symlink(os.path.join(SHARED, "data", "books", name), os.path.join(books, name))
        subprocess.check_call([genpt, "prepare", "--corpus", books, "--tokenizer",
                               os.path.join(REPO, "models", "books-lm"), "--out", data,
                               "--strip-gutenberg", "--val-fraction", "0.2"])

    straight = os.path.join(run, "straight")
    if not checkpoints(straight) or not checkpoints(straight)[-1].endswith("00002000"):
        shutil.rmtree(straight, ignore_errors=True)
        t0 = time.time()
        subprocess.check_call([genpt, "pretrain", "--config", config(run, data, straight)],
                              stderr=subprocess.DEVNULL)
        print(f"uninterrupted run: {time.time() - t0:.1f} s", flush=True)

    killed = os.path.join(run, "killed")
    shutil.rmtree(killed, ignore_errors=True)
    cfg = config(run, data, killed)
    landed = []
    for k in range(kills):
        args = [genpt, "pretrain", "--config", cfg] + (["--resume"] if checkpoints(killed) else [])
        proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        delay = rng.uniform(0.3, 3.0)
        time.sleep(delay)
        if proc.poll() is not None:
            print(f"kill {k + 1}: the run had already finished", flush=True)
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = glob.glob(os.path.join(killed, "checkpoints", ".partial-*")) + \
            glob.glob(os.path.join(killed, ".partial-*"))
        last = checkpoints(killed)
        step = records(killed)[-1].get("step", 0) if os.path.exists(os.path.join(killed, "metrics.jsonl")) and records(killed) else 0
        what = {"kill": k + 1, "after_s": round(delay, 2), "last_logged_step": step,
                "newest_checkpoint": os.path.basename(last[-1]) if last else None,
                "partial_checkpoint_left": bool(partial)}
        landed.append(what)
        print(json.dumps(what), flush=True)
    subprocess.check_call([genpt, "pretrain", "--config", cfg]
                          + (["--resume"] if checkpoints(killed) else []),
                          stderr=subprocess.DEVNULL)

    final_a, final_b = checkpoints(straight)[-1], checkpoints(killed)[-1]
    result = {
        "kills": len(landed),
        "killed_during_save": sum(w["partial_checkpoint_left"] for w in landed),
        "final_checkpoint": os.path.basename(final_b),
        "final_checkpoint_identical": os.path.basename(final_a) == os.path.basename(final_b)
        and same_dir(final_a, final_b),
        "best_identical": same_dir(os.path.join(straight, "best"), os.path.join(killed, "best")),
        "metrics_identical": records(straight) == records(killed),
        "updates_logged": len([r for r in records(killed) if "loss" in r]),
        "landed": landed,
    }
    with open(os.path.join(run, "summary.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "landed"}))
    ok = result["final_checkpoint_identical"] and result["best_identical"] and result["metrics_identical"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
