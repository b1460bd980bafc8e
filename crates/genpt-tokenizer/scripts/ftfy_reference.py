#!/usr/bin/env python3
"""Runs the original GPT-1 pipeline on inputs and writes the fixture (run by hand).

Reads JSON strings, one per line (as ftfy_adversarial.py prints them), and writes gzipped JSONL:
a meta line, then {"text": input, "fixed": ftfy.fix_text(input), "ids": [...]} per input, with
"fixed" left out where ftfy changed nothing. The ids are the release's `TextEncoder.encode`
(finetune-transformer-lm, text_utils.py), copied below, with spaCy's blank English tokenizer
standing in for `spacy.load('en')` (tagger, parser and NER are disabled there, so only the
tokenizer acts).

    pip install ftfy==6.3.1 spacy==3.8.18
    python3 scripts/ftfy_adversarial.py --lines 50500 --seed 15 > /tmp/ftfy_inputs.jsonl
    python3 scripts/ftfy_reference.py /tmp/ftfy_inputs.jsonl tests/fixtures/ftfy_web.jsonl.gz
"""
import gzip
import json
import os
import re
import sys

import ftfy
import spacy

SHARED = os.environ.get("GENPT_SHARED", os.path.join(os.path.dirname(__file__), "../../../../shared"))


# --- from the release's text_utils.py ---
def get_pairs(word):
    pairs = set()
    prev_char = word[0]
    for char in word[1:]:
        pairs.add((prev_char, char))
        prev_char = char
    return pairs


def text_standardize(text):
    text = text.replace('—', '-')
    text = text.replace('–', '-')
    text = text.replace('―', '-')
    text = text.replace('…', '...')
    text = text.replace('´', "'")
    # Verbatim, non-raw strings included: '\\+' reaches `re` as '\+' (runs of '+').
    text = re.sub('''(-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\\+|\/+|\*+|\[+|\]+|}+|{+|\|+|_+)''', r' \1 ', text)  # noqa: W605
    text = re.sub('\s*\n\s*', ' \n ', text)  # noqa: W605
    text = re.sub('[^\S\n]+', ' ', text)  # noqa: W605
    return text.strip()


class TextEncoder(object):
    def __init__(self, encoder_path, bpe_path):
        self.nlp = spacy.blank("en")
        self.encoder = json.load(open(encoder_path))
        merges = open(bpe_path, encoding='utf-8').read().split('\n')[1:-1]
        merges = [tuple(merge.split()) for merge in merges]
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {}

    def bpe(self, token):
        word = tuple(token[:-1]) + (token[-1] + '</w>',)
        if token in self.cache:
            return self.cache[token]
        pairs = get_pairs(word)
        if not pairs:
            return token + '</w>'
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float('inf')))
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
            new_word = tuple(new_word)
            word = new_word
            if len(word) == 1:
                break
            else:
                pairs = get_pairs(word)
        word = ' '.join(word)
        if word == '\n  </w>':
            word = '\n</w>'
        self.cache[token] = word
        return word

    def encode_fixed(self, fixed):
        """`encode` for one text, from its ftfy output."""
        tokens = []
        for token in self.nlp(text_standardize(fixed)):
            tokens.extend([self.encoder.get(t, 0) for t in self.bpe(token.text.lower()).split(' ')])
        return tokens
# --- end of the release's code ---


def main():
    # --no-ids: only ftfy's output (quicker; for ad-hoc checks with FTFY_PARITY_FILE).
    no_ids = "--no-ids" in sys.argv
    src, dst = [a for a in sys.argv[1:] if not a.startswith("--")]
    bpe_dir = os.path.join(SHARED, "data/gpt1-bpe")
    enc = TextEncoder(os.path.join(bpe_dir, "encoder_bpe_40000.json"), os.path.join(bpe_dir, "vocab_40000.bpe"))
    meta = {
        "meta": {
            "ftfy": ftfy.__version__,
            "spacy": spacy.__version__,
            "python": sys.version.split()[0],
            "pipeline": "ftfy.fix_text -> text_standardize -> spaCy English() -> lower -> BPE(40000 merges, </w>)",
            "inputs": "scripts/ftfy_adversarial.py",
            "fields": "text; fixed = ftfy.fix_text(text), absent when equal to text; ids",
        }
    }
    with open(src, encoding="utf-8") as f, gzip.open(dst, "wt", encoding="utf-8", compresslevel=9) as out:
        out.write(json.dumps(meta) + "\n")
        for line in f:
            text = json.loads(line)
            fixed = ftfy.fix_text(text)
            row = {"text": text}
            if fixed != text:
                row["fixed"] = fixed
            if not no_ids:
                row["ids"] = enc.encode_fixed(fixed)
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
