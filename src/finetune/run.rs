//! The fine-tuning loop (paper, section 4.1 "Fine-tuning details"): epochs of shuffled batches,
//! one update per batch, the dev set scored along the way, and the best model kept.
//!
//! There is one loop for both fidelities. What differs between Hugging Face's port and the
//! release (the batches per epoch, the warmup, when the dev set is scored, which model counts as
//! the best) is a [`LoopPolicy`] value that [`super::Fidelity::recipe`] chooses once.
//!
//! [`drive`] is the loop with the work left to a [`LoopHooks`]: [`finetune`] trains a model with
//! it, and `tests/release_fidelity.rs` runs it with counting hooks against the numpy
//! transcription of the release's loop.

use std::path::Path;

use anyhow::Context;

use burn::tensor::Device;

use super::classifier::Classifier;
use super::fidelity::LoopPolicy;
use super::recipe::TrainingForward;
use super::step::{predict, update_gradients_with};
use super::trace::Trace;
use super::{
    Attach, EncodedExample, Evaluate, FinetuneConfig, FinetuneJob, FinetuneOutcome, Prediction,
    Target,
};
use crate::progress::Progress;
use crate::rng::Draws;
use crate::train::checkpoint::{Loaded, STATE_FILE};
use crate::train::{take_step, AdamConfig, GradientSync, LocalSync, OpenAiAdam, Role};

/// What the loop needs done.
pub trait LoopHooks {
    /// Train on the examples `batch` (indices into the training set) as update `step`
    /// (0-based).
    fn update(&mut self, step: u64, batch: &[usize]) -> anyhow::Result<()>;
    /// Evaluate, and return the dev score the best model is chosen by. `n_epochs` and
    /// `n_updates` are what the release's `log()` prints with it (epochs completed, updates so
    /// far).
    fn log(&mut self, n_epochs: usize, n_updates: u64) -> anyhow::Result<f64>;
    /// Save the current parameters as the best.
    fn save_best(&mut self) -> anyhow::Result<()>;
    /// Whether there is anything to evaluate on (no dev set: the final model is kept).
    fn evaluates(&self) -> bool {
        true
    }
    /// Called after each whole epoch (its evaluation and best-model save included) with where
    /// the loop stands: [`finetune_with`] writes its resume point here.
    fn epoch_done(&mut self, _state: &LoopState) -> anyhow::Result<()> {
        Ok(())
    }
    /// Whether to stop before the next update ([`crate::train::interrupt`]).
    fn stop_requested(&self) -> bool {
        crate::train::interrupt::requested()
    }
}

/// Where the loop stands after a whole epoch: with the model and the optimizer, what `genpt
/// finetune --resume` needs to continue exactly ([`drive_from`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoopState {
    pub epochs_done: usize,
    pub n_updates: u64,
    pub best: Best,
    pub best_score: Option<f64>,
    /// Evaluations run so far.
    pub logs: usize,
}

impl LoopState {
    fn start(best: Best, best_score: Option<f64>) -> Self {
        Self {
            epochs_done: 0,
            n_updates: 0,
            best,
            best_score,
            logs: 0,
        }
    }
}

/// Where the best parameters came from.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Best {
    /// The initial parameters: no evaluation scored above 0 ([`LoopPolicy::initial_best`]).
    Initial,
    /// The final parameters: nothing was evaluated.
    Final,
    /// Evaluation number `index` (0-based, in the order they ran), with its score.
    Log { index: usize, score: f64 },
}

/// The loop over `n_train` examples in batches of `batch` for `epochs` epochs under `policy`,
/// the order of each epoch a pure function of (seed, epoch).
pub fn drive(
    n_train: usize,
    batch: usize,
    epochs: usize,
    seed: u64,
    policy: &LoopPolicy,
    hooks: &mut dyn LoopHooks,
) -> anyhow::Result<Best> {
    drive_from(n_train, batch, epochs, seed, policy, hooks, None)
}

/// [`drive`], continuing from `resume` (the state an earlier run reported after a whole epoch)
/// when given: the epochs it completed are skipped, and since every epoch's order is a pure
/// function of (seed, epoch), the rest runs as it would have without the interruption. A stop
/// requested from outside ([`LoopHooks::stop_requested`]) ends the loop before its next update,
/// with [`crate::train::interrupt::Interrupted`].
pub fn drive_from(
    n_train: usize,
    batch: usize,
    epochs: usize,
    seed: u64,
    policy: &LoopPolicy,
    hooks: &mut dyn LoopHooks,
    resume: Option<LoopState>,
) -> anyhow::Result<Best> {
    anyhow::ensure!(batch > 0, "the batch size must be positive");
    let evaluates = hooks.evaluates();
    let mut state = match resume {
        Some(state) => state,
        // The release saves its initial parameters as the best, with best score 0, before
        // training.
        None if policy.initial_best => {
            hooks.save_best()?;
            LoopState::start(Best::Initial, Some(0.0))
        }
        None => LoopState::start(Best::Final, None),
    };
    let log = |hooks: &mut dyn LoopHooks, state: &mut LoopState, n_epochs| -> anyhow::Result<()> {
        if !evaluates {
            return Ok(());
        }
        let score = hooks.log(n_epochs, state.n_updates)?;
        // Without a starting score the first evaluation is always kept, and a NaN best (a
        // correlation of constant predictions) is replaced by the next score.
        if state.best_score.is_none_or(|b| b.is_nan() || score > b) {
            state.best_score = Some(score);
            state.best = Best::Log {
                index: state.logs,
                score,
            };
            hooks.save_best()?;
        }
        state.logs += 1;
        Ok(())
    };
    for epoch in state.epochs_done..epochs {
        let order = epoch_order(n_train, seed, epoch);
        let used = if policy.drop_partial_batch {
            n_train / batch * batch
        } else {
            n_train
        };
        for chunk in order[..used].chunks(batch) {
            if hooks.stop_requested() {
                return Err(crate::train::interrupt::Interrupted {
                    resume: match state.epochs_done {
                        0 => "no epoch was completed: a new run starts afresh".into(),
                        n => format!("--resume continues after epoch {n}"),
                    },
                }
                .into());
            }
            hooks.update(state.n_updates, chunk)?;
            state.n_updates += 1;
            if epoch == 0 && policy.first_epoch_logs.contains(&state.n_updates) {
                log(hooks, &mut state, 0)?;
            }
        }
        log(hooks, &mut state, epoch + 1)?;
        state.epochs_done = epoch + 1;
        hooks.epoch_done(&state)?;
    }
    if state.best == Best::Final {
        hooks.save_best()?;
    }
    Ok(state.best)
}

/// A permutation of 0..n, a pure function of (seed, epoch).
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

/// Trains a classifier inside [`drive`].
struct Trainer<'a> {
    /// Taken for each update (the optimizer consumes it) and put back.
    model: Option<Classifier>,
    optimizer: OpenAiAdam,
    train: &'a [EncodedExample],
    dev: &'a [EncodedExample],
    config: &'a FinetuneConfig,
    policy: LoopPolicy,
    /// The training graph of the fidelity's recipe.
    forward: TrainingForward,
    evaluate: &'a Evaluate<'a>,
    attach: &'a Attach<'a>,
    total: u64,
    updates_per_epoch: u64,
    out: &'a Path,
    device: &'a Device,
    /// The processes of a data-parallel run.
    sync: &'a mut dyn GradientSync,
    /// Only the leader logs, evaluates and saves.
    role: Role,
    /// [`fingerprint`] of `train`, stored with each resume point.
    train_fingerprint: u32,
    log: Option<crate::metrics_log::MetricsLog>,
    progress: Progress,
    trace: Option<Trace>,
    history: Vec<serde_json::Value>,
    best_epoch: usize,
    /// Epochs completed, as the last evaluation reported it (the release logs during the first
    /// epoch with 0).
    epochs_done: usize,
    /// The commit of each segment of the run, this one last.
    commits: Vec<String>,
}

impl Trainer<'_> {
    fn model(&self) -> &Classifier {
        self.model
            .as_ref()
            .expect("the model is held between updates")
    }
}

impl LoopHooks for Trainer<'_> {
    fn update(&mut self, step: u64, batch: &[usize]) -> anyhow::Result<()> {
        let model = self
            .model
            .take()
            .expect("the model is held between updates");
        let started = std::time::Instant::now();
        let examples: Vec<&EncodedExample> = batch.iter().map(|&i| &self.train[i]).collect();
        let g = update_gradients_with(
            &model,
            &examples,
            self.config,
            self.forward,
            step,
            self.device,
            self.sync,
        )?;
        let factor = self.policy.lr_factor(step, self.total, self.config.warmup);
        let (model, grad_norm) = take_step(
            model,
            &mut self.optimizer,
            g.grads,
            self.config.max_grad_norm,
            factor,
        );
        let tokens: usize = examples
            .iter()
            .map(|e| e.sequences.iter().map(Vec::len).sum::<usize>())
            .sum();
        let tokens_per_s = tokens as f64 / started.elapsed().as_secs_f64();
        let done = step + 1;
        let per_epoch = self.updates_per_epoch.max(1);
        let record = serde_json::json!({
            "step": done, "epoch": step / per_epoch + 1, "clf_loss": g.clf_loss,
            "lm_loss": g.lm_loss, "lr": self.config.lr * factor, "grad_norm": grad_norm,
            "tokens_per_s": tokens_per_s,
        });
        let Some(log) = self.log.as_mut() else {
            self.model = Some(model);
            return Ok(());
        };
        log.write(&record)?;
        let traced = self.config.trace_updates as u64;
        if let Some(trace) = self.trace.as_mut().filter(|_| done <= traced) {
            trace.update(&record, batch, &model, done == traced)?;
        }
        self.progress.update(done, g.clf_loss, tokens_per_s, None);
        if done.is_multiple_of(per_epoch) {
            self.epochs_done = (done / per_epoch) as usize;
        }
        self.model = Some(model);
        Ok(())
    }

    fn log(&mut self, n_epochs: usize, n_updates: u64) -> anyhow::Result<f64> {
        self.epochs_done = n_epochs;
        let batch = self.config.micro_batch * 2;
        let va = predict(self.model(), self.dev, batch, self.device);
        let (score, metrics) = (self.evaluate)(&va);
        let mut record = serde_json::json!({
            "step": n_updates, "epoch": n_epochs, "dev": metrics, "dev_score": score,
        });
        if self.policy.score_train_part {
            // The release's `iter_apply(trX[:n_valid], ...)` beside `iter_apply(vaX, ...)`.
            let train_part = &self.train[..self.dev.len().min(self.train.len())];
            let tr = predict(self.model(), train_part, batch, self.device);
            let summary =
                |p: &[Prediction], gold| cost_and_accuracy(p, gold).unwrap_or((f64::NAN, f64::NAN));
            let ((tr_cost, tr_acc), (va_cost, va_acc)) =
                (summary(&tr, train_part), summary(&va, self.dev));
            for (key, value) in [
                ("n_epochs", serde_json::json!(n_epochs)),
                ("n_updates", n_updates.into()),
                ("tr_cost", tr_cost.into()),
                ("va_cost", va_cost.into()),
                ("tr_acc", tr_acc.into()),
                ("va_acc", va_acc.into()),
            ] {
                record[key] = value;
            }
        }
        if let Some(log) = self.log.as_mut() {
            log.write(&record)?;
        }
        self.history.push(record);
        Ok(score)
    }

    fn save_best(&mut self) -> anyhow::Result<()> {
        if self.role == Role::Follower {
            return Ok(());
        }
        self.best_epoch = self.epochs_done;
        super::model_dir::save_complete(self.model(), self.attach, &self.out.join("best"))
    }

    fn evaluates(&self) -> bool {
        // The other ranks skip evaluation and selection (their `save_best` does nothing).
        self.role == Role::Leader && !self.dev.is_empty()
    }

    fn epoch_done(&mut self, state: &LoopState) -> anyhow::Result<()> {
        if self.role == Role::Follower {
            return Ok(());
        }
        let saved = ResumeState {
            loop_state: state.clone(),
            optimizer_step: self.optimizer.step,
            best_epoch: self.best_epoch,
            history: self.history.clone(),
            config: self.config.clone(),
            train_fingerprint: self.train_fingerprint,
            commits: self.commits.clone(),
        };
        crate::train::checkpoint::save(
            &self.out.join(RESUME_DIR),
            self.model(),
            &self.optimizer,
            &saved,
        )
        .with_context(|| format!("saving the resume point after epoch {}", state.epochs_done))?;
        // The crash tests' hook (`failpoints` builds only): "killed" right after this epoch.
        crate::settings::failpoint("finetune-epoch-saved")?;
        Ok(())
    }
}

/// The resume point under a fine-tuning run's output directory, replaced after every epoch: a
/// checkpoint ([`crate::train::checkpoint`]) of the classifier, Adam's moments and
/// [`ResumeState`].
pub const RESUME_DIR: &str = "resume";

/// The resume point's `state.json`: the loop's state and the trainer's own.
#[derive(serde::Serialize, serde::Deserialize)]
struct ResumeState {
    loop_state: LoopState,
    optimizer_step: u64,
    best_epoch: usize,
    history: Vec<serde_json::Value>,
    /// What the run was: a resume with other settings or other training examples is refused.
    config: FinetuneConfig,
    train_fingerprint: u32,
    /// The commits of the segments so far.
    #[serde(default)]
    commits: Vec<String>,
}

/// The run's `metrics.jsonl` (and TensorBoard events), kept up to update `done`, with the
/// settings as the TensorBoard text `config`.
fn open_log(
    out: &Path,
    config: &FinetuneConfig,
    done: u64,
) -> anyhow::Result<crate::metrics_log::MetricsLog> {
    let mut log = crate::metrics_log::MetricsLog::open(&out.join("metrics.jsonl"), Some(done))?;
    let settings = format!("```json\n{}\n```", serde_json::to_string_pretty(config)?);
    log.text(done, "config", &settings)?;
    Ok(log)
}

/// CRC-32 of the encoded training examples (ids, classification positions, targets), in order.
fn fingerprint(train: &[EncodedExample]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for e in train {
        for sequence in &e.sequences {
            h.update(&(sequence.len() as u64).to_le_bytes());
            for id in sequence {
                h.update(&id.to_le_bytes());
            }
        }
        for &at in &e.classify_at {
            h.update(&(at as u64).to_le_bytes());
        }
        h.update(format!("{:?}", e.target).as_bytes());
    }
    h.finalize()
}

/// Reads the resume point under `out`, checked against this run's settings and examples.
fn read_resume_point(
    out: &Path,
    config: &FinetuneConfig,
    train_fingerprint: u32,
    device: &Device,
) -> anyhow::Result<Loaded<Classifier, ResumeState>> {
    let dir = out.join(RESUME_DIR);
    let path = dir.join(STATE_FILE);
    // Builds before the one checkpoint format kept the classifier in `resume/model/`.
    let legacy = dir.join("model");
    let model_dir = match legacy.join("config.json").exists() {
        true => legacy,
        false => dir.clone(),
    };
    let loaded: Loaded<Classifier, ResumeState> =
        crate::train::checkpoint::load_with_model_in(&dir, &model_dir, device)?;
    let state = &loaded.state;
    anyhow::ensure!(
        state.config == *config,
        "{}: the run was made with other settings ({}); resume with the same options",
        path.display(),
        serde_json::to_string(&state.config)?
    );
    anyhow::ensure!(
        state.train_fingerprint == train_fingerprint,
        "{}: the run was trained on other examples than these",
        path.display()
    );
    Ok(loaded)
}

/// Fine-tunes `model` on `job.train` under the loop policy of `job.config.fidelity`, scoring
/// `job.dev` with `job.evaluate`; the best model ends up in `job.out/best` (with what
/// `job.attach` adds). Under `--fidelity release` the model's position rows must already be
/// sliced to the dataset's n_ctx ([`super::release::dataset_n_ctx`]).
pub fn finetune(model: Classifier, job: &FinetuneJob) -> anyhow::Result<FinetuneOutcome> {
    finetune_with(model, job, &mut LocalSync, false)
}

/// [`finetune`] as one process of a data-parallel run: each update's micro-batches are shared
/// among the processes ([`update_gradients_with`]), which all take the same step; the leader
/// alone logs, scores the dev set and saves `best/` and the resume point.
///
/// After every epoch the leader replaces `out/resume/` ([`RESUME_DIR`]); with `resume`, a run
/// continues from there (every process loads it) and ends as the uninterrupted run would have,
/// byte for byte. Without a resume point (a run stopped in its first epoch) it starts afresh.
pub fn finetune_with(
    model: Classifier,
    job: &FinetuneJob,
    sync: &mut dyn GradientSync,
    resume: bool,
) -> anyhow::Result<FinetuneOutcome> {
    let &FinetuneJob {
        train,
        dev,
        config,
        evaluate,
        attach,
        out,
        device,
    } = job;
    anyhow::ensure!(!train.is_empty(), "no training examples");
    anyhow::ensure!(
        config.batch_size > 0 && config.micro_batch > 0,
        "batch sizes must be positive"
    );
    let recipe = config.fidelity.recipe();
    let policy = recipe.policy;
    std::fs::create_dir_all(out)?;
    let updates_per_epoch = policy.updates_per_epoch(train.len(), config.batch_size);
    let total = updates_per_epoch * config.epochs as u64;
    let role = sync.role();
    let leader = role == Role::Leader;
    let train_fingerprint = fingerprint(train);
    if resume {
        // A crash between the two renames of the last save left the resume point aside.
        crate::files::recover_dir(&out.join(RESUME_DIR))?;
    }
    let resumed = if resume && out.join(RESUME_DIR).join(STATE_FILE).exists() {
        anyhow::ensure!(
            config.trace_updates == 0,
            "--trace-updates records a run from its start; it cannot be combined with --resume"
        );
        Some(read_resume_point(out, config, train_fingerprint, device)?)
    } else {
        if resume && leader {
            eprintln!(
                "no resume point in {} (stopped before its first epoch ended): starting afresh",
                out.display()
            );
        }
        None
    };
    let trace = if config.trace_updates > 0 && leader {
        let Some(warmup_steps) = policy.warmup_steps(total, config.warmup) else {
            anyhow::bail!(
                "--trace-updates records a warmup of whole updates (the default fidelity); it \
                 is not available with --fidelity release"
            );
        };
        Some(Trace::start(
            &out.join("trace"),
            &model,
            train,
            dev,
            config,
            total,
            warmup_steps,
        )?)
    } else {
        None
    };
    let mut optimizer = OpenAiAdam::new(AdamConfig {
        lr: config.lr,
        l2: config.l2,
        ..AdamConfig::default()
    });
    let (model, loop_state, best_epoch, history, mut commits) = match resumed {
        Some(Loaded {
            model,
            moments,
            state,
        }) => {
            optimizer.step = state.optimizer_step;
            optimizer
                .import_moments(moments, &device.clone().inner())
                .map_err(|e| anyhow::anyhow!("{}: {e}", out.join(RESUME_DIR).display()))?;
            if leader {
                eprintln!(
                    "resuming after epoch {} (update {})",
                    state.loop_state.epochs_done, state.loop_state.n_updates
                );
            }
            (
                model,
                Some(state.loop_state),
                state.best_epoch,
                state.history,
                state.commits,
            )
        }
        None => (model, None, 0, Vec::new(), Vec::new()),
    };
    commits.push(crate::BUILD_COMMIT.to_string());
    let done = loop_state.as_ref().map_or(0, |s| s.n_updates);
    let epochs_done = loop_state.as_ref().map_or(0, |s| s.epochs_done);
    let mut trainer = Trainer {
        model: Some(model),
        optimizer,
        train,
        dev,
        config,
        policy,
        forward: recipe.forward,
        evaluate,
        attach,
        total,
        updates_per_epoch,
        out,
        device,
        sync,
        role,
        train_fingerprint,
        log: match leader {
            true => Some(open_log(out, config, done)?),
            false => None,
        },
        progress: Progress::new(total, done, policy.label),
        trace,
        history,
        best_epoch,
        epochs_done,
        commits,
    };
    let best = drive_from(
        train.len(),
        config.batch_size,
        config.epochs,
        config.seed,
        &policy,
        &mut trainer,
        loop_state,
    )?;
    trainer.progress.finish();
    let best_score = match best {
        Best::Initial | Best::Final => f64::NAN,
        Best::Log { score, .. } => score,
    };
    Ok(FinetuneOutcome {
        best_score,
        best_epoch: trainer.best_epoch,
        best_dir: out.join("best"),
        history: trainer.history,
        commits: trainer.commits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what the loop does; scores each evaluation with the next of `scores`.
    #[derive(Default)]
    struct Recorder {
        scores: Vec<f64>,
        updates: Vec<Vec<usize>>,
        logs: Vec<(usize, u64)>,
        saves: Vec<usize>,
        no_dev: bool,
        /// A stop is requested once this many updates are made.
        stop_after: Option<usize>,
    }

    impl LoopHooks for Recorder {
        fn update(&mut self, _: u64, batch: &[usize]) -> anyhow::Result<()> {
            self.updates.push(batch.to_vec());
            Ok(())
        }
        fn log(&mut self, n_epochs: usize, n_updates: u64) -> anyhow::Result<f64> {
            self.logs.push((n_epochs, n_updates));
            Ok(self.scores[self.logs.len() - 1])
        }
        fn save_best(&mut self) -> anyhow::Result<()> {
            self.saves.push(self.updates.len());
            Ok(())
        }
        fn evaluates(&self) -> bool {
            !self.no_dev
        }
        fn stop_requested(&self) -> bool {
            self.stop_after.is_some_and(|n| self.updates.len() >= n)
        }
    }

    #[test]
    fn a_stop_request_ends_the_loop_before_its_next_update() {
        let mut rec = Recorder {
            scores: vec![0.1, 0.2, 0.3],
            stop_after: Some(4),
            ..Recorder::default()
        };
        let err = drive(10, 4, 3, 1, &LoopPolicy::HF, &mut rec).unwrap_err();
        let interrupted = err
            .downcast_ref::<crate::train::interrupt::Interrupted>()
            .expect("Interrupted");
        assert!(interrupted.resume.contains("after epoch 1"), "{err:#}");
        assert_eq!(rec.updates.len(), 4);
        assert_eq!(rec.logs, [(1, 3)], "the first epoch's evaluation only");
    }

    #[test]
    fn the_default_policy_runs_partial_batches_and_keeps_the_first_evaluation() {
        // 10 examples in batches of 4: ⌈10/4⌉ = 3 updates per epoch, the last of 2 examples.
        let mut rec = Recorder {
            scores: vec![f64::NAN, 0.5, 0.4],
            ..Recorder::default()
        };
        let best = drive(10, 4, 3, 1, &LoopPolicy::HF, &mut rec).unwrap();
        assert_eq!(rec.updates.len(), 9);
        let sizes: Vec<usize> = rec.updates.iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2, 4, 4, 2, 4, 4, 2]);
        for epoch in rec.updates.chunks(3) {
            let mut seen: Vec<usize> = epoch.iter().flatten().copied().collect();
            seen.sort_unstable();
            assert_eq!(
                seen,
                (0..10).collect::<Vec<_>>(),
                "every example once per epoch"
            );
        }
        assert_eq!(
            rec.logs,
            [(1, 3), (2, 6), (3, 9)],
            "the dev set after every epoch"
        );
        // The first evaluation is kept even though NaN; 0.5 then replaces it; 0.4 does not.
        assert_eq!(rec.saves, [3, 6]);
        assert_eq!(
            best,
            Best::Log {
                index: 1,
                score: 0.5
            }
        );
        assert_eq!(LoopPolicy::HF.total_updates(10, 4, 3), 9);
    }

    #[test]
    fn without_a_dev_set_the_final_model_is_kept() {
        let mut rec = Recorder {
            no_dev: true,
            ..Recorder::default()
        };
        let best = drive(5, 2, 2, 1, &LoopPolicy::HF, &mut rec).unwrap();
        assert_eq!(
            (best, rec.logs.len(), rec.saves.clone()),
            (Best::Final, 0, vec![6])
        );
    }

    #[test]
    fn the_release_policy_drops_partial_batches_and_starts_from_the_initial_model() {
        let mut rec = Recorder {
            scores: vec![0.0, -1.0],
            ..Recorder::default()
        };
        let best = drive(10, 4, 2, 1, &LoopPolicy::RELEASE, &mut rec).unwrap();
        assert!(rec.updates.iter().all(|b| b.len() == 4));
        assert_eq!(rec.updates.len(), 4);
        // Saved once before training; 0.0 is not strictly above the initial 0.
        assert_eq!((best, rec.saves.clone()), (Best::Initial, vec![0]));
        // Negative control: the default policy would have kept the first evaluation.
        let mut control = Recorder {
            scores: vec![0.0, -1.0, 0.0],
            ..Recorder::default()
        };
        let best = drive(10, 4, 2, 1, &LoopPolicy::HF, &mut control).unwrap();
        assert_eq!(
            best,
            Best::Log {
                index: 0,
                score: 0.0
            }
        );
    }
}
