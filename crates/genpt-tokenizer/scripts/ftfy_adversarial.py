#!/usr/bin/env python3
"""Prints adversarial inputs for ftfy's `fix_text`, one JSON string per line (run by hand).

Every kind of damage ftfy repairs, and text it must leave alone, built from real sentences
(snippets of ../shared/data/books/*.txt and GLUE dev sets, read at generation time):
UTF-8 mojibake through every codec ftfy tries (and some it does not), once and twice, whole or
in part, with lost bytes (U+FFFD, '?') and no-break spaces turned into spaces; CESU-8 and
Java nulls; HTML entities (named, upper-cased, numeric, malformed, with and without '<');
characters of every Unicode general category; ligatures, digraphs, full/half width, quotes,
odd spaces, C0/C1 controls, terminal escapes, every kind of line break; mixed scripts.

    python3 scripts/ftfy_adversarial.py --lines 50500 --seed 15 > /tmp/ftfy_inputs.jsonl
"""
import argparse
import glob
import html.entities
import json
import os
import random
import sys
import unicodedata

import ftfy.bad_codecs  # noqa: F401  (registers the sloppy codecs)

SHARED = os.environ.get("GENPT_SHARED", os.path.join(os.path.dirname(__file__), "../../../../shared"))

# The codecs ftfy tries (chardata.CHARMAP_ENCODINGS) and some it does not, whose mojibake it
# must leave alone or only partly fix.
FTFY_CODECS = [
    "latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250",
    "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257", "iso-8859-2",
    "macroman", "cp437",
]
OTHER_CODECS = [
    "windows-1252", "windows-1251", "windows-1250", "iso-8859-15", "cp850", "koi8-r",
    "sloppy-windows-1255", "sloppy-windows-1256", "sloppy-windows-1258", "sloppy-cp874",
    "iso-8859-5", "iso-8859-7", "mac-cyrillic", "cp1125",
]

# Non-ASCII words of many scripts and the punctuation web text is full of.
PAYLOAD = (
    "café naïve résumé Zürich Ærøskøbing São Paulo façade jalapeño Ångström señor déjà vu "
    "Dvořák Łódź Kraków Škoda Čapek Ţară İstanbul ağaç Ġgantija Öl Größe Straße œuvre Œdipe "
    "“quoted” ‘single’ it’s — – … • € £ ¥ © ® ™ ° ± ² ³ ½ ¼ ¾ × ÷ µ ¶ § ¬ ¦ ¡ ¿ « » ‹ › † ‡ ‰ "
    "Москва привет Україна ёлка Ђорђе ελληνικά Αθήνα ΣΟΦΙΑ עברית العربية हिन्दी தமிழ் ไทย "
    "中文 日本語 カタカナ ひらがな 한국어 😀 👍🏽 ❤ ✔ ☃ 𝒥 🇺🇸 ⁂ ∞ ≤ ≥ ≠ √ ∑ ∂ ◊  ½ à la "
    "às àquele fácil Ã Â Ø Ù ǅ ǈ ǋ ĳ ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ ŉ ＡＢＣ ｶﾀｶﾅ ¯\\_(ツ)_/¯ (╯°□°)╯︵ ┻━┻"
).split(" ")


def load_sentences():
    sentences = []
    for path in sorted(glob.glob(os.path.join(SHARED, "data/books/*.txt")))[:40]:
        with open(path, encoding="utf-8", errors="replace") as f:
            for para in f.read().split("\n\n"):
                para = " ".join(para.split())
                if 20 <= len(para):
                    sentences.append(para)
    for path in sorted(glob.glob(os.path.join(SHARED, "data/glue/*/dev.tsv"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                for cell in line.rstrip("\n").split("\t"):
                    if len(cell) >= 20 and " " in cell:
                        sentences.append(cell)
    if not sentences:
        sys.exit("no sentences found under %s (set GENPT_SHARED)" % SHARED)
    return sentences


class Gen:
    def __init__(self, rng, sentences):
        self.rng = rng
        self.sentences = sentences
        self.by_category = {}
        for c in range(0x110000):
            cat = unicodedata.category(chr(c))
            if cat != "Cs":  # lone surrogates cannot be written as UTF-8
                self.by_category.setdefault(cat, []).append(chr(c))
        self.entities = sorted(html.entities.html5)

    def snippet(self, max_words=None):
        """A few words of a real sentence, sometimes with non-ASCII words mixed in."""
        r = self.rng
        words = r.choice(self.sentences).split(" ")
        n = r.randint(1, max_words or r.choice([1, 2, 3, 5]))
        start = r.randrange(max(1, len(words) - n + 1))
        words = words[start:start + n]
        if r.random() < 0.5:
            for _ in range(r.randint(1, 2)):
                words.insert(r.randrange(len(words) + 1), r.choice(PAYLOAD))
        return " ".join(words)

    def mojibake(self, text, codecs=None):
        r = self.rng
        codec = r.choice(codecs or (FTFY_CODECS * 3 + OTHER_CODECS))
        errors = r.choice(["replace", "replace", "ignore"])
        data = text.encode("utf-8")
        if r.random() < 0.1:
            data = cesu8(text)
        return data.decode(codec, errors=errors)

    def damage(self, text):
        """Post-mojibake damage: NBSP to space, lost bytes to '?' or U+FFFD, case changes."""
        r = self.rng
        k = r.random()
        if k < 0.3:
            return text.replace("\xa0", " ")
        if k < 0.4:
            return "".join("?" if (ord(c) > 0x7F and r.random() < 0.2) else c for c in text)
        if k < 0.5:
            return "".join("\ufffd" if (ord(c) > 0x7F and r.random() < 0.2) else c for c in text)
        if k < 0.55:
            return text.upper()
        if k < 0.6:
            return text.lower()
        return text

    def mojibake_line(self):
        r = self.rng
        k = r.random()
        text = self.snippet()
        if k < 0.45:  # whole line, once
            return self.damage(self.mojibake(text))
        if k < 0.65:  # twice (mojibake of mojibake), maybe through different codecs
            once = self.mojibake(text, FTFY_CODECS)
            return self.damage(self.mojibake(once, FTFY_CODECS + ["windows-1252", "utf-8"]))
        if k < 0.85:  # only some words: inconsistent UTF-8 within good text
            words = text.split(" ")
            out = [self.mojibake(w, FTFY_CODECS) if r.random() < 0.5 else w for w in words]
            return self.damage(" ".join(out))
        if k < 0.95:  # a mojibake word amid text in another script or Latin-1 text
            return " ".join([r.choice(PAYLOAD), self.mojibake(r.choice(PAYLOAD)), r.choice(PAYLOAD)])
        # the reverse damage: Latin-1 text read as UTF-8 would fail, so read as a codec
        return text.encode(r.choice(["latin-1", "cp1252", "macroman"]), errors="replace").decode(
            r.choice(FTFY_CODECS), errors="replace")

    def entity(self):
        r = self.rng
        k = r.random()
        if k < 0.35:
            name = r.choice(self.entities)
            return "&" + (name.upper() if r.random() < 0.3 else name)
        if k < 0.6:
            n = r.choice([r.randrange(0, 0x110000), r.randrange(0, 0x300), r.randrange(0x80, 0xA0),
                          r.randrange(0xD800, 0xE000), 59, 0, 13, 0x110000, 10**20, 0xFFFE])
            form = r.choice(["&#%d;", "&#x%x;", "&#X%X;", "&#x%X;", "&#%07d;", "&#%d", "&#x%x"])
            return form % (n, n) if form.count("%") == 2 else form % n
        if k < 0.8:
            return r.choice(["&amp", "&amp;amp;", "&#;", "&#x;", "&#12a;", "&#xZZ;", "& amp;",
                             "&" + "a" * r.randint(20, 30) + ";", "&AMP;", "&Amp;", "&nTILDE;",
                             "&#65;&#66", "&&lt;", "&;", "&#x1F600;", "&#128512;", "&NotEqualTilde;",
                             "&CounterClockwiseContourIntegral;", "&SZLIG;", "&EACUTE;"])
        return r.choice(["<b>", "<", "a < b", "<p>&amp;</p>"])

    def entity_line(self):
        r = self.rng
        words = self.snippet(4).split(" ")
        for _ in range(r.randint(1, 3)):
            e = self.entity()
            i = r.randrange(len(words) + 1)
            if r.random() < 0.5:
                words.insert(i, e)
            else:
                words[min(i, len(words) - 1)] += e
        return " ".join(words)

    def char(self):
        r = self.rng
        cat = r.choice(sorted(self.by_category))
        return r.choice(self.by_category[cat])

    def category_line(self):
        r = self.rng
        words = self.snippet(3).split(" ")
        for _ in range(r.randint(1, 2)):
            chars = "".join(self.char() for _ in range(r.randint(1, 3)))
            i = r.randrange(len(words) + 1)
            if r.random() < 0.5:
                words.insert(i, chars)
            else:
                words[min(i, len(words) - 1)] += chars
        return " ".join(words)

    def special(self):
        r = self.rng
        return r.choice([
            "ﬁ", "ﬂ", "ﬀ", "ﬃ", "ﬄ", "ﬅ", "ﬆ", "Ĳ", "ĳ", "ŉ", "Ǳ", "ǲ", "ǳ", "Ǆ", "ǅ", "ǆ", "Ǉ", "ǈ",
            "ǉ", "Ǌ", "ǋ", "ǌ", "æ", "Œ", "ＦＵＬＬ", "ｗｉｄｅ", "１２３", "ｶﾀｶﾅ", "ﾟ", "ﾞ", "ￂ", "￦", "￡",
            "\u3000", "\xa0", "\u2009", "\u200b", "\u202f", "\u2002", "\ufeff", "\u00ad",
            "‘", "’", "‚", "‛", "“", "”", "„", "‟", "ʼ", "′", "″", "«", "»", "＂", "＇",
            "\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x0e", "\x1a", "\x1b", "\x1f", "\x7f",
            "\x80", "\x81", "\x85", "\x8d", "\x91", "\x92", "\x93", "\x94", "\x96", "\x9d", "\x9f",
            "\x1b[0m", "\x1b[36;44m", "\x1b[1;31m", "\x1b[K", "\x1b[", "\x1b[12", "\x1b[٣m",
            "\x1b[;;H", "\x1b]0;title\x07",
            "\r\n", "\r", "\n", "\u2028", "\u2029", "\x85", "\r\r\n", "\n\r",
            "\u206a", "\ufff9", "\ufffc", "\ufffd", "\U000e0067", "\U0001d173",
            "e\u0301", "A\u030a", "\u1100\u1161", "\u0928\u093c", "Å", "K",
            "Ã ", "Ã la", "Â ", "Ã©", "â€", "â€™", "â€œ", "â€\x9d", "Ã\xa0", "â€¦", "Ã¢â‚¬â„¢",
            "‚Äô", "‚Äú", "‚Ä¶", "Ã¶", "Ã¼", "ÃŸ", "Ã\x9f", "Ä±", "Å›", "Ð¿Ñ€Ð¸", "Î±Î²",
            "\U0001611e\U0001611e", "a\U00010efd\u0301", "\U00011f41e\u0301", "À\n", "í\xa0½í¸€", "í\xa0½í¸", "í\xa0½", "Ã s ", "Ã quele", "Ã  ", "â€?", "Ã?", "Ã¢â‚¬Å“",
        ])

    def special_line(self):
        r = self.rng
        words = self.snippet(3).split(" ")
        for _ in range(r.randint(1, 4)):
            s = self.special()
            i = r.randrange(len(words) + 1)
            if r.random() < 0.5:
                words.insert(i, s)
            else:
                words[min(i, len(words) - 1)] += s
        return r.choice([" ", " ", "", "\t", "  "]).join(words)

    def byte_soup(self):
        """Random bytes, rich in UTF-8 lead and continuation bytes, read through a codec."""
        r = self.rng
        picks = [None, None, 0x20, 0x0A, 0xA0, 0xC2, 0xC3, 0xE2, 0xED, 0xC0, 0x80, 0x1A, 0x3F, 0xF0]
        data = bytes(
            (r.randrange(256) if p is None else p) for p in (r.choice(picks) for _ in range(r.randint(1, 10)))
        )
        text = data.decode(r.choice(FTFY_CODECS + OTHER_CODECS), errors="replace")
        return r.choice(["", self.snippet(2) + " "]) + text + r.choice(["", "\n", " " + self.snippet(2)])

    def line(self):
        r = self.rng
        k = r.random()
        if k < 0.04:
            return self.snippet()
        if k < 0.08:
            return self.byte_soup()
        if k < 0.46:
            return self.mojibake_line()
        if k < 0.58:
            return self.entity_line()
        if k < 0.72:
            return self.category_line()
        if k < 0.92:
            return self.special_line()
        # several lines in one text: '<' in one line turns entities off for the lines after it
        parts = [r.choice([self.mojibake_line, self.entity_line, self.special_line, self.snippet])()
                 for _ in range(r.choice([2, 2, 3]))]
        return "".join(p + r.choice(["\n", "\r\n", "\n\n", "\u2028", " \n"]) for p in parts)


def cesu8(text):
    """CESU-8: characters above U+FFFF as two three-byte surrogates; sometimes U+0000 as C0 80."""
    out = bytearray()
    for ch in text:
        c = ord(ch)
        if c > 0xFFFF:
            c -= 0x10000
            for s in (0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF)):
                out += bytes([0xE0 | (s >> 12), 0x80 | ((s >> 6) & 0x3F), 0x80 | (s & 0x3F)])
        else:
            out += ch.encode("utf-8")
    return bytes(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=50500)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    gen = Gen(rng, load_sentences())
    seen = set()
    out = sys.stdout
    while len(seen) < args.lines:
        text = gen.line()
        if text in seen:
            continue
        seen.add(text)
        out.write(json.dumps(text, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
