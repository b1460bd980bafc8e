"""Training from Python: a vocabulary, token shards, pre-training that Ctrl-C stops and
resume=True continues (to the same weights as an uninterrupted run), and a fine-tune → predict
round trip on a CSV, through the command line's own code."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import genpt
from conftest import REPO


def write_corpus(directory, documents=24, seed=0):
    """Sentences from a small grammar, one document per file."""
    rng = random.Random(seed)
    subjects = ["the old man", "a young woman", "the captain", "my brother", "the dog"]
    verbs = ["walked to", "looked at", "spoke of", "ran past", "thought about"]
    objects = ["the sea", "a house", "the river", "the long road", "an old letter"]
    directory.mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        sentences = [
            f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(objects)}."
            for _ in range(120)
        ]
        (directory / f"doc{d:02}.txt").write_text(" ".join(sentences))
    return directory


CONFIG = """
out_dir = "{out}"
[model]
preset = "tiny"
n_layer = 2
n_embd = 32
n_head = 2
n_positions = 32
[data]
dir = "{data}"
[train]
batch_size = 4
steps = {steps}
warmup_steps = 4
eval_every = 20
eval_windows = 4
seed = 3
[optimizer]
lr = 3e-3
[checkpoint]
every = 20
keep_last = 2
"""


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    corpus = write_corpus(root / "corpus")
    genpt.train_tokenizer([corpus], root / "vocab", merges=200)
    seen = []
    genpt._genpt.run_command(
        ["prepare", "--corpus", str(corpus), "--tokenizer", str(root / "vocab"), "--out",
         str(root / "data"), "--val-fraction", "0.1"],
        lambda *state: seen.append(state),
    )
    data = root / "data"
    assert {p.name for p in data.iterdir()} >= {"meta.json", "train.tok", "val.tok"}
    # Its progress reached Python: bytes tokenized, all of them by the end.
    corpus_bytes = sum(p.stat().st_size for p in corpus.iterdir())
    assert seen and seen[-1][:3] == ("tokenizing", corpus_bytes, corpus_bytes), seen
    return root, data


def config_file(root, data, name, steps):
    path = root / f"{name}.toml"
    path.write_text(CONFIG.format(out=root / name, data=data, steps=steps))
    return path


def weights(run):
    return (run.model / "model.safetensors").read_bytes()


def test_pretraining_interrupted_by_ctrl_c_resumes_to_the_same_weights(shards):
    root, data = shards
    steps = 400
    straight = genpt.pretrain(config_file(root, data, "straight", steps), progress=False)
    assert [m["step"] for m in straight.metrics if "loss" in m][-1] == steps
    assert straight.model.name.endswith(str(steps)) or str(steps) in straight.model.name
    losses = [m["loss"] for m in straight.metrics if "loss" in m]
    assert losses[-1] < losses[0]

    # A real Ctrl-C (SIGINT to the process) while a child trains, a few updates in: the child
    # sends it to itself from its progress callback, so that it lands well before the end.
    config = config_file(root, data, "split", steps)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import os, signal, sys, genpt
                # As in an interactive session (a shell that starts a job in the background
                # leaves SIGINT ignored, and Python then keeps it so).
                signal.signal(signal.SIGINT, signal.default_int_handler)
                def show(label, done, total, message):
                    print("progress", label, done, flush=True)
                    if 5 <= done < total - 100:
                        os.kill(os.getpid(), signal.SIGINT)
                try:
                    genpt._genpt.run_command(["pretrain", "--config", {str(config)!r}], show)
                except KeyboardInterrupt as e:
                    print("interrupted:", e, flush=True)
                    sys.exit(0)
                print("finished", flush=True)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
    )
    out, _ = child.communicate(timeout=300)
    lines = out.splitlines()
    assert child.returncode == 0, lines
    assert any(l.startswith("interrupted:") and "resume" in l for l in lines), lines
    assert "finished" not in lines
    stopped_at = max(m["step"] for m in map(json.loads, (root / "split/metrics.jsonl").read_text().splitlines()))
    assert 5 <= stopped_at < steps

    resumed = genpt.pretrain(config, resume=True, progress=False)
    assert [m["step"] for m in resumed.metrics if "loss" in m] == list(range(1, steps + 1))
    assert weights(resumed) == weights(straight)
    # Negative control: another seed gives other weights, which the comparison sees.
    other = genpt.pretrain(config_file(root, data, "other", 20), progress=False, train__seed=4)
    reference = genpt.pretrain(config_file(root, data, "reference", 20), progress=False)
    assert weights(other) != weights(reference)


def test_a_callback_that_exits_stops_the_run_at_a_boundary_not_the_interpreter(shards):
    root, data = shards
    config = config_file(root, data, "exit", 400)

    def exit_early(label, done, total, message):
        if done >= 5:
            sys.exit(3)

    with pytest.raises(SystemExit):
        genpt._genpt.run_command(["pretrain", "--config", str(config)], exit_early)
    assert list((root / "exit/checkpoints").glob("step-*")), "the update in progress is kept"
    resumed = genpt.pretrain(config, resume=True, progress=False)
    assert [m["step"] for m in resumed.metrics if "loss" in m] == list(range(1, 401))


def test_one_command_at_a_time_and_other_calls_meanwhile(shards):
    root, data = shards
    config = config_file(root, data, "background", 400)
    started = threading.Event()
    errors = []

    def train():
        try:
            genpt._genpt.run_command(["pretrain", "--config", str(config)], lambda *a: started.set())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    worker = threading.Thread(target=train)
    worker.start()
    assert started.wait(60)
    with pytest.raises(genpt.GenptError, match="one at a time"):
        genpt.prepare(root / "corpus", root / "vocab", root / "data2", progress=False)
    # Other calls run meanwhile, and do not disturb the training.
    tokenizer = genpt.Tokenizer.load(root / "vocab")
    assert len(tokenizer.encode_batch(["the old man"] * 10_000)) == 10_000
    worker.join()
    assert not errors, errors
    steps = [json.loads(l)["step"] for l in (root / "background/metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 400


def test_ctrl_c_stops_prepare_between_files(shared, tmp_path):
    """All the books take seconds to tokenize; Ctrl-C a moment in stops before the next group of
    files, writing no corpus."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, signal.raise_signal, (signal.SIGINT,))
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt, match="run prepare again"):
            genpt.prepare(
                shared / "data/books", shared / "data/gpt1-bpe", tmp_path / "data", progress=False
            )
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert not (tmp_path / "data/meta.json").exists()


def test_language_model_loads_a_pretrained_checkpoint(shards):
    root, data = shards
    run = genpt.pretrain(config_file(root, data, "short", 4), progress=False)
    lm = genpt.LanguageModel.load(run.model, tokenizer=root / "vocab")
    assert lm.config["n_embd"] == 32
    assert (lm.score("The old man walked to the sea.") < 0).all()


def test_bad_configuration_raises_with_the_message(shards, tmp_path):
    root, data = shards
    config = config_file(root, data, "bad", 4)
    with pytest.raises(genpt.GenptError, match="nonsense"):
        genpt.pretrain(config, progress=False, train__nonsense=1)
    broken = tmp_path / "broken.toml"
    broken.write_text('out_dir = "x"\n[model]\npreset = \n')
    with pytest.raises(genpt.GenptError, match=r"broken\.toml.*line 3|line 3.*broken\.toml"):
        genpt.pretrain(broken, progress=False)
    with pytest.raises(ValueError, match="--no-such-flag"):
        genpt._genpt.run_command(["pretrain", "--no-such-flag"])


def sentiment_rows(n, seed):
    """A task a tiny model learns from a few hundred rows: "good" or "bad" decides the label."""
    rng = random.Random(seed)
    fillers = ["the film", "this book", "the food", "our trip", "the show", "that song"]
    rows = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        word = "good" if label == "pos" else "bad"
        rows.append((f"{rng.choice(fillers)} was {word} , {rng.choice(fillers)} too", label))
    return rows


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for text, label in rows:
            f.write(f'"{text}",{label}\n')
    return path


def finetune_tiny(shared, out, **options):
    """`genpt.finetune` of the tiny random GPT-2 in ../shared, without a progress bar."""
    return genpt.finetune(out, model=shared / "fixtures/tiny-random-gpt2", progress=False, **options)


def test_finetune_then_predict_round_trip_on_a_csv(shared, tmp_path):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(240, 1))
    dev_rows = sentiment_rows(60, 2)
    dev = write_csv(tmp_path / "dev.csv", dev_rows)
    test_rows = sentiment_rows(20, 3)
    test = write_csv(tmp_path / "test.csv", test_rows)
    run = finetune_tiny(
        shared,
        tmp_path / "run",
        kind="classification",
        train=train,
        dev=dev,
        test=test,
        epochs=3,
        batch_size=8,
        lr=3e-3,
    )
    assert run.model is not None and run.metrics["task"] == "custom"

    classifier = genpt.Classifier.load(run.model)
    assert classifier.labels == ["neg", "pos"] and classifier.input == "text"
    labels, probabilities = classifier.predict([text for text, _ in dev_rows])
    assert probabilities.shape == (60, 2) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert labels == [classifier.labels[i] for i in probabilities.argmax(1)]
    accuracy = np.mean([got == want for got, (_, want) in zip(labels, dev_rows)])
    # The fine-tuning run's own evaluation of the best model on the same rows.
    assert accuracy == pytest.approx(run.metrics["best_dev_score"], abs=1e-6)
    assert accuracy >= 0.9

    # What `genpt finetune --test` wrote for the test rows, predicted again from Python.
    written = [json.loads(l) for l in (run.run_dir / "test_predictions.jsonl").read_text().splitlines()]
    labels, probabilities = classifier.predict([text for text, _ in test_rows])
    assert labels == [w["label"] for w in written]
    # Negative control: the labels flipped are mostly wrong.
    flipped = {"pos": "neg", "neg": "pos"}
    assert np.mean([got == flipped[want] for got, (_, want) in zip(labels, test_rows)]) < 0.2


def test_finetuning_stopped_by_ctrl_c_resumes_to_the_same_model(shared, tmp_path):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(160, 1))
    dev = write_csv(tmp_path / "dev.csv", sentiment_rows(40, 2))
    options = dict(
        model=shared / "fixtures/tiny-random-gpt2",
        kind="classification",
        train=train,
        dev=dev,
        epochs=4,
        batch_size=8,
        lr=3e-3,
    )
    straight = genpt.finetune(tmp_path / "straight", progress=False, **options)

    seen = []

    def ctrl_c_past_half(label, done, total, message):
        seen.append((label, done, total))
        if done > total // 2:
            signal.raise_signal(signal.SIGINT)

    # Ctrl-C handled as in an interactive session (a background job starts with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt, match="resume"):
            genpt._genpt.run_command(
                genpt._training._finetune_argv(tmp_path / "split", "custom", options),
                ctrl_c_past_half,
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen and seen[-1][1] < seen[-1][2], seen
    assert not (tmp_path / "split/metrics.json").exists()
    resumed = genpt.finetune(tmp_path / "split", progress=False, resume=True, **options)
    assert resumed.metrics["best_dev_score"] == straight.metrics["best_dev_score"]
    assert resumed.metrics["history"] == straight.metrics["history"]
    assert (resumed.model / "model.safetensors").read_bytes() == (
        straight.model / "model.safetensors"
    ).read_bytes()


def test_a_pair_classifier_takes_tuples_and_dicts(shared, tmp_path):
    """Entailment from a JSONL file: does the hypothesis name the colour in the premise?"""
    rng = random.Random(5)
    colours = ["red", "blue", "green", "black", "white"]

    def rows(n):
        out = []
        for _ in range(n):
            colour, other = rng.sample(colours, 2)
            label = rng.choice(["entailment", "contradiction"])
            hypothesis = f"it is {colour if label == 'entailment' else other}"
            out.append({"premise": f"the car is {colour} .", "hypothesis": hypothesis, "label": label})
        return out

    def write(path, items):
        path.write_text("".join(json.dumps(r) + "\n" for r in items))
        return path

    dev_rows = rows(40)
    run = finetune_tiny(
        shared,
        tmp_path / "run",
        kind="entailment",
        train=write(tmp_path / "train.jsonl", rows(400)),
        dev=write(tmp_path / "dev.jsonl", dev_rows),
        epochs=4,
        batch_size=8,
        lr=3e-3,
    )
    classifier = genpt.Classifier.load(run.model)
    assert classifier.input == "pair"
    assert classifier.labels == ["contradiction", "entailment"]
    pairs = [(r["premise"], r["hypothesis"]) for r in dev_rows]
    labels, probabilities = classifier.predict(pairs)
    accuracy = np.mean([got == r["label"] for got, r in zip(labels, dev_rows)])
    assert accuracy == pytest.approx(run.metrics["best_dev_score"], abs=1e-6)
    as_dicts, again = classifier.predict([{"premise": a, "hypothesis": b} for a, b in pairs])
    assert as_dicts == labels
    np.testing.assert_array_equal(again, probabilities)
    with pytest.raises(TypeError, match="pairs of str"):
        classifier.predict(["a lone text"])
    with pytest.raises(KeyError, match="hypothesis"):
        classifier.predict([{"premise": "the car is red ."}])


def test_bad_task_file_raises_with_file_and_line(shared, tmp_path):
    train = tmp_path / "train.csv"
    train.write_text('text,label\n"fine row",pos\n"a row with no label"\n')
    dev = write_csv(tmp_path / "dev.csv", sentiment_rows(4, 0))
    with pytest.raises(genpt.GenptError, match=r"train\.csv:3: malformed row"):
        finetune_tiny(
            shared,
            tmp_path / "run",
            kind="classification",
            train=train,
            dev=dev,
        )
    classifier_dir = tmp_path / "missing"
    with pytest.raises(genpt.GenptError, match="missing"):
        genpt.Classifier.load(classifier_dir)
