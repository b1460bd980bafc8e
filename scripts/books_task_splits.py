"""Task directories that experiments/books_reproduction.sh fine-tunes on, beyond ../shared's own.

Usage: python3 scripts/books_task_splits.py SHARED_DATA OUT

Writes, in GLUE's own file layout (so `genpt finetune --task T --data DIR` reads them as usual):
  OUT/QNLI/{train,dev}.tsv     ../shared has QNLI's dev split only (5,463 pairs). Its rows are
                               divided by a hash of their `index` column: one in five to dev
                               (about 1,090), the rest to train (about 4,370). Fine-tuning trains
                               on the second and reports the first, so the QNLI numbers here are on
                               a fifth of the official dev set, not on it.
  OUT/SST-2@N/{train,dev}.tsv  the first N rows of one fixed shuffle of SST-2's 67,349 training
                               sentences (seed 0; N = 250, 1000, 4000, 16000), with the full dev
                               set: the label-efficiency curve. The subsets are nested.
Files are written whole or not at all (a temporary name, then a rename).
"""
import hashlib
import os
import random
import sys

LABEL_COUNTS = [250, 1000, 4000, 16000]


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines[0], lines[1:]


def write_tsv(path, header, rows):
    tmp = path + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(header + "\n")
        for row in rows:
            f.write(row + "\n")
    os.replace(tmp, path)


def to_dev(index):
    """One row in five, by a hash of the row's index (stable, independent of row order)."""
    return hashlib.sha256(index.encode()).digest()[0] % 5 == 0


def main(shared, out):
    glue = os.path.join(shared, "glue")

    header, rows = read_tsv(os.path.join(glue, "QNLI", "dev.tsv"))
    assert header.split("\t")[0] == "index", header
    qnli = os.path.join(out, "QNLI")
    os.makedirs(qnli, exist_ok=True)
    dev = [r for r in rows if to_dev(r.split("\t", 1)[0])]
    train = [r for r in rows if not to_dev(r.split("\t", 1)[0])]
    write_tsv(os.path.join(qnli, "train.tsv"), header, train)
    write_tsv(os.path.join(qnli, "dev.tsv"), header, dev)
    print(f"QNLI: {len(train)} train, {len(dev)} dev (of {len(rows)} official dev pairs)")

    header, rows = read_tsv(os.path.join(glue, "SST-2", "train.tsv"))
    dev_header, dev_rows = read_tsv(os.path.join(glue, "SST-2", "dev.tsv"))
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    for n in LABEL_COUNTS:
        d = os.path.join(out, f"SST-2@{n}")
        os.makedirs(d, exist_ok=True)
        write_tsv(os.path.join(d, "train.tsv"), header, [rows[i] for i in order[:n]])
        write_tsv(os.path.join(d, "dev.tsv"), dev_header, dev_rows)
    print(f"SST-2: subsets of {LABEL_COUNTS} of {len(rows)} training sentences")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
