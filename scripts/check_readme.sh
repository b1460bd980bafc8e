#!/usr/bin/env bash
# Runs every command of README.md's "real data" section, in order, as a new user would
# (needs ../shared; run by hand: it builds in release mode and takes a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf runs/quick runs/rte runs/zeroshot runs/own /tmp/gpt-npy /tmp/gpt-hf /tmp/my-bpe
awk '/^## The paper.s pipeline/{on=1} /^## Command reference/{on=0} on && /^    /{sub(/^    /, ""); print}' README.md > /tmp/readme-commands.sh
echo "running $(wc -l < /tmp/readme-commands.sh) commands from README.md"
bash -euxo pipefail /tmp/readme-commands.sh > /tmp/readme-run.log 2>&1 || { tail -30 /tmp/readme-run.log; echo "FAILED"; exit 1; }
echo "all README commands ran"
