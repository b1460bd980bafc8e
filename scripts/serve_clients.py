"""`genpt serve` with the clients people use (issue 24): EleutherAI's lm-evaluation-harness
(`local-completions`) and the official `openai` Python SDK, against a random GPT-2 that has the
real GPT-2 vocabulary.

1. A random GPT-2 (2 layers, 64 wide, weights N(0, 0.3) so that its distributions are peaked and
   a wrong position would show) is made with transformers and saved as a Hugging Face directory
   with its tokenizer; `genpt serve` serves it with an API key.
2. lm-evaluation-harness runs the multiple-choice task of tests/fixtures/lm_eval twice: against
   `genpt serve` (token-id prompts, echo, logprobs) and with its own `hf` backend on the same
   directory. Every choice's log-likelihood must agree within 1e-3, and the greedy flags and
   accuracy exactly.
3. The OpenAI SDK's `completions.create` in every prompt form (string, list of strings, token
   ids, list of token-id lists), echo with max_tokens 0, streaming a batch, greedy text against
   transformers' `generate`, unsupported fields refused by name, and a wrong key refused.

Usage: python3 scripts/serve_clients.py GENPT_BINARY SHARED_DATA_DIR
Environment: CLIENTS, the checks to run (default "openai lm_eval").
Needs: pip install lm_eval openai tenacity aiohttp accelerate transformers torch
(tests/serve_clients.rs runs this when they are installed, and skips with a reason otherwise).
Exit status 0 when everything agrees; the first disagreement is printed and exits 1.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import torch
import transformers

KEY = "genpt-test-key"
MODEL_NAME = "genpt-gpt2"
TOLERANCE = 1e-3


def fail(message):
    sys.exit(f"FAIL: {message}")


def make_model(out, vocab_dir):
    # The release's files under Hugging Face's names: both genpt and transformers read them.
    os.makedirs(out)
    shutil.copy(os.path.join(vocab_dir, "encoder.json"), os.path.join(out, "vocab.json"))
    shutil.copy(os.path.join(vocab_dir, "vocab.bpe"), os.path.join(out, "merges.txt"))
    tokenizer = transformers.GPT2TokenizerFast.from_pretrained(out)
    if len(tokenizer) != 50257:
        fail(f"the GPT-2 tokenizer has {len(tokenizer)} tokens")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=50257, n_positions=128, n_embd=64, n_layer=2, n_head=4,
        initializer_range=0.3, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    return model, tokenizer


def start_server(genpt, model_dir):
    env = dict(os.environ, GENPT_API_KEY=KEY)
    server = subprocess.Popen(
        [genpt, "serve", "--model", model_dir, "--model-name", MODEL_NAME,
         "--addr", "127.0.0.1:0", "--max-tokens", "64"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    line = server.stdout.readline()
    if not line.startswith("listening on "):
        server.kill()
        fail(f"genpt serve did not start: {line!r} {server.stderr.read()}")
    return server, line.split("listening on ", 1)[1].strip()


def lm_eval_runs(url, model_dir, fixtures, work):
    import lm_eval
    from lm_eval.tasks import TaskManager

    tasks = os.path.join(work, "tasks")
    os.makedirs(tasks)
    data = os.path.join(fixtures, "genpt_mc.jsonl")
    with open(os.path.join(fixtures, "genpt_mc.yaml")) as f:
        yaml = f.read().replace("DATA_FILE", data)
    with open(os.path.join(tasks, "genpt_mc.yaml"), "w") as f:
        f.write(yaml)
    manager = TaskManager(include_path=tasks)
    os.environ["OPENAI_API_KEY"] = KEY  # what local-completions sends as its bearer token
    runs = {}
    for name, model, args in [
        ("genpt", "local-completions",
         f"model={MODEL_NAME},base_url={url}/v1/completions,tokenizer={model_dir},"
         f"tokenizer_backend=huggingface,tokenized_requests=True,num_concurrent=1,"
         f"max_retries=1,max_length=128"),
        ("hf", "hf", f"pretrained={model_dir},dtype=float32,device=cpu"),
    ]:
        results = lm_eval.simple_evaluate(
            model=model, model_args=args, tasks=["genpt_mc"], task_manager=manager,
            log_samples=True, batch_size=4,
        )
        samples = sorted(results["samples"]["genpt_mc"], key=lambda s: s["doc_id"])
        runs[name] = (results["results"]["genpt_mc"]["acc,none"],
                      [[(float(ll), bool(g)) for ll, g in s["filtered_resps"]] for s in samples])
    return runs


def check_lm_eval(runs):
    (acc_g, genpt), (acc_h, hf) = runs["genpt"], runs["hf"]
    if len(genpt) != len(hf) or not genpt:
        fail(f"lm-eval: {len(genpt)} documents from genpt, {len(hf)} from hf")
    worst = 0.0
    spread = 0.0
    for doc, (g_doc, h_doc) in enumerate(zip(genpt, hf)):
        spread = max(spread, max(ll for ll, _ in h_doc) - min(ll for ll, _ in h_doc))
        for choice, ((g_ll, g_greedy), (h_ll, h_greedy)) in enumerate(zip(g_doc, h_doc)):
            worst = max(worst, abs(g_ll - h_ll))
            if abs(g_ll - h_ll) > TOLERANCE or g_greedy != h_greedy:
                fail(f"lm-eval doc {doc} choice {choice}: genpt ({g_ll:.6f}, {g_greedy}) "
                     f"vs hf ({h_ll:.6f}, {h_greedy})")
    if acc_g != acc_h:
        fail(f"lm-eval accuracy: genpt {acc_g} vs hf {acc_h}")
    # The comparison means something only if the choices' log-likelihoods differ.
    if spread < 1.0:
        fail(f"lm-eval: the choices' log-likelihoods differ by only {spread:.3f}")
    print(f"lm-eval: {len(genpt)} documents x {len(genpt[0])} choices agree with the hf backend "
          f"(largest difference {worst:.2e}, accuracy {acc_g:.3f} in both)")


def reference_logprobs(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    lp = torch.log_softmax(logits.double(), dim=-1)
    return [lp[t - 1, ids[t]].item() for t in range(1, len(ids))]


def check_openai_sdk(url, model, tokenizer):
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
    texts = ["Hello world, it's a fine day", "Üñíçødé 😀 text and more"]
    ids = [tokenizer.encode(t) for t in texts]

    def close(got, want, what):
        for t, (g, w) in enumerate(zip(got, want)):
            if abs(g - w) > TOLERANCE:
                fail(f"{what}: token {t + 1}: {g} vs {w}")

    # echo + max_tokens 0: the prompt scored, in every prompt form.
    for prompt, which in [(texts[0], [0]), (texts, [0, 1]), (ids[1], [1]), (ids, [0, 1])]:
        r = client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=0,
                                      echo=True, logprobs=1)
        if [c.index for c in r.choices] != list(range(len(which))):
            fail(f"sdk: choice indexes {[c.index for c in r.choices]} for {prompt!r}")
        for c, w in zip(r.choices, which):
            lp = c.logprobs.token_logprobs
            if lp[0] is not None or len(lp) != len(ids[w]):
                fail(f"sdk echo of {texts[w]!r}: {lp}")
            close(lp[1:], reference_logprobs(model, ids[w]), f"sdk echo of {texts[w]!r}")
            if c.text != texts[w]:
                fail(f"sdk echo text {c.text!r} vs {texts[w]!r}")
    # Greedy completions against transformers' generate, batch and stream.
    want = []
    for i in ids:
        with torch.no_grad():
            out = model.generate(torch.tensor([i]), max_new_tokens=8, do_sample=False,
                                 pad_token_id=0)
        want.append(tokenizer.decode(out[0, len(i):]))
    r = client.completions.create(model=MODEL_NAME, prompt=texts, max_tokens=8, temperature=0)
    got = [c.text for c in sorted(r.choices, key=lambda c: c.index)]
    if got != want:
        fail(f"sdk greedy batch: {got!r} vs transformers {want!r}")
    streamed = ["", ""]
    for chunk in client.completions.create(model=MODEL_NAME, prompt=ids, max_tokens=8,
                                           temperature=0, stream=True):
        for c in chunk.choices:
            streamed[c.index] += c.text
    if streamed != want:
        fail(f"sdk streamed batch: {streamed!r} vs {want!r}")
    # Refused by name, not ignored.
    for field, value in [("suffix", "the end"), ("n", 2), ("best_of", 3),
                         ("logit_bias", {"50256": -100}), ("presence_penalty", 0.5)]:
        try:
            client.completions.create(model=MODEL_NAME, prompt=texts[0], max_tokens=2,
                                      **{field: value})
            fail(f"sdk: {field}={value!r} was accepted")
        except openai.BadRequestError as e:
            if field not in str(e):
                fail(f"sdk: refusing {field} does not name it: {e}")
    bad = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
    try:
        bad.completions.create(model=MODEL_NAME, prompt="x", max_tokens=1)
        fail("sdk: a wrong API key was accepted")
    except openai.AuthenticationError:
        pass
    print("openai SDK: every prompt form, echo, batch, stream, refusals and the key: ok")


def main(genpt, shared):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fixtures = os.path.join(repo, "tests", "fixtures", "lm_eval")
    work = tempfile.mkdtemp(prefix="genpt-clients-")
    server = None
    try:
        model_dir = os.path.join(work, "model")
        model, tokenizer = make_model(model_dir, os.path.join(shared, "gpt2-bpe"))
        server, url = start_server(genpt, model_dir)
        only = os.environ.get("CLIENTS", "openai lm_eval").split()
        if "openai" in only:
            check_openai_sdk(url, model, tokenizer)
        if "lm_eval" in only:
            check_lm_eval(lm_eval_runs(url, model_dir, fixtures, work))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print("all client checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:3])
