"""genpt.Tokenizer against the references: GPT-1 against the original release's TextEncoder
(../shared/data/tokenizer-reference/gpt1_reference.jsonl: ftfy → text_standardize → spaCy →
BPE), GPT-2 against transformers' GPT2Tokenizer and OpenAI's encoder.py
(crates/genpt-tokenizer/tests/fixtures/gpt2_reference.jsonl, scripts/make_gpt2_fixture.py)."""

import json
import re

import numpy as np
import pytest

import genpt


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def gpt1(shared):
    return genpt.Tokenizer.load(shared / "data/gpt1-bpe")


@pytest.fixture(scope="module")
def gpt2(shared):
    return genpt.Tokenizer.load(shared / "data/gpt2-bpe")


@pytest.fixture(scope="module")
def gpt1_reference(shared):
    rows = read_jsonl(shared / "data/tokenizer-reference/gpt1_reference.jsonl")
    assert "meta" in rows[0]
    return rows[1:]


@pytest.fixture(scope="module")
def gpt2_reference(repo):
    rows = read_jsonl(repo / "crates/genpt-tokenizer/tests/fixtures/gpt2_reference.jsonl")
    return rows[1:]


def mismatches(tokenizer, rows):
    return [r["text"] for r in rows if tokenizer.encode(r["text"]).tolist() != r["ids"]]


def test_gpt1_matches_the_release_on_every_reference_line(gpt1, gpt1_reference):
    assert gpt1.kind == "gpt1"
    assert gpt1.vocab_size == 40478
    assert len(gpt1_reference) == 3021
    wrong = mismatches(gpt1, gpt1_reference)
    assert not wrong, f"{len(wrong)} of {len(gpt1_reference)} lines differ, first: {wrong[0]!r}"
    # Negative control: the comparison sees one id changed.
    row = next(r for r in gpt1_reference if len(r["ids"]) > 3)
    altered = dict(row, ids=row["ids"][:-1] + [row["ids"][-1] + 1])
    assert mismatches(gpt1, [altered]) == [row["text"]]


def test_gpt1_batch_equals_one_by_one(gpt1, gpt1_reference):
    texts = [r["text"] for r in gpt1_reference]
    batch = gpt1.encode_batch(texts)
    assert len(batch) == len(texts)
    assert all(b.dtype == np.uint32 for b in batch)
    assert [b.tolist() for b in batch] == [r["ids"] for r in gpt1_reference]


def test_gpt1_pieces_and_decode(gpt1):
    assert gpt1.pieces("Don't stop") == ["do</w>", "n't</w>", "stop</w>"]
    assert gpt1.token_id("the</w>") == gpt1.encode("the").tolist()[0]
    assert gpt1.decode(gpt1.encode("Don't stop!")) == "do n't stop !"
    assert gpt1.eot_id is None


def test_gpt2_matches_transformers_on_every_reference_line(gpt2, gpt2_reference, shared):
    tiny = genpt.Tokenizer.load(shared / "fixtures/tiny-random-gpt2")
    tokenizers = {"gpt2": gpt2, "tiny": tiny}
    rows = [r for r in gpt2_reference if "ids" in r]
    assert len(rows) == 1964
    wrong = [r["text"] for r in rows if tokenizers[r["vocab"]].encode(r["text"]).tolist() != r["ids"]]
    assert not wrong, f"{len(wrong)} of {len(rows)} lines differ, first: {wrong[0]!r}"
    assert gpt2.encode("Hello world").tolist() == [15496, 995]
    assert gpt2.eot_id == 50256
    # Negative control: GPT-2's vocabulary on the tiny model's lines gives other ids.
    tiny_rows = [r for r in rows if r["vocab"] == "tiny"]
    assert len(mismatches(gpt2, tiny_rows)) > len(tiny_rows) // 2


def test_gpt2_batch_equals_one_by_one(gpt2, gpt2_reference):
    rows = [r for r in gpt2_reference if r["vocab"] == "gpt2" and "ids" in r]
    batch = gpt2.encode_batch([r["text"] for r in rows])
    assert [b.tolist() for b in batch] == [r["ids"] for r in rows]


def test_gpt2_decodes_bytes_as_transformers_does(gpt2, gpt2_reference):
    rows = [r for r in gpt2_reference if "decode" in r]
    assert rows
    for r in rows:
        want = bytes.fromhex(r["bytes_hex"]).decode("utf-8", errors="replace")
        assert gpt2.decode(np.array(r["decode"], dtype=np.int64)) == want, r
    # Round trip of ordinary text, and ids from a list.
    text = "Héllo wörld 🚀 — ok"
    assert gpt2.decode(list(gpt2.encode(text))) == text


def test_bad_input_raises_instead_of_crashing(gpt2, tmp_path):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        gpt2.decode([1, 2, 10**6])
    with pytest.raises(ValueError, match="not a token id"):
        gpt2.decode([-1])
    with pytest.raises(TypeError, match="one str"):
        gpt2.encode_batch("a single string")
    with pytest.raises(genpt.GenptError, match=re.escape(str(tmp_path))):
        genpt.Tokenizer.load(tmp_path)
    # A vocabulary file with a broken line: the error names the file and the line.
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": 1, "ab": 2}')
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\nthis line has three\n")
    with pytest.raises(genpt.GenptError, match=r"merges\.txt:3: expected two"):
        genpt.Tokenizer.load(tmp_path)


def test_a_trained_vocabulary_loads_and_round_trips(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 50 + "a dog sat on a log. " * 50)
    tokenizer = genpt.train_tokenizer([corpus], tmp_path / "vocab", merges=30)
    assert tokenizer.kind == "gpt1"
    again = genpt.Tokenizer.load(tmp_path / "vocab")
    ids = again.encode("The cat sat on a log.")
    assert ids.tolist() == tokenizer.encode("The cat sat on a log.").tolist()
    assert again.decode(ids) == "the cat sat on a log ."
    # The learned merges make words whole: "the</w>" is one piece.
    assert again.pieces("the") == ["the</w>"]
