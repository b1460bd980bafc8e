"""Cross-entropy of a unigram model (training-split token counts, +0.5 smoothing) on the
validation split of a `genpt prepare` directory: the floor a pre-trained LM must beat.

Usage: python3 scripts/unigram_baseline.py runs/books-data
"""
import array
import json
import math
import pathlib
import sys
from collections import Counter

HEADER_BYTES = 48  # src/data/shards.rs

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "runs/books-data")
meta = json.loads((root / "meta.json").read_text())


def tokens(name):
    data = (root / name).read_bytes()[HEADER_BYTES:]
    return array.array("H" if meta["vocab_size"] <= 65536 else "I", data)


train = Counter()
for shard in meta["train"]["shards"]:
    train.update(tokens(shard))
total = sum(train.values()) + 0.5 * meta["vocab_size"]
nll, n = 0.0, 0
for shard in meta["validation"]["shards"]:
    for t in tokens(shard):
        nll -= math.log((train[t] + 0.5) / total)
        n += 1
print(f"unigram cross-entropy on validation: {nll / n:.3f} nats (perplexity {math.exp(nll / n):.0f}) over {n} tokens")
