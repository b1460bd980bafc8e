"""Tokenizer throughput from Python: genpt against tiktoken and Hugging Face `tokenizers` (GPT-2
byte-level BPE), and against transformers' OpenAIGPTTokenizer with ftfy and spaCy (GPT-1).

    python crates/genpt-py/bench.py --shared ../shared --mb 20 --rounds 3

Every tokenizer reads the same text, taken from the start of the books in ../shared (Gutenberg
files in name order, concatenated). Two ways of calling:
- single: one thread, one call per book (`encode` / `encode_ordinary`);
- batch: the books cut into paragraphs, one batch call on all cores (`encode_batch`,
  `encode_ordinary_batch(num_threads=cores)`, `encode_batch`).
Each round loads every tokenizer afresh (their word caches start empty) and runs them back to
back, each round starting with another one; the table gives each one's median MB/s over the rounds and its ratio to genpt's.
The ids are compared too: GPT-2's must equal tiktoken's. For GPT-1, the share of the release
reference's lines (../shared/data/tokenizer-reference/gpt1_reference.jsonl) each tokenizer
reproduces exactly.
"""

from __future__ import annotations

import argparse
import array
import gc
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import genpt


def books_text(shared: Path, megabytes: float) -> list[str]:
    """Whole books from the start of ../shared/data/books, the last one cut at the budget."""
    budget = int(megabytes * 1_000_000)
    books = []
    for path in sorted((shared / "data/books").glob("book*.txt")):
        text = path.read_text(encoding="utf-8")
        books.append(text[: budget])
        budget -= len(text[:budget].encode("utf-8"))
        if budget <= 0:
            break
    return books


def paragraphs(books: list[str]) -> list[str]:
    out = []
    for book in books:
        out.extend(p for p in book.split("\n\n") if p)
    return out


def timed(call):
    """Seconds of `call()` and its result, with Python's garbage collector off while it runs
    (as `timeit` does: a collection walking earlier rounds' objects is not the tokenizer's
    time)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = call()
        return time.perf_counter() - start, result
    finally:
        gc.enable()


def digest(lists) -> str:
    """A fingerprint of a list of id lists, to compare tokenizers' outputs without keeping them."""
    h = hashlib.sha256()
    for ids in lists:
        h.update(array.array("I", ids).tobytes())
    return h.hexdigest()


def gpt2_tokenizers(shared: Path):
    """Loaders for the three GPT-2 tokenizers, all from the same released files."""
    import tiktoken
    import tiktoken.load
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab_dir = shared / "data/gpt2-bpe"
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
        str(vocab_dir / "vocab.bpe"), str(vocab_dir / "encoder.json")
    )
    pattern = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

    def load_tiktoken():
        return tiktoken.Encoding(
            "gpt2-shared",
            pat_str=pattern,
            mergeable_ranks=ranks,
            special_tokens={"<|endoftext|>": 50256},
        )

    encoder = json.loads((vocab_dir / "encoder.json").read_text(encoding="utf-8"))
    merges = [
        tuple(line.split(" "))
        for line in (vocab_dir / "vocab.bpe").read_text(encoding="utf-8").splitlines()[1:]
        if line
    ]

    def load_hf():
        tokenizer = Tokenizer(models.BPE(vocab=encoder, merges=merges))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        return tokenizer

    def load_genpt():
        return genpt.Tokenizer.load(vocab_dir)

    cores = os.cpu_count() or 1
    return {
        "genpt": (
            load_genpt,
            lambda t, text: t.encode(text).tolist(),
            lambda t, texts: [ids.tolist() for ids in t.encode_batch(texts)],
        ),
        "tiktoken": (
            load_tiktoken,
            lambda t, text: t.encode_ordinary(text),
            lambda t, texts: t.encode_ordinary_batch(texts, num_threads=cores),
        ),
        "tokenizers": (
            load_hf,
            lambda t, text: t.encode(text, add_special_tokens=False).ids,
            lambda t, texts: [e.ids for e in t.encode_batch(texts, add_special_tokens=False)],
        ),
    }


def bench_gpt2(shared: Path, megabytes: float, rounds: int) -> dict:
    books = books_text(shared, megabytes)
    parts = paragraphs(books)
    size = {
        "single": sum(len(b.encode("utf-8")) for b in books) / 1e6,
        # Without the blank lines between paragraphs, which the batch does not see.
        "batch": sum(len(p.encode("utf-8")) for p in parts) / 1e6,
    }
    tokenizers = gpt2_tokenizers(shared)
    times = {(name, mode): [] for name in tokenizers for mode in ("single", "batch")}
    ids = {}
    names = list(tokenizers)
    for r in range(rounds):
        # Each round starts with another tokenizer, so that none always runs first.
        for name in names[r % len(names) :] + names[: r % len(names)]:
            load, single, batch = tokenizers[name]
            tokenizer = load()
            seconds, out = timed(lambda: [single(tokenizer, b) for b in books])
            times[name, "single"].append(seconds)
            ids[name, "single"] = (digest(out), sum(map(len, out)))
            tokenizer = load()
            seconds, out = timed(lambda: batch(tokenizer, parts))
            times[name, "batch"].append(seconds)
            ids[name, "batch"] = (digest(out), sum(map(len, out)))
    rows = []
    for mode in ("single", "batch"):
        base = statistics.median(times["genpt", mode])
        for name in tokenizers:
            median = statistics.median(times[name, mode])
            rows.append(
                {
                    "mode": mode,
                    "tokenizer": name,
                    "mb_per_s": size[mode] / median,
                    "genpt_speedup": median / base,
                    "seconds": times[name, mode],
                    "tokens": ids[name, mode][1],
                    "ids_equal_tiktoken": ids[name, mode] == ids["tiktoken", mode],
                }
            )
    return {"megabytes": size["single"], "books": len(books), "paragraphs": len(parts), "rows": rows}


def bench_gpt1(shared: Path, megabytes: float, rounds: int) -> dict:
    """genpt's GPT-1 pipeline against transformers' OpenAIGPTTokenizer (ftfy and spaCy
    installed, as the release ran them): speed on the books, and exact agreement with the
    release's reference tokenizations."""
    import logging

    from transformers import OpenAIGPTTokenizer

    logging.getLogger("transformers").setLevel(logging.ERROR)
    vocab_dir = shared / "data/gpt1-bpe"

    def load_hf():
        return OpenAIGPTTokenizer(
            vocab_file=str(vocab_dir / "encoder_bpe_40000.json"),
            merges_file=str(vocab_dir / "vocab_40000.bpe"),
        )

    def hf_ids(tokenizer, text):
        return tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))

    reference = [
        json.loads(line)
        for line in (shared / "data/tokenizer-reference/gpt1_reference.jsonl").read_text().splitlines()[1:]
        if line.strip()
    ]
    hf = load_hf()
    if getattr(hf, "fix_text", None) is None or getattr(hf, "nlp", None) is None:
        # transformers 5 replaced the ftfy + spaCy pipeline with a `tokenizers` one; 4.x with
        # ftfy and spaCy installed runs the release's pipeline.
        raise SystemExit(
            "the GPT-1 comparison needs transformers 4.x with ftfy and spacy installed "
            f"(transformers {__import__('transformers').__version__} has no ftfy/spaCy path)"
        )
    ours = genpt.Tokenizer.load(vocab_dir)
    agreement = {
        "lines": len(reference),
        "genpt_exact": sum(ours.encode(r["text"]).tolist() == r["ids"] for r in reference),
        "transformers_exact": sum(hf_ids(hf, r["text"]) == r["ids"] for r in reference),
    }
    parts = paragraphs(books_text(shared, megabytes))
    size = sum(len(p.encode("utf-8")) for p in parts) / 1e6
    times = {"genpt": [], "transformers": [], "genpt batch": []}
    for _ in range(rounds):
        tokenizer = genpt.Tokenizer.load(vocab_dir)
        times["genpt"].append(timed(lambda: [tokenizer.encode(p).tolist() for p in parts])[0])
        tokenizer = genpt.Tokenizer.load(vocab_dir)
        times["genpt batch"].append(
            timed(lambda: [ids.tolist() for ids in tokenizer.encode_batch(parts)])[0]
        )
        tokenizer = load_hf()
        times["transformers"].append(timed(lambda: [hf_ids(tokenizer, p) for p in parts])[0])
    base = statistics.median(times["genpt"])
    rows = [
        {
            "tokenizer": name,
            "mb_per_s": size / statistics.median(t),
            "genpt_speedup": statistics.median(t) / base,
            "seconds": t,
        }
        for name, t in times.items()
    ]
    return {"megabytes": size, "paragraphs": len(parts), "agreement": agreement, "rows": rows}


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "genpt": genpt.__version__ + " " + genpt.BUILD_COMMIT}
    for module in ("tiktoken", "tokenizers", "transformers", "ftfy", "spacy"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            pass
    return {"cpu": model, "cores": os.cpu_count(), "versions": versions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared")
    parser.add_argument("--mb", type=float, default=20, help="megabytes of books for GPT-2")
    parser.add_argument("--gpt1-mb", type=float, default=2, help="megabytes of books for GPT-1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", choices=["gpt1", "gpt2"], help="one of the two comparisons")
    args = parser.parse_args()
    results = {"machine": machine()}
    if args.only != "gpt1":
        results["gpt2"] = bench_gpt2(args.shared, args.mb, args.rounds)
        print(f"GPT-2, {results['gpt2']['megabytes']:.1f} MB of books:")
        for row in results["gpt2"]["rows"]:
            print(
                f"  {row['mode']:6} {row['tokenizer']:10} {row['mb_per_s']:7.2f} MB/s"
                f"  genpt is {row['genpt_speedup']:.2f}x  ids equal tiktoken's: {row['ids_equal_tiktoken']}"
            )
    if args.only == "gpt2":
        finish(results, args.json)
        return
    results["gpt1"] = bench_gpt1(args.shared, args.gpt1_mb, args.rounds)
    agreement = results["gpt1"]["agreement"]
    print(f"GPT-1, {results['gpt1']['megabytes']:.1f} MB of books:")
    for row in results["gpt1"]["rows"]:
        versus = "" if row["tokenizer"].startswith("genpt") else f"  genpt is {row['genpt_speedup']:.2f}x"
        print(f"  {row['tokenizer']:12} {row['mb_per_s']:7.2f} MB/s{versus}")
    print(
        f"  release reference, exact lines: genpt {agreement['genpt_exact']}/{agreement['lines']},"
        f" transformers {agreement['transformers_exact']}/{agreement['lines']}"
    )
    finish(results, args.json)


def finish(results: dict, path: Path | None) -> None:
    if path:
        path.write_text(json.dumps(results, indent=1))
    json.dump(results["machine"], sys.stdout)
    print()


if __name__ == "__main__":
    main()
