//! The pre-training loop: windows → forward with dropout → mean next-token loss → backward,
//! averaged over micro-batches, clipped, the release's Adam with its schedule; validation,
//! metrics and checkpoints along the way.
//!
//! Randomness is a pure function of `(seed, stream)`, one stream per micro-batch (the windows it
//! draws and the dropout masks of its forward pass), so a resumed run continues bit for bit.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::checkpoint::{self, TrainState};
use super::config::{OnNonFinite, RunConfig};
use crate::config::GptConfig;
use crate::data::corpus::{CorpusMeta, Split};
use crate::data::sampler::WindowSampler;
use crate::metrics_log::MetricsLog;
use crate::precision::Precision;
use crate::progress::Progress;
use crate::rng::{splitmix64, Draws};
use crate::train::{
    average_over_processes, parameter_layout, GradientSync, LocalSync, NamedGrads, OpenAiAdam,
};
use crate::zeroshot::{LmScorer, ZeroShotTask};
use crate::Gpt;

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub steps: u64,
    pub final_loss: f64,
    pub val_loss: Option<f64>,
    pub last_checkpoint: Option<PathBuf>,
}

/// The model a continued run starts from (`model.init`), checked against the run's data: the
/// same vocabulary size, the same tokenizer where the directory has one, no fine-tuning rows, a
/// shape the configuration does not contradict. Dropout follows `model.dropout` when set.
pub fn init_model(
    config: &RunConfig,
    meta: &CorpusMeta,
    device: &Device,
) -> anyhow::Result<Option<Gpt>> {
    let m = &config.model;
    let Some(dir) = &m.init else {
        return Ok(None);
    };
    let options = crate::weights::LoadOptions {
        n_head: m.n_head.unwrap_or(12),
    };
    let model = crate::weights::load_model(dir, &options, device)
        .with_context(|| format!("model.init: loading {}", dir.display()))?;
    let c = model.config().clone();
    for (key, given, has) in [
        ("n_layer", m.n_layer, c.n_layer),
        ("n_embd", m.n_embd, c.n_embd),
        ("n_head", m.n_head, c.n_head),
        ("n_positions", m.n_positions, c.n_positions),
    ] {
        if let Some(given) = given.filter(|&g| g != has) {
            bail!(
                "model.{key} = {given}, but model.init {} has {has}: the shape comes from it",
                dir.display()
            );
        }
    }
    if c.n_special != 0 {
        bail!(
            "model.init {}: a fine-tuned model ({} special rows); continue pre-training from a language model",
            dir.display(),
            c.n_special
        );
    }
    if c.vocab_size != meta.vocab_size {
        bail!(
            "model.init {} has a vocabulary of {} tokens, but {} was prepared with {}: prepare the corpus with the model's tokenizer",
            dir.display(),
            c.vocab_size,
            config.data.dir.display(),
            meta.vocab_size
        );
    }
    if genpt_tokenizer::vocab::find_files(dir).is_ok() {
        let tokenizer = genpt_tokenizer::Tokenizer::from_dir(dir)?;
        if tokenizer.fingerprint() != meta.fingerprint {
            bail!(
                "model.init {}: its tokenizer is not the one {} was prepared with",
                dir.display(),
                config.data.dir.display()
            );
        }
    }
    Ok(Some(match m.dropout {
        Some(p) => crate::surgery::with_dropout(model, p, device),
        None => model,
    }))
}

/// The model shape a run asks for, with the vocabulary of its data.
pub fn model_config(config: &RunConfig, vocab_size: usize) -> anyhow::Result<GptConfig> {
    let m = &config.model;
    let mut c = GptConfig::preset(&m.preset).with_context(|| {
        format!(
            "model.preset {:?} is not one of {}",
            m.preset,
            GptConfig::PRESETS.join(", ")
        )
    })?;
    c.vocab_size = vocab_size;
    c.n_layer = m.n_layer.unwrap_or(c.n_layer);
    c.n_embd = m.n_embd.unwrap_or(c.n_embd);
    c.n_head = m.n_head.unwrap_or(c.n_head);
    c.n_positions = m.n_positions.unwrap_or(c.n_positions);
    if let Some(p) = m.dropout {
        (c.embd_pdrop, c.attn_pdrop, c.resid_pdrop) = (p, p, p);
    }
    c.validate().map_err(|e| anyhow::anyhow!("model: {e}"))?;
    Ok(c)
}

fn to_ids(rows: Vec<i64>, batch: usize, time: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(rows, [batch, time]), device)
}

/// Mean next-token loss of `windows` [batch, n_ctx + 1] flattened, the body computed at
/// `precision` (the loss itself always in fp32).
fn window_loss(
    model: &Gpt,
    windows: Vec<i64>,
    batch: usize,
    train: bool,
    precision: Precision,
    device: &Device,
) -> Tensor<1> {
    let window = windows.len() / batch;
    let all = to_ids(windows, batch, window, device);
    let inputs = all.clone().narrow(1, 0, window - 1);
    let targets = all.narrow(1, 1, window - 1);
    precision.lm_loss_mean(model, inputs, targets, train)
}

/// Mean validation loss over the fixed evaluation windows, without dropout or autodiff.
fn validate(
    model: &Gpt,
    windows: &[Vec<i64>],
    batch: usize,
    precision: Precision,
    device: &Device,
) -> f64 {
    let model = model.valid();
    let inner = device.clone().inner();
    let mut total = 0.0;
    for chunk in windows.chunks(batch) {
        let flat: Vec<i64> = chunk.iter().flatten().copied().collect();
        let loss = window_loss(&model, flat, chunk.len(), false, precision, &inner);
        total += loss.into_scalar::<f32>() as f64 * chunk.len() as f64;
    }
    total / windows.len() as f64
}

/// The zero-shot tasks tracked during pre-training (none when `zeroshot.every` is 0).
fn tracked_tasks(config: &RunConfig, meta: &CorpusMeta) -> anyhow::Result<Vec<ZeroShotTask>> {
    let z = &config.zeroshot;
    let Some(dir) = z.tokenizer.as_ref().filter(|_| z.every > 0) else {
        return Ok(Vec::new());
    };
    let tokenizer = genpt_tokenizer::Tokenizer::from_dir(dir)
        .with_context(|| format!("zeroshot.tokenizer: loading {}", dir.display()))?;
    if tokenizer.fingerprint() != meta.fingerprint {
        bail!(
            "zeroshot.tokenizer {}: not the tokenizer {} was prepared with",
            dir.display(),
            config.data.dir.display()
        );
    }
    z.tasks
        .iter()
        .map(|(task, data)| {
            ZeroShotTask::load(task, data, &tokenizer, z.limit)
                .with_context(|| format!("zeroshot.tasks.{task}"))
        })
        .collect()
}

/// The tracked heuristics' results on `model`, raw and normalised (0 = chance, 1 = reference).
fn evaluate_zero_shot(
    model: &Gpt,
    tasks: &[ZeroShotTask],
) -> (serde_json::Value, serde_json::Value) {
    let model = model.valid();
    let scorer = LmScorer { model: &model };
    let (mut raw, mut normalized) = (serde_json::Map::new(), serde_json::Map::new());
    for task in tasks {
        let result = task.evaluate(&scorer);
        raw.insert(task.task.clone(), result.value.into());
        normalized.insert(task.task.clone(), result.normalized().into());
    }
    (raw.into(), normalized.into())
}

/// Runs (or, with `resume`, continues) the pre-training described by `config`. With `until`,
/// stops after that update (checkpointing it) as if interrupted; `--resume` continues later.
pub fn pretrain(
    config: &RunConfig,
    resume: bool,
    until: Option<u64>,
) -> anyhow::Result<RunOutcome> {
    pretrain_with(config, resume, until, &mut LocalSync)
}

/// [`pretrain`] as one process of a data-parallel run (docs/multi-gpu.md): `sync` makes every
/// process hold the mean gradient over all micro-batches of all processes before clipping, so
/// that every process takes the same update. With W processes and `train.grad_accum = A`,
/// update `u` starting at stream `base` gives rank r the micro-batch streams `base + r·A + j`
/// (j < A): the micro-batches one process with `grad_accum = W·A` would draw, so a checkpoint
/// resumes at any world size whose W·A is the same. Rank 0 alone writes the configuration,
/// metrics, checkpoints and plots, and runs validation and zero-shot evaluation.
/// [`LocalSync`] is the single process.
pub fn pretrain_with(
    config: &RunConfig,
    resume: bool,
    until: Option<u64>,
    sync: &mut dyn GradientSync,
) -> anyhow::Result<RunOutcome> {
    let device = crate::device::device(&config.train.backend)
        .map_err(anyhow::Error::msg)?
        .autodiff();
    config
        .train
        .precision
        .check_supported(&device)
        .map_err(anyhow::Error::msg)?;
    let meta = CorpusMeta::read(&config.data.dir)?;
    let init = init_model(config, &meta, &device)?;
    let model_config = match &init {
        Some(model) => model.config().clone(),
        None => model_config(config, meta.vocab_size)?,
    };
    let window = model_config.n_positions + 1;
    let train_sampler = WindowSampler::new(
        meta.open(&config.data.dir, Split::Train, config.data.verify)?,
        window,
    )
    .map_err(|e| anyhow::anyhow!("training split of {}: {e}", config.data.dir.display()))?;
    let val_windows = {
        let shards = meta.open(&config.data.dir, Split::Validation, config.data.verify)?;
        match WindowSampler::new(shards, window) {
            Ok(sampler) => sampler.sequential(config.train.eval_windows)?,
            Err(e) => {
                eprintln!("warning: no validation: {e}");
                Vec::new()
            }
        }
    };

    let out = &config.out_dir;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let checkpoints = out.join("checkpoints");
    let (mut model, mut optimizer, mut state) = if resume {
        let (found, skipped) = checkpoint::load_latest(&checkpoints, &device);
        for reason in skipped {
            eprintln!("warning: skipping unreadable checkpoint {reason}");
        }
        let Some((dir, ckpt)) = found else {
            bail!(
                "--resume: no loadable checkpoint under {}",
                checkpoints.display()
            );
        };
        if ckpt.model.config() != &model_config {
            bail!(
                "{}: the checkpoint's model differs from the configuration's",
                dir.display()
            );
        }
        if ckpt.state.data_fingerprint != meta.fingerprint {
            bail!(
                "{}: trained on data from another tokenizer than {}",
                dir.display(),
                config.data.dir.display()
            );
        }
        let mut optimizer = OpenAiAdam::new(config.optimizer.clone());
        optimizer.step = ckpt.state.step;
        optimizer
            .import_moments(ckpt.moments, &device.clone().inner())
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        if sync.is_leader() {
            eprintln!(
                "resuming from {} (update {})",
                dir.display(),
                ckpt.state.step
            );
        }
        (ckpt.model, optimizer, ckpt.state)
    } else {
        let state = TrainState {
            step: 0,
            seed: config.train.seed,
            next_stream: 0,
            tokens: 0,
            data_fingerprint: meta.fingerprint,
            best_val_loss: None,
        };
        let model = match init {
            Some(model) => {
                eprintln!(
                    "continuing pre-training from {}",
                    config.model.init.as_ref().expect("init").display()
                );
                model
            }
            None => crate::rng::seeded(&device, splitmix64(config.train.seed ^ 0x1417), || {
                Gpt::new(&model_config, &device)
            }),
        };
        (model, OpenAiAdam::new(config.optimizer.clone()), state)
    };
    let leader = sync.is_leader();
    let (world, rank) = (sync.world_size() as u64, sync.rank() as u64);
    let grad_device = device.clone().inner();
    let mut log = if leader {
        // The settings of the run, under the commits that made it: a resumed run keeps the
        // lines of its earlier segments and adds its own.
        let path = out.join("config.toml");
        let mut header: String = match resume {
            true => std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .take_while(|line| line.starts_with("# genpt commit "))
                .map(|line| format!("{line}\n"))
                .collect(),
            false => String::new(),
        };
        header += &match state.step {
            0 => format!("# genpt commit {}\n", crate::BUILD_COMMIT),
            step => format!(
                "# genpt commit {} (resumed after update {step})\n",
                crate::BUILD_COMMIT
            ),
        };
        std::fs::write(&path, header + &config.to_toml())?;
        let metrics = out.join("metrics.jsonl");
        if !resume && metrics.exists() {
            // A fresh start (one killed before its first checkpoint included) keeps none of an
            // earlier attempt's records, not even its zero-shot scores before update 1.
            std::fs::remove_file(&metrics)
                .with_context(|| format!("removing {}", metrics.display()))?;
        }
        Some(MetricsLog::open(&metrics, Some(state.step))?)
    } else {
        None
    };
    let zero_shot_tasks = if leader {
        tracked_tasks(config, &meta)?
    } else {
        Vec::new()
    };
    if let Some(log) = log
        .as_mut()
        .filter(|_| !zero_shot_tasks.is_empty() && state.step == 0)
    {
        // Before any update: where the curves of Figure 2 (right) start.
        let (raw, normalized) = evaluate_zero_shot(&model, &zero_shot_tasks);
        log.write(
            &serde_json::json!({ "step": 0, "zeroshot": raw, "zeroshot_normalized": normalized }),
        )?;
    }

    let t = &config.train;
    let total = t.steps;
    let tokens_per_update = world * (t.batch_size * t.grad_accum * (window - 1)) as u64;
    let mut progress = Progress::new(total, state.step, "pre-training");
    let mut last_loss = f64::NAN;
    let mut last_val = None;
    let mut last_checkpoint = None;
    let stop = until.unwrap_or(total).min(total);
    while state.step < stop {
        let started = Instant::now();
        let mut grads = NamedGrads::default();
        let mut loss_sum = 0.0;
        let mut nonfinite = false;
        let base = state.next_stream;
        let accum = t.grad_accum as u64;
        state.next_stream = base + world * accum;
        for j in 0..accum {
            let stream = base + rank * accum + j;
            let mut draws = Draws::new(state.seed, stream);
            let windows = train_sampler.sample(t.batch_size, &mut draws)?;
            // Dropout masks come from the same stream.
            crate::rng::dropout::reseed(draws.next_u64());
            let loss = window_loss(&model, windows, t.batch_size, true, t.precision, &device);
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                nonfinite = true;
                break;
            }
            loss_sum += value;
            grads.accumulate(&model, loss.backward());
        }
        // Agreed across processes: all stop or skip together.
        if sync.any(nonfinite)? {
            match t.on_nonfinite {
                OnNonFinite::Stop => bail!(
                    "the loss became NaN or infinite at update {} (lower optimizer.lr, or set train.on_nonfinite = \"skip\"); the last checkpoint is intact",
                    state.step + 1
                ),
                OnNonFinite::Skip => {
                    eprintln!("warning: non-finite loss at update {}: update skipped", state.step + 1);
                    state.step += 1;
                    optimizer.step += 1;
                    continue;
                }
            }
        }
        // Data parallelism joins here: the mean over every process' micro-batches (one
        // process: the mean over its own), then one clip everywhere.
        let exchange = Instant::now();
        average_over_processes(sync, &mut grads, || parameter_layout(&model), &grad_device)?;
        if world > 1 {
            let mut losses = [loss_sum];
            sync.all_reduce_sum_f64(&mut losses)?;
            loss_sum = losses[0] / world as f64;
        }
        let exchange_s = exchange.elapsed().as_secs_f64();
        let grad_norm = grads.clip_global_norm(t.max_grad_norm);
        let factor = t.schedule.at_step(state.step, total, t.warmup_steps);
        model = optimizer.update(model, grads, factor);
        state.step += 1;
        state.tokens += tokens_per_update;
        last_loss = loss_sum / t.grad_accum as f64;
        let seconds = started.elapsed().as_secs_f64();
        let tokens_per_s = tokens_per_update as f64 / seconds;

        let mut record = serde_json::json!({
            "step": state.step,
            "loss": last_loss,
            "lr": config.optimizer.lr * factor,
            "grad_norm": grad_norm,
            "tokens_per_s": tokens_per_s,
            "tokens": state.tokens,
        });
        if world > 1 {
            // The gradient exchange, with the wait for the slowest rank.
            record["allreduce_s"] = exchange_s.into();
        }
        let Some(log) = log.as_mut() else {
            // Not the leader: its state matches the leader's, which does the writing.
            continue;
        };
        let eval_now = (t.eval_every > 0 && state.step % t.eval_every == 0) || state.step == total;
        if eval_now && !val_windows.is_empty() {
            let val = validate(&model, &val_windows, t.batch_size, t.precision, &device);
            record["val_loss"] = val.into();
            record["val_ppl"] = val.exp().into();
            last_val = Some(val);
            if state.best_val_loss.is_none_or(|best| val < best) {
                state.best_val_loss = Some(val);
                checkpoint::save(out, "best", &model, &optimizer, &state)?;
            }
        }
        let z_every = config.zeroshot.every;
        if !zero_shot_tasks.is_empty() && (state.step % z_every == 0 || state.step == total) {
            let (raw, normalized) = evaluate_zero_shot(&model, &zero_shot_tasks);
            record["zeroshot"] = raw;
            record["zeroshot_normalized"] = normalized;
        }
        log.write(&record)?;
        progress.update(state.step, last_loss, tokens_per_s, last_val);

        let every = config.checkpoint.every;
        if (every > 0 && state.step % every == 0) || state.step == total || state.step == stop {
            let dir = checkpoint::save(
                &checkpoints,
                &checkpoint::step_name(state.step),
                &model,
                &optimizer,
                &state,
            )?;
            checkpoint::prune(&checkpoints, config.checkpoint.keep_last)?;
            last_checkpoint = Some(dir);
        }
    }
    progress.finish();
    if !leader {
        return Ok(RunOutcome {
            steps: state.step,
            final_loss: last_loss,
            val_loss: last_val,
            last_checkpoint,
        });
    }
    if let Err(e) = crate::plot::plot_metrics(&out.join("metrics.jsonl"), &out.join("curves.png")) {
        eprintln!("warning: could not draw the curves: {e}");
    }
    if !zero_shot_tasks.is_empty() {
        if let Err(e) =
            crate::plot::plot_zero_shot(&out.join("metrics.jsonl"), &out.join("zeroshot.png"))
        {
            eprintln!("warning: could not draw the zero-shot curves: {e}");
        }
    }
    Ok(RunOutcome {
        steps: state.step,
        final_loss: last_loss,
        val_loss: last_val,
        last_checkpoint,
    })
}
