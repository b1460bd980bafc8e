#!/usr/bin/env bash
# Issue 25, item 5: the 30-minute soak of `genpt serve` on loopback, gpt1-shaped model.
# A randomly initialised gpt1 with GPT-1's vocabulary and a two-class task model on the same
# weights, served with continuous batching; `cargo bench --bench serve_load -- soak` sends the
# mix (valid completions plain and streamed, classifications, tokenizations, malformed JSON,
# oversized bodies, streams dropped mid-way, a burst over --max-queue each minute) and writes
# OUT/soak.json and OUT/soak.png (latency percentiles per minute, server RSS).
#
#     experiments/serve_soak.sh [OUT] [SECONDS] [CLIENTS]
#     (defaults: ~/genpt-runs/serve-soak, 1800, 8)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$HOME/genpt-runs/serve-soak}
seconds=${2:-1800}
clients=${3:-8}
vocab=${GENPT_SHARED:-../shared}/data/gpt1-bpe
max_queue=64
max_body=65536
mkdir -p "$out"
cargo build --release --quiet
cargo bench --bench serve_load --no-run --quiet
bench() { cargo bench --quiet --bench serve_load -- "$@"; }
[ -f "$out/lm/model.safetensors" ] || bench make-model gpt1 "$out/lm"
[ -f "$out/task/head.safetensors" ] || bench make-task "$out/lm" "$vocab" "$out/task"
port=18180
target/release/genpt serve --model "$out/lm" --tokenizer "$vocab" --task-model "task=$out/task" \
  --addr "127.0.0.1:$port" --max-batch 32 --max-queue $max_queue --max-body-bytes $max_body \
  > "$out/serve.log" 2>&1 &
server=$!
until curl -sf "http://127.0.0.1:$port/health" > /dev/null; do sleep 0.5; done
bench soak "http://127.0.0.1:$port" "$server" "$clients" "$seconds" $max_queue $max_body "$out" | tee "$out/summary.json"
curl -s "http://127.0.0.1:$port/metrics" > "$out/metrics.txt"
kill -TERM "$server"
wait "$server"
