#!/usr/bin/env bash
# Load test of `genpt serve` on loopback (issue 13): for each preset, a randomly initialised model
# with the GPT-1 vocabulary (throughput does not depend on the weights), served with continuous
# batching (--max-batch 32) and one request at a time (--max-batch 1), each under CLIENTS
# concurrent clients for SECONDS. One JSON line per run in OUT/results.jsonl.
#
#     experiments/serve_load.sh [OUT] [PRESETS] [CLIENTS] [SECONDS] [MAX_TOKENS]
#     (defaults: ~/genpt-runs/serve-load, "mini gpt1", 32, 30, 32)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$HOME/genpt-runs/serve-load}
presets=${2:-mini gpt1}
clients=${3:-32}
seconds=${4:-30}
max_tokens=${5:-32}
shared=${GENPT_SHARED:-../shared}
vocab=$shared/data/gpt1-bpe
mkdir -p "$out"
cargo build --release --quiet
cargo bench --bench serve_load --no-run --quiet
bench() { cargo bench --quiet --bench serve_load -- "$@"; }
port=18080
for preset in $presets; do
  model=$out/model-$preset
  [ -f "$model/model.safetensors" ] || bench make-model "$preset" "$model"
  for batch in 32 1; do
    port=$((port + 1))
    target/release/genpt serve --model "$model" --tokenizer "$vocab" --addr "127.0.0.1:$port" \
      --max-batch "$batch" --max-queue 256 > "$out/serve-$preset-$batch.log" 2>&1 &
    server=$!
    until curl -sf "http://127.0.0.1:$port/health" > /dev/null; do sleep 0.2; done
    result=$(bench load "http://127.0.0.1:$port" "$server" "$clients" "$seconds" "$max_tokens")
    curl -s "http://127.0.0.1:$port/metrics" > "$out/metrics-$preset-$batch.txt"
    kill -TERM "$server"
    wait "$server"
    echo "{\"preset\": \"$preset\", \"max_batch\": $batch, \"result\": $result}" | tee -a "$out/results.jsonl"
  done
done
