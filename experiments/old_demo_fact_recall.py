#!/usr/bin/env python3
"""Fact recall of the *old* demo's pre-trained model (issue 11 diagnosis; run by hand).

The old world (commit 572befa, 30 characters) is no longer in the code, so this reads the facts
back from a run's stories.txt and asks the LM, per character and fact kind, which value's
statement ("X lives in T.") has the highest total log-probability.

    git worktree add /tmp/old 572befa && (cd /tmp/old && cargo run --release -- demo --out RUN)
    genpt demo --reuse RUN --tasks classification --trace-updates 1 --out TRACE_RUN   (any build)
    python3 experiments/old_demo_fact_recall.py RUN TRACE_RUN/finetune/classification-pretrained/trace/initial
"""
import json
import os
import re
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import finetune_parity as fp  # noqa: E402

RUN, INIT = sys.argv[1], sys.argv[2]
GENPT = os.environ.get("GENPT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "genpt"))
stories = open(f"{RUN}/stories.txt").read()
facts = {}
pats = {'town': [r"(\w+) lives in (\w+)\.", r"(\w+)'s home is in the town of (\w+)\.", None],
        'fear': [r"(\w+) is afraid of ([\w ]+?)\.", r"(\w+) fears ([\w ]+?)\.", r"(\w+) hides whenever there is talk of ([\w ]+?)\."],
        'thing': [r"(\w+) loves (\w+)\.", r"nothing makes (\w+) happier than (\w+)\.", r"(\w+) has always been fond of (\w+)\."],
        'pet': [r"(\w+) has (a \w+)\.", r"(\w+) takes care of (a \w+)\.", r"(\w+) walks every day with (a \w+)\."]}
for kind, ps in pats.items():
    for p in ps:
        if p is None: continue
        for n, v in re.findall(r"(?:^|[.] |\n)" + p, stories):
            facts.setdefault(n, {})[kind] = v
for n, t in re.findall(r"in (\w+) , everyone knows (\w+)\.", stories):
    facts.setdefault(t, {})['town'] = n
names = sorted(n for n in facts if len(facts[n]) == 4)
values = {k: sorted({facts[n][k] for n in names}) for k in pats}
def phr(n, kind, v, p):
    return {('town',0): f"{n} lives in {v}.", ('town',1): f"{n}'s home is in the town of {v}.",
            ('fear',0): f"{n} is afraid of {v}.", ('fear',1): f"{n} fears {v}.",
            ('thing',0): f"{n} loves {v}.", ('thing',1): f"nothing makes {n} happier than {v}.",
            ('pet',0): f"{n} has {v}.", ('pet',1): f"{n} takes care of {v}."}[(kind, p)]
texts = [phr(n, k, v, 0) for n in names for k in pats for v in values[k]]
with open("/tmp/recall_in.jsonl", "w") as f:
    for t in texts:
        f.write(json.dumps({"text": t}) + "\n")
subprocess.run([GENPT, "tokenize", "--tokenizer", f"{RUN}/tokenizer", "--input", "/tmp/recall_in.jsonl",
                "--output", "/tmp/recall_out.jsonl"], check=True, capture_output=True)
ids = {json.loads(line)["text"]: json.loads(line)["ids"] for line in open("/tmp/recall_out.jsonl")}
model = fp.Classifier(INIT)
model.eval()


@torch.no_grad()
def logprob(seq):
    x = torch.tensor([seq])
    h = model.transformer(input_ids=x).last_hidden_state
    logits = h @ model.transformer.tokens_embed.weight[: model.vocab].T
    return float(torch.log_softmax(logits[0, :-1], -1).gather(-1, x[0, 1:, None]).sum())


for k in pats:
    correct = sum(values[k][max(range(len(values[k])), key=lambda i: logprob(ids[phr(n, k, values[k][i], 0)]))] == facts[n][k]
                  for n in names)
    print(f"{k}: {correct}/{len(names)} recalled (chance {1 / len(values[k]):.2f})")
