#!/usr/bin/env python3
"""PyTorch against genpt on the same cores, each pair back to back, and the ratios.

    python3 scripts/compare_throughput.py [--quick] [--steps 3] [--only mini,gpt1]

For each case it runs `scripts/torch_throughput.py` (transformers' OpenAI GPT, fp32 eager) and
then genpt's `throughput` benchmark (built with `cargo bench --bench throughput --no-run`), each
in its own process, and reads tokens/s and the process's peak resident memory (wait4's
ru_maxrss). Cases: forward and training for mini (batch 8), small (batch 4) and gpt1 (batch 2)
at their full context, and a fine-tuning update of mini (batch 8) with λ = 0.5 and λ = 0.
`GENPT_FUSED=0` in the environment compares PyTorch with genpt's composed path instead.
Prints a Markdown table (genpt ÷ PyTorch) for docs/speed.md.
"""
import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    # name, preset, batch, mode (None: forward + training; float: fine-tuning with that λ)
    ("mini", "mini", 8, None),
    ("small", "small", 4, None),
    ("gpt1", "gpt1", 2, None),
    ("mini finetune λ=0.5", "mini", 8, 0.5),
    ("mini finetune λ=0", "mini", 8, 0.0),
]


def bench_binary():
    out = subprocess.run(
        ["cargo", "bench", "--bench", "throughput", "--no-run"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    m = re.search(r"\((target/[^)]*throughput-[0-9a-f]+)\)", out.stderr)
    if not m:
        sys.exit("could not find the benchmark binary in cargo's output:\n" + out.stderr)
    return str(ROOT / m.group(1))


def run(cmd):
    """Runs cmd; returns (stdout, peak RSS in MB)."""
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed (status {status}):\n{out}")
    return out, usage.ru_maxrss / 1024


def rate(text, key):
    m = re.search(rf"^{re.escape(key)}[^:]*:\s+([0-9.]+) tokens/s", text, re.M)
    return float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma-separated case names or presets")
    a = ap.parse_args()
    binary = bench_binary()
    rows = []
    for name, preset, batch, lm_coef in CASES:
        if a.only and not any(o in (name, preset) for o in a.only.split(",")):
            continue
        extra = [] if lm_coef is None else ["--finetune", str(lm_coef)]
        torch_out, torch_rss = run(
            [sys.executable, "scripts/torch_throughput.py", "--preset", preset,
             "--batch", str(batch), "--steps", str(a.steps), "--threads", "2"] + extra)
        genpt_out, genpt_rss = run(
            [binary, "--preset", preset, "--batch", str(batch), "--steps", str(a.steps)] + extra)
        keys = ["forward", "forward to logits", "training"] if lm_coef is None else ["finetune"]
        for key in keys:
            # genpt's forward ends in the next-token log-probabilities; "forward to logits" is
            # PyTorch stopping at the logits (less work than genpt does), the stricter ratio.
            t = rate(torch_out, key)
            g = rate(genpt_out, "forward" if key == "forward to logits" else key)
            rows.append((name, key, t, g, torch_rss, genpt_rss))
            print(f"{name:<22} {key:<17} torch {t:8.0f}  genpt {g:8.0f}  ratio {g / t:5.2f}×  "
                  f"peak RSS torch {torch_rss:6.0f} MB genpt {genpt_rss:6.0f} MB", flush=True)
    print()
    print("| case | pass | PyTorch tok/s | genpt tok/s | genpt ÷ PyTorch | peak RSS PyTorch / genpt (MB) |")
    print("|---|---|---|---|---|---|")
    for name, key, t, g, tr, gr in rows:
        print(f"| {name} | {key} | {t:,.0f} | {g:,.0f} | **{g / t:.2f}×** | {tr:,.0f} / {gr:,.0f} |")
    print("\n(peak RSS is the whole process: forward and training for the forward/training rows)")


if __name__ == "__main__":
    main()
