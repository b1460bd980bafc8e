#!/usr/bin/env bash
# The GPU checks, as one command for a lent GPU machine (CUDA 13, torch, no Rust): binaries built
# on the CPU machine, carried over with a corpus and a tokenizer, run here for under 8 minutes.
# Writes $OUT/gpu_check.json (every number) and $OUT/gpu_check.log (everything printed).
#
#   experiments/gpu_check.sh BACKEND=BINARY [BACKEND=BINARY ...]
#
# e.g. `experiments/gpu_check.sh cuda=gpu-carry/genpt-cuda vulkan=gpu-carry/genpt-vulkan`. The
# carry directory (CARRY, default gpu-carry; ignored by git) holds what `experiments/gpu_carry.sh`
# puts there on the CPU machine: the stripped binaries, the test binaries `gpu-tests-FEATURE`
# and `parity-tests-FEATURE` (optional), a prepared books corpus `corpus/` and its tokenizer
# `tokenizer/`. Environment: OUT (default ./gpu-check), PRESET (gpt1), BATCH (8 sequences of the
# preset's context per update), STEPS (40 updates per throughput run), BUDGET_S (seconds for the
# whole script, 450), TRAIN_S (seconds per throughput run, 150), SKIP_TORCH=1.
#
# Each step has its own time limit and goes on after a failure. Dry run on the CPU machine, on
# Mesa's lavapipe (docs/gpu.md): `PRESET=tiny BATCH=2 STEPS=2 BUDGET_S=900 TRAIN_S=300
# SKIP_TORCH=1 experiments/gpu_check.sh wgpu:cpu=target/gpu/gpu-test/genpt`.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=${OUT:-$REPO/gpu-check}
CARRY=${CARRY:-$REPO/gpu-carry}
PRESET=${PRESET:-gpt1}
BATCH=${BATCH:-8}
STEPS=${STEPS:-40}
BUDGET_S=${BUDGET_S:-450}
TRAIN_S=${TRAIN_S:-150}
START=$(date +%s)
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
RESULTS=$OUT/results.jsonl
: > "$RESULTS"
# One JSON object per measurement; gpu_check.json gathers them at the end.
record() { python3 -c 'import json,sys; print(json.dumps(dict(a.split("=",1) for a in sys.argv[1:])))' "$@" >> "$RESULTS"; }
left() { echo $((BUDGET_S - ($(date +%s) - START))); }
step() { echo; echo "=== $* ($(($(date +%s) - START)) s in) ==="; }
[ $# -gt 0 ] || { echo "usage: $0 BACKEND=BINARY ..."; exit 2; }

step "the machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"
record check=machine gpu="$(head -1 "$OUT/gpu.txt")" preset="$PRESET" batch="$BATCH" steps="$STEPS"
# wgpu needs a Vulkan loader and NVIDIA's ICD (in containers: NVIDIA_DRIVER_CAPABILITIES
# including `graphics`); CUDA needs libcuda and NVRTC (libnvrtc.so, found on the library path).
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null
ldconfig -p | grep -E 'libvulkan|libnvrtc|libcuda\.' || true

CORPUS=$CARRY/corpus
TOKENIZER=$CARRY/tokenizer
for pair in "$@"; do
    BACKEND=${pair%%=*}
    BIN=$(realpath "${pair#*=}")
    FEATURE=${BACKEND%%:*}
    tag=${BACKEND//:/-}

    step "$BACKEND: parity against the PyTorch fixtures"
    for tests in "$CARRY/parity-tests-$FEATURE" "$CARRY/gpt2-parity-tests-$FEATURE" "$CARRY/gpu-tests-$FEATURE"; do
        [ -x "$tests" ] || continue
        name=$(basename "$tests")
        GENPT_TEST_BACKENDS=$BACKEND GENPT_GPU_BACKEND=$BACKEND CARGO_MANIFEST_DIR=$REPO \
            timeout 240 "$tests" --test-threads 1 --nocapture > "$OUT/$name-$tag.txt" 2>&1
        rc=$?
        echo "$name: exit $rc"; grep -E "^$BACKEND|test result" "$OUT/$name-$tag.txt"
        record check=tests backend="$BACKEND" binary="$name" exit="$rc" \
            passed="$(grep -o '[0-9]* passed' "$OUT/$name-$tag.txt" | head -1)"
    done
    # With the main binary alone: each fixture's log-probabilities, flex against the GPU.
    for fixture in tests/fixtures/gpt2/*/ tests/fixtures/parity/*/; do
        [ -f "$fixture/expected.json" ] && [ -f "$fixture/config.json" ] || continue
        ids=$(python3 -c "import json; print(','.join(map(str, json.load(open('$fixture/expected.json'))['ids'][0])))")
        for b in flex "$BACKEND"; do
            timeout 120 "$BIN" score --model "$fixture" --ids "$ids" --backend "$b" \
                > "$OUT/score-$(basename "$fixture")-${b//:/-}.json" 2>> "$OUT/score.err"
        done
        python3 - "$OUT/score-$(basename "$fixture")-flex.json" "$OUT/score-$(basename "$fixture")-$tag.json" \
            "$(basename "$fixture")" "$BACKEND" "$RESULTS" <<'EOF'
import json, sys
flex, gpu, name, backend, results = sys.argv[1:]
try:
    a = json.load(open(flex))["next_token_logprobs"]
    b = json.load(open(gpu))["next_token_logprobs"]
    gap = max(abs(x - y) for x, y in zip(a, b))
    print(f"score {name}: max |Δ log p| flex vs {backend} = {gap:.2e} over {len(a)} tokens")
    row = {"check": "score", "backend": backend, "fixture": name, "max_logprob_gap": gap}
except Exception as e:
    print(f"score {name}: FAILED ({e})")
    row = {"check": "score", "backend": backend, "fixture": name, "error": str(e)}
open(results, "a").write(json.dumps(row) + "\n")
EOF
    done

    for precision in fp32 bf16; do
        step "$BACKEND: $PRESET training throughput, $precision, $STEPS updates of $BATCH sequences"
        # No validation: these runs measure updates alone.
        run=$OUT/train-$tag-$precision
        rm -rf "$run"
        cat > "$run.toml" <<EOF
out_dir = "$run"
[model]
preset = "$PRESET"
[data]
dir = "$CORPUS"
[train]
batch_size = $BATCH
grad_accum = 1
steps = $STEPS
warmup_steps = 10
eval_every = 0
eval_windows = 0
seed = 1
backend = "$BACKEND"
precision = "$precision"
[checkpoint]
every = $STEPS
keep_last = 1
EOF
        timeout $(( $(left) < TRAIN_S ? $(left) : TRAIN_S )) "$BIN" pretrain --config "$run.toml" > "$run.log" 2>&1
        rc=$?
        echo "pretrain $precision: exit $rc"; tail -2 "$run.log"
        python3 - "$run/metrics.jsonl" "$BACKEND" "$precision" "$PRESET" "$rc" "$RESULTS" <<'EOF'
import json, statistics, sys
path, backend, precision, preset, rc, results = sys.argv[1:]
row = {"check": "train", "backend": backend, "precision": precision, "exit": int(rc)}
try:
    rows = [json.loads(l) for l in open(path) if '"tokens_per_s"' in l]
    steady = [r["tokens_per_s"] for r in rows[5:]] or [r["tokens_per_s"] for r in rows]
    row.update(updates=len(rows), tokens_per_s=statistics.median(steady),
               first_loss=rows[0]["loss"], last_loss=rows[-1]["loss"])
    print(f"train {backend} {precision}: median {row['tokens_per_s']:,.0f} tokens/s after 5 updates, "
          f"loss {row['first_loss']:.3f} -> {row['last_loss']:.3f}")
except Exception as e:
    row["error"] = str(e)
    print(f"train {backend} {precision}: no metrics ({e})")
open(results, "a").write(json.dumps(row) + "\n")
EOF
    done

    step "$BACKEND: generation throughput (key/value cache, greedy)"
    model=$(ls -d "$OUT/train-$tag-fp32/checkpoints"/step-* 2>/dev/null | tail -1)
    if [ -n "$model" ]; then
        # Two runs, 1 and 129 new tokens: their difference is the decoding alone (loading and
        # kernel compilation cancel out).
        for n in 1 129; do
            t0=$(date +%s.%N)
            timeout 120 "$BIN" generate --model "$model" --tokenizer "$TOKENIZER" \
                --prompt "the house by the river" --max-tokens $n --temperature 0 \
                --backend "$BACKEND" > "$OUT/generate-$tag-$n.txt" 2>&1
            echo "$n $? $(python3 -c "import time; print(time.time() - $t0)")" >> "$OUT/generate-$tag.times"
        done
        python3 - "$OUT/generate-$tag.times" "$BACKEND" "$RESULTS" <<'EOF'
import json, sys
times, backend, results = sys.argv[1:]
(n1, rc1, t1), (n2, rc2, t2) = [l.split() for l in open(times)][-2:]
row = {"check": "generate", "backend": backend, "exit": [int(rc1), int(rc2)]}
if rc1 == rc2 == "0":
    row["tokens_per_s"] = (int(n2) - int(n1)) / (float(t2) - float(t1))
    print(f"generate {backend}: {row['tokens_per_s']:.1f} tokens/s")
else:
    print(f"generate {backend}: FAILED (exits {rc1}, {rc2})")
open(results, "a").write(json.dumps(row) + "\n")
EOF
    else
        echo "generate: skipped (no checkpoint from the fp32 training run)"
    fi
done

if [ -z "${SKIP_TORCH:-}" ] && [ "$(left)" -gt 90 ]; then
    step "PyTorch on the same shapes: eager and torch.compile, fp32 and bf16 autocast"
    timeout $(( $(left) - 60 )) python3 experiments/gpu_torch.py --preset "$PRESET" --batch "$BATCH" \
        --steps 20 --out "$OUT/torch.json"
    echo "torch: exit $?"
fi

LONG=${1%%=*}
if [ "$(left)" -gt 60 ]; then
    step "${LONG}: $PRESET pre-training on the books corpus for the time left"
    run=$OUT/books-$PRESET
    sed -e "s|^out_dir = .*|out_dir = \"$run\"|" -e "s|^steps = .*|steps = 100000|" \
        -e "s|^eval_every = .*|eval_every = 25|" -e "s|^eval_windows = .*|eval_windows = 8|" -e "s|^precision = .*|precision = \"fp32\"|" \
        "$OUT/train-${LONG//:/-}-fp32.toml" > "$run.toml"
    timeout $(( $(left) - 20 )) "$(realpath "${1#*=}")" pretrain --config "$run.toml" > "$run.log" 2>&1
    python3 - "$run/metrics.jsonl" "$LONG" "$RESULTS" <<'EOF'
import json, sys
path, backend, results = sys.argv[1:]
try:
    rows = [json.loads(l) for l in open(path) if '"loss"' in l]
    vals = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    row = {"check": "books", "backend": backend, "updates": len(rows), "first_loss": rows[0]["loss"],
           "last_loss": rows[-1]["loss"], "val_loss": vals}
    print(f"books {backend}: {len(rows)} updates, loss {rows[0]['loss']:.3f} -> {rows[-1]['loss']:.3f}, "
          f"validation {vals}")
except Exception as e:
    row = {"check": "books", "backend": backend, "error": str(e)}
    print(f"books: no metrics ({e})")
open(results, "a").write(json.dumps(row) + "\n")
EOF
fi

step "summary"
python3 - "$RESULTS" "$OUT/torch.json" "$OUT/gpu_check.json" "$PRESET" "$BATCH" <<'EOF'
import json, os, sys
results, torch_path, out, preset, batch = sys.argv[1:]
rows = [json.loads(l) for l in open(results)]
summary = {"rows": rows}
if os.path.exists(torch_path):
    summary["torch"] = json.load(open(torch_path))
# MFU: training FLOPs per token 6·(matmul weights) + 12·layers·context·width (attention), the
# PaLM/Kaplan count, against the dense bf16 peak of the card (H100 SXM: 989 TFLOP/s).
shapes = {"gpt1": (12, 768, 512, 40478), "tiny": (2, 128, 64, 40478)}
L, d, T, V = shapes.get(preset, shapes["gpt1"])
flops_per_token = 6 * (L * 12 * d * d + V * d) + 12 * L * T * d
peak = float(os.environ.get("PEAK_TFLOPS", "989"))
for r in rows:
    if r.get("check") == "train" and "tokens_per_s" in r:
        r["tflops"] = r["tokens_per_s"] * flops_per_token / 1e12
        r["mfu_percent"] = 100 * r["tflops"] / peak
        print(f"{r['backend']} {r['precision']}: {r['tokens_per_s']:,.0f} tokens/s, "
              f"{r['tflops']:.1f} TFLOP/s, MFU {r['mfu_percent']:.1f}% of {peak:.0f}")
json.dump(summary, open(out, "w"), indent=1)
print(f"wrote {out}")
EOF
