//! `FusedOps` for the flex backend (kernels on its raw buffers) and for `Autodiff<Flex>`
//! (the same kernels plus backward nodes).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, TensorData};

use super::bf16_gemm::{self, Strided};
use super::linear_cross_entropy::{self as lce, Problem};
use super::FusedOps;
use super::{attention_softmax, gelu, layer_norm, masked};
use crate::rng::dropout::{next_key, MaskKey};

/// The elements of a float tensor in row-major order (copied only if it is a strided view).
fn f32_values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    assert_eq!(t.dtype(), DType::F32, "the fused kernels take f32 tensors");
    match t.as_slice::<f32>() {
        Some(values) => std::borrow::Cow::Borrowed(values),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap().to_vec()),
    }
}

/// The elements of an integer tensor as i64, row-major.
fn i64_values(t: &FlexTensor) -> Vec<i64> {
    let t = t.to_contiguous();
    match t.dtype() {
        DType::I64 => t.as_slice::<i64>().unwrap().to_vec(),
        DType::I32 => t
            .as_slice::<i32>()
            .unwrap()
            .iter()
            .map(|&v| v as i64)
            .collect(),
        other => panic!("targets must be an integer tensor, not {other:?}"),
    }
}

fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Runs the fused LM head: `[n, d]`, `[v, d]`, `[n]` → log-probabilities and, with row
/// weights, the loss gradients.
fn linear_cross_entropy(
    hidden: &FlexTensor,
    weight: &FlexTensor,
    targets: &FlexTensor,
    row_weights: Option<&FlexTensor>,
    want_grads: bool,
    bf16: bool,
) -> (lce::Output, [usize; 3]) {
    let hs = hidden.layout().shape();
    let ws = weight.layout().shape();
    assert!(
        hs.num_dims() == 2 && ws.num_dims() == 2,
        "hidden and weight are matrices"
    );
    let (n, d, v) = (hs[0], hs[1], ws[0]);
    assert_eq!(ws[1], d, "weight rows must have the hidden width");
    let h = f32_values(hidden);
    let w = f32_values(weight);
    let t = i64_values(targets);
    let rw = row_weights.map(f32_values);
    let problem = Problem {
        hidden: &h,
        weight: &w,
        targets: &t,
        n,
        d,
        v,
    };
    let run = if bf16 { lce::run_bf16 } else { lce::run };
    (run(&problem, rw.as_deref(), want_grads), [n, d, v])
}

/// The weighted LM loss alone, [1]: without autodiff nobody asks for gradients, so only the
/// forward pass runs, over the rows that count.
fn loss_only(
    hidden: &FlexTensor,
    weight: &FlexTensor,
    targets: &FlexTensor,
    row_weights: &FlexTensor,
    bf16: bool,
) -> FlexTensor {
    let (out, _) = linear_cross_entropy(hidden, weight, targets, Some(row_weights), false, bf16);
    tensor(vec![weighted_loss(&out.logprobs, row_weights)], vec![1])
}

fn weighted_loss(logprobs: &[f32], row_weights: &FlexTensor) -> f32 {
    let w = f32_values(row_weights);
    -logprobs
        .iter()
        .zip(w.iter())
        .map(|(&lp, &w)| lp as f64 * w as f64)
        .sum::<f64>() as f32
}

impl FusedOps for Flex {
    fn linear_cross_entropy(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        loss_only(&hidden, &weight, &targets, &row_weights, false)
    }

    fn linear_target_logprobs(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        let (out, [n, ..]) = linear_cross_entropy(&hidden, &weight, &targets, None, false, false);
        tensor(out.logprobs, vec![n])
    }

    fn layer_norm(
        x: FloatTensor<Self>,
        gain: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        layer_norm_forward(&x, &gain, &bias, epsilon).0
    }

    fn gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let shape = x.layout().shape().to_vec();
        tensor(gelu::forward(&f32_values(&x)), shape)
    }

    fn attention_softmax(
        scores: FloatTensor<Self>,
        past: usize,
        scale: f64,
        dropout: f64,
    ) -> FloatTensor<Self> {
        let key = (dropout > 0.0).then(|| next_key(dropout));
        let (probs, weights, _) = attention_forward(&scores, past, scale, key);
        weights.unwrap_or(probs)
    }
    fn residual_dropout(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dropout: f64,
    ) -> FloatTensor<Self> {
        let key = (dropout > 0.0).then(|| next_key(dropout));
        residual_dropout_forward(&x, &y, key)
    }

    fn linear_bf16(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        linear_bf16_forward(&x, &w, &b)
    }

    fn linear_cross_entropy_bf16(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        loss_only(&hidden, &weight, &targets, &row_weights, true)
    }
}

/// `x + y ⊙ mask` on flex tensors of one shape (no mask: `x + y`).
fn residual_dropout_forward(x: &FlexTensor, y: &FlexTensor, key: Option<MaskKey>) -> FlexTensor {
    let shape = x.layout().shape().to_vec();
    assert_eq!(
        shape,
        y.layout().shape().to_vec(),
        "residual and sublayer shapes differ"
    );
    tensor(
        masked::add_masked(&f32_values(x), &f32_values(y), key),
        shape,
    )
}

/// Attention softmax forward on a flex tensor: P, the weights when dropout applies, and the
/// number of keys.
fn attention_forward(
    scores: &FlexTensor,
    past: usize,
    scale: f64,
    key: Option<MaskKey>,
) -> (FlexTensor, Option<FlexTensor>, usize) {
    let shape = scores.layout().shape().to_vec();
    assert_eq!(shape.len(), 4, "scores are [batch, heads, queries, keys]");
    let (queries, keys) = (shape[2], shape[3]);
    let causal = attention_softmax::Causal {
        queries,
        keys,
        past,
    };
    let (p, w) = attention_softmax::forward(&f32_values(scores), causal, scale as f32, key);
    (tensor(p, shape.clone()), w.map(|w| tensor(w, shape)), keys)
}

/// LayerNorm forward on flex tensors: `y` and each row's mean and 1/σ, as [rows] tensors.
fn layer_norm_forward(
    x: &FlexTensor,
    gain: &FlexTensor,
    bias: &FlexTensor,
    epsilon: f64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let shape = x.layout().shape().to_vec();
    let width = *shape.last().expect("LayerNorm needs at least one axis");
    let (y, mean, rstd) = layer_norm::forward(
        &f32_values(x),
        &f32_values(gain),
        &f32_values(bias),
        width,
        epsilon,
    );
    let rows = mean.len();
    (
        tensor(y, shape),
        tensor(mean, vec![rows]),
        tensor(rstd, vec![rows]),
    )
}

/// Backward of the fused LM loss: the gradients were made in the forward pass for an incoming
/// gradient of 1; here they are scaled by the real one.
#[derive(Debug)]
struct LinearCrossEntropyBackward;

impl Backward<Flex, 2> for LinearCrossEntropyBackward {
    /// dH [n, d] and dW [v, d] of the loss.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let incoming = grads.consume::<Flex>(&ops.node);
        let g = f32_values(&incoming)[0];
        let (dh, dw) = ops.state;
        let [hidden, weight] = ops.parents;
        let scaled = |t: FlexTensor| {
            if g == 1.0 {
                t
            } else {
                <Flex as burn::backend::ops::FloatTensorOps<Flex>>::float_mul_scalar(t, g.into())
            }
        };
        if let Some(node) = hidden {
            grads.register::<Flex>(node.id, scaled(dh));
        }
        if let Some(node) = weight {
            grads.register::<Flex>(node.id, scaled(dw));
        }
    }
}

impl<C: CheckpointStrategy> FusedOps for Autodiff<Flex, C> {
    fn linear_cross_entropy(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        tracked_linear_cross_entropy::<C>(hidden, weight, targets, row_weights, false)
    }

    fn linear_cross_entropy_bf16(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        tracked_linear_cross_entropy::<C>(hidden, weight, targets, row_weights, true)
    }

    fn linear_target_logprobs(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        let out =
            Flex::linear_target_logprobs(hidden.into_primitive(), weight.into_primitive(), targets);
        FloatTensor::<Self>::new(out)
    }

    fn layer_norm(
        x: FloatTensor<Self>,
        gain: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let guards = [x.node(), gain.node(), bias.node()];
        let (x, gain, bias) = (
            x.into_primitive(),
            gain.into_primitive(),
            bias.into_primitive(),
        );
        let (y, mean, rstd) = layer_norm_forward(&x, &gain, &bias, epsilon);
        match LayerNormBackward
            .prepare::<C>(guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x, gain, mean, rstd), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn attention_softmax(
        scores: FloatTensor<Self>,
        past: usize,
        scale: f64,
        dropout: f64,
    ) -> FloatTensor<Self> {
        let guards = [scores.node()];
        let scores = scores.into_primitive();
        let key = (dropout > 0.0).then(|| next_key(dropout));
        let (probs, weights, _) = attention_forward(&scores, past, scale, key);
        let out = weights.unwrap_or_else(|| probs.clone());
        match AttentionSoftmaxBackward
            .prepare::<C>(guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((probs, key, scale as f32), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn residual_dropout(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dropout: f64,
    ) -> FloatTensor<Self> {
        let guards = [x.node(), y.node()];
        let (x, y) = (x.into_primitive(), y.into_primitive());
        let key = (dropout > 0.0).then(|| next_key(dropout));
        let out = residual_dropout_forward(&x, &y, key);
        match ResidualDropoutBackward
            .prepare::<C>(guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(key, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let guards = [x.node()];
        let x = x.into_primitive();
        let y = Flex::gelu(x.clone());
        match GeluBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(x, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn linear_bf16(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let guards = [x.node(), w.node(), b.node()];
        let (x, w, b) = (x.into_primitive(), w.into_primitive(), b.into_primitive());
        let y = linear_bf16_forward(&x, &w, &b);
        match LinearBf16Backward
            .prepare::<C>(guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x, w), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

/// `x·w + b` on flex tensors with the bf16 kernel: [n, in] · [in, out] + [out].
fn linear_bf16_forward(x: &FlexTensor, w: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    let (xs, ws) = (x.layout().shape().to_vec(), w.layout().shape().to_vec());
    assert!(
        xs.len() == 2 && ws.len() == 2 && xs[1] == ws[0],
        "x [n, in] and w [in, out]"
    );
    let (n, k, m) = (xs[0], xs[1], ws[1]);
    let (xv, wv, bv) = (f32_values(x), f32_values(w), f32_values(b));
    assert_eq!(bv.len(), m, "one bias per output");
    let mut y = vec![0f32; n * m];
    for row in y.chunks_mut(m) {
        row.copy_from_slice(&bv);
    }
    bf16_gemm::gemm(
        Strided::row_major(&xv, n, k),
        Strided::row_major(&wv, k, m),
        &mut y,
        true,
    );
    tensor(y, vec![n, m])
}

/// Backward of [`linear_bf16_forward`]: parents x, w, b; the state is x and w.
#[derive(Debug)]
struct LinearBf16Backward;

impl Backward<Flex, 3> for LinearBf16Backward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w) = ops.state;
        let (xs, ws) = (x.layout().shape().to_vec(), w.layout().shape().to_vec());
        let (n, k, m) = (xs[0], xs[1], ws[1]);
        let dyv = f32_values(&dy);
        let dy_view = Strided::row_major(&dyv, n, m);
        let [x_node, w_node, b_node] = ops.parents;
        if let Some(node) = x_node {
            // dX = dY · wᵀ
            let wv = f32_values(&w);
            let mut dx = vec![0f32; n * k];
            bf16_gemm::gemm(dy_view, Strided::row_major(&wv, k, m).t(), &mut dx, false);
            grads.register::<Flex>(node.id, tensor(dx, vec![n, k]));
        }
        if let Some(node) = w_node {
            // dW = xᵀ · dY
            let xv = f32_values(&x);
            let mut dw = vec![0f32; k * m];
            bf16_gemm::gemm(Strided::row_major(&xv, n, k).t(), dy_view, &mut dw, false);
            grads.register::<Flex>(node.id, tensor(dw, vec![k, m]));
        }
        if let Some(node) = b_node {
            let mut db = vec![0f32; m];
            for row in dyv.chunks(m) {
                db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
            }
            grads.register::<Flex>(node.id, tensor(db, vec![m]));
        }
    }
}

/// The fused LM head on `Autodiff<Flex>`, its products in bf16 when `bf16`.
fn tracked_linear_cross_entropy<C: CheckpointStrategy>(
    hidden: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    targets: IntTensor<Autodiff<Flex, C>>,
    row_weights: FloatTensor<Autodiff<Flex, C>>,
    bf16: bool,
) -> FloatTensor<Autodiff<Flex, C>> {
    let guards = [hidden.node(), weight.node()];
    let (hidden, weight) = (hidden.into_primitive(), weight.into_primitive());
    let row_weights = row_weights.into_primitive();
    match LinearCrossEntropyBackward
        .prepare::<C>(guards)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, [n, d, v]) =
                linear_cross_entropy(&hidden, &weight, &targets, Some(&row_weights), true, bf16);
            let loss = weighted_loss(&out.logprobs, &row_weights);
            let (dh, dw) = out.grads.expect("gradients were asked for");
            let state = (tensor(dh, vec![n, d]), tensor(dw, vec![v, d]));
            prep.finish(state, tensor(vec![loss], vec![1]))
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(loss_only(&hidden, &weight, &targets, &row_weights, bf16))
        }
    }
}

/// Backward of the fused LayerNorm: parents x, gain, bias.
#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    /// x, gain, and each row's mean and 1/σ from the forward pass.
    type State = (FlexTensor, FlexTensor, FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, gain, mean, rstd) = ops.state;
        let shape = x.layout().shape().to_vec();
        let width = *shape.last().unwrap();
        let (dx, dgain, dbias) = layer_norm::backward(
            &f32_values(&x),
            &f32_values(&gain),
            &f32_values(&mean),
            &f32_values(&rstd),
            &f32_values(&dy),
            width,
        );
        let [x_node, gain_node, bias_node] = ops.parents;
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, tensor(dx, shape));
        }
        if let Some(node) = gain_node {
            grads.register::<Flex>(node.id, tensor(dgain, vec![width]));
        }
        if let Some(node) = bias_node {
            grads.register::<Flex>(node.id, tensor(dbias, vec![width]));
        }
    }
}

/// Backward of the fused GELU: the parent's input is the state.
#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let x = ops.state;
        let [parent] = ops.parents;
        if let Some(node) = parent {
            let shape = x.layout().shape().to_vec();
            let dx = gelu::backward(&f32_values(&x), &f32_values(&dy));
            grads.register::<Flex>(node.id, tensor(dx, shape));
        }
    }
}

/// Backward of the fused attention softmax: the probabilities P, the dropout key, the scale.
#[derive(Debug)]
struct AttentionSoftmaxBackward;

impl Backward<Flex, 1> for AttentionSoftmaxBackward {
    type State = (FlexTensor, Option<MaskKey>, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dw = grads.consume::<Flex>(&ops.node);
        let (probs, key, scale) = ops.state;
        let [parent] = ops.parents;
        if let Some(node) = parent {
            let shape = probs.layout().shape().to_vec();
            let keys = shape[3];
            let ds = attention_softmax::backward(
                &f32_values(&probs),
                &f32_values(&dw),
                keys,
                scale,
                key,
            );
            grads.register::<Flex>(node.id, tensor(ds, shape));
        }
    }
}

/// Backward of `x + dropout(y)`: dx = g, dy = g ⊙ mask.
#[derive(Debug)]
struct ResidualDropoutBackward;

impl Backward<Flex, 2> for ResidualDropoutBackward {
    type State = Option<MaskKey>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let g = grads.consume::<Flex>(&ops.node);
        let [x_node, y_node] = ops.parents;
        if let Some(node) = y_node {
            let dy = match ops.state {
                Some(key) => {
                    let shape = g.layout().shape().to_vec();
                    tensor(masked::times_mask(&f32_values(&g), key), shape)
                }
                None => g.clone(),
            };
            grads.register::<Flex>(node.id, dy);
        }
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, g);
        }
    }
}
