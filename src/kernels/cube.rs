//! Fused kernels for the GPU backends (every cubecl runtime: wgpu, Vulkan, CUDA), as a burn
//! backend extension like [`super::FusedOps`] is for flex.
//!
//! - **Attention at inference**: burn 0.22 reaches its flash-attention kernel (burn-cubecl
//!   `kernel::attention`) only through autotune: without burn's `autotune` feature
//!   `module::attention` runs the composed fallback, and with it the choice is a benchmark's.
//!   Here the flash kernel with unit inner matmuls (it needs no tensor cores, so it runs on
//!   every cubecl runtime, lavapipe included) is called directly, so that it is the kernel that
//!   runs and the kernel that is tested.
//! - **The LM head** (linear + cross-entropy, forward and backward): the rows go in chunks, and
//!   per chunk a matmul forms its logits, one CubeCL kernel (`cross_entropy_rows`) turns them
//!   into the rows' log-probabilities of their targets and overwrites them with the loss's
//!   gradient `w·(softmax − onehot)`, and two matmuls take that to the gradients of the hidden
//!   states and of the output matrix. The full [rows, vocab] logits and their gradient never
//!   exist: one chunk's, in one buffer, at a time. The gradients are made in the forward pass
//!   (as the flex kernel does) and scaled by the incoming gradient in the backward one.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{backend_extension, Autodiff, Backend, Cube};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Int, Shape, Slice, Tensor};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::{empty_device_dtype, zeros_client};
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::{CubeCount, CubeDim};

/// The operations with a fused GPU kernel.
#[backend_extension(Cube: cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda")), Autodiff)]
pub trait GpuOps: Backend {
    /// `softmax(q·kᵀ/√d [causal mask])·v` for q [batch, heads, queries, d] and k, v [batch,
    /// heads, keys, d], without the scores in memory. Forward only (inference).
    fn flash_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        causal: bool,
    ) -> FloatTensor<Self>;

    /// `Σ_r w_r · −log softmax(h_r · Wᵀ)[t_r]` as a one-element tensor, for `hidden` [N, d],
    /// `weight` [V, d], `targets` [N] in 0..V and constant `row_weights` [N], in chunks of
    /// `rows_per_chunk` rows. Differentiable in `hidden` and `weight`.
    fn linear_cross_entropy(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
        rows_per_chunk: usize,
    ) -> FloatTensor<Self>;

    /// `log softmax(h_r · Wᵀ)[t_r]` for every row, [N], in chunks of `rows_per_chunk` rows. Not
    /// differentiable (scoring).
    fn linear_target_logprobs(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        rows_per_chunk: usize,
    ) -> FloatTensor<Self>;
}

/// Whether `x` goes through these kernels: a GPU backend's f32 tensor, unless `GENPT_FUSED=0`.
pub fn fused_for<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && super::enabled() && !crate::device::on_cpu(&x.device())
}

/// Elements of one chunk's logits: 2^26 floats, 256 MiB (at GPT-1's vocabulary 1,658 rows,
/// so 8 × 512 tokens go in 3 chunks; the matmuls stay large enough to fill a GPU).
const LOGITS_PER_CHUNK: usize = 1 << 26;

/// The rows of a chunk of the LM head for a vocabulary of `vocab`: as many as fit
/// [`LOGITS_PER_CHUNK`]. The head takes fewer where the device allows fewer (its largest
/// buffer, its most workgroups per dispatch).
pub fn rows_per_chunk(vocab: usize) -> usize {
    (LOGITS_PER_CHUNK / vocab.max(1)).max(1)
}

/// [`GpuOps::linear_cross_entropy`] on tensors.
pub fn linear_cross_entropy(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    targets: Tensor<1, Int>,
    row_weights: Tensor<1>,
    rows_per_chunk: usize,
) -> Tensor<1> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as GpuOps>::linear_cross_entropy(
        hidden.into_dispatch(),
        weight.into_dispatch(),
        targets.into_dispatch(),
        row_weights.into_dispatch(),
        rows_per_chunk,
    ))
}

/// [`GpuOps::linear_target_logprobs`] on tensors.
pub fn linear_target_logprobs(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    targets: Tensor<1, Int>,
    rows_per_chunk: usize,
) -> Tensor<1> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as GpuOps>::linear_target_logprobs(
        hidden.into_dispatch(),
        weight.into_dispatch(),
        targets.into_dispatch(),
        rows_per_chunk,
    ))
}

impl GpuOps for Cube {
    fn flash_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        causal: bool,
    ) -> FloatTensor<Self> {
        use burn_cubecl::kernel::attention::{attention, AttentionStrategy};
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: causal,
        };
        // A shape the flash kernel's tiling cannot launch falls back to burn's composed
        // attention inside `attention`; any other failure is a bug worth stopping on.
        attention(q, k, v, None, None, options, AttentionStrategy::FlashUnit)
            .unwrap_or_else(|e| panic!("flash attention: {e:?}"))
    }

    fn linear_cross_entropy(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
        rows_per_chunk: usize,
    ) -> FloatTensor<Self> {
        let (logprobs, _) = lm_head(hidden, weight, targets, None, rows_per_chunk);
        weighted_loss(logprobs, row_weights)
    }

    fn linear_target_logprobs(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        rows_per_chunk: usize,
    ) -> FloatTensor<Self> {
        lm_head(hidden, weight, targets, None, rows_per_chunk).0
    }
}

/// `−Σ_r w_r·logprob_r`, [1].
fn weighted_loss(logprobs: CubeTensor, row_weights: CubeTensor) -> CubeTensor {
    Cube::float_neg(Cube::float_sum(Cube::float_mul(logprobs, row_weights)))
}

/// The LM head on `hidden` [N, d], `weight` [V, d], `targets` [N]: the targets'
/// log-probabilities [N] and, given row weights, the gradients of `−Σ w_r·logprob_r` with
/// respect to `hidden` [N, d] and `weight` [V, d].
fn lm_head(
    hidden: CubeTensor,
    weight: CubeTensor,
    targets: CubeTensor,
    row_weights: Option<CubeTensor>,
    rows_per_chunk: usize,
) -> (CubeTensor, Option<(CubeTensor, CubeTensor)>) {
    let [n, d] = hidden.meta.shape().dims::<2>();
    let [vocab, wd] = weight.meta.shape().dims::<2>();
    assert_eq!(d, wd, "hidden [N, {d}] against an output matrix [V, {wd}]");
    assert_eq!(targets.meta.shape().num_elements(), n, "one target per row");
    assert_eq!(
        hidden.dtype,
        DType::F32,
        "the GPU LM head takes f32 tensors"
    );
    let (client, device) = (hidden.client.clone(), hidden.device.clone());
    let targets = into_contiguous(targets);
    let gradients = row_weights.is_some();
    // Without gradients the kernel still takes a row-weight tensor; a one-element one (the
    // logprobs buffer itself would bind one buffer twice, which wgpu refuses).
    let row_weights = into_contiguous(row_weights.unwrap_or_else(|| {
        zeros_client(client.clone(), device.clone(), Shape::new([1]), DType::F32)
    }));
    let logprobs = empty_device_dtype(client.clone(), device.clone(), Shape::new([n]), DType::F32);
    let weight_t = Cube::float_transpose(weight.clone());

    // One workgroup per row, its units striding over the vocabulary: a power of two for the
    // tree reductions, at most 256 and what the device allows.
    let properties = client.properties();
    let most = properties.hardware.max_cube_dim.0.min(256);
    let block = 1u32 << (31 - most.max(1).leading_zeros());

    // A chunk's logits must fit the device's largest buffer (on wgpu its largest storage
    // binding: 128 MiB on lavapipe, which GPT-1's 40,478 logits exceed from 829 rows on), and
    // its rows, one workgroup each, one dispatch (65,535 along an axis on Vulkan).
    let fit = properties.memory.max_page_size as usize / (vocab.max(1) * size_of::<f32>());
    let most_rows = properties.hardware.max_cube_count.0 as usize;
    let rows_per_chunk = rows_per_chunk.min(fit).min(most_rows).max(1);
    let mut dh_chunks = Vec::new();
    let mut dw: Option<CubeTensor> = None;
    for first in (0..n).step_by(rows_per_chunk) {
        let rows = rows_per_chunk.min(n - first);
        let h = Cube::float_slice(
            hidden.clone(),
            &[Slice::from(first..first + rows), Slice::from(0..d)],
        );
        let logits = into_contiguous(Cube::float_matmul(h.clone(), weight_t.clone()));
        rows::cross_entropy_rows::launch(
            &client,
            CubeCount::Static(rows as u32, 1, 1),
            CubeDim::new_1d(block),
            logits.clone().into_tensor_arg(),
            targets.clone().into_tensor_arg(),
            row_weights.clone().into_tensor_arg(),
            logprobs.clone().into_tensor_arg(),
            first as u32,
            block,
            gradients,
            [
                burn_backend::cubecl::dtype_to_storage_type(DType::F32),
                burn_backend::cubecl::dtype_to_storage_type(targets.dtype),
            ],
        );
        if gradients {
            // `logits` now holds the gradient of the loss with respect to them.
            dh_chunks.push(Cube::float_matmul(logits.clone(), weight.clone()));
            let part = Cube::float_matmul(Cube::float_transpose(logits), h);
            dw = Some(match dw {
                None => part,
                Some(sum) => Cube::float_add(sum, part),
            });
        }
    }
    if !gradients {
        return (logprobs, None);
    }
    let zeros = |shape: [usize; 2]| {
        zeros_client(
            client.clone(),
            device.clone(),
            Shape::new(shape),
            DType::F32,
        )
    };
    let dh = match dh_chunks.len() {
        0 => zeros([n, d]),
        1 => dh_chunks.pop().unwrap(),
        _ => Cube::float_cat(dh_chunks, 0),
    };
    let dw = dw.unwrap_or_else(|| zeros([vocab, d]));
    (logprobs, Some((dh, dw)))
}

/// genpt's CubeCL kernel, apart from the host code (cubecl's prelude names `Tensor`, `Shape` and
/// `Slice` too).
mod rows {
    use cubecl::prelude::*;

    /// One workgroup per row of `logits` [rows, V] (row r of the chunk is row `first_row + r` of
    /// `targets`, `row_weights` and `logprobs`): the log-sum-exp of the row by two tree reductions
    /// in shared memory (its maximum, then the sum of the shifted exponentials), the target's
    /// log-probability into `logprobs`, and, with `gradients`, the row overwritten by
    /// `w·(softmax − onehot(target))`, the gradient of `−w·logprob` with respect to the logits.
    #[cube(launch)]
    pub(super) fn cross_entropy_rows<F: Float, I: Numeric>(
        logits: &mut Tensor<F>,
        targets: &Tensor<I>,
        row_weights: &Tensor<F>,
        logprobs: &mut Tensor<F>,
        first_row: u32,
        #[comptime] block: u32,
        #[comptime] gradients: bool,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        // The launch's CUBE_DIM_X is `block`; the loops read it at run time, the shared memory's
        // size is the comptime value.
        let step = CUBE_DIM_X as usize;
        let unit = UNIT_POS_X as usize;
        let vocab = logits.shape(1);
        let start = CUBE_POS_X as usize * vocab;
        let row = first_row as usize + CUBE_POS_X as usize;
        let target = u32::cast_from(targets[row]) as usize;
        let mut partial = Shared::<[F]>::new_slice(block as usize);

        // The row's maximum. (A finite floor: WGSL has no infinity literal.)
        let mut top = F::new(-3.0e38_f32);
        let mut c = unit;
        while c < vocab {
            top = max(top, logits[start + c]);
            c += step;
        }
        partial[unit] = top;
        sync_cube();
        let mut half = step / 2;
        while half > 0 {
            if unit < half {
                partial[unit] = max(partial[unit], partial[unit + half]);
            }
            sync_cube();
            half /= 2;
        }
        let top = partial[0];
        sync_cube();

        // The sum of exp(logit − maximum).
        let mut sum = F::new(0.0_f32);
        let mut c = unit;
        while c < vocab {
            sum += (logits[start + c] - top).exp();
            c += step;
        }
        partial[unit] = sum;
        sync_cube();
        let mut half = step / 2;
        while half > 0 {
            if unit < half {
                let both = partial[unit] + partial[unit + half];
                partial[unit] = both;
            }
            sync_cube();
            half /= 2;
        }
        let log_sum_exp = top + partial[0].ln();

        if gradients {
            let w = row_weights[row];
            let mut c = unit;
            while c < vocab {
                let logit = logits[start + c];
                let mut grad = (logit - log_sum_exp).exp() * w;
                if c == target {
                    logprobs[row] = logit - log_sum_exp;
                    grad -= w;
                }
                logits[start + c] = grad;
                c += step;
            }
        } else if unit == 0 {
            logprobs[row] = logits[start + target] - log_sum_exp;
        }
    }
}

/// Backward of the fused LM head: the gradients were made in the forward pass for an incoming
/// gradient of 1; here they are scaled by the real one (a one-element tensor, left on the
/// device).
#[derive(Debug)]
struct LinearCrossEntropyBackward;

impl Backward<Cube, 2> for LinearCrossEntropyBackward {
    /// dH [N, d] and dW [V, d] of the loss.
    type State = (CubeTensor, CubeTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let incoming = grads.consume::<Cube>(&ops.node);
        let scale = Cube::float_reshape(incoming, Shape::new([1, 1]));
        let (dh, dw) = ops.state;
        let [hidden, weight] = ops.parents;
        if let Some(node) = hidden {
            grads.register::<Cube>(node.id, Cube::float_mul(dh, scale.clone()));
        }
        if let Some(node) = weight {
            grads.register::<Cube>(node.id, Cube::float_mul(dw, scale));
        }
    }
}

impl<C: CheckpointStrategy> GpuOps for Autodiff<Cube, C> {
    /// Inference only ([`super::attention`] calls it without autodiff): no gradient flows.
    fn flash_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        causal: bool,
    ) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(Cube::flash_attention(
            q.into_primitive(),
            k.into_primitive(),
            v.into_primitive(),
            causal,
        ))
    }

    fn linear_cross_entropy(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
        rows_per_chunk: usize,
    ) -> FloatTensor<Self> {
        let guards = [hidden.node(), weight.node()];
        let (hidden, weight) = (hidden.into_primitive(), weight.into_primitive());
        let row_weights = row_weights.into_primitive();
        match LinearCrossEntropyBackward
            .prepare::<C>(guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (logprobs, grads) = lm_head(
                    hidden,
                    weight,
                    targets,
                    Some(row_weights.clone()),
                    rows_per_chunk,
                );
                let state = grads.expect("gradients were asked for");
                prep.finish(state, weighted_loss(logprobs, row_weights))
            }
            OpsKind::UnTracked(prep) => prep.finish(Cube::linear_cross_entropy(
                hidden,
                weight,
                targets,
                row_weights,
                rows_per_chunk,
            )),
        }
    }

    fn linear_target_logprobs(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        rows_per_chunk: usize,
    ) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(Cube::linear_target_logprobs(
            hidden.into_primitive(),
            weight.into_primitive(),
            targets,
            rows_per_chunk,
        ))
    }
}
