#!/usr/bin/env bash
# Pre-trains configs/pretrain-books.toml on ../shared/data/books with whole books held out for
# validation, tracking the zero-shot heuristics (Figure 2, right), then prints the curves.
# Numbers go to docs/evidence.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${GENPT_SHARED:-../shared}
cargo build --release
/usr/bin/time -v target/release/genpt prepare --corpus "$SHARED/data/books" --tokenizer "$SHARED/data/gpt1-bpe" \
    --out runs/books-data --strip-gutenberg --val-fraction 0.05 2> runs/prepare.log || { cat runs/prepare.log; exit 1; }
grep -E "documents|wrote" runs/prepare.log
/usr/bin/time -v target/release/genpt pretrain --config configs/pretrain-books.toml "$@" 2> runs/pretrain.log
grep -E "done|Maximum resident" runs/pretrain.log
python3 - <<'PY'
import json
for line in open("runs/pretrain-books/metrics.jsonl"):
    r = json.loads(line)
    line = f"update {r['step']:5d}"
    if "val_loss" in r:
        line += f"  train {r['loss']:.3f}  val {r['val_loss']:.3f}  ppl {r['val_ppl']:.1f}  {r['tokens_per_s']:.0f} tok/s"
    if "zeroshot" in r:
        line += "  zero-shot " + " ".join(f"{k} {v:.3f}" for k, v in r["zeroshot"].items())
    if line != f"update {r['step']:5d}":
        print(line)
PY
