//! Pre-training resumes exactly, and a crash while saving loses nothing.
//!
//! The corpus is synthetic (a noisy counting pattern over 48 token ids) written straight into
//! shards, so these tests need neither ../shared nor a tokenizer.

mod common;
use common::{final_weights, write_corpus, VOCAB};

use std::path::{Path, PathBuf};
use std::process::Command;

use genpt::pretrain::{checkpoint, pretrain, RunConfig};

fn scratch(name: &str) -> PathBuf {
    common::scratch("pretrain", name)
}

fn config(data: &Path, out: &Path) -> RunConfig {
    common::run_config(data, out, "tiny", &[])
}

#[test]
fn resume_is_bit_exact_and_needs_the_rng_state() {
    let data = scratch("data");
    write_corpus(&data);

    let straight = scratch("straight");
    let outcome = pretrain(&config(&data, &straight), false, None).unwrap();
    assert_eq!(outcome.steps, 8);
    let first_loss: f64 = {
        let log = std::fs::read_to_string(straight.join("metrics.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
        first["loss"].as_f64().unwrap()
    };
    assert!(
        outcome.final_loss < first_loss,
        "the loss fell: {first_loss} -> {}",
        outcome.final_loss
    );
    assert!(straight.join("curves.png").exists());
    assert!(straight.join("best/model.safetensors").exists());
    let want = final_weights(&straight);

    // 3 updates, stop, resume for the other 5.
    let split = scratch("split");
    pretrain(&config(&data, &split), false, Some(3)).unwrap();
    pretrain(&config(&data, &split), true, None).unwrap();
    assert!(
        want == final_weights(&split),
        "resumed weights differ from the uninterrupted run"
    );
    // config.toml names the commit of each segment.
    let commits = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("config.toml"))
            .unwrap()
            .lines()
            .take_while(|l| l.starts_with("# genpt commit "))
            .map(str::to_string)
            .collect()
    };
    let first = format!("# genpt commit {}", genpt::BUILD_COMMIT);
    assert_eq!(commits(&straight), std::slice::from_ref(&first));
    let resumed = commits(&split);
    assert_eq!(resumed.len(), 2, "{resumed:?}");
    assert_eq!(resumed[0], first);
    assert!(
        resumed[1].starts_with(&first) && resumed[1].contains("(resumed after update "),
        "{resumed:?}"
    );

    // Negative control: the same, but the checkpoint's RNG position is lost on the way.
    let broken = scratch("broken");
    pretrain(&config(&data, &broken), false, Some(3)).unwrap();
    let state_path = checkpoint::list(&broken.join("checkpoints"))
        .pop()
        .unwrap()
        .join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state["next_stream"] = 0.into();
    std::fs::write(&state_path, state.to_string()).unwrap();
    pretrain(&config(&data, &broken), true, None).unwrap();
    assert!(
        want != final_weights(&broken),
        "the test cannot tell a lost RNG state"
    );

    // Metrics of the resumed run hold each update once.
    let steps: Vec<u64> = std::fs::read_to_string(split.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, (1..=8).collect::<Vec<_>>());
}

/// The crash and full-disk tests need the `GENPT_FAILPOINT` hook, which only builds with the
/// `failpoints` feature (the test command turns it on; release binaries never have it).
fn failpoints_built() -> bool {
    if !cfg!(feature = "failpoints") {
        eprintln!(
            "skipped: built without the `failpoints` feature (cargo test --features failpoints)"
        );
    }
    cfg!(feature = "failpoints")
}

#[test]
fn a_crash_while_saving_keeps_the_last_good_checkpoint() {
    if !failpoints_built() {
        return;
    }
    let data = scratch("crash-data");
    write_corpus(&data);
    let out = scratch("crash");
    let config_path = out.join("run.toml");
    std::fs::write(&config_path, config(&data, &out).to_toml()).unwrap();
    let genpt = env!("CARGO_BIN_EXE_genpt");

    // The second checkpoint save (update 4) dies after writing the weights, before the rest.
    let status = Command::new(genpt)
        .args([
            "pretrain",
            "--config",
            config_path.to_str().unwrap(),
            "--set",
            "train.eval_every=0",
        ])
        .env("GENPT_FAILPOINT", "checkpoint-after-weights@2")
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the failpoint should have killed the run"
    );
    let checkpoints = out.join("checkpoints");
    assert!(
        checkpoints.join(".partial-step-00000004").exists(),
        "the crash hit mid-save"
    );
    let device = genpt::device::device("flex").unwrap();
    let (found, skipped) = checkpoint::load_latest(&checkpoints, &device);
    let (dir, ckpt) = found.expect("the last good checkpoint loads");
    assert!(dir.ends_with("step-00000002"), "{}", dir.display());
    assert_eq!(ckpt.state.step, 2);
    assert!(skipped.is_empty());

    // And the run carries on from it.
    let status = Command::new(genpt)
        .args([
            "pretrain",
            "--config",
            config_path.to_str().unwrap(),
            "--set",
            "train.eval_every=0",
            "--resume",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(checkpoints.join("step-00000008").exists());
    assert!(!checkpoints.join(".partial-step-00000004").exists());
}

#[test]
fn a_damaged_checkpoint_is_named_and_skipped_on_resume() {
    let data = scratch("damaged-data");
    write_corpus(&data);
    let out = scratch("damaged");
    pretrain(&config(&data, &out), false, Some(4)).unwrap();
    let checkpoints = out.join("checkpoints");
    let newest = checkpoint::list(&checkpoints).pop().unwrap();
    assert!(newest.ends_with("step-00000004"));

    // A truncated weights file: named in the reason, and the older checkpoint is used instead.
    let weights = newest.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let device = genpt::device::device("flex").unwrap();
    let (found, skipped) = checkpoint::load_latest(&checkpoints, &device);
    assert!(found
        .expect("the older checkpoint loads")
        .0
        .ends_with("step-00000002"));
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].contains("model.safetensors"), "{}", skipped[0]);

    // A corrupt state file: likewise named.
    std::fs::write(
        checkpoints
            .join("step-00000002")
            .join(checkpoint::STATE_FILE),
        b"{ not json",
    )
    .unwrap();
    let (found, skipped) = checkpoint::load_latest(&checkpoints, &device);
    assert!(found.is_none());
    assert!(
        skipped.iter().any(|s| s.contains(checkpoint::STATE_FILE)),
        "{skipped:?}"
    );
    let err = pretrain(&config(&data, &out), true, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no loadable checkpoint"), "{err}");
}

/// Continued pre-training (`model.init`): the run starts from the directory's weights, and a
/// directory that does not fit the data is refused with a reason.
#[test]
fn continued_pretraining_starts_from_the_init_weights() {
    let data = scratch("init-data");
    write_corpus(&data);
    // The starting point: the last checkpoint of a short run (a genpt model directory).
    let base = scratch("init-base");
    let mut c = config(&data, &base);
    c.train.steps = 4;
    pretrain(&c, false, None).unwrap();
    let start_dir = checkpoint::list(&base.join("checkpoints")).pop().unwrap();
    let start = genpt::weights::hf::read_safetensors(&start_dir.join("model.safetensors")).unwrap();

    // One update at learning rate 0 from it, with another seed: the weights are the start's.
    let continued = |name: &str, init: Option<&Path>| {
        let out = scratch(name);
        let mut c = config(&data, &out);
        c.model.init = init.map(Path::to_path_buf);
        c.optimizer.lr = 0.0;
        c.train.steps = 1;
        c.train.seed = 99;
        pretrain(&c, false, None).map(|_| final_weights(&out))
    };
    assert!(
        continued("init-cont", Some(&start_dir)).unwrap() == start,
        "a continued run did not start from model.init's weights"
    );
    // Negative control: without model.init the same run starts elsewhere.
    assert!(continued("init-fresh", None).unwrap() != start);

    // Refusals: a shape the configuration contradicts, another vocabulary, another tokenizer.
    let mut c = config(&data, &scratch("init-shape"));
    c.model.init = Some(start_dir.clone());
    c.model.n_layer = Some(3);
    let err = pretrain(&c, false, None).err().unwrap().to_string();
    assert!(err.contains("model.n_layer = 3"), "{err}");

    let wide = scratch("init-vocab");
    let mut shape = genpt::GptConfig::preset("tiny").unwrap();
    (
        shape.vocab_size,
        shape.n_layer,
        shape.n_embd,
        shape.n_head,
        shape.n_positions,
    ) = (50, 2, 32, 2, 16);
    let device = Default::default();
    let model = genpt::rng::seeded(&device, 1, || genpt::Gpt::new(&shape, &device));
    genpt::weights::hf::save(&model, &wide).unwrap();
    let err = continued("init-vocab-run", Some(&wide))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("vocabulary of 50 tokens"), "{err}");

    let encoder = (0..VOCAB)
        .map(|i| (format!("p{i}</w>"), i as u32))
        .collect();
    genpt_tokenizer::vocab::save(&start_dir, &encoder, &[]).unwrap();
    let err = continued("init-tok-run", Some(&start_dir))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("its tokenizer is not the one"), "{err}");
}

/// A full disk during a checkpoint save (the `enospc:` failpoint fails the optimizer file's
/// write with ENOSPC, as write(2) does): the run stops with the error naming the file, the
/// half-written `.partial-*` directory is gone, the previous checkpoint loads, and `--resume`
/// finishes the run once there is room.
/// After a save that failed at update 4: the checkpoint of update 2 alone, whole, loadable, and
/// no partial directory beside it.
fn only_the_first_checkpoint_is_left(checkpoints: &Path) {
    let left: Vec<String> = std::fs::read_dir(checkpoints)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["step-00000002"], "only the good checkpoint remains");
    let device = genpt::device::device("flex").unwrap();
    let (found, _) = checkpoint::load_latest(checkpoints, &device);
    assert_eq!(found.expect("loads").1.state.step, 2);
}

#[test]
fn a_full_disk_while_saving_leaves_no_partial_checkpoint() {
    if !failpoints_built() {
        return;
    }
    let data = scratch("enospc-data");
    write_corpus(&data);
    let out = scratch("enospc");
    let config_path = out.join("run.toml");
    std::fs::write(&config_path, config(&data, &out).to_toml()).unwrap();
    let genpt = env!("CARGO_BIN_EXE_genpt");
    let run = |failpoint: Option<&str>, resume: bool| {
        let mut command = Command::new(genpt);
        command.args([
            "pretrain",
            "--config",
            config_path.to_str().unwrap(),
            "--set",
            "train.eval_every=0",
        ]);
        if resume {
            command.arg("--resume");
        }
        if let Some(f) = failpoint {
            command.env("GENPT_FAILPOINT", f);
        }
        command.output().unwrap()
    };
    let failed = run(Some("enospc:checkpoint-after-weights@2"), false);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("No space left on device") && stderr.contains("optimizer.safetensors"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    only_the_first_checkpoint_is_left(&out.join("checkpoints"));
    let resumed = run(None, true);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(out.join("checkpoints/step-00000008").exists());
}

/// Ids past the vocabulary in a shard's body (bit rot, a bad copy): pre-training refuses the
/// shard before the first update, naming it and the first bad offset, instead of panicking
/// inside the backend or training on garbage.
#[test]
fn a_damaged_shard_is_refused_by_name_before_training() {
    let data = scratch("bad-shard-data");
    write_corpus(&data);
    let shard = data.join("train.tok");
    let mut bytes = std::fs::read(&shard).unwrap();
    let at = genpt::data::shards::HEADER_BYTES + 2 * 100;
    bytes[at..at + 2].copy_from_slice(&65535u16.to_le_bytes());
    std::fs::write(&shard, &bytes).unwrap();
    let out = scratch("bad-shard");
    let config_path = out.join("run.toml");
    std::fs::write(&config_path, config(&data, &out).to_toml()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_genpt"))
        .args(["pretrain", "--config", config_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(shard.to_str().unwrap())
            && stderr.contains(&format!("token 100 (byte offset {at})"))
            && stderr.contains("id 65535")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(!out.join("checkpoints").exists(), "no update was made");
    // Without the check at open (data.verify = false, for huge corpora), the windows drawn
    // are still checked: an error naming the shard, never a panic inside the backend.
    let output = Command::new(env!("CARGO_BIN_EXE_genpt"))
        .args(["pretrain", "--config", config_path.to_str().unwrap()])
        .args(["--set", "data.verify=false", "--set", "train.steps=400"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(shard.to_str().unwrap())
            && stderr.contains("id 65535")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// A run started afresh (not `--resume`) in a directory an earlier attempt wrote to, say one
/// killed before its first checkpoint, keeps none of that attempt's records: a step-0 record
/// (the zero-shot scores before update 1) used to survive and appear twice.
#[test]
fn a_fresh_start_keeps_no_earlier_records() {
    let data = scratch("fresh-data");
    write_corpus(&data);
    let out = scratch("fresh");
    std::fs::write(
        out.join("metrics.jsonl"),
        "{\"step\":0,\"zeroshot\":{\"sst2\":0.5}}\n{\"step\":1,\"loss\":9.0}\n",
    )
    .unwrap();
    pretrain(&config(&data, &out), false, None).unwrap();
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(!log.contains("zeroshot"), "a stale record survived:\n{log}");
    assert_eq!(log.lines().count(), 8, "one record per update:\n{log}");
}

/// The full disk for real, not through a failpoint (issue 25, item 3): the run directory on a
/// small tmpfs, filled so that the first checkpoint fits and the second does not. The run fails
/// naming the file, leaves no partial checkpoint, the first checkpoint loads, and once space is
/// freed `--resume` ends exactly where an uninterrupted run on a normal disk ends. Mounting
/// needs root: skipped, with the reason, elsewhere.
#[test]
fn a_real_full_disk_loses_nothing() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n");
    if root.as_ref().map_or(true, |r| !r) {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let data = scratch("tmpfs-data");
    write_corpus(&data);
    let genpt = env!("CARGO_BIN_EXE_genpt");
    let run = |config_path: &Path, resume: bool| {
        let mut command = Command::new(genpt);
        command.args(["pretrain", "--config", config_path.to_str().unwrap()]);
        command.args(["--set", "train.eval_every=0"]);
        if resume {
            command.arg("--resume");
        }
        command.output().unwrap()
    };

    // The reference, on the normal disk; its checkpoints' size sizes the filler.
    let reference = scratch("tmpfs-reference");
    let reference_config = reference.join("run.toml");
    std::fs::write(&reference_config, config(&data, &reference).to_toml()).unwrap();
    assert!(run(&reference_config, false).status.success());
    let newest = checkpoint::list(&reference.join("checkpoints"))
        .pop()
        .unwrap();
    let checkpoint_bytes: u64 = std::fs::read_dir(newest)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len().div_ceil(4096) * 4096)
        .sum();

    let disk = scratch("tmpfs-disk");
    let size = 16 * checkpoint_bytes + (1 << 20);
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&disk)
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("skipped: could not mount a tmpfs at {}", disk.display());
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());
    let out = disk.join("run");
    std::fs::create_dir_all(&out).unwrap();
    let config_path = out.join("run.toml");
    std::fs::write(&config_path, config(&data, &out).to_toml()).unwrap();
    // Leave room for one checkpoint and a half (and the small files), not for two.
    let filler = disk.join("filler");
    let free = size - 64 * 1024 - checkpoint_bytes * 3 / 2;
    std::fs::write(&filler, vec![0u8; free as usize]).unwrap();

    let failed = run(&config_path, false);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "the disk was full: {stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    only_the_first_checkpoint_is_left(&out.join("checkpoints"));

    std::fs::remove_file(&filler).unwrap();
    let resumed = run(&config_path, true);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(
        final_weights(&out) == final_weights(&reference),
        "the resumed run ends where the uninterrupted one does"
    );
}
