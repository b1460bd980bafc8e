//! The pre-training loop: windows → forward with dropout → mean next-token loss → backward,
//! averaged over micro-batches, clipped, the release's Adam with its schedule; validation,
//! metrics and checkpoints along the way.
//!
//! Randomness is a pure function of `(seed, stream)`, one stream per micro-batch (the windows it
//! draws and the dropout masks of its forward pass), so a resumed run continues bit for bit.

use std::path::{Path, PathBuf};
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
use crate::train::interrupt::Interrupted;
use crate::train::{
    mean_gradients, take_step, GradientSync, LocalSync, MeanGradients, MicroBatchLoss, OpenAiAdam,
    Role,
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

/// [`pretrain`] as one process of a data-parallel run (docs/multi-process.md): `sync` makes every
/// process hold the mean gradient over all micro-batches of all processes before clipping, so
/// that every process takes the same update. With W processes and `train.grad_accum = A`,
/// update `u` starting at stream `base` gives rank r the micro-batch streams `base + r·A + j`
/// (j < A): the micro-batches one process with `grad_accum = W·A` would draw, so a checkpoint
/// resumes at any world size whose W·A is the same. The leader ([`Role`]) alone writes the
/// configuration, metrics, checkpoints and plots, and runs validation and zero-shot
/// evaluation. [`LocalSync`] is the single process.
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
    let out = &config.out_dir;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let role = sync.role();
    let (model, optimizer, state) = match resume {
        true => resume_from_checkpoint(config, &meta, &model_config, role, &device)?,
        false => fresh_start(config, &meta, &model_config, init, &device),
    };
    let leader = match role {
        Role::Leader => Some(Leader::start(
            config, &meta, resume, &state, window, &model,
        )?),
        Role::Follower => None,
    };
    let t = &config.train;
    let (world, rank) = (sync.world_size() as u64, sync.rank() as u64);
    let mut run = Pretraining {
        config,
        model: Some(model),
        optimizer,
        progress: Progress::new(t.steps, state.step, "pre-training"),
        state,
        sampler: train_sampler,
        sync,
        world,
        rank,
        tokens_per_update: world * (t.batch_size * t.grad_accum * (window - 1)) as u64,
        device,
        leader,
        record: serde_json::Value::Null,
        last_loss: f64::NAN,
        last_val: None,
        last_checkpoint: None,
    };
    let stop = until.unwrap_or(t.steps).min(t.steps);
    let every = Every {
        eval: t.eval_every,
        zero_shot: match run.leader.as_ref().is_some_and(|l| !l.zero_shot.is_empty()) {
            true => config.zeroshot.every,
            false => 0,
        },
        checkpoint: config.checkpoint.every,
    };
    drive(run.state.step, stop, t.steps, &every, role, &mut run)?;
    run.progress.finish();
    if let Some(leader) = &run.leader {
        leader.plot(out);
    }
    Ok(RunOutcome {
        steps: run.state.step,
        final_loss: run.last_loss,
        val_loss: run.last_val,
        last_checkpoint: run.last_checkpoint,
    })
}

/// How often the loop evaluates and saves, in updates (0: only after the last update; zero-shot
/// 0: never).
pub struct Every {
    pub eval: u64,
    pub zero_shot: u64,
    pub checkpoint: u64,
}

/// What the pre-training loop needs done.
pub trait PretrainHooks {
    /// Makes update number `step` (1-based); false when it was skipped (a non-finite loss
    /// under `train.on_nonfinite = "skip"`), which then is neither logged nor checkpointed.
    fn update(&mut self, step: u64) -> anyhow::Result<bool>;
    /// The validation loss, into this update's record.
    fn validate(&mut self) -> anyhow::Result<()>;
    /// The tracked zero-shot heuristics, into this update's record.
    fn zero_shot(&mut self) -> anyhow::Result<()>;
    /// Writes this update's record.
    fn log(&mut self) -> anyhow::Result<()>;
    /// Saves the checkpoint of update `step`.
    fn checkpoint(&mut self, step: u64) -> anyhow::Result<()>;
    /// Whether to stop after this update ([`crate::train::interrupt`]).
    fn stop_requested(&self) -> bool {
        crate::train::interrupt::requested()
    }
}

/// The pre-training loop: updates `from + 1 ..= stop` of a run of `total`, each followed, on the
/// leader, by validation (every `every.eval` updates and after the last), zero-shot evaluation
/// (every `every.zero_shot`, and after the last when tracked), its log record, and a checkpoint
/// (every `every.checkpoint`, after the last, and where the run stops early). Followers only
/// update. A stop requested from outside ([`PretrainHooks::stop_requested`]) ends the loop after
/// the update in progress, checkpointed, with [`Interrupted`].
pub fn drive(
    from: u64,
    stop: u64,
    total: u64,
    every: &Every,
    role: Role,
    hooks: &mut dyn PretrainHooks,
) -> anyhow::Result<()> {
    let due = |every: u64, step: u64| every > 0 && step.is_multiple_of(every);
    for step in from + 1..=stop {
        if !hooks.update(step)? || role == Role::Follower {
            continue;
        }
        let last = step == total;
        let interrupted = hooks.stop_requested() && step < stop;
        if due(every.eval, step) || last {
            hooks.validate()?;
        }
        if every.zero_shot > 0 && (due(every.zero_shot, step) || last) {
            hooks.zero_shot()?;
        }
        hooks.log()?;
        if due(every.checkpoint, step) || last || step == stop || interrupted {
            hooks.checkpoint(step)?;
        }
        if interrupted {
            return Err(Interrupted {
                resume: format!("update {step} is checkpointed and --resume continues from it"),
            }
            .into());
        }
    }
    Ok(())
}

/// The weights, optimizer and state of the newest checkpoint that loads, checked against the
/// run's model and data.
fn resume_from_checkpoint(
    config: &RunConfig,
    meta: &CorpusMeta,
    model_config: &GptConfig,
    role: Role,
    device: &Device,
) -> anyhow::Result<(Gpt, OpenAiAdam, TrainState)> {
    let checkpoints = config.out_dir.join("checkpoints");
    let (found, skipped) = checkpoint::load_latest(&checkpoints, device);
    for reason in skipped {
        eprintln!("warning: skipping unreadable checkpoint {reason}");
    }
    let Some((dir, ckpt)) = found else {
        bail!(
            "--resume: no loadable checkpoint under {}",
            checkpoints.display()
        );
    };
    if ckpt.model.config() != model_config {
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
    if role == Role::Leader {
        eprintln!(
            "resuming from {} (update {})",
            dir.display(),
            ckpt.state.step
        );
    }
    Ok((ckpt.model, optimizer, ckpt.state))
}

/// A new run: the `model.init` weights, or a random initialisation drawn from the seed.
fn fresh_start(
    config: &RunConfig,
    meta: &CorpusMeta,
    model_config: &GptConfig,
    init: Option<Gpt>,
    device: &Device,
) -> (Gpt, OpenAiAdam, TrainState) {
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
        None => crate::rng::seeded(device, splitmix64(config.train.seed ^ 0x1417), || {
            Gpt::new(model_config, device)
        }),
    };
    (model, OpenAiAdam::new(config.optimizer.clone()), state)
}

/// What the leader holds besides the model: the run's log, and what it evaluates on.
struct Leader {
    log: MetricsLog,
    val_windows: Vec<Vec<i64>>,
    /// The validation split's bytes of text per token, when the corpus records its bytes.
    val_bytes_per_token: Option<f64>,
    zero_shot: Vec<ZeroShotTask>,
}

impl Leader {
    /// Writes the run's configuration, opens its metrics (a resumed run drops the records after
    /// its checkpoint, a fresh one starts empty), reads what it evaluates on, and logs the
    /// zero-shot scores before the first update.
    fn start(
        config: &RunConfig,
        meta: &CorpusMeta,
        resume: bool,
        state: &TrainState,
        window: usize,
        model: &Gpt,
    ) -> anyhow::Result<Self> {
        let out = &config.out_dir;
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
        let mut leader = Self {
            log: MetricsLog::open(&metrics, Some(state.step))?,
            val_windows,
            val_bytes_per_token: meta
                .validation
                .bytes
                .filter(|_| meta.validation.tokens > 0)
                .map(|bytes| bytes as f64 / meta.validation.tokens as f64),
            zero_shot: tracked_tasks(config, meta)?,
        };
        let settings = format!("```toml\n{}\n```", config.to_toml());
        leader.log.text(state.step, "config", &settings)?;
        if !leader.zero_shot.is_empty() && state.step == 0 {
            // Before any update: where the curves of Figure 2 (right) start.
            let (raw, normalized) = evaluate_zero_shot(model, &leader.zero_shot);
            leader.log.write(&serde_json::json!({
                "step": 0, "zeroshot": raw, "zeroshot_normalized": normalized
            }))?;
        }
        Ok(leader)
    }

    /// The loss curves, and the zero-shot curves when tracked (a failure is a warning: the
    /// metrics they are drawn from are intact).
    fn plot(&self, out: &Path) {
        let metrics = out.join("metrics.jsonl");
        if let Err(e) = crate::plot::plot_metrics(&metrics, &out.join("curves.png")) {
            eprintln!("warning: could not draw the curves: {e}");
        }
        if !self.zero_shot.is_empty() {
            if let Err(e) = crate::plot::plot_zero_shot(&metrics, &out.join("zeroshot.png")) {
                eprintln!("warning: could not draw the zero-shot curves: {e}");
            }
        }
    }
}

/// One process' pre-training run, driven by [`drive`].
struct Pretraining<'a> {
    config: &'a RunConfig,
    /// Taken for each update (the optimizer consumes it) and put back.
    model: Option<Gpt>,
    optimizer: OpenAiAdam,
    state: TrainState,
    sampler: WindowSampler,
    sync: &'a mut dyn GradientSync,
    world: u64,
    rank: u64,
    tokens_per_update: u64,
    device: Device,
    leader: Option<Leader>,
    progress: Progress,
    /// The current update's log record.
    record: serde_json::Value,
    last_loss: f64,
    last_val: Option<f64>,
    last_checkpoint: Option<PathBuf>,
}

impl Pretraining<'_> {
    fn model(&self) -> &Gpt {
        self.model
            .as_ref()
            .expect("the model is held between updates")
    }
    fn leader(&mut self) -> &mut Leader {
        self.leader
            .as_mut()
            .expect("only the leader evaluates and writes")
    }
}

impl PretrainHooks for Pretraining<'_> {
    fn update(&mut self, step: u64) -> anyhow::Result<bool> {
        let config = self.config;
        let t = &config.train;
        let started = Instant::now();
        let accum = t.grad_accum as u64;
        let base = self.state.next_stream;
        self.state.next_stream = base + self.world * accum;
        // This process' micro-batches: streams base + rank·A + j, j < A.
        let streams = (0..accum).map(|j| base + self.rank * accum + j);
        let (seed, sampler, device) = (self.state.seed, &self.sampler, &self.device);
        let model = self
            .model
            .take()
            .expect("the model is held between updates");
        let gradients = mean_gradients(
            &model,
            streams,
            1,
            |stream| {
                let mut draws = Draws::new(seed, stream);
                let windows = sampler.sample(t.batch_size, &mut draws)?;
                // Dropout masks come from the same stream.
                crate::rng::dropout::reseed(draws.next_u64());
                let loss = window_loss(&model, windows, t.batch_size, true, t.precision, device);
                let value = crate::device::read_scalar(loss.clone())? as f64;
                Ok(MicroBatchLoss {
                    loss,
                    logged: vec![value],
                })
            },
            self.sync,
            &device.clone().inner(),
        )?;
        let MeanGradients::Mean {
            grads,
            logged,
            exchange_s,
        } = gradients
        else {
            self.model = Some(model);
            match t.on_nonfinite {
                OnNonFinite::Stop => bail!(
                    "the loss became NaN or infinite at update {step} (lower optimizer.lr, or set train.on_nonfinite = \"skip\"); the last checkpoint is intact"
                ),
                OnNonFinite::Skip => {
                    eprintln!("warning: non-finite loss at update {step}: update skipped");
                    self.state.step += 1;
                    self.optimizer.step += 1;
                    return Ok(false);
                }
            }
        };
        let factor = t.schedule.at_step(self.state.step, t.steps, t.warmup_steps);
        let (model, grad_norm) =
            take_step(model, &mut self.optimizer, grads, t.max_grad_norm, factor);
        self.model = Some(model);
        self.state.step += 1;
        self.state.tokens += self.tokens_per_update;
        self.last_loss = logged[0];
        let tokens_per_s = self.tokens_per_update as f64 / started.elapsed().as_secs_f64();
        self.record = serde_json::json!({
            "step": self.state.step,
            "loss": self.last_loss,
            "lr": config.optimizer.lr * factor,
            "grad_norm": grad_norm,
            "tokens_per_s": tokens_per_s,
            "tokens": self.state.tokens,
        });
        if self.world > 1 {
            // The gradient exchange, with the wait for the slowest rank.
            self.record["allreduce_s"] = exchange_s.into();
        }
        Ok(true)
    }

    fn validate(&mut self) -> anyhow::Result<()> {
        let config = self.config;
        let t = &config.train;
        let leader = self.leader.as_ref().expect("the leader validates");
        if leader.val_windows.is_empty() {
            return Ok(());
        }
        let val = validate(
            self.model(),
            &leader.val_windows,
            t.batch_size,
            t.precision,
            &self.device,
        );
        self.record["val_loss"] = val.into();
        self.record["val_ppl"] = val.exp().into();
        if let Some(bytes_per_token) = leader.val_bytes_per_token {
            // Nats per token to bits per byte, at the split's average bytes per token.
            self.record["val_bpb"] = (val / std::f64::consts::LN_2 / bytes_per_token).into();
        }
        self.last_val = Some(val);
        if self.state.best_val_loss.is_none_or(|best| val < best) {
            self.state.best_val_loss = Some(val);
            checkpoint::save(
                &config.out_dir,
                "best",
                self.model(),
                &self.optimizer,
                &self.state,
            )?;
        }
        Ok(())
    }

    fn zero_shot(&mut self) -> anyhow::Result<()> {
        let leader = self.leader.as_ref().expect("the leader evaluates");
        let (raw, normalized) = evaluate_zero_shot(self.model(), &leader.zero_shot);
        self.record["zeroshot"] = raw;
        self.record["zeroshot_normalized"] = normalized;
        Ok(())
    }

    fn log(&mut self) -> anyhow::Result<()> {
        let record = std::mem::take(&mut self.record);
        self.leader().log.write(&record)?;
        let tokens_per_s = record["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
        self.progress
            .update(self.state.step, self.last_loss, tokens_per_s, self.last_val);
        Ok(())
    }

    fn checkpoint(&mut self, step: u64) -> anyhow::Result<()> {
        let checkpoints = self.config.out_dir.join("checkpoints");
        let dir = checkpoint::save(
            &checkpoints,
            &checkpoint::step_name(step),
            self.model(),
            &self.optimizer,
            &self.state,
        )?;
        checkpoint::prune(&checkpoints, self.config.checkpoint.keep_last)?;
        self.last_checkpoint = Some(dir);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the loop asks for, update by update.
    #[derive(Default)]
    struct Recorder {
        skip: Vec<u64>,
        events: Vec<String>,
        /// A stop is requested once this update is made.
        stop_after: Option<u64>,
        updates: u64,
    }

    impl PretrainHooks for Recorder {
        fn update(&mut self, step: u64) -> anyhow::Result<bool> {
            self.events.push(format!("u{step}"));
            self.updates = step;
            Ok(!self.skip.contains(&step))
        }
        fn stop_requested(&self) -> bool {
            self.stop_after.is_some_and(|s| self.updates >= s)
        }
        fn validate(&mut self) -> anyhow::Result<()> {
            self.events.push("val".into());
            Ok(())
        }
        fn zero_shot(&mut self) -> anyhow::Result<()> {
            self.events.push("zs".into());
            Ok(())
        }
        fn log(&mut self) -> anyhow::Result<()> {
            self.events.push("log".into());
            Ok(())
        }
        fn checkpoint(&mut self, step: u64) -> anyhow::Result<()> {
            self.events.push(format!("ckpt{step}"));
            Ok(())
        }
    }

    fn events(from: u64, stop: u64, total: u64, every: Every, role: Role, skip: &[u64]) -> String {
        let mut rec = Recorder {
            skip: skip.to_vec(),
            ..Recorder::default()
        };
        drive(from, stop, total, &every, role, &mut rec).unwrap();
        rec.events.join(" ")
    }

    #[test]
    fn the_loop_evaluates_logs_and_saves_on_schedule_and_after_the_last_update() {
        let every = || Every {
            eval: 2,
            zero_shot: 3,
            checkpoint: 2,
        };
        assert_eq!(
            events(0, 4, 4, every(), Role::Leader, &[]),
            "u1 log u2 val log ckpt2 u3 zs log u4 val zs log ckpt4"
        );
        // Resumed after update 2, stopped early at 3 (`--until`): a checkpoint where it stops.
        assert_eq!(
            events(2, 3, 5, every(), Role::Leader, &[]),
            "u3 zs log ckpt3"
        );
        // Without periodic validation or zero-shot tracking: validation after the last update
        // only, zero-shot never.
        let rare = Every {
            eval: 0,
            zero_shot: 0,
            checkpoint: 0,
        };
        assert_eq!(
            events(0, 2, 2, rare, Role::Leader, &[]),
            "u1 log u2 val log ckpt2"
        );
    }

    #[test]
    fn a_stop_request_checkpoints_the_update_in_progress_and_ends_with_interrupted() {
        let mut rec = Recorder {
            stop_after: Some(3),
            ..Recorder::default()
        };
        let every = Every {
            eval: 2,
            zero_shot: 0,
            checkpoint: 10,
        };
        let err = drive(0, 10, 10, &every, Role::Leader, &mut rec).unwrap_err();
        assert!(err.downcast_ref::<Interrupted>().is_some(), "{err:#}");
        assert_eq!(rec.events.join(" "), "u1 log u2 val log u3 log ckpt3");
        // A request at the update where the run stops anyway is no interruption.
        let mut rec = Recorder {
            stop_after: Some(2),
            ..Recorder::default()
        };
        drive(0, 2, 10, &every, Role::Leader, &mut rec).unwrap();
        assert_eq!(rec.events.join(" "), "u1 log u2 val log ckpt2");
    }

    #[test]
    fn followers_only_update_and_a_skipped_update_is_neither_logged_nor_saved() {
        let every = || Every {
            eval: 1,
            zero_shot: 1,
            checkpoint: 1,
        };
        assert_eq!(events(0, 3, 3, every(), Role::Follower, &[]), "u1 u2 u3");
        assert_eq!(
            events(0, 2, 2, every(), Role::Leader, &[1]),
            "u1 u2 val zs log ckpt2"
        );
    }
}
