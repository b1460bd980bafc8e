#!/usr/bin/env python3
"""A numpy transcription of the official release's fine-tuning graph and loop
(openai/finetune-transformer-lm, train.py and opt.py), writing the fixtures that
`tests/release_fidelity.rs` checks genpt's `--fidelity release` mode against.

Nothing here comes from genpt: every function below is the release's code with TensorFlow
operations replaced by numpy ones, in float64, line by line (the release's names are kept).

    python3 scripts/release_reference.py   # writes tests/fixtures/release/*.json

`graph.json`: a tiny model (vocabulary 10 + 3 special tokens, n_ctx 10, width 8, 2 layers, 2
heads), one batch of 2 Story-Cloze-shaped examples (2 choices each), and for two cases, without
embedding dropout and with a fixed embedding-dropout mask on `we`, the release's LM logits over
every row of `we`, per-sequence LM losses, classifier losses, the training loss
`mean(clf) + lm_coef·mean(lm)` and its gradient with respect to `we` (central finite
differences in float64).

`bookkeeping.json`: the release loop's step bookkeeping: updates per epoch and in total with the
last partial batch dropped, when `log()` runs, which log's parameters `best_params.jl` holds,
the learning-rate multiplier of every update, and the per-dataset n_ctx.
"""

import json
import math
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "release")

# ---------------------------------------------------------------------------------------------
# The model, as train.py's model() computes it (train=True, attention/residual/classifier
# dropout 0 so that only the embedding dropout, given as an explicit mask, is random).

n_vocab, n_special, n_ctx, n_embd, n_head, n_layer = 10, 3, 10, 8, 2, 2
start, delimiter, clf_token = n_vocab, n_vocab + 1, n_vocab + 2
lm_coef = 0.5


def gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * np.power(x, 3))))


def _norm(x, g, b, e=1e-5):
    u = np.mean(x, axis=-1, keepdims=True)
    s = np.mean(np.square(x - u), axis=-1, keepdims=True)
    x = (x - u) / np.sqrt(s + e)
    return x * g + b


def mask_attn_weights(w):
    n = w.shape[-1]
    b = np.tril(np.ones([n, n])).reshape([1, 1, n, n])
    return w * b + -1e9 * (1 - b)


def softmax(x, axis=-1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def conv1d(x, w, b):
    # rf == 1: reshape, matmul with w reshaped to [nx, nf], add bias.
    nx = x.shape[-1]
    nf = w.shape[-1]
    return (x.reshape([-1, nx]) @ w.reshape([-1, nf]) + b).reshape(list(x.shape[:-1]) + [nf])


def split_heads(x, n, k=False):
    s = list(x.shape)
    x = x.reshape(s[:-1] + [n, s[-1] // n])
    return np.transpose(x, [0, 2, 3, 1] if k else [0, 2, 1, 3])


def merge_heads(x):
    x = np.transpose(x, [0, 2, 1, 3])
    s = list(x.shape)
    return x.reshape(s[:-2] + [s[-2] * s[-1]])


def attn(x, p):
    c = conv1d(x, p["c_attn_w"], p["c_attn_b"])
    q, k, v = np.split(c, 3, axis=2)
    q, k, v = split_heads(q, n_head), split_heads(k, n_head, k=True), split_heads(v, n_head)
    w = q @ k
    w = w / np.sqrt(v.shape[-1])  # scale=True
    w = softmax(mask_attn_weights(w))
    a = merge_heads(w @ v)
    return conv1d(a, p["c_proj_w"], p["c_proj_b"])


def block(x, p):
    a = attn(x, p)
    n = _norm(x + a, p["ln_1_g"], p["ln_1_b"])
    m = conv1d(gelu(conv1d(n, p["c_fc_w"], p["c_fc_b"])), p["mlp_proj_w"], p["mlp_proj_b"])
    return _norm(n + m, p["ln_2_g"], p["ln_2_b"])


def model(params, we, X, M, Y, we_mask):
    """train.py model(): returns clf_logits, clf_losses, lm_losses and the LM logits."""
    we = we * we_mask  # we = dropout(we, embd_pdrop, train), the mask given
    X = X.reshape([-1, n_ctx, 2])
    M = M.reshape([-1, n_ctx])
    h = we[X].sum(axis=2)  # embed(X, we): gather, then sum token and position rows
    for layer in range(n_layer):
        h = block(h, params["h"][layer])
    lm_h = h[:, :-1].reshape([-1, n_embd])
    lm_logits = lm_h @ we.T
    targets = X[:, 1:, 0].reshape([-1])
    logp = lm_logits - np.max(lm_logits, 1, keepdims=True)
    logp = logp - np.log(np.sum(np.exp(logp), 1, keepdims=True))
    lm_losses = -logp[np.arange(len(targets)), targets]
    lm_losses = lm_losses.reshape([X.shape[0], X.shape[1] - 1])
    lm_losses = np.sum(lm_losses * M[:, 1:], 1) / np.sum(M[:, 1:], 1)
    clf_h = h.reshape([-1, n_embd])
    pool_idx = np.argmax((X[:, :, 0] == clf_token).astype(np.float32), 1)
    clf_h = clf_h[np.arange(X.shape[0]) * n_ctx + pool_idx]
    clf_logits = (clf_h @ params["clf_w"] + params["clf_b"]).reshape([-1, 2])
    lp = clf_logits - np.max(clf_logits, 1, keepdims=True)
    lp = lp - np.log(np.sum(np.exp(lp), 1, keepdims=True))
    clf_losses = -lp[np.arange(len(Y)), Y]
    return clf_logits, clf_losses, lm_losses, lm_logits.reshape([X.shape[0], n_ctx - 1, -1])


def train_loss(params, we, X, M, Y, we_mask):
    _, clf_losses, lm_losses, _ = model(params, we, X, M, Y, we_mask)
    return np.mean(clf_losses) + lm_coef * np.mean(lm_losses)


def transform_roc(X1, X2, X3):
    """train.py transform_roc (max_len large enough that nothing is cut)."""
    n_batch = len(X1)
    xmb = np.zeros((n_batch, 2, n_ctx, 2), dtype=np.int64)
    mmb = np.zeros((n_batch, 2, n_ctx), dtype=np.float64)
    for i, (x1, x2, x3) in enumerate(zip(X1, X2, X3)):
        x12 = [start] + x1 + [delimiter] + x2 + [clf_token]
        x13 = [start] + x1 + [delimiter] + x3 + [clf_token]
        xmb[i, 0, : len(x12), 0] = x12
        xmb[i, 1, : len(x13), 0] = x13
        mmb[i, 0, : len(x12)] = 1
        mmb[i, 1, : len(x13)] = 1
    xmb[:, :, :, 1] = np.arange(n_vocab + n_special, n_vocab + n_special + n_ctx)
    return xmb, mmb


def graph_fixture():
    rng = np.random.RandomState(15)
    f32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)  # genpt holds f32
    normal = lambda *s: f32(rng.randn(*s) * 0.3)
    params = {"h": []}
    for _ in range(n_layer):
        params["h"].append(
            {
                "c_attn_w": normal(1, n_embd, 3 * n_embd),
                "c_attn_b": normal(3 * n_embd),
                "c_proj_w": normal(1, n_embd, n_embd),
                "c_proj_b": normal(n_embd),
                "ln_1_g": f32(1 + rng.randn(n_embd) * 0.1),
                "ln_1_b": normal(n_embd),
                "c_fc_w": normal(1, n_embd, 4 * n_embd),
                "c_fc_b": normal(4 * n_embd),
                "mlp_proj_w": normal(1, 4 * n_embd, n_embd),
                "mlp_proj_b": normal(n_embd),
                "ln_2_g": f32(1 + rng.randn(n_embd) * 0.1),
                "ln_2_b": normal(n_embd),
            }
        )
    params["clf_w"] = normal(n_embd, 1)
    params["clf_b"] = normal(1)
    rows = n_vocab + n_special + n_ctx
    we = f32(rng.randn(rows, n_embd) * 0.5)
    # Two Story-Cloze-shaped examples; the longest sequence has 8 tokens, fewer than n_ctx, as
    # when a batch's examples are shorter than the dataset's longest.
    X1, X2, X3 = [[1, 2, 3], [7, 8]], [[4], [9, 1, 2]], [[5, 6], [3]]
    Y = np.array([1, 0])
    X, M = transform_roc(X1, X2, X3)
    pdrop = 0.3
    keep = (rng.rand(rows, n_embd) >= pdrop).astype(np.float64)
    drop_mask = keep * float(np.float32(1 / (1 - pdrop)))
    cases = {}
    for name, we_mask in [("no_dropout", np.ones_like(we)), ("we_dropout", drop_mask)]:
        clf_logits, clf_losses, lm_losses, lm_logits = model(params, we, X, M, Y, we_mask)
        eps = 1e-6
        grad = np.zeros_like(we)
        for i in range(rows):
            for j in range(n_embd):
                up, down = we.copy(), we.copy()
                up[i, j] += eps
                down[i, j] -= eps
                grad[i, j] = (
                    train_loss(params, up, X, M, Y, we_mask)
                    - train_loss(params, down, X, M, Y, we_mask)
                ) / (2 * eps)
        cases[name] = {
            "we_mask": we_mask.tolist(),
            "lm_logits": lm_logits.tolist(),
            "lm_losses": lm_losses.tolist(),
            "clf_logits": clf_logits.tolist(),
            "clf_losses": clf_losses.tolist(),
            "train_loss": float(np.mean(clf_losses) + lm_coef * np.mean(lm_losses)),
            "grad_we": grad.tolist(),
        }
    # genpt's names (Hugging Face layout): tokens_embed holds the token and special rows,
    # positions_embed the n_ctx position rows; Conv1D weights are [in, out].
    weights = {
        "tokens_embed": we[: n_vocab + n_special].tolist(),
        "positions_embed": we[n_vocab + n_special :].tolist(),
    }
    for i, p in enumerate(params["h"]):
        for ours, theirs in [
            ("attn.c_attn", "c_attn"),
            ("attn.c_proj", "c_proj"),
            ("mlp.c_fc", "c_fc"),
            ("mlp.c_proj", "mlp_proj"),
        ]:
            weights[f"h.{i}.{ours}.weight"] = p[theirs + "_w"][0].tolist()
            weights[f"h.{i}.{ours}.bias"] = p[theirs + "_b"].tolist()
        for ln in ["ln_1", "ln_2"]:
            weights[f"h.{i}.{ln}.weight"] = p[ln + "_g"].tolist()
            weights[f"h.{i}.{ln}.bias"] = p[ln + "_b"].tolist()
    sequences = [
        [[int(t) for t, m in zip(X[b, c, :, 0], M[b, c]) if m] for c in range(2)]
        for b in range(len(Y))
    ]
    return {
        "config": {
            "n_vocab": n_vocab,
            "n_special": n_special,
            "n_ctx": n_ctx,
            "n_embd": n_embd,
            "n_head": n_head,
            "n_layer": n_layer,
            "lm_coef": lm_coef,
            "embd_pdrop": pdrop,
        },
        "weights": weights,
        "clf_w": params["clf_w"].tolist(),
        "clf_b": params["clf_b"].tolist(),
        "sequences": sequences,
        "labels": Y.tolist(),
        "cases": cases,
    }


# ---------------------------------------------------------------------------------------------
# The loop, as train.py's __main__ runs it.


def warmup_linear(x, warmup=0.002):  # opt.py
    s = float(x <= warmup)
    return (s * (x / warmup) + (1 - s)) * (1 - x)


def release_loop(n_train, n_batch_train, n_iter, va_scores):
    """train.py's loop with iter_data(..., truncate=True): which updates happen, when log()
    runs (with the n_epochs and n_updates it logs), and which parameters best_params.jl holds
    at the end: -1 for the initial ones (saved before training), else the index of the log."""
    n_updates_total = (n_train // n_batch_train) * n_iter
    n = (n_train // n_batch_train) * n_batch_train  # iter_data truncate=True
    logs = []
    n_updates = 0
    n_epochs = 0
    best_score = 0
    best = -1
    examples_seen = 0

    def log():
        nonlocal best_score, best
        score = va_scores[len(logs) % len(va_scores)]
        logs.append([n_epochs, n_updates])
        if score > best_score:
            best_score = score
            best = len(logs) - 1

    for i in range(n_iter):
        for start_ in range(0, n, n_batch_train):
            examples_seen += len(range(start_, min(start_ + n_batch_train, n)))
            n_updates += 1
            if n_updates in [1000, 2000, 4000, 8000, 16000, 32000] and n_epochs == 0:
                log()
        n_epochs += 1
        log()
    return {
        "n_train": n_train,
        "n_batch_train": n_batch_train,
        "n_iter": n_iter,
        "va_scores": va_scores,
        "n_updates_total": n_updates_total,
        "examples_per_epoch": examples_seen // n_iter,
        "logs": logs,
        "best_log": best,
    }


def release_n_ctx(X1, X2, X3, n_ctx_arg):
    """train.py: n_ctx from the longest example of every split (given as segment lengths)."""
    max_len = n_ctx_arg // 2 - 2
    lengths = [
        min(x1, max_len) + max(min(x2, max_len), min(x3, max_len)) for x1, x2, x3 in zip(X1, X2, X3)
    ]
    return min(max(lengths) + 3, n_ctx_arg)


def bookkeeping_fixture():
    loops = [
        # Story Cloze as the release splits it: 1497 training examples, batches of 8·4.
        release_loop(1497, 32, 3, [55.0, 60.5, 58.0]),
        # Long enough for the mid-epoch logs at updates 1000 and 2000 of epoch 0.
        release_loop(70_000, 32, 2, [50.0, 50.0, 70.0, 70.0]),
        # An exact multiple of the batch: nothing dropped; no log ever beats 0.
        release_loop(64, 16, 2, [0.0]),
        # Fewer examples than a batch: no update at all, yet log() still runs per epoch.
        release_loop(5, 8, 1, [10.0]),
    ]
    schedules = []
    for total, warmup in [(138, 0.002), (138, 0.05), (2000, 0.002), (10, 0.3)]:
        schedules.append(
            {
                "total": total,
                "warmup": warmup,
                # opt.py: lrt *= schedule(t/t_total) with t the number of earlier updates.
                "factors": [warmup_linear(t / total, warmup) for t in range(total)],
            }
        )
    rng = np.random.RandomState(3)
    n_ctx_cases = []
    # The cap never binds in the release: max_len = n_ctx//2 - 2 keeps every example below it.
    for cap in [512, 512]:
        splits = []
        for n in [20, 7, 5]:
            splits.append([rng.randint(1, 30, n).tolist() for _ in range(3)])
        X1 = sum((s[0] for s in splits), [])
        X2 = sum((s[1] for s in splits), [])
        X3 = sum((s[2] for s in splits), [])
        n_ctx_cases.append({"cap": cap, "splits": splits, "n_ctx": release_n_ctx(X1, X2, X3, cap)})
    return {"loops": loops, "schedules": schedules, "n_ctx": n_ctx_cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, value in [("graph.json", graph_fixture()), ("bookkeeping.json", bookkeeping_fixture())]:
        path = os.path.join(OUT, name)
        with open(path, "w") as f:
            json.dump(value, f, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
