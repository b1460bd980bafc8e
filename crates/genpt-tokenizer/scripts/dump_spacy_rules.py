#!/usr/bin/env python3
"""Writes data/spacy_en.json: spaCy 3.8.18's English tokenizer rules (run by hand, not by CI).

The prefix, suffix, infix and URL patterns are converted from Python's `re` syntax to the
syntax of Rust's fancy-regex (`\\uXXXX` and `\\UXXXXXXXX` escapes become `\\x{...}`); the
special cases (tokenizer exceptions) are written with the pieces spaCy splits them into.

    pip install spacy==3.8.18 && python3 scripts/dump_spacy_rules.py
"""
import json
import os
import re

import spacy


def to_rust(pattern):
    pattern = re.sub(r"\\U([0-9A-Fa-f]{8})", lambda m: "\\x{%s}" % m.group(1), pattern)
    pattern = re.sub(r"\\u([0-9A-Fa-f]{4})", lambda m: "\\x{%s}" % m.group(1), pattern)
    return pattern.replace("(?u)", "")


def main():
    nlp = spacy.blank("en")
    t = nlp.tokenizer
    specials = {}
    for text in t.rules:
        pieces = [tok.text for tok in nlp.make_doc(text)]
        assert "".join(pieces) == text
        specials[text] = pieces
    out = {
        "spacy_version": spacy.__version__,
        "prefix": to_rust(t.prefix_search.__self__.pattern),
        "suffix": to_rust(t.suffix_search.__self__.pattern),
        "infix": to_rust(t.infix_finditer.__self__.pattern),
        "url": to_rust(t.url_match.__self__.pattern),
        "specials": specials,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "spacy_en.json")
    with open(path, "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=0, sort_keys=True)
    print(f"wrote {path}: {len(specials)} special cases")


if __name__ == "__main__":
    main()
