"""genpt.LanguageModel against PyTorch + transformers: fixture checkpoints and the logits and
greedy tokens transformers computed for them (scripts/make_parity_fixtures.py, tests/fixtures),
at the Rust parity tests' tolerance (1e-4 absolute on log-probabilities and logits)."""

import json
import re
import struct

import numpy as np
import pytest

import genpt
from conftest import REPO, write_numbered_vocabulary

TOLERANCE = 1e-4


def expected(name):
    return json.loads((REPO / "tests/fixtures" / name / "expected.json").read_text())


def reference_logprobs(fixture):
    """log p(ids[t+1] | ids[..t]) from the reference's logits, in float64."""
    logits = np.array(fixture["logits"], dtype=np.float64).reshape(fixture["logits_shape"])
    out = []
    for row, ids in zip(logits, fixture["ids"]):
        logz = np.log(np.exp(row - row.max(-1, keepdims=True)).sum(-1)) + row.max(-1)
        out.append(np.array([row[t, ids[t + 1]] - logz[t] for t in range(len(ids) - 1)]))
    return out


def safetensors_tensor(path, name):
    """One float32 tensor of a safetensors file, read with numpy alone."""
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    entry = header[name]
    assert entry["dtype"] == "F32"
    start, end = entry["data_offsets"]
    data = raw[8 + header_len + start : 8 + header_len + end]
    return np.frombuffer(data, dtype="<f4").reshape(entry["shape"])


@pytest.fixture(scope="module")
def tiny_gpt2(shared):
    return genpt.LanguageModel.load(
        REPO / "tests/fixtures/gpt2/tiny-random-gpt2", tokenizer=shared / "fixtures/tiny-random-gpt2"
    )


def fixture_model(name, tmp_path_factory):
    fixture = expected(name)
    vocab = write_numbered_vocabulary(
        tmp_path_factory.mktemp("vocab"), fixture["config"]["vocab_size"]
    )
    return genpt.LanguageModel.load(REPO / "tests/fixtures" / name, tokenizer=vocab), fixture


def test_score_equals_transformers_on_the_tiny_gpt2(tiny_gpt2):
    fixture = expected("gpt2/tiny-random-gpt2")
    for ids, want in zip(fixture["ids"], reference_logprobs(fixture)):
        got = tiny_gpt2.score_ids(np.array(ids, dtype=np.uint32))
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)
    # Negative control: the comparison sees a changed last token.
    ids = list(fixture["ids"][0])
    ids[-1] = (ids[-1] + 1) % 1000
    got = tiny_gpt2.score_ids(ids)
    assert abs(got[-1] - reference_logprobs(fixture)[0][-1]) > TOLERANCE


def test_score_of_text_is_score_of_its_tokens(tiny_gpt2):
    texts = ["Hello world, this is genpt.", "A second, longer text to score with the tiny model."]
    scored = tiny_gpt2.score(texts)
    assert isinstance(scored, list) and len(scored) == 2
    for text, got in zip(texts, scored):
        ids = tiny_gpt2.tokenizer.encode(text)
        assert got.shape == (len(ids) - 1,)
        np.testing.assert_array_equal(got, tiny_gpt2.score_ids(ids))
    one = tiny_gpt2.score(texts[0])
    np.testing.assert_array_equal(one, scored[0])
    assert (one < 0).all()


def test_gpt2_with_odd_shapes_scores_and_generates_greedily_as_transformers(tmp_path_factory):
    lm, fixture = fixture_model("gpt2/odd3", tmp_path_factory)
    assert lm.config["n_head"] == 3 and lm.config["vocab_size"] == 77
    for ids, want in zip(fixture["ids"], reference_logprobs(fixture)):
        np.testing.assert_allclose(lm.score_ids(ids), want, atol=TOLERANCE, rtol=0)
    steps = lm.generate(fixture["greedy_prompt"], max_new_tokens=len(fixture["greedy"]), temperature=0)
    pieces = list(steps)
    assert steps.tokens.tolist() == fixture["greedy"]
    assert "".join(pieces).split() == [f"t{i}" for i in fixture["greedy"]]
    # Negative control: sampling at temperature 1 leaves the greedy path.
    sampled = lm.generate(fixture["greedy_prompt"], max_new_tokens=20, temperature=1.0, seed=3)
    list(sampled)
    assert sampled.tokens.tolist()[:6] != fixture["greedy"]


def test_gpt1_post_ln_scores_as_transformers(tmp_path_factory):
    lm, fixture = fixture_model("parity/ctx16", tmp_path_factory)
    assert lm.config["arch"].lower() in ("gpt1", "openai-gpt", "gpt")
    for ids, want in zip(fixture["ids"], reference_logprobs(fixture)):
        np.testing.assert_allclose(lm.score_ids(ids), want, atol=TOLERANCE, rtol=0)


def test_hidden_states_times_the_tied_embedding_are_the_logits(tiny_gpt2):
    fixture = expected("gpt2/tiny-random-gpt2")
    wte = safetensors_tensor(REPO / "tests/fixtures/gpt2/tiny-random-gpt2/model.safetensors", "transformer.wte.weight")
    logits = np.array(fixture["logits"], dtype=np.float32).reshape(fixture["logits_shape"])
    hidden = tiny_gpt2.hidden_states(fixture["ids"][0])
    assert hidden.shape == (len(fixture["ids"][0]), 32) and hidden.dtype == np.float32
    np.testing.assert_allclose(hidden @ wte.T, logits[0], atol=TOLERANCE, rtol=0)
    # Negative control: another row's logits do not match.
    assert np.abs(hidden @ wte.T - logits[1]).max() > 1e-2


@pytest.fixture(scope="module")
def books_lm():
    return genpt.LanguageModel.load(REPO / "models/books-lm")


def test_generation_is_repeatable_and_stops(books_lm):
    greedy = "".join(books_lm.generate("The old man", max_new_tokens=12, temperature=0))
    assert greedy == "".join(books_lm.generate("The old man", max_new_tokens=12, temperature=0))
    first = books_lm.generate("The old man", max_new_tokens=12, temperature=0.9, top_k=40, seed=7)
    again = books_lm.generate("The old man", max_new_tokens=12, temperature=0.9, top_k=40, seed=7)
    assert "".join(first) == "".join(again)
    assert first.tokens.tolist() == again.tokens.tolist() and len(first.tokens) == 12
    other = books_lm.generate("The old man", max_new_tokens=12, temperature=0.9, top_k=40, seed=8)
    list(other)
    assert other.tokens.tolist() != first.tokens.tolist()
    # A stop string ends the text before it.
    words = greedy.split()
    assert len(words) > 3
    cut = "".join(books_lm.generate("The old man", max_new_tokens=12, temperature=0, stop=[words[2]]))
    assert words[2] not in cut and greedy.startswith(cut.rstrip())


def test_bf16_rounds_the_weights_and_stays_close(books_lm):
    bf16 = genpt.LanguageModel.load(REPO / "models/books-lm", precision="bf16")
    assert bf16.precision == "bf16"
    text = "It was a bright cold day in April, and the clocks were striking thirteen."
    full, half = books_lm.score(text), bf16.score(text)
    assert not np.array_equal(full, half)
    assert np.abs(full - half).mean() < 0.05


def test_bad_inputs_raise_with_the_message(tiny_gpt2, tmp_path):
    with pytest.raises(ValueError, match="at least two"):
        tiny_gpt2.score_ids([5])
    with pytest.raises(ValueError, match="context of 512"):
        tiny_gpt2.score_ids([1] * 513)
    with pytest.raises(ValueError, match=r"texts\[1\]"):
        tiny_gpt2.score(["a long enough text", "a"])
    with pytest.raises(ValueError, match="outside"):
        tiny_gpt2.hidden_states([1, 2, 5000])
    with pytest.raises(ValueError, match="temperature"):
        tiny_gpt2.generate("hi", temperature=-1)
    with pytest.raises(ValueError, match="precision"):
        genpt.LanguageModel.load(REPO / "models/books-lm", precision="fp8")
    with pytest.raises(genpt.GenptError, match=re.escape(str(tmp_path))):
        genpt.LanguageModel.load(tmp_path)
    with pytest.raises(ValueError, match="backend"):
        genpt.LanguageModel.load(REPO / "models/books-lm", backend="tpu")
    # A broken config.json: the message names the file and where it breaks.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{\n  "n_embd": 32,\n  "n_layer": oops\n}\n')
    with pytest.raises(genpt.GenptError, match=r"config\.json.*line 3"):
        genpt.LanguageModel.load(broken)


def test_a_rust_panic_is_an_exception_not_an_abort():
    with pytest.raises(genpt.GenptError, match="genpt panicked: on purpose"):
        genpt._genpt._panic("on purpose")
    # The interpreter and the module still work, and panic again the same way.
    with pytest.raises(genpt.GenptError, match="again"):
        genpt._genpt._panic("again")
    assert genpt.LanguageModel.load(REPO / "models/books-lm").score("It was a dark night.").size > 2
