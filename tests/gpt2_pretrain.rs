//! GPT-2 pre-trains through the same loop as GPT-1: from a `gpt2-*` preset the loss falls,
//! checkpoints are `gpt2` checkpoints, and resuming is bit-exact.
//!
//! The corpus is synthetic, so this test needs neither ../shared nor a tokenizer. It has a test
//! binary to itself: burn's device generator (the initial weights) is process-wide, and another
//! test seeding it in parallel would change the straight or the resumed run's start. (Dropout
//! masks are per thread since issue 27.)

mod common;
use common::{final_weights, write_corpus};

use std::path::{Path, PathBuf};

use genpt::config::Arch;
use genpt::pretrain::{checkpoint, pretrain, RunConfig};

fn scratch(name: &str) -> PathBuf {
    common::scratch("gpt2", name)
}

fn config(data: &Path, out: &Path) -> RunConfig {
    common::run_config(data, out, "gpt2-tiny", &[])
}

#[test]
fn pretraining_a_gpt2_preset_lowers_the_loss_and_resumes_exactly() {
    let data = scratch("data");
    write_corpus(&data);

    let straight = scratch("straight");
    let outcome = pretrain(&config(&data, &straight), false, None).unwrap();
    assert_eq!(outcome.steps, 8);
    let log = std::fs::read_to_string(straight.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    let first_loss = first["loss"].as_f64().unwrap();
    println!(
        "gpt2-tiny: loss {first_loss:.4} -> {:.4}",
        outcome.final_loss
    );
    assert!(
        outcome.final_loss < first_loss,
        "the loss fell: {first_loss} -> {}",
        outcome.final_loss
    );

    // The checkpoint is a GPT-2 checkpoint, in transformers' names.
    let weights = final_weights(&straight);
    assert!(weights.contains_key("wte.weight") && weights.contains_key("ln_f.weight"));
    let device = genpt::device::device("flex").unwrap();
    let last = checkpoint::list(&straight.join("checkpoints"))
        .pop()
        .unwrap();
    let loaded = checkpoint::load(&last, &device).unwrap();
    assert_eq!(loaded.model.config().arch, Arch::Gpt2);

    // 3 updates, stop, resume for the other 5: the same weights as the uninterrupted run.
    let split = scratch("split");
    pretrain(&config(&data, &split), false, Some(3)).unwrap();
    pretrain(&config(&data, &split), true, None).unwrap();
    assert!(
        weights == final_weights(&split),
        "resumed weights differ from the uninterrupted run"
    );
}
