//! Fused kernels: operations that the composed tensor path runs as several passes over memory,
//! done in one, with their own backward pass. The CPU ones (flex) are genpt's; on the GPU
//! backends ([`cube`]) the LM head is genpt's CubeCL kernel between chunked matmuls, and
//! attention at inference runs burn's flash-attention kernel.
//!
//! Each is a burn backend extension (`FusedOps`) implemented for the flex backend on raw f32
//! buffers and for `Autodiff<Flex>` with a handwritten backward node. The functions below are
//! the entry points the model calls: they take the fused kernel on flex (and on the GPU
//! backends where [`cube`] has one) and the composed reference everywhere else (ndarray), and
//! everywhere when `GENPT_FUSED=0`, which is how the tests and benchmarks compare the two.

pub mod attention_softmax;
pub mod bf16_gemm;
pub mod decode_attention;
pub mod gelu;
pub mod layer_norm;
pub mod linear_cross_entropy;
pub mod masked;
pub mod simd;

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{backend_extension, Backend};
use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::{Int, Tensor};

use crate::host::HostValues;

#[cfg(feature = "flex")]
mod flex;

#[cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda"))]
pub mod cube;

/// The operations that have a fused kernel.
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait FusedOps: Backend {
    /// `Σ_r w_r · −log softmax(h_r · Wᵀ)[t_r]` as a one-element tensor, for `hidden` [N, d],
    /// `weight` [V, d], `targets` [N] in 0..V and constant `row_weights` [N]. Differentiable in
    /// `hidden` and `weight`.
    fn linear_cross_entropy(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// [`FusedOps::linear_cross_entropy`] with its three products in bf16 with fp32 sums
    /// ([`bf16_gemm`]). Only on CPUs with AVX512-BF16.
    fn linear_cross_entropy_bf16(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `log softmax(h_r · Wᵀ)[t_r]` for every row, [N]. Not differentiable (scoring only).
    fn linear_target_logprobs(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self>;

    /// LayerNorm of `x` over its last axis (biased variance, ε inside the root) with `gain` and
    /// `bias` of that axis' width. Differentiable in all three.
    fn layer_norm(
        x: FloatTensor<Self>,
        gain: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;

    /// The tanh GELU of every element. Differentiable.
    fn gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x + dropout(y)` for two tensors of one shape, dropout probability `dropout` (the mask
    /// drawn from [`crate::rng::dropout`]). Differentiable in both.
    fn residual_dropout(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dropout: f64,
    ) -> FloatTensor<Self>;

    /// Attention weights from raw scores [batch, heads, queries, keys]: softmax of
    /// `scale·scores` where query i sees keys `0 ..= past + i`, then dropout with probability
    /// `dropout` (a mask drawn from [`crate::rng::dropout`]). Differentiable.
    fn attention_softmax(
        scores: FloatTensor<Self>,
        past: usize,
        scale: f64,
        dropout: f64,
    ) -> FloatTensor<Self>;

    /// `x·w + b` for `x` [n, in], `w` [in, out], `b` [out] with the products in bf16 and their
    /// sums in fp32 ([`bf16_gemm`]); inputs, output and gradients stay fp32. Differentiable:
    /// the backward products `dY·wᵀ` and `xᵀ·dY` run in bf16 too. Only on CPUs with
    /// AVX512-BF16 ([`bf16_gemm::available`]).
    fn linear_bf16(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Whether the fused kernels may be used at all: on unless `GENPT_FUSED=0`.
pub fn enabled() -> bool {
    crate::settings::get().fused
}

/// Whether tensors on `device` go through the fused kernels.
pub fn fused_on(device: &burn::tensor::Device) -> bool {
    #[cfg(feature = "flex")]
    {
        enabled()
            && matches!(
                device.as_dispatch().clone().inner(),
                DispatchDevice::Flex(_)
            )
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// Whether `x` goes through the fused kernels: on flex, and in f32, the only dtype they are
/// written for (bf16 compute, [`crate::precision`], takes the composed path).
fn fused_for<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == burn::tensor::DType::F32 && fused_on(&x.device())
}

/// The LM loss `Σ_r w_r·nll_r` of `hidden` [N, d] under the output matrix `weight` [V, d]
/// (logits `hidden·weightᵀ`), targets [N] in 0..V, constant row weights [N]. Mean loss: weights
/// 1/N; padding: weight 0. Result [1].
pub fn linear_cross_entropy(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    targets: Tensor<1, Int>,
    row_weights: Tensor<1>,
) -> Tensor<1> {
    if fused_for(&hidden) {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::linear_cross_entropy(
            hidden.into_dispatch(),
            weight.into_dispatch(),
            targets.into_dispatch(),
            row_weights.into_dispatch(),
        ));
    }
    #[cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda"))]
    if cube::fused_for(&hidden) {
        let rows = cube::rows_per_chunk(weight.dims()[0]);
        return cube::linear_cross_entropy(hidden, weight, targets, row_weights, rows);
    }
    reference_linear_cross_entropy(hidden, weight, targets, row_weights)
}

/// `Σ_r w_r·nll_r` through the full logits: the reference for the fused head.
pub fn reference_linear_cross_entropy(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    targets: Tensor<1, Int>,
    row_weights: Tensor<1>,
) -> Tensor<1> {
    (reference_target_logprobs(hidden, weight, targets) * row_weights)
        .sum()
        .neg()
}

/// `log softmax(hidden·weightᵀ)[target]` per row, [N], without gradient.
pub fn linear_target_logprobs(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    targets: Tensor<1, Int>,
) -> Tensor<1> {
    if fused_for(&hidden) {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::linear_target_logprobs(
            hidden.into_dispatch(),
            weight.into_dispatch(),
            targets.into_dispatch(),
        ));
    }
    #[cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda"))]
    if cube::fused_for(&hidden) {
        let rows = cube::rows_per_chunk(weight.dims()[0]);
        return cube::linear_target_logprobs(hidden, weight, targets, rows);
    }
    reference_target_logprobs(hidden, weight, targets)
}

/// The composed path: full logits, log-softmax, gather (the reference for the fused head).
pub fn reference_target_logprobs(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    targets: Tensor<1, Int>,
) -> Tensor<1> {
    let n = targets.dims()[0];
    let logits = hidden.matmul(weight.transpose());
    burn::tensor::activation::log_softmax(logits, 1)
        .gather(1, targets.reshape([n, 1]))
        .reshape([n])
}

/// LayerNorm of `x` [batch, time, width] over the last axis: fused on flex, otherwise the
/// composed formula of [`crate::model::layers::LayerNorm`].
pub fn layer_norm(x: Tensor<3>, gain: Tensor<1>, bias: Tensor<1>, epsilon: f64) -> Tensor<3> {
    if fused_for(&x) {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::layer_norm(
            x.into_dispatch(),
            gain.into_dispatch(),
            bias.into_dispatch(),
            epsilon,
        ));
    }
    reference_layer_norm(x, gain, bias, epsilon)
}

/// The release's LayerNorm spelled out in tensor operations: the reference for the fused one.
pub fn reference_layer_norm(
    x: Tensor<3>,
    gain: Tensor<1>,
    bias: Tensor<1>,
    epsilon: f64,
) -> Tensor<3> {
    let mean = x.clone().mean_dim(2);
    let centered = x - mean;
    let variance = centered.clone().square().mean_dim(2);
    let normalized = centered / (variance + epsilon).sqrt();
    normalized * gain.unsqueeze() + bias.unsqueeze()
}

/// [`linear_cross_entropy`] with bf16 products and fp32 sums where [`bf16_gemm_on`]; elsewhere
/// the composed reference at the operands rounded to bf16.
pub fn linear_cross_entropy_bf16(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    targets: Tensor<1, Int>,
    row_weights: Tensor<1>,
) -> Tensor<1> {
    if fused_for(&hidden) && bf16_gemm::available() {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::linear_cross_entropy_bf16(
            hidden.into_dispatch(),
            weight.into_dispatch(),
            targets.into_dispatch(),
            row_weights.into_dispatch(),
        ));
    }
    use burn::tensor::FloatDType;
    let round = |t: Tensor<2>| t.cast(FloatDType::BF16).cast(FloatDType::F32);
    reference_linear_cross_entropy(round(hidden), round(weight), targets, row_weights)
}

/// Whether linear layers on `device` can multiply in bf16 ([`linear_bf16`]): the fused kernels
/// are on, the device is flex and the CPU has AVX512-BF16.
pub fn bf16_gemm_on(device: &burn::tensor::Device) -> bool {
    fused_on(device) && bf16_gemm::available()
}

/// Whether inference with packed bf16 weights runs on `device` ([`linear_packed_bf16`],
/// [`target_logprobs_packed_bf16`]): the fused kernels are on, the device is flex and the CPU
/// has AVX512-BF16, or AVX2 with FMA ([`bf16_gemm::weights_available`]).
pub fn bf16_weights_on(device: &burn::tensor::Device) -> bool {
    fused_on(device) && bf16_gemm::weights_available()
}

/// `x·w + b`, `x` [n, in], `w` [in, out], `b` [out], with bf16 products and fp32 sums: the
/// bf16 kernel where [`bf16_gemm_on`], else [`reference_linear_bf16`].
pub fn linear_bf16(x: Tensor<2>, w: Tensor<2>, b: Tensor<1>) -> Tensor<2> {
    if fused_for(&x) && bf16_gemm::available() {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::linear_bf16(
            x.into_dispatch(),
            w.into_dispatch(),
            b.into_dispatch(),
        ));
    }
    reference_linear_bf16(x, w, b)
}

/// The composed reference: operands rounded to bf16 by a cast there and back, an fp32 product.
/// (Its gradients are those of the fp32 product at the rounded operands: the casts pass them
/// through. The kernel also rounds the incoming gradient, so the two agree to bf16 precision.)
pub fn reference_linear_bf16(x: Tensor<2>, w: Tensor<2>, b: Tensor<1>) -> Tensor<2> {
    use burn::tensor::FloatDType;
    let round = |t: Tensor<2>| t.cast(FloatDType::BF16).cast(FloatDType::F32);
    round(x).matmul(round(w)) + b.unsqueeze()
}

/// `x·w (+ b)` for `x` [n, in] with `w` [in, out] rounded to bf16 and packed beforehand
/// ([`bf16_gemm::pack`]), fp32 sums, `b` [out]: inference only (no gradient flows), where
/// [`bf16_weights_on`]. The weight is read in bf16, half the bytes of fp32: what bounds
/// decoding.
pub fn linear_packed_bf16(x: Tensor<2>, w: &bf16_gemm::PackedB, b: Option<Tensor<1>>) -> Tensor<2> {
    let [n, k] = x.dims();
    let [wk, m] = w.dims();
    assert_eq!(k, wk, "x [n, {k}] against a packed weight of {wk} rows");
    let device = x.device();
    let xv = x.host_values();
    // The bias is the product's starting value; without one the product overwrites zeros.
    let (mut y, accumulate) = match b {
        Some(b) => {
            let bv = b.host_values();
            assert_eq!(bv.len(), m, "one bias per output");
            (bv.repeat(n), true)
        }
        None => (vec![0f32; n * m], false),
    };
    bf16_gemm::gemm_packed(
        bf16_gemm::Strided::row_major(&xv, n, k),
        w,
        &mut y,
        accumulate,
    );
    Tensor::from_data(burn::tensor::TensorData::new(y, [n, m]), &device)
}

/// `log softmax(hidden·W)[target]` per row, [N], with `W` [d, V] (the transposed output
/// matrix) rounded to bf16 and packed beforehand; logits summed in fp32, softmax in fp32.
/// Rows go in chunks, so the [N, V] logits are never held at once. Inference only.
pub fn target_logprobs_packed_bf16(
    hidden: Tensor<2>,
    w: &bf16_gemm::PackedB,
    targets: Tensor<1, Int>,
) -> Tensor<1> {
    use rayon::prelude::*;
    let [n, d] = hidden.dims();
    let vocab = w.dims()[1];
    let device = hidden.device();
    let hv = hidden.host_values();
    let tv = targets
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("integer targets");
    const CHUNK: usize = 256;
    let mut out = vec![0f32; n];
    let mut logits = vec![0f32; CHUNK.min(n) * vocab];
    for (c, (rows, dst)) in hv.chunks(CHUNK * d).zip(out.chunks_mut(CHUNK)).enumerate() {
        let m = dst.len();
        let z = &mut logits[..m * vocab];
        bf16_gemm::gemm_packed(bf16_gemm::Strided::row_major(rows, m, d), w, z, false);
        dst.par_iter_mut()
            .zip(z.par_chunks(vocab))
            .enumerate()
            .for_each(|(r, (lp, row))| {
                let target = tv[c * CHUNK + r];
                assert!(
                    (0..vocab as i64).contains(&target),
                    "target {target} outside the vocabulary of {vocab}"
                );
                // As the fused head scores a row (`linear_cross_entropy::run`).
                let top = simd::max(row);
                let sum = simd::sum_exp_shifted(row, top);
                *lp = row[target as usize] - top - (sum.ln() as f32);
            });
    }
    Tensor::from_data(burn::tensor::TensorData::new(out, [n]), &device)
}

/// The tanh GELU: fused on flex, otherwise composed.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if fused_for(&x) {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::gelu(x.into_dispatch()));
    }
    reference_gelu(x)
}

/// `x·σ(2·√(2/π)·x·(1 + 0.044715·x²))`, which equals the release's
/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (0.5·(1 + tanh z) = σ(2z)), in tensor operations.
pub fn reference_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    const TWO_SQRT_2_OVER_PI: f64 = 2.0 * 0.797_884_560_802_865_4;
    let inner = (x.clone().square().mul_scalar(0.044715 * TWO_SQRT_2_OVER_PI) + TWO_SQRT_2_OVER_PI)
        * x.clone();
    x * burn::tensor::activation::sigmoid(inner)
}

/// Causal attention `softmax(mask(q·kᵀ/√d))·v` of queries [batch, heads, queries, d] over keys
/// and values [batch, heads, keys, d], the first `past` of the keys before the queries (a
/// cache). On a GPU at inference (no autodiff, no dropout), for a whole sequence, a
/// flash-attention kernel ([`cube::GpuOps::flash_attention`]), which never holds the scores;
/// elsewhere [`reference_attention`] (whose softmax is fused on flex). The GPU kernel has no
/// dropout and no backward pass, so training on a GPU takes the reference path.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, past: usize, dropout: f64) -> Tensor<4> {
    #[cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda"))]
    {
        // The kernel's causal mask lines queries up with the first keys, which fits a whole
        // sequence (no past). One new token over a cache has a single row of scores, nothing
        // to save, and on lavapipe the kernel for it took minutes to compile (docs/gpu.md): the
        // composed path takes it.
        let whole_sequence = past == 0 && q.dims()[2] > 1;
        if dropout == 0.0 && whole_sequence && !q.is_autodiff() && cube::fused_for(&q) {
            return Tensor::from_dispatch(<Dispatch as cube::GpuOps>::flash_attention(
                q.into_dispatch(),
                k.into_dispatch(),
                v.into_dispatch(),
                true,
            ));
        }
    }
    reference_attention(q, k, v, past, dropout)
}

/// [`attention`] in tensor operations: the scores, [`attention_softmax`] (fused on flex), the
/// weighted sum of the values.
pub fn reference_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    past: usize,
    dropout: f64,
) -> Tensor<4> {
    let head_dim = q.dims()[3];
    let weights = attention_softmax(
        q.matmul(k.swap_dims(2, 3)),
        past,
        1.0 / (head_dim as f64).sqrt(),
        dropout,
    );
    weights.matmul(v)
}

/// Causal attention weights from raw scores [batch, heads, queries, keys] (see
/// [`FusedOps::attention_softmax`]): fused on flex, composed elsewhere. `dropout` is the
/// probability in training, 0 otherwise.
pub fn attention_softmax(scores: Tensor<4>, past: usize, scale: f64, dropout: f64) -> Tensor<4> {
    if fused_for(&scores) {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::attention_softmax(
            scores.into_dispatch(),
            past,
            scale,
            dropout,
        ));
    }
    reference_attention_softmax(scores, past, scale, dropout)
}

/// Scale, `mask_fill(−1e9)` outside the visible keys, softmax, dropout: the composed path.
pub fn reference_attention_softmax(
    scores: Tensor<4>,
    past: usize,
    scale: f64,
    dropout: f64,
) -> Tensor<4> {
    use burn::tensor::Bool;
    let [batch, heads, queries, keys] = scores.dims();
    let mask = Tensor::<2, Bool>::tril_mask([queries, keys], past as i64, &scores.device())
        .unsqueeze::<4>()
        .expand([batch, heads, queries, keys]);
    // The release writes -1e9 into masked scores (Hugging Face -1e4); either underflows to an
    // exact zero after the softmax.
    let weights =
        burn::tensor::activation::softmax(scores.mul_scalar(scale).mask_fill(mask, -1e9), 3);
    crate::rng::dropout::dropout(weights, dropout, dropout > 0.0)
}

/// The residual sum of a post-LN block with its residual dropout, `x + dropout(y)`: one pass
/// on flex (the mask made where it is applied), composed elsewhere. `dropout` is the
/// probability in training, 0 otherwise.
pub fn residual_dropout(x: Tensor<3>, y: Tensor<3>, dropout: f64) -> Tensor<3> {
    if fused_for(&x) {
        return Tensor::from_dispatch(<Dispatch as FusedOps>::residual_dropout(
            x.into_dispatch(),
            y.into_dispatch(),
            dropout,
        ));
    }
    reference_residual_dropout(x, y, dropout)
}

/// `x + dropout(y)` in tensor operations: the reference for the fused one.
pub fn reference_residual_dropout(x: Tensor<3>, y: Tensor<3>, dropout: f64) -> Tensor<3> {
    x + crate::rng::dropout::dropout(y, dropout, dropout > 0.0)
}
