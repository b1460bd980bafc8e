//! Fine-tuning's part of an update: the loss L3 = L2 + λ·L1 of each micro-batch (paper, eq. 5)
//! and its dropout masks, for the training core's [`mean_gradients`] (clipping and the release's
//! Adam step are the core's [`crate::train::take_step`]); and the eval-mode predictions that
//! score a model.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::batch::make_batch;
use super::classifier::Classifier;
use super::head::Pooling;
use super::objective::{classification_loss, regression_loss};
use super::recipe::TrainingForward;
use super::{EncodedExample, FinetuneConfig, Prediction, Target};
use crate::host::HostValues;
use crate::precision::Precision;
use crate::rng::Draws;
use crate::train::{
    mean_gradients, GradientSync, LocalSync, MeanGradients, MicroBatchLoss, NamedGrads,
};

/// L3 for one micro-batch through `forward` (the fidelity's training graph); returns (total,
/// classifier part, LM part).
fn loss(
    model: &Classifier,
    examples: &[&EncodedExample],
    lm_coef: f64,
    forward: TrainingForward,
    device: &Device,
) -> anyhow::Result<(Tensor<1>, f64, f64)> {
    let (logits, lm) = forward(model, make_batch(examples, device), lm_coef != 0.0);
    combine(logits, lm, examples, lm_coef, device)
}

/// L3 = L2 + λ·L1 from the head's `logits` and L1 (none when λ = 0); returns (total,
/// classifier part, LM part). A failure on the device while computing them is an error here.
fn combine(
    logits: Tensor<2>,
    lm: Option<Tensor<1>>,
    examples: &[&EncodedExample],
    lm_coef: f64,
    device: &Device,
) -> anyhow::Result<(Tensor<1>, f64, f64)> {
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
    let clf_value = crate::device::read_scalar(clf.clone())? as f64;
    let Some(lm) = lm else {
        return Ok((clf, clf_value, 0.0));
    };
    let lm_value = crate::device::read_scalar(lm.clone())? as f64;
    Ok((clf + lm.mul_scalar(lm_coef), clf_value, lm_value))
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
/// function of (seed, step, micro-batch), so that a resumed or replayed update draws the same
/// ones.
pub fn update_gradients(
    model: &Classifier,
    examples: &[&EncodedExample],
    config: &FinetuneConfig,
    step: u64,
    device: &Device,
) -> anyhow::Result<UpdateGradients> {
    let forward = config.fidelity.recipe().forward;
    update_gradients_with(
        model,
        examples,
        config,
        forward,
        step,
        device,
        &mut LocalSync,
    )
}

/// [`update_gradients`] through `forward` (the training graph of `config.fidelity`'s recipe,
/// which the loop looks up once), as one process of a data-parallel run: of the update's
/// micro-batches, rank r runs those whose index j has `j % world_size == r`, with the same
/// dropout masks as one process running them all; every process ends with the mean over all
/// micro-batches (and the mean losses).
pub fn update_gradients_with(
    model: &Classifier,
    examples: &[&EncodedExample],
    config: &FinetuneConfig,
    forward: TrainingForward,
    step: u64,
    device: &Device,
    sync: &mut dyn GradientSync,
) -> anyhow::Result<UpdateGradients> {
    let (world, rank) = (sync.world_size(), sync.rank());
    // bf16: the same parameters, multiplied in bf16 (gradients reach `model`'s, shared by id).
    let compute = match config.precision {
        Precision::Fp32 => None,
        Precision::Bf16 => {
            anyhow::ensure!(
                crate::kernels::bf16_gemm_on(device),
                "fine-tuning with precision bf16 needs the flex backend on a CPU with \
                 AVX512-BF16; use --precision fp32"
            );
            Some(Classifier {
                gpt: model.gpt.with_bf16_products(),
                head: model.head.clone(),
            })
        }
    };
    // Micro-batch j's masks start from the update stream's j-th draw, whichever process runs
    // it; rank r runs those with j % world = r.
    let mut masks = Draws::new(config.seed, step);
    let micro_batches: Vec<(u64, &[&EncodedExample])> = examples
        .chunks(config.micro_batch.max(1))
        .map(|micro| (masks.next_u64(), micro))
        .enumerate()
        .filter(|(j, _)| j % world == rank)
        .map(|(_, m)| m)
        .collect();
    let gradients = mean_gradients(
        model,
        micro_batches,
        2,
        |(seed, micro)| {
            crate::rng::dropout::reseed(seed);
            let (loss, clf, lm) = loss(
                compute.as_ref().unwrap_or(model),
                micro,
                config.lm_coef,
                forward,
                device,
            )?;
            Ok(MicroBatchLoss {
                loss,
                logged: vec![clf, lm],
            })
        },
        sync,
        &device.clone().inner(),
    )?;
    let MeanGradients::Mean { grads, logged, .. } = gradients else {
        anyhow::bail!("the loss became NaN or infinite at update {}", step + 1);
    };
    Ok(UpdateGradients {
        grads,
        clf_loss: logged[0],
        lm_loss: logged[1],
    })
}

/// Predictions for `examples`, eval mode.
pub fn predict(
    model: &Classifier,
    examples: &[EncodedExample],
    micro_batch: usize,
    device: &Device,
) -> Vec<Prediction> {
    // Off the autodiff graph for evaluation; a model that is not on one (one loaded for bf16
    // inference, whose fp32 weights were let go, cannot be mapped) is used as it is.
    let model = match model.gpt.device().is_autodiff() {
        true => model.valid(),
        false => model.clone(),
    };
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
        let values = logits.host_values();
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
