"""Reference tokenizations for the GPT-2 byte-level tokenizer (tests/gpt2_parity.rs).

Encodes a varied text set with transformers' GPT2Tokenizer (GPT-2's vocabulary and the tiny
random one of ../shared/fixtures) and, as a cross-check, with OpenAI's encoder.py algorithm
(re-typed below, Python `regex`); decodes random id sequences (cut characters, invalid UTF-8,
<|endoftext|>); dumps Python regex's \\p{L}, \\p{N} and \\s over all code points. Writes JSONL:
a header line, then one record per case.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install transformers regex
    /tmp/venv/bin/python crates/genpt-tokenizer/scripts/make_gpt2_fixture.py \\
        --shared ../shared --out crates/genpt-tokenizer/tests/fixtures/gpt2_reference.jsonl

Texts are generated from a fixed seed plus excerpts of ../shared/data/books and GLUE dev sets
chosen with the same seed, so a rerun with the same data and versions gives the same file.
"""

import argparse
import glob
import json
import os
import random

import regex
import tokenizers
import transformers
from transformers import GPT2Tokenizer

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class EncoderPy:
    """OpenAI gpt-2/src/encoder.py (MIT), the encode half, unchanged in substance."""

    def __init__(self, encoder, merges):
        self.encoder = encoder
        self.byte_encoder = bytes_to_unicode()
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = set(zip(word, word[1:]))
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = set(zip(word, word[1:]))
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        ids = []
        for token in regex.findall(PAT, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids


def ranges(pattern):
    rx = regex.compile(pattern)
    out, start = [], None
    for c in range(0x110000):
        hit = bool(rx.match(chr(c)))
        if hit and start is None:
            start = c
        if not hit and start is not None:
            out.append([start, c - 1])
            start = None
    if start is not None:
        out.append([start, 0x10FFFF])
    return out


def generated(rng, n):
    words = "the of and a to in is was he that it for on with as his they at be this from have or by one had not but what all were when we there can an your which their said if do will each about how up out them then she many some so these would other into has more her two like him see time could no make than first been its who now people my made over did down only way find use may water long little very after words called just where most know".split()
    def cased(w):
        r = rng.random()
        return w.upper() if r < 0.15 else w.title() if r < 0.35 else "".join(c.upper() if rng.random() < 0.3 else c for c in w) if r < 0.45 else w
    contractions = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'rE", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'Ll", "'d", "'D", "\u2019s", "''s", "'x", "'", "n't", "N'T", "o'clock", "rock'n'roll"]
    numbers = ["0", "7", "42", "1,000", "3.14159", "-12", "1e10", "2024", "12345678901234567890", "\u0967\u0968\u0969", "\u2167", "\u00bd", "\u00b2", "\uff11\uff12", "\u0663\u0664"]
    emoji = ["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F1EB\U0001F1F7", "\u2764\ufe0f", "\U0001F9D1\u200d\U0001F4BB", "\u263a"]
    scripts = ["\u4e2d\u6587\u5b57\u7b26", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\ud55c\uad6d\uc5b4", "\u0440\u0443\u0441\u0441\u043a\u0438\u0439", "\u05e2\u05b4\u05d1\u05b0\u05e8\u05b4\u05d9\u05ea", "\u0627\u0644\u0639\u064e\u0631\u064e\u0628\u0650\u064a\u0651\u0629", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22", "\u0939\u093f\u0928\u094d\u0926\u0940", "\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac"]
    combining = ["e\u0301", "a\u0308\u0304", "Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307l\u036e\u0312\u036bg\u030c\u0317\u035a\u031a", "\u0301", "n\u0303o", "\u1e9b\u0323", "\ufb01"]
    spaces = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", " \n ", "\r\n\r\n", "\u00a0", "\u2003", "\u3000", "\u0085", "\u1680", "\u200b", "\x0b", "\x0c", "\x1c", "\x1f", " \t ", "\u2028", "\u202f", "\ufeff"]
    punct = ["...", "!?", "--", "\u2014", "\u00ab\u00bb", "\u201c\u201d", "@#$%", "<|endoftext|>", "<|", "|>", "<|endoftext|", "endoftext", "http://example.com/a?b=c", "a.b@c.de", "(", ")", "\"", "'", "\\", "~~~", "\u2026"]
    controls = ["\x00", "\x07", "\x7f", "\x80", "\x9f", "\ue000", "\uffff", "\U0010ffff", "\U000e0001", "\ufffd", "\u00ad"]

    def random_char():
        while True:
            c = rng.choice([rng.randrange(0x80, 0x800), rng.randrange(0x800, 0x10000), rng.randrange(0x10000, 0x110000), rng.randrange(0, 0x80)])
            if not 0xD800 <= c <= 0xDFFF:
                return chr(c)

    def long_run():
        kind = rng.randrange(5)
        n = rng.choice([65, 100, 300, 1000, 3000])
        if kind == 0:
            return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))
        if kind == 1:
            return rng.choice("ab") * n
        if kind == 2:
            return "".join(rng.choice("0123456789") for _ in range(n))
        if kind == 3:
            return "".join(rng.choice("!?.,;:-=+*/") for _ in range(n))
        return "".join(rng.choice(words) for _ in range(n // 4))  # one long "word"

    kinds = [
        (30, lambda: cased(rng.choice(words))),
        (6, lambda: rng.choice(contractions)),
        (5, lambda: rng.choice(numbers)),
        (3, lambda: rng.choice(emoji)),
        (3, lambda: rng.choice(scripts)),
        (3, lambda: rng.choice(combining)),
        (10, lambda: rng.choice(spaces)),
        (5, lambda: rng.choice(punct)),
        (2, lambda: rng.choice(controls)),
        (4, lambda: "".join(random_char() for _ in range(rng.randrange(1, 6)))),
    ]
    table = [f for w, f in kinds for _ in range(w)]
    out = []
    for i in range(n):
        parts = [rng.choice(table)() for _ in range(rng.randrange(1, 30))]
        if i % 25 == 0:
            parts.insert(rng.randrange(len(parts) + 1), long_run())
        out.append("".join(p + rng.choice(["", "", " ", " "]) for p in parts))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=2018)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    gen = generated(rng, 1200)
    books = []
    for path in sorted(glob.glob(os.path.join(args.shared, "data/books/*.txt"))):
        paragraphs = [p for p in open(path, encoding="utf-8", errors="replace").read().split("\n\n") if p.strip()]
        for p in rng.sample(paragraphs, min(1, len(paragraphs))):
            start = rng.randrange(max(1, len(p) - 500))
            books.append(p[start:start + 500])
    glue = []
    for path in sorted(glob.glob(os.path.join(args.shared, "data/glue/*/dev.tsv"))):
        lines = open(path, encoding="utf-8").read().split("\n")
        glue.extend(rng.sample(lines, min(25, len(lines))))
    texts = [("generated", t) for t in gen] + [("books", t) for t in books] + [("glue", t) for t in glue]

    gpt2_dir = os.path.join(args.shared, "data/gpt2-bpe")
    tiny_dir = os.path.join(args.shared, "fixtures/tiny-random-gpt2")
    gpt2 = GPT2Tokenizer(os.path.join(gpt2_dir, "encoder.json"), os.path.join(gpt2_dir, "vocab.bpe"))
    tiny = GPT2Tokenizer(os.path.join(tiny_dir, "vocab.json"), os.path.join(tiny_dir, "merges.txt"))
    encoder = json.load(open(os.path.join(gpt2_dir, "encoder.json"), encoding="utf-8"))
    merges = [tuple(m.split()) for m in open(os.path.join(gpt2_dir, "vocab.bpe"), encoding="utf-8").read().split("\n")[1:-1]]
    encoder_py = EncoderPy(encoder, merges)
    byte_decoder = {v: k for k, v in bytes_to_unicode().items()}
    decoder = {v: k for k, v in encoder.items()}

    records, disagreements = [], 0
    for i, (source, text) in enumerate(texts):
        ids = gpt2.encode(text, add_special_tokens=False, split_special_tokens=True)
        rec = {"vocab": "gpt2", "source": source, "text": text, "ids": ids}
        theirs = encoder_py.encode(text)
        if theirs != ids:
            disagreements += 1
            rec["encoder_py"] = theirs
        if "<|" in text:
            rec["ids_special"] = gpt2.encode(text, add_special_tokens=False)
        records.append(rec)
        if i % 5 == 0:
            rec = {"vocab": "tiny", "source": source, "text": text, "ids": tiny.encode(text, add_special_tokens=False, split_special_tokens=True)}
            if "<|" in text:
                rec["ids_special"] = tiny.encode(text, add_special_tokens=False)
            records.append(rec)

    # Decoding: random id sequences, GPT-2's byte ids around UTF-8's lead/continuation bytes,
    # encodings cut mid-character, and <|endoftext|>.
    single_byte = [encoder[bytes_to_unicode()[b]] for b in range(256)]
    for i in range(400):
        kind = i % 4
        if kind == 0:
            ids = [rng.randrange(50257) for _ in range(rng.randrange(1, 12))]
        elif kind == 1:
            ids = [single_byte[rng.choice([rng.randrange(0x80, 0x100), rng.randrange(0x100)])] for _ in range(rng.randrange(1, 12))]
        elif kind == 2:
            full = gpt2.encode(rng.choice(gen), add_special_tokens=False, split_special_tokens=True)
            a = rng.randrange(len(full) + 1)
            ids = full[a:a + rng.randrange(1, 40)]
        else:
            ids = [rng.choice([50256, rng.randrange(50257), single_byte[rng.randrange(0x80, 0x100)]]) for _ in range(rng.randrange(1, 8))]
        raw = bytes(byte_decoder[c] for c in "".join(decoder[t] for t in ids))
        text = gpt2.decode(ids, clean_up_tokenization_spaces=False)
        assert text == raw.decode("utf-8", errors="replace"), (ids, text)
        records.append({"vocab": "gpt2", "decode": ids, "bytes_hex": raw.hex(), "text": text})

    header = {
        "generator": "scripts/make_gpt2_fixture.py",
        "seed": args.seed,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "regex": regex.__version__,
        "encoder_py_disagreements": disagreements,
        "classes": {"L": ranges(r"\p{L}"), "N": ranges(r"\p{N}"), "s": ranges(r"\s")},
    }
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for r in records:
            f.write(json.dumps(r) + "\n")
    n_text = sum("ids" in r for r in records)
    print(f"{n_text} encodings ({disagreements} where encoder.py differs), {len(records) - n_text} decodings, {os.path.getsize(args.out) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
