"""Issue 27: the all-reduce cost model of data-parallel GPT-1 pre-training (docs/multi-process.md).

A ring all-reduce of S bytes over N nodes sends and receives 2(N-1)/N * S bytes per node, in
2(N-1) steps of one message each, so its time is 2(N-1)/N * S / B + 2(N-1) * alpha, for a link
of B bytes/s and a per-message latency alpha. genpt all-reduces one flat f32 buffer of every
gradient per update (plus one presence flag per tensor and a count: negligible).

The compute side: an update of the paper's batch (64 x 512 tokens) costs about
6 * params * tokens FLOP. At a sustained rate R per node, N nodes sharing the batch take
6 * P * T / (N * R) seconds each. Scaling stops where the all-reduce costs as much as the
compute (efficiency 50%); bucketing the buffer and overlapping it with the backward pass hides
up to the backward's share (about 2/3 of the compute).

Usage: python3 experiments/mpi_scaling_model.py [--rate TFLOPS] [--latency-us US]
"""
import argparse

P = 116_534_784  # GPT-1's parameters: the 146 tensors of the release's params_shapes.json
TOKENS = 64 * 512  # the paper's batch
NODES = [2, 4, 8, 16, 32, 64]
LINKS_GBIT = [10, 100, 400]


def allreduce_s(nodes, bytes_, gbit, latency):
    return 2 * (nodes - 1) / nodes * bytes_ / (gbit * 1e9 / 8) + 2 * (nodes - 1) * latency


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100.0,
                    help="sustained TFLOP/s per node (default 100: one H100-class GPU in bf16 at ~25%% of peak)")
    ap.add_argument("--latency-us", type=float, default=5.0)
    a = ap.parse_args()
    size = 4 * P
    compute = 6 * P * TOKENS / (a.rate * 1e12)
    print(f"bytes all-reduced per update: {size / 1e6:.0f} MB (fp32 gradients of {P / 1e6:.1f}M parameters)")
    print(f"compute per update of 64 x 512 tokens on one node at {a.rate:g} TFLOP/s: {compute:.3f} s")
    print()
    print("| link | " + " | ".join(f"N = {n}" for n in NODES) + " |")
    print("|---|" + "---|" * len(NODES))
    for gbit in LINKS_GBIT:
        cells = []
        for n in NODES:
            t = allreduce_s(n, size, gbit, a.latency_us * 1e-6)
            c = compute / n
            cells.append(f"{t * 1e3:.0f} ms ({100 * c / (c + t):.0f}%)")
        print(f"| {gbit} Gb/s | " + " | ".join(cells) + " |")
    print()
    print("cells: ring all-reduce time per update (efficiency = compute / (compute + all-reduce),")
    print("the paper's global batch shared by N nodes, no overlap)")


if __name__ == "__main__":
    main()
