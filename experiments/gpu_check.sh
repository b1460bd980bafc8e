#!/usr/bin/env bash
# Issue 17: the GPU checks, for a session lent a GPU machine. UNTESTED: written on a machine
# without a GPU; every step below is what should run, not something that has run.
#
# Build on the CPU machine first (the GPU machine has no Rust toolchain to rely on, and the
# device time is short), then carry the results (`run` tool, carry=[...]):
#
#   nice -n 19 cargo build --release --features vulkan
#   strip -o genpt-vulkan target/release/genpt
#   nice -n 19 cargo test --release --features vulkan --test parity --no-run 2>&1 | grep -o 'target/release/deps/parity-[0-9a-f]*' | head -1 | xargs -I{} strip -o parity-vulkan {}
#   target/release/genpt prepare ...      # a small corpus directory: meta.json + shards
#
#   experiments/gpu_check.sh BIN CORPUS_DIR TOKENIZER_DIR [PARITY_BIN]
#
# e.g. experiments/gpu_check.sh ./genpt-vulkan runs/gpu-corpus shared/data/gpt1-bpe ./parity-vulkan
#
# Writes everything under $OUT (or ./gpu-check) and a summary to $OUT/summary.txt. Each step
# has its own time limit and goes on after a failure, so one run of the script (~8 minutes)
# reports as much as it can. Environment: BACKEND (default vulkan), STEPS (default 300),
# BATCH (default 16, sequences of 512 tokens per update), SKIP_TORCH=1.
set -uo pipefail
BIN=$(realpath "${1:?usage: gpu_check.sh BIN CORPUS_DIR TOKENIZER_DIR [PARITY_BIN]}")
CORPUS=$(realpath "${2:?corpus directory (genpt prepare output)}")
TOKENIZER=$(realpath "${3:?tokenizer directory}")
PARITY_BIN=${4:+$(realpath "$4")}
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=${OUT:-$REPO/gpu-check}
BACKEND=${BACKEND:-vulkan}
STEPS=${STEPS:-300}
BATCH=${BATCH:-16}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
step() { echo; echo "=== $* ==="; }

step "0. the machine"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true; } | tee "$OUT/gpu.txt"
# The Vulkan backend needs a Vulkan loader and NVIDIA's ICD (in containers: the `graphics`
# driver capability, NVIDIA_DRIVER_CAPABILITIES=all). Without them wgpu finds no adapter.
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | tee "$OUT/vulkan-icd.txt"
ldconfig -p | grep -i libvulkan | tee -a "$OUT/vulkan-icd.txt"
command -v vulkaninfo >/dev/null && timeout 30 vulkaninfo --summary > "$OUT/vulkaninfo.txt" 2>&1
say "gpu: $(head -1 "$OUT/gpu.txt")"
say "vulkan loader: $(ldconfig -p | grep -c libvulkan) libvulkan entries; ICDs: $(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | tr '\n' ' ')"
"$BIN" --version > /dev/null 2>&1 || say "warning: $BIN --version failed"

step "1. parity fixtures on $BACKEND against flex and the PyTorch reference"
# (a) the parity test binary: logits 1e-4, loss 1e-5 relative, gradient norms 1e-4 relative
# against the PyTorch fixtures, on flex and on the GPU backend.
if [ -n "${PARITY_BIN:-}" ]; then
    GENPT_TEST_BACKENDS=$BACKEND CARGO_MANIFEST_DIR=$REPO timeout 300 "$PARITY_BIN" --test-threads 1 --nocapture \
        > "$OUT/parity.txt" 2>&1
    say "parity test binary: exit $? ($(grep -c 'max |Δlogit|' "$OUT/parity.txt") logit checks; see parity.txt)"
    grep "max |Δlogit|" "$OUT/parity.txt" | tee -a "$SUMMARY"
fi
# (b) with the main binary only: per-token log-probabilities of each fixture's first sequence
# on flex and on the GPU (flex itself matches PyTorch to 1e-4 in the logits: tests/parity.rs).
for fixture in tests/fixtures/parity/*/; do
    # The Hugging Face layouts only: the official one does not record its head count.
    [ -f "$fixture/expected.json" ] && [ -f "$fixture/config.json" ] || continue
    ids=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open('$fixture/expected.json'))['ids'][0])))")
    for b in flex "$BACKEND"; do
        timeout 120 "$BIN" score --model "$fixture" --ids "$ids" --backend "$b" \
            > "$OUT/score-$(basename "$fixture")-$b.json" 2> "$OUT/score-$(basename "$fixture")-$b.err"
    done
    python3 - "$OUT/score-$(basename "$fixture")-flex.json" "$OUT/score-$(basename "$fixture")-$BACKEND.json" "$(basename "$fixture")" <<'EOF' | tee -a "$SUMMARY"
import json, sys
try:
    a = json.load(open(sys.argv[1]))["next_token_logprobs"]
    b = json.load(open(sys.argv[2]))["next_token_logprobs"]
    print(f"score {sys.argv[3]}: max |Δ log p| flex vs gpu = {max(abs(x - y) for x, y in zip(a, b)):.2e} over {len(a)} tokens")
except Exception as e:
    print(f"score {sys.argv[3]}: FAILED ({e})")
EOF
done

step "2. gpt1 pre-training, $STEPS updates of $BATCH x 512 tokens, fp32 and bf16"
for precision in fp32 bf16; do
    cat > "$OUT/pretrain-$precision.toml" <<EOF
out_dir = "$OUT/pretrain-$precision"
[model]
preset = "gpt1"
[data]
dir = "$CORPUS"
[train]
batch_size = $BATCH
grad_accum = 1
steps = $STEPS
warmup_steps = 30
eval_every = 0
eval_windows = 8
seed = 1
backend = "$BACKEND"
precision = "$precision"
[checkpoint]
every = 0
keep_last = 1
EOF
    timeout 420 "$BIN" pretrain --config "$OUT/pretrain-$precision.toml" > "$OUT/pretrain-$precision.log" 2>&1
    say "pretrain $precision: exit $?"
    python3 - "$OUT/pretrain-$precision/metrics.jsonl" "$precision" <<'EOF' | tee -a "$SUMMARY"
import json, statistics, sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1]) if '"tokens_per_s"' in l]
    steady = [r["tokens_per_s"] for r in rows[10:]] or [r["tokens_per_s"] for r in rows]
    print(f"pretrain {sys.argv[2]}: {len(rows)} updates, median {statistics.median(steady):,.0f} tokens/s "
          f"(updates 11+), loss {rows[0]['loss']:.3f} -> {rows[-1]['loss']:.3f}")
    json.dump({"tokens_per_s": statistics.median(steady)}, open(sys.argv[1] + ".summary.json", "w"))
except Exception as e:
    print(f"pretrain {sys.argv[2]}: no metrics ({e})")
EOF
done

step "3. PyTorch OpenAIGPTLMHeadModel on the same shapes, and the bf16 / fp32 matmul rates"
if [ -z "${SKIP_TORCH:-}" ]; then
    timeout 480 python3 experiments/gpu_torch.py --batch "$BATCH" --steps 30 --out "$OUT/torch.json" \
        > "$OUT/torch.log" 2>&1
    say "torch: exit $?"
    grep -E "^(matmul|torch)" "$OUT/torch.log" | tee -a "$SUMMARY"
fi

step "4. MFU"
python3 - "$OUT" "$BATCH" <<'EOF' | tee -a "$SUMMARY"
import json, os, sys
out, batch = sys.argv[1], int(sys.argv[2])
# gpt1: 12 layers, d 768, context 512, vocabulary 40,478 (+ positions). Training FLOPs per
# token: 6 x (weights used in matmuls: 12 x 12 x 768^2 + the tied 40,478 x 768 output layer)
# plus attention scores and weighted sums, 6 x 2 x layers x context x d (Kaplan et al./PaLM).
L, d, T, V = 12, 768, 512, 40478
flops_per_token = 6 * (L * 12 * d * d + V * d) + 12 * L * T * d
try:
    peaks = json.load(open(f"{out}/torch.json"))["matmul_tflops"]
except Exception:
    peaks = {}
for precision in ("fp32", "bf16"):
    try:
        tps = json.load(open(f"{out}/pretrain-{precision}/metrics.jsonl.summary.json"))["tokens_per_s"]
    except Exception:
        continue
    achieved = tps * flops_per_token / 1e12
    for peak_name, peak in sorted(peaks.items()):
        print(f"genpt {precision}: {achieved:.1f} TFLOP/s = {100 * achieved / peak:.1f}% of the measured {peak_name} matmul rate ({peak:.0f} TFLOP/s)")
EOF

step "5. fine-tuning throughput (custom classification task from synthetic text)"
python3 - "$OUT/ft" <<'EOF'
import json, os, random, sys
os.makedirs(sys.argv[1], exist_ok=True)
words = "the a of and to in was he it that his her with had for she as on at by not but".split() + \
        "house river light window morning story letter garden winter silence question".split()
rng = random.Random(0)
for split, n in (("train", 512), ("dev", 64)):
    with open(f"{sys.argv[1]}/{split}.jsonl", "w") as f:
        for _ in range(n):
            f.write(json.dumps({"text": " ".join(rng.choice(words) for _ in range(rng.randint(20, 60))),
                                "label": rng.choice(["pos", "neg"])}) + "\n")
EOF
MODEL=$(ls -d "$OUT"/pretrain-fp32/checkpoints/step-* 2>/dev/null | tail -1)
if [ -n "$MODEL" ]; then
    timeout 300 "$BIN" finetune --task custom --kind classification --train "$OUT/ft/train.jsonl" \
        --dev "$OUT/ft/dev.jsonl" --model "$MODEL" --tokenizer "$TOKENIZER" --epochs 1 \
        --batch-size 32 --micro-batch 32 --backend "$BACKEND" --out "$OUT/ft/run" > "$OUT/finetune.log" 2>&1
    say "finetune: exit $?"
    python3 - "$OUT/ft/run/metrics.jsonl" <<'EOF' | tee -a "$SUMMARY"
import json, statistics, sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1]) if '"tokens_per_s"' in l]
    print(f"finetune: {len(rows)} updates, median {statistics.median(r['tokens_per_s'] for r in rows[2:] or rows):,.0f} tokens/s")
except Exception as e:
    print(f"finetune: no metrics ({e})")
EOF

    step "6. generation throughput (key/value cache, 256 new tokens)"
    for b in flex "$BACKEND"; do
        start=$(date +%s.%N)
        timeout 300 "$BIN" generate --model "$MODEL" --tokenizer "$TOKENIZER" --prompt "the house by the river" \
            --max-tokens 256 --seed 1 --backend "$b" > "$OUT/generate-$b.txt" 2>&1
        rc=$?
        end=$(date +%s.%N)
        say "generate $b: exit $rc, 256 tokens in $(python3 -c "print(f'{$end - $start:.1f}')") s (load included)"
    done
else
    say "finetune/generate: skipped (no checkpoint from step 2)"
fi

echo
echo "summary: $SUMMARY"
cat "$SUMMARY"
