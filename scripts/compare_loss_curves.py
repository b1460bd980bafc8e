#!/usr/bin/env python3
"""Two pre-training runs' loss curves, step by step: fp32 (the reference) against bf16.

    python3 scripts/compare_loss_curves.py FP32/metrics.jsonl BF16/metrics.jsonl OUT.json

Reads the per-update training loss of each metrics.jsonl, smooths both with the same moving
average (20 updates: one batch of 2 × 128 tokens is noisy), and reports the largest relative
difference of the smoothed curves after the first 20 updates, the final validation losses, and
the updates/s of each; writes them, with both raw curves, to OUT.json.
"""
import json
import sys

WINDOW = 20


def curve(path):
    losses, val, speed = {}, {}, []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "loss" in r and "step" in r:
                losses[r["step"]] = r["loss"]
            if "val_loss" in r:
                val[r["step"]] = r["val_loss"]
            if "tokens_per_s" in r:
                speed.append(r["tokens_per_s"])
    steps = sorted(losses)
    return [losses[s] for s in steps], val, speed


def smooth(xs):
    return [sum(xs[max(0, i - WINDOW + 1):i + 1]) / (i + 1 - max(0, i - WINDOW + 1))
            for i in range(len(xs))]


def main(fp32_path, bf16_path, out):
    a, a_val, a_speed = curve(fp32_path)
    b, b_val, b_speed = curve(bf16_path)
    n = min(len(a), len(b))
    sa, sb = smooth(a[:n]), smooth(b[:n])
    rel = [abs(y - x) / x for x, y in zip(sa[WINDOW:], sb[WINDOW:])]
    worst = max(rel)
    raw = max(abs(y - x) / x for x, y in zip(a[:n], b[:n]))
    median = lambda xs: sorted(xs)[len(xs) // 2]
    result = {
        "updates": n,
        "smoothing_window": WINDOW,
        "max_relative_difference_smoothed": worst,
        "max_relative_difference_raw": raw,
        "final_loss_smoothed": {"fp32": sa[-1], "bf16": sb[-1]},
        "val_loss": {"fp32": a_val, "bf16": b_val},
        "median_tokens_per_s": {"fp32": median(a_speed), "bf16": median(b_speed)},
        "loss": {"fp32": a[:n], "bf16": b[:n]},
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"{n} updates: smoothed losses differ by at most {100 * worst:.2f}% "
          f"(raw, per update: {100 * raw:.2f}%); final smoothed loss fp32 {sa[-1]:.4f}, "
          f"bf16 {sb[-1]:.4f}; validation {a_val} / {b_val}; median tokens/s fp32 "
          f"{median(a_speed):.0f}, bf16 {median(b_speed):.0f}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
