#!/usr/bin/env bash
# Issue 25, item 1: every fuzz target of the repository, one after another, MINUTES each
# (default 10), with cargo-fuzz's AddressSanitizer build and debug assertions. Prints one line
# per target: minutes, executions, corpus size, crashes (files under fuzz/artifacts/).
#
# Usage: experiments/fuzz_all.sh [MINUTES] [TARGET...]     (cargo install cargo-fuzz first)
set -uo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
shift || true
ALL="crates/genpt-tokenizer:encode crates/genpt-tokenizer:load_vocab \
crates/genpt-tasks:benchmark_files crates/genpt-tasks:custom_files \
.:weights .:corpus .:run_files .:serve_requests"
LOGS=${LOGS:-$HOME/genpt-runs/fuzz}
mkdir -p "$LOGS"
for entry in ${*:-$ALL}; do
    case $entry in *:*) ;; *) entry=".:$entry" ;; esac
    crate=${entry%%:*} target=${entry##*:}
    mkdir -p "$crate/fuzz/corpus/$target"
    ( cd "$crate" && RUSTC_BOOTSTRAP=1 cargo fuzz run -a --fuzz-dir fuzz "$target" \
        "fuzz/corpus/$target" "fuzz/seeds/$target" -- -max_total_time=$((MINUTES * 60)) \
        -rss_limit_mb=4096 -max_len=8192 -print_final_stats=1 ) > "$LOGS/$target.log" 2>&1
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOGS/$target.log" | grep -o '[0-9]*$')
    crashes=$(ls "$crate/fuzz/artifacts/$target" 2>/dev/null | wc -l)
    corpus=$(ls "$crate/fuzz/corpus/$target" | wc -l)
    echo "$target: ${MINUTES} min, ${execs:-?} executions, corpus $corpus, crashes $crashes"
done
