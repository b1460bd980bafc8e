"""Reads a genpt run's TensorBoard events with TensorBoard's own reader (EventAccumulator) and
checks them against the run's metrics.jsonl: every number of every record (but `step`) is a
scalar of that tag at that step, with the value rounded to float32, once; and the run's
configuration is there as text. Used by tests/tensorboard.rs.

Usage: python3 scripts/check_tensorboard.py RUN_DIR
Prints one JSON object (tags, points, text tags); exits 1 with the first mismatch.
"""
import json
import math
import os
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def flatten(prefix, value, out):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)) and prefix != "step":
        out[prefix] = float(value)
    elif isinstance(value, dict):
        for key, v in value.items():
            flatten(f"{prefix}/{key}" if prefix else key, v, out)


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def main(run):
    want = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            values = {}
            flatten("", record, values)
            for tag, v in values.items():
                want.setdefault(tag, []).append((record["step"], v))
    acc = EventAccumulator(os.path.join(run, "tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    got_tags = set(tags["scalars"])
    if got_tags != set(want):
        sys.exit(f"scalar tags differ: events {sorted(got_tags)}, metrics.jsonl {sorted(want)}")
    points = 0
    for tag, series in want.items():
        events = [(e.step, e.value) for e in acc.Scalars(tag)]
        if len(events) != len(series):
            sys.exit(f"{tag}: {len(events)} points in the events, {len(series)} in metrics.jsonl")
        for (step, value), (estep, evalue) in zip(series, events):
            same = (math.isnan(f32(value)) and math.isnan(evalue)) or f32(value) == evalue
            if estep != step or not same:
                sys.exit(f"{tag}: step {estep} value {evalue} in the events, step {step} value {value} in metrics.jsonl")
            points += 1
    texts = tags.get("tensors", [])
    if "config/text_summary" not in texts and "config" not in texts:
        sys.exit(f"no configuration text (tensor tags {texts})")
    print(json.dumps({"tags": len(want), "points": points, "text": texts}))


if __name__ == "__main__":
    main(sys.argv[1])
