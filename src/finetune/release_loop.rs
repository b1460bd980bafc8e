//! The release's fine-tuning loop (`--fidelity release`, issue 15): `train.py`'s `__main__`
//! and `log()`, with genpt's update step inside.
//!
//! - n_ctx is the dataset's longest encoded example, and the position rows are sliced to it
//!   ([`dataset_n_ctx`], [`crate::model::surgery::slice_positions`]), so the LM softmax covers exactly that many
//!   position rows.
//! - Each epoch shuffles the training set and takes ⌊n / batch⌋ full batches; the last partial
//!   batch is dropped (`iter_data(..., truncate=True)`), and `n_updates_total` counts full
//!   batches only.
//! - The learning rate is `lr · warmup_linear(t / n_updates_total, warmup)`, t the number of
//!   earlier updates, with the warmup an exact fraction (the first update's multiplier is 0).
//! - `log()` runs after updates 1,000, 2,000, 4,000, …, 32,000 of the first epoch and after
//!   every epoch; it evaluates the first n_dev training examples and the dev set.
//! - The initial parameters are saved as the best before training, with best score 0; a log
//!   replaces them only when its dev score is strictly higher.
//!
//! [`drive`] is that loop with the work left to a [`LoopHooks`]: [`finetune`] trains a model
//! with it, and `tests/release_fidelity.rs` runs it with counting hooks against the numpy
//! transcription of the release's loop.

use std::path::Path;

use burn::tensor::Device;

use super::model::Classifier;
use super::run::{self, EncodedExample, FinetuneOutcome, Prediction, Target};
use crate::progress::Progress;
use crate::rng::Draws;
use crate::train::{AdamConfig, OpenAiAdam, Schedule};

/// The updates of the first epoch after which the release logs (`n_updates in [...] and
/// n_epochs == 0`).
pub const FIRST_EPOCH_LOGS: [u64; 6] = [1000, 2000, 4000, 8000, 16000, 32000];

/// The release's per-dataset n_ctx: the longest encoded sequence (start, text, delimiters,
/// classify token) over every split, at most `cap` (the model's context). The release computes
/// it from the segment lengths, `len(x1) + max(len(x2), len(x3)) + 3`, which is the same
/// number for Story Cloze's encoding.
pub fn dataset_n_ctx(splits: &[&[EncodedExample]], cap: usize) -> usize {
    splits
        .iter()
        .flat_map(|split| split.iter())
        .flat_map(|e| e.sequences.iter().map(Vec::len))
        .max()
        .unwrap_or(1)
        .min(cap)
}

/// `n_updates_total = (n_train // n_batch_train) * n_iter`.
pub fn total_updates(n_train: usize, batch: usize, epochs: usize) -> u64 {
    ((n_train / batch) * epochs) as u64
}

/// The learning-rate multiplier of update `step` (0-based) of `total`: `opt.py`'s
/// `warmup_linear(t / t_total, warmup)` with `warmup` the fraction itself.
pub fn lr_factor(step: u64, total: u64, warmup: f64) -> f64 {
    Schedule::WarmupLinear.factor(step as f64 / total.max(1) as f64, warmup)
}

/// What the loop needs done.
pub trait LoopHooks {
    /// Train on the examples `batch` (indices into the training set) as update `step`
    /// (0-based).
    fn update(&mut self, step: u64, batch: &[usize]) -> anyhow::Result<()>;
    /// `log()`: evaluate, and return the dev score the best model is chosen by. `n_epochs` and
    /// `n_updates` are what the release logs with it (epochs completed, updates so far).
    fn log(&mut self, n_epochs: usize, n_updates: u64) -> anyhow::Result<f64>;
    /// Save the current parameters as the best (`best_params.jl`).
    fn save_best(&mut self) -> anyhow::Result<()>;
}

/// Where the best parameters came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Best {
    /// The initial parameters: no log scored above 0.
    Initial,
    /// Log number `index` (0-based, in the order logs ran), with its score.
    Log { index: usize, score: f64 },
}

/// The release's loop over `n_train` examples in batches of `batch` for `epochs` epochs, the
/// order of each epoch a pure function of (seed, epoch).
pub fn drive(
    n_train: usize,
    batch: usize,
    epochs: usize,
    seed: u64,
    hooks: &mut dyn LoopHooks,
) -> anyhow::Result<Best> {
    anyhow::ensure!(batch > 0, "the batch size must be positive");
    // `save(best_params.jl)` before training, `best_score = 0`.
    hooks.save_best()?;
    let mut best = Best::Initial;
    let mut best_score = 0.0;
    let mut logs = 0;
    let mut log = |hooks: &mut dyn LoopHooks, n_epochs, n_updates| -> anyhow::Result<()> {
        let score = hooks.log(n_epochs, n_updates)?;
        if score > best_score {
            best_score = score;
            best = Best::Log { index: logs, score };
            hooks.save_best()?;
        }
        logs += 1;
        Ok(())
    };
    let mut n_updates = 0u64;
    for epoch in 0..epochs {
        for chunk in epoch_order(n_train, seed, epoch).chunks_exact(batch) {
            hooks.update(n_updates, chunk)?;
            n_updates += 1;
            if epoch == 0 && FIRST_EPOCH_LOGS.contains(&n_updates) {
                log(hooks, 0, n_updates)?;
            }
        }
        log(hooks, epoch + 1, n_updates)?;
    }
    Ok(best)
}

/// A permutation of 0..n, a pure function of (seed, epoch) (the same as the default loop's).
fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut draws = Draws::new(seed, 1_000_000 + epoch as u64);
    for i in (1..order.len()).rev() {
        order.swap(i, draws.below(i as u64 + 1) as usize);
    }
    order
}

/// The release's `iter_apply` summary of predictions against gold labels: (mean
/// classification loss, accuracy in %), as `log()` prints `tr_cost`/`va_cost` and
/// `tr_acc`/`va_acc`. `None` for regression targets.
pub fn cost_and_accuracy(
    predictions: &[Prediction],
    gold: &[EncodedExample],
) -> Option<(f64, f64)> {
    let (mut cost, mut correct) = (0.0, 0usize);
    for (p, e) in predictions.iter().zip(gold) {
        let (
            Prediction::Class {
                index,
                probabilities,
            },
            Some(Target::Class(c)),
        ) = (p, e.target)
        else {
            return None;
        };
        cost -= (probabilities[c] as f64).max(f64::MIN_POSITIVE).ln();
        correct += usize::from(*index == c);
    }
    let n = predictions.len().max(1) as f64;
    Some((cost / n, 100.0 * correct as f64 / n))
}

/// Trains with genpt's update step inside the release's loop.
struct Trainer<'a> {
    model: Option<Classifier>,
    optimizer: OpenAiAdam,
    train: &'a [EncodedExample],
    dev: &'a [EncodedExample],
    config: &'a run::FinetuneConfig,
    evaluate: &'a run::Evaluate<'a>,
    attach: &'a run::Attach<'a>,
    total: u64,
    out: &'a Path,
    device: &'a Device,
    log: crate::metrics_log::MetricsLog,
    progress: Progress,
    history: Vec<serde_json::Value>,
    best_epoch: usize,
    epochs_done: usize,
}

impl LoopHooks for Trainer<'_> {
    fn update(&mut self, step: u64, batch: &[usize]) -> anyhow::Result<()> {
        let model = self
            .model
            .take()
            .expect("the model is held between updates");
        let started = std::time::Instant::now();
        let examples: Vec<&EncodedExample> = batch.iter().map(|&i| &self.train[i]).collect();
        let g = run::update_gradients(&model, &examples, self.config, step, self.device)?;
        let mut grads = g.grads;
        let grad_norm = grads.clip_global_norm(self.config.max_grad_norm);
        let factor = lr_factor(step, self.total, self.config.warmup);
        self.model = Some(self.optimizer.update(model, &grads, factor));
        let tokens: usize = examples
            .iter()
            .map(|e| e.sequences.iter().map(Vec::len).sum::<usize>())
            .sum();
        let tokens_per_s = tokens as f64 / started.elapsed().as_secs_f64();
        self.log.write(&serde_json::json!({
            "step": step + 1, "epoch": self.epochs_done + 1, "clf_loss": g.clf_loss,
            "lm_loss": g.lm_loss, "lr": self.config.lr * factor, "grad_norm": grad_norm,
            "tokens_per_s": tokens_per_s,
        }))?;
        self.progress
            .update(step + 1, g.clf_loss, tokens_per_s, None);
        Ok(())
    }

    fn log(&mut self, n_epochs: usize, n_updates: u64) -> anyhow::Result<f64> {
        self.epochs_done = n_epochs;
        let model = self
            .model
            .as_ref()
            .expect("the model is held between updates");
        let batch = self.config.micro_batch * 2;
        // `iter_apply(trX[:n_valid], ...)` and `iter_apply(vaX, ...)`.
        let train_part = &self.train[..self.dev.len().min(self.train.len())];
        let tr = run::predict(model, train_part, batch, self.device);
        let va = run::predict(model, self.dev, batch, self.device);
        let (score, metrics) = (self.evaluate)(&va);
        let summary =
            |p: &[Prediction], gold| cost_and_accuracy(p, gold).unwrap_or((f64::NAN, f64::NAN));
        let ((tr_cost, tr_acc), (va_cost, va_acc)) =
            (summary(&tr, train_part), summary(&va, self.dev));
        let record = serde_json::json!({
            "step": n_updates, "epoch": n_epochs, "n_epochs": n_epochs, "n_updates": n_updates,
            "tr_cost": tr_cost, "va_cost": va_cost, "tr_acc": tr_acc, "va_acc": va_acc,
            "dev": metrics, "dev_score": score,
        });
        self.log.write(&record)?;
        self.history.push(record);
        Ok(score)
    }

    fn save_best(&mut self) -> anyhow::Result<()> {
        self.best_epoch = self.epochs_done;
        let model = self
            .model
            .as_ref()
            .expect("the model is held between updates");
        run::save_complete(model, self.attach, &self.out.join("best"))
    }
}

/// Fine-tunes `model` (whose position rows are already sliced to the dataset's n_ctx) on
/// `train` in the release's loop, logging on `dev` with `evaluate`; the best model ends up in
/// `out/best` (with what `attach` adds).
#[allow(clippy::too_many_arguments)]
pub fn finetune(
    model: Classifier,
    train: &[EncodedExample],
    dev: &[EncodedExample],
    config: &run::FinetuneConfig,
    evaluate: &run::Evaluate,
    attach: &run::Attach,
    out: &Path,
    device: &Device,
) -> anyhow::Result<FinetuneOutcome> {
    anyhow::ensure!(!train.is_empty(), "no training examples");
    anyhow::ensure!(
        config.batch_size > 0 && config.micro_batch > 0,
        "batch sizes must be positive"
    );
    anyhow::ensure!(
        config.trace_updates == 0,
        "--trace-updates records the default loop; it is not available with --fidelity release"
    );
    std::fs::create_dir_all(out)?;
    let total = total_updates(train.len(), config.batch_size, config.epochs);
    let mut trainer = Trainer {
        model: Some(model),
        optimizer: OpenAiAdam::new(AdamConfig {
            lr: config.lr,
            l2: config.l2,
            ..AdamConfig::default()
        }),
        train,
        dev,
        config,
        evaluate,
        attach,
        total,
        out,
        device,
        log: crate::metrics_log::MetricsLog::open(&out.join("metrics.jsonl"), Some(0))?,
        progress: Progress::new(total, 0, "fine-tuning (release)"),
        history: Vec::new(),
        best_epoch: 0,
        epochs_done: 0,
    };
    let best = drive(
        train.len(),
        config.batch_size,
        config.epochs,
        config.seed,
        &mut trainer,
    )?;
    trainer.progress.finish();
    let best_score = match best {
        Best::Initial => f64::NAN,
        Best::Log { score, .. } => score,
    };
    Ok(FinetuneOutcome {
        best_score,
        best_epoch: trainer.best_epoch,
        best_dir: out.join("best"),
        history: trainer.history,
    })
}
