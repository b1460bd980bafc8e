//! One update, the same for pre-training and fine-tuning: forward and backward over this
//! process' micro-batches, their gradients summed; the non-finite check agreed by every
//! process; the mean over every micro-batch of every process ([`average_over_processes`]);
//! one clip by global norm; one step of the release's Adam.
//!
//! What differs between the two stages is what a micro-batch is and what its loss is (windows
//! of text and the LM loss; examples and L3 = L2 + λ·L1), which the caller's `forward` computes,
//! dropout masks included; and what a non-finite loss means (a skipped update or an error),
//! which the caller decides from [`MeanGradients::NonFinite`].

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::{average_over_processes, parameter_layout, GradientSync, NamedGrads, OpenAiAdam};

/// One micro-batch's forward pass: the loss to backpropagate (a mean over its tokens or
/// examples) and the values logged for it (pre-training: the LM loss; fine-tuning: the
/// classifier's loss and the LM loss). A non-finite logged value marks the update non-finite.
pub struct MicroBatchLoss {
    pub loss: Tensor<1>,
    pub logged: Vec<f64>,
}

/// The gradients of one update, before clipping.
pub enum MeanGradients {
    /// The mean over every micro-batch of every process, the mean of each logged value, and
    /// the seconds spent joining the other processes (with the wait for the slowest).
    Mean {
        grads: NamedGrads,
        logged: Vec<f64>,
        exchange_s: f64,
    },
    /// Some process saw a non-finite loss; every process gets this answer.
    NonFinite,
}

/// Runs `forward` on each of this process' `micro_batches` and backpropagates, then joins the
/// other processes of `sync`: every process ends with the same [`MeanGradients`]. `n_logged`
/// is the length of every micro-batch's [`MicroBatchLoss::logged`]. A process may have no
/// micro-batch (the last, partial batch of a fine-tuning epoch split over many processes).
pub fn mean_gradients<M: Module, T>(
    model: &M,
    micro_batches: impl IntoIterator<Item = T>,
    n_logged: usize,
    mut forward: impl FnMut(T) -> anyhow::Result<MicroBatchLoss>,
    sync: &mut dyn GradientSync,
    device: &Device,
) -> anyhow::Result<MeanGradients> {
    let mut grads = NamedGrads::default();
    // The logged values' sums over this process' micro-batches, then the micro-batch count.
    let mut sums = vec![0.0f64; n_logged + 1];
    let mut nonfinite = false;
    for micro_batch in micro_batches {
        let MicroBatchLoss { loss, logged } = forward(micro_batch)?;
        debug_assert_eq!(logged.len(), n_logged);
        if logged.iter().any(|v| !v.is_finite()) {
            nonfinite = true;
            break;
        }
        grads.accumulate(model, loss.backward());
        for (sum, value) in sums.iter_mut().zip(logged) {
            *sum += value;
        }
        sums[n_logged] += 1.0;
    }
    // Agreed across processes: all stop or skip together, none waits alone in a collective.
    let exchange = std::time::Instant::now();
    if sync.any(nonfinite)? {
        return Ok(MeanGradients::NonFinite);
    }
    average_over_processes(sync, &mut grads, || parameter_layout(model), device)?;
    if sync.world_size() > 1 {
        sync.all_reduce_sum_f64(&mut sums)?;
    }
    let count = sums.pop().expect("the count").max(1.0);
    Ok(MeanGradients::Mean {
        grads,
        logged: sums.into_iter().map(|sum| sum / count).collect(),
        exchange_s: exchange.elapsed().as_secs_f64(),
    })
}

/// Clips `grads` by global norm `max_norm` and takes the Adam step at learning-rate multiplier
/// `factor` (the schedule's value at this update). Returns the model and the gradient norm
/// before clipping.
pub fn take_step<M: Module>(
    model: M,
    optimizer: &mut OpenAiAdam,
    mut grads: NamedGrads,
    max_norm: f64,
    factor: f64,
) -> (M, f64) {
    let grad_norm = grads.clip_global_norm(max_norm);
    (optimizer.update(model, grads, factor), grad_norm)
}
