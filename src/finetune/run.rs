//! The fine-tuning loop (paper, section 4.1 "Fine-tuning details"): the release's Adam with
//! lr 6.25e-5, batches of 32, 3 epochs, linear warmup over 0.2% of training then linear decay
//! (`warmup_linear`), L3 = L2 + 0.5·L1, dropout 0.1 on the classifier; the dev set after every
//! epoch, keeping the best model.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::head::{ClassifierHead, Pooling};
use super::model::{Classifier, ClassifierOutput};
use super::objective::{classification_loss, lm_aux_loss, regression_loss};
use crate::progress::Progress;
use crate::rng::Draws;
use crate::train::{AdamConfig, NamedGrads, OpenAiAdam, Schedule};
use crate::weights::{self, hf};

/// One example after the input transformation: one token sequence per choice (or ordering),
/// the classify token's position in each, and the target.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedExample {
    pub sequences: Vec<Vec<u32>>,
    pub classify_at: Vec<usize>,
    pub target: Option<Target>,
}

/// A gold label: a class (or the right answer's index) or a score. The task crate's label type,
/// so loaders' labels need no conversion.
pub use genpt_tasks::Label as Target;

/// What the model outputs for one example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Prediction {
    /// Class (or answer) index and the softmax probabilities.
    Class {
        index: usize,
        probabilities: Vec<f32>,
    },
    Score(f32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    pub lr: f64,
    /// Examples per update.
    pub batch_size: usize,
    /// Examples per forward pass (gradients are accumulated up to batch_size).
    pub micro_batch: usize,
    pub epochs: usize,
    /// Warmup as a fraction of all updates (paper: 0.2%).
    pub warmup: f64,
    /// λ, the weight of the auxiliary LM loss (0 disables it).
    pub lm_coef: f64,
    pub clf_dropout: f64,
    pub l2: f64,
    pub max_grad_norm: f64,
    pub seed: u64,
    /// Write the first this many updates, the initial model and the encoded splits under
    /// `OUT/trace/` for `scripts/finetune_parity.py` (0: no trace).
    pub trace_updates: usize,
    /// Whose fine-tuning to follow where they differ: Hugging Face's port (default) or the
    /// official release (issue 15, [`super::fidelity`]).
    pub fidelity: super::Fidelity,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            lr: 6.25e-5,
            batch_size: 32,
            micro_batch: 8,
            epochs: 3,
            warmup: 0.002,
            lm_coef: 0.5,
            clf_dropout: 0.1,
            l2: 0.01,
            max_grad_norm: 1.0,
            seed: 0,
            trace_updates: 0,
            fidelity: super::Fidelity::Hf,
        }
    }
}

impl FinetuneConfig {
    /// Defaults for fine-tuning a pre-trained model of this shape. For the paper's size (width
    /// 768 and up) the paper's values (lr 6.25e-5, batches of 32, 3 epochs, warmup 0.2%, λ 0.5).
    /// Smaller models take a larger step and a longer warmup (lr 5e-4, batches of 16, warmup 5%):
    /// measured on the demo's 3-layer, 128-wide model, where the paper's lr leaves a pre-trained
    /// model near its starting point within the update budget (docs/RESULTS.md, issue 11).
    pub fn for_model(config: &crate::GptConfig) -> Self {
        if config.n_embd >= 768 {
            Self::default()
        } else {
            Self {
                lr: 5e-4,
                batch_size: 16,
                warmup: 0.05,
                ..Self::default()
            }
        }
    }
}

/// A padded batch: ids [batch, choices, time] (pad id 0), mask [batch·choices, time].
struct Batch {
    ids: Tensor<3, Int>,
    mask: Tensor<2>,
    classify_at: Tensor<2, Int>,
    ids_flat: Tensor<2, Int>,
}

fn make_batch(examples: &[&EncodedExample], device: &Device) -> Batch {
    let batch = examples.len();
    let choices = examples[0].sequences.len();
    let time = examples
        .iter()
        .flat_map(|e| e.sequences.iter().map(Vec::len))
        .max()
        .unwrap_or(1)
        .max(2);
    let mut ids = vec![0i64; batch * choices * time];
    let mut mask = vec![0f32; batch * choices * time];
    let mut at = Vec::with_capacity(batch * choices);
    for (b, example) in examples.iter().enumerate() {
        assert_eq!(
            example.sequences.len(),
            choices,
            "every example of a task has the same number of choices"
        );
        for (c, seq) in example.sequences.iter().enumerate() {
            let row = (b * choices + c) * time;
            for (t, &id) in seq.iter().enumerate() {
                ids[row + t] = id as i64;
                mask[row + t] = 1.0;
            }
            at.push(example.classify_at[c] as i64);
        }
    }
    let ids_flat =
        Tensor::<2, Int>::from_data(TensorData::new(ids, [batch * choices, time]), device);
    Batch {
        ids: ids_flat.clone().reshape([batch, choices, time]),
        mask: Tensor::from_data(TensorData::new(mask, [batch * choices, time]), device),
        classify_at: Tensor::from_data(TensorData::new(at, [batch, choices]), device),
        ids_flat,
    }
}

/// L3 for one micro-batch; returns (total, classifier part, LM part).
fn loss(
    model: &Classifier,
    examples: &[&EncodedExample],
    lm_coef: f64,
    fidelity: super::Fidelity,
    device: &Device,
) -> (Tensor<1>, f64, f64) {
    let batch = make_batch(examples, device);
    // Issue 15: `--fidelity release` takes the release's graph (dropout on the embedding
    // matrix `we`, whose every row the LM head then covers); see `super::release`.
    if fidelity == super::Fidelity::Release {
        let out = super::release::forward(
            model,
            batch.ids,
            batch.classify_at,
            true,
            super::release::WeDropout::Draw,
        );
        let lm = (lm_coef != 0.0)
            .then(|| super::release::aux_loss(out.hidden, out.we, batch.ids_flat, batch.mask));
        return combine(out.logits, lm, examples, lm_coef, device);
    }
    let ClassifierOutput { logits, lm_hidden } =
        model.forward(batch.ids, batch.classify_at, true, lm_coef != 0.0);
    let lm = lm_hidden.map(|h| lm_aux_loss(&model.gpt, h, batch.ids_flat, batch.mask));
    combine(logits, lm, examples, lm_coef, device)
}

/// L3 = L2 + λ·L1 from the head's `logits` and L1 (none when λ = 0); returns (total,
/// classifier part, LM part).
fn combine(
    logits: Tensor<2>,
    lm: Option<Tensor<1>>,
    examples: &[&EncodedExample],
    lm_coef: f64,
    device: &Device,
) -> (Tensor<1>, f64, f64) {
    let clf = match examples[0].target {
        Some(Target::Score(_)) => {
            let targets: Vec<f32> = examples
                .iter()
                .map(|e| match e.target {
                    Some(Target::Score(s)) => s,
                    _ => panic!("mixed targets"),
                })
                .collect();
            let n = targets.len();
            regression_loss(
                logits,
                Tensor::from_data(TensorData::new(targets, [n]), device),
            )
        }
        _ => {
            let labels: Vec<i64> = examples
                .iter()
                .map(|e| match e.target {
                    Some(Target::Class(c)) => c as i64,
                    _ => panic!("training examples need class labels"),
                })
                .collect();
            let n = labels.len();
            classification_loss(
                logits,
                Tensor::from_data(TensorData::new(labels, [n]), device),
            )
        }
    };
    let clf_value = clf.clone().into_scalar::<f32>() as f64;
    let Some(lm) = lm else {
        return (clf, clf_value, 0.0);
    };
    let lm_value = lm.clone().into_scalar::<f32>() as f64;
    (clf + lm.mul_scalar(lm_coef), clf_value, lm_value)
}

/// The gradients of one update, averaged over its micro-batches (not yet clipped), and the mean
/// losses they came from.
pub struct UpdateGradients {
    pub grads: NamedGrads,
    /// Mean classification (or regression) loss L2 over the micro-batches.
    pub clf_loss: f64,
    /// Mean auxiliary LM loss L1 (0 when λ = 0).
    pub lm_loss: f64,
}

/// Forward and backward passes of update number `step` (0-based) over `examples`, in
/// micro-batches of `config.micro_batch` whose gradients are averaged. Dropout masks are a pure
/// function of (seed, step), so that a resumed or replayed update draws the same ones.
pub fn update_gradients(
    model: &Classifier,
    examples: &[&EncodedExample],
    config: &FinetuneConfig,
    step: u64,
    device: &Device,
) -> anyhow::Result<UpdateGradients> {
    crate::rng::dropout::reseed(Draws::new(config.seed, step).next_u64());
    let mut grads = NamedGrads::default();
    let (mut clf_sum, mut lm_sum, mut parts) = (0.0, 0.0, 0);
    for micro in examples.chunks(config.micro_batch.max(1)) {
        let (l, clf, lm) = loss(model, micro, config.lm_coef, config.fidelity, device);
        anyhow::ensure!(
            clf.is_finite() && lm.is_finite(),
            "the loss became NaN or infinite at update {}",
            step + 1
        );
        grads.accumulate(model, l.backward());
        (clf_sum, lm_sum, parts) = (clf_sum + clf, lm_sum + lm, parts + 1);
    }
    grads.average();
    Ok(UpdateGradients {
        grads,
        clf_loss: clf_sum / parts as f64,
        lm_loss: lm_sum / parts as f64,
    })
}

/// Clips `grads` by global norm and takes the Adam step of update `step` (0-based) of `total`
/// under warmup_linear. Returns the model, the gradient norm before clipping and the schedule's
/// multiplier.
pub fn apply_update(
    model: Classifier,
    optimizer: &mut OpenAiAdam,
    mut grads: NamedGrads,
    config: &FinetuneConfig,
    step: u64,
    total: u64,
    warmup_steps: u64,
) -> (Classifier, f64, f64) {
    let grad_norm = grads.clip_global_norm(config.max_grad_norm);
    let factor = Schedule::WarmupLinear.at_step(step, total, warmup_steps);
    (optimizer.update(model, &grads, factor), grad_norm, factor)
}

/// Predictions for `examples`, eval mode.
pub fn predict(
    model: &Classifier,
    examples: &[EncodedExample],
    micro_batch: usize,
    device: &Device,
) -> Vec<Prediction> {
    let model = model.valid();
    let device = device.clone().inner();
    let regression =
        model.head.pooling != Pooling::PerChoiceScore && model.head.weight.dims()[1] == 1;
    let mut out = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(micro_batch.max(1)) {
        let refs: Vec<&EncodedExample> = chunk.iter().collect();
        let batch = make_batch(&refs, &device);
        let hidden = model.gpt.forward(batch.ids_flat, false).hidden;
        let logits = model.head.forward(hidden, batch.classify_at, false);
        let [b, k] = logits.dims();
        let values = logits
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32");
        for row in values.chunks(k).take(b) {
            if regression {
                out.push(Prediction::Score(row[0]));
            } else {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f32> = row.iter().map(|&v| (v - max).exp()).collect();
                let total: f32 = exp.iter().sum();
                let probabilities: Vec<f32> = exp.iter().map(|e| e / total).collect();
                let index = probabilities
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f32::MIN),
                        |best, (i, &p)| if p > best.1 { (i, p) } else { best },
                    )
                    .0;
                out.push(Prediction::Class {
                    index,
                    probabilities,
                });
            }
        }
    }
    out
}

/// How an epoch's dev predictions score: (the number to maximise, every metric as JSON).
pub type Evaluate<'a> = dyn Fn(&[Prediction]) -> (f64, serde_json::Value) + 'a;

pub struct FinetuneOutcome {
    pub best_score: f64,
    pub best_epoch: usize,
    pub best_dir: PathBuf,
    pub history: Vec<serde_json::Value>,
}

/// What a caller writes beside the weights of every saved model directory (the task description
/// and the tokenizer, so that the directory is all `eval`, `predict` and `serve` need).
pub type Attach<'a> = dyn Fn(&Path) -> anyhow::Result<()> + 'a;

/// Fine-tunes `model` on `train`, evaluating on `dev` after each epoch with `evaluate`, keeping
/// the best model under `out/best` (with what `attach` adds).
#[allow(clippy::too_many_arguments)]
pub fn finetune(
    mut model: Classifier,
    train: &[EncodedExample],
    dev: &[EncodedExample],
    config: &FinetuneConfig,
    evaluate: &Evaluate,
    attach: &Attach,
    out: &Path,
    device: &Device,
) -> anyhow::Result<FinetuneOutcome> {
    // Issue 15: the release's loop (dropped last batch, its log() schedule and best-model rule).
    if config.fidelity == super::Fidelity::Release {
        return super::release_loop::finetune(
            model, train, dev, config, evaluate, attach, out, device,
        );
    }
    anyhow::ensure!(!train.is_empty(), "no training examples");
    anyhow::ensure!(
        config.batch_size > 0 && config.micro_batch > 0,
        "batch sizes must be positive"
    );
    std::fs::create_dir_all(out)?;
    let updates_per_epoch = train.len().div_ceil(config.batch_size) as u64;
    let total = updates_per_epoch * config.epochs as u64;
    let warmup_steps = (config.warmup * total as f64).round() as u64;
    let mut optimizer = OpenAiAdam::new(AdamConfig {
        lr: config.lr,
        l2: config.l2,
        ..AdamConfig::default()
    });
    let mut log = crate::metrics_log::MetricsLog::open(&out.join("metrics.jsonl"), Some(0))?;
    let mut progress = Progress::new(total, 0, "fine-tuning");
    let mut best: Option<(f64, usize)> = None;
    let mut history = Vec::new();
    let mut step = 0u64;
    let mut trace = if config.trace_updates > 0 {
        Some(super::trace::Trace::start(
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
    for epoch in 0..config.epochs {
        // A fresh permutation per epoch, a pure function of (seed, epoch).
        let mut order: Vec<usize> = (0..train.len()).collect();
        let mut draws = Draws::new(config.seed, 1_000_000 + epoch as u64);
        for i in (1..order.len()).rev() {
            order.swap(i, draws.below(i as u64 + 1) as usize);
        }
        for update in order.chunks(config.batch_size) {
            let started = std::time::Instant::now();
            let examples: Vec<&EncodedExample> = update.iter().map(|&i| &train[i]).collect();
            let g = update_gradients(&model, &examples, config, step, device)?;
            let (updated, grad_norm, factor) = apply_update(
                model,
                &mut optimizer,
                g.grads,
                config,
                step,
                total,
                warmup_steps,
            );
            model = updated;
            step += 1;
            let tokens: usize = examples
                .iter()
                .map(|e| e.sequences.iter().map(Vec::len).sum::<usize>())
                .sum();
            let tokens_per_s = tokens as f64 / started.elapsed().as_secs_f64();
            let record = serde_json::json!({
                "step": step, "epoch": epoch + 1, "clf_loss": g.clf_loss, "lm_loss": g.lm_loss,
                "lr": config.lr * factor, "grad_norm": grad_norm, "tokens_per_s": tokens_per_s,
            });
            log.write(&record)?;
            if let Some(trace) = trace
                .as_mut()
                .filter(|_| step as usize <= config.trace_updates)
            {
                trace.update(
                    &record,
                    update,
                    &model,
                    step as usize == config.trace_updates,
                )?;
            }
            progress.update(step, g.clf_loss, tokens_per_s, None);
        }
        if !dev.is_empty() {
            let predictions = predict(&model, dev, config.micro_batch * 2, device);
            let (score, metrics) = evaluate(&predictions);
            let record = serde_json::json!({ "step": step, "epoch": epoch + 1, "dev": metrics, "dev_score": score });
            log.write(&record)?;
            history.push(record);
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, epoch + 1));
                save_complete(&model, attach, &out.join("best"))?;
            }
        }
    }
    progress.finish();
    let (best_score, best_epoch) = match best {
        Some(b) => b,
        None => {
            save_complete(&model, attach, &out.join("best"))?;
            (f64::NAN, config.epochs)
        }
    };
    Ok(FinetuneOutcome {
        best_score,
        best_epoch,
        best_dir: out.join("best"),
        history,
    })
}

pub const HEAD_FILE: &str = "head.safetensors";
pub const HEAD_CONFIG: &str = "head.json";

#[derive(Serialize, Deserialize)]
struct HeadConfig {
    pooling: Pooling,
    n_outputs: usize,
    dropout: f64,
}

/// Saves `model` and what `attach` adds as `dir`, replacing an earlier one only once the new one
/// is complete: a crash while saving leaves the previous best model whole, and a failed save
/// (a full disk) removes its partial copy.
pub fn save_complete(model: &Classifier, attach: &Attach, dir: &Path) -> anyhow::Result<()> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("model");
    let partial = dir.with_file_name(format!("{name}.partial"));
    let old = dir.with_file_name(format!("{name}.old"));
    for stale in [&partial, &old] {
        if stale.exists() {
            std::fs::remove_dir_all(stale)?;
        }
    }
    if let Err(e) = save(model, &partial).and_then(|()| attach(&partial)) {
        // A full disk: the half-written copy gives its space back; the previous best stays.
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    if dir.exists() {
        std::fs::rename(dir, &old)?;
    }
    std::fs::rename(&partial, dir)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// Writes the transformer (a model directory any genpt command loads) and the head beside it.
pub fn save(model: &Classifier, dir: &Path) -> anyhow::Result<()> {
    hf::save(&model.gpt, dir)?;
    let head = &model.head;
    let mut tensors = weights::NamedTensors::new();
    tensors.insert(
        "weight".into(),
        weights::HostTensor::from_tensor(&head.weight.val()),
    );
    tensors.insert(
        "bias".into(),
        weights::HostTensor::from_tensor(&head.bias.val()),
    );
    hf::save_safetensors(&tensors, &dir.join(HEAD_FILE), str::to_string)?;
    let config = HeadConfig {
        pooling: head.pooling,
        n_outputs: head.weight.dims()[1],
        dropout: head.dropout,
    };
    weights::write_atomic(
        &dir.join(HEAD_CONFIG),
        serde_json::to_string_pretty(&config)?.as_bytes(),
    )?;
    Ok(())
}

/// Reads what [`save`] wrote.
pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Classifier> {
    use anyhow::Context;
    let gpt = hf::load(dir, device)?;
    let path = dir.join(HEAD_CONFIG);
    let config: HeadConfig = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .with_context(|| format!("{}: not a fine-tuned model", path.display()))?,
    )
    .with_context(|| format!("{}: not a valid head description", path.display()))?;
    let mut tensors = hf::read_safetensors(&dir.join(HEAD_FILE))?;
    let mut take = |name: &str, shape: Vec<usize>| -> anyhow::Result<TensorData> {
        let t = tensors
            .remove(name)
            .with_context(|| format!("{}: no {name}", dir.join(HEAD_FILE).display()))?;
        anyhow::ensure!(
            t.shape == shape,
            "{}: {name} has shape {:?}, expected {shape:?}",
            dir.join(HEAD_FILE).display(),
            t.shape
        );
        Ok(TensorData::new(t.values, t.shape))
    };
    let d = gpt.config().n_embd;
    let weight = take("weight", vec![d, config.n_outputs])?;
    let bias = take("bias", vec![config.n_outputs])?;
    let mut head = ClassifierHead::new(d, config.n_outputs, config.pooling, config.dropout, device);
    head.weight = burn::module::Param::from_tensor(Tensor::from_data(weight, device));
    head.bias = burn::module::Param::from_tensor(Tensor::from_data(bias, device));
    Ok(Classifier { gpt, head })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_model_size() {
        // The paper's values for GPT-1 itself (section 4.1).
        let paper = FinetuneConfig::for_model(&crate::GptConfig::gpt1());
        assert_eq!(
            (
                paper.lr,
                paper.batch_size,
                paper.epochs,
                paper.warmup,
                paper.lm_coef
            ),
            (6.25e-5, 32, 3, 0.002, 0.5)
        );
        let small = FinetuneConfig::for_model(&crate::GptConfig::preset("tiny").unwrap());
        assert_eq!(
            (small.lr, small.batch_size, small.warmup, small.lm_coef),
            (5e-4, 16, 0.05, 0.5)
        );
    }
}
