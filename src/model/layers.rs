//! The small building blocks of the GPT-1 decoder, named and laid out as in the official
//! release and Hugging Face's `openai-gpt`, so that parameter paths *are* checkpoint names.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Distribution, Shape, Tensor};

/// How a parameter starts out.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    Normal(f64),
    Zeros,
    Ones,
}

/// A parameter created lazily: nothing is allocated until the value is first used, so that
/// loading a checkpoint into a new model never pays for a random initialisation.
/// [`crate::Gpt::new`] draws every parameter at once, in declaration order ([`initialize_now`]),
/// so that a seeded initialisation does not depend on the order of first use.
pub fn param<const D: usize>(shape: [usize; D], init: Init, device: &Device) -> Param<Tensor<D>> {
    Param::uninitialized(
        ParamId::new(),
        move |device: &Device, require_grad: bool| {
            let tensor = match init {
                // On a GPU the values are drawn on the host (seeded by `crate::rng::seed`), so
                // that a seed gives the same model on every backend.
                Init::Normal(std) if !crate::device::on_cpu(device) => Tensor::from_data(
                    Tensor::<D>::random(
                        shape,
                        Distribution::Normal(0.0, std),
                        &crate::device::host(),
                    )
                    .into_data(),
                    device,
                ),
                Init::Normal(std) => Tensor::random(shape, Distribution::Normal(0.0, std), device),
                Init::Zeros => Tensor::zeros(shape, device),
                Init::Ones => Tensor::ones(shape, device),
            };
            if require_grad {
                tensor.require_grad()
            } else {
                tensor
            }
        },
        device.clone(),
        true,
        Shape::from(shape),
    )
}

/// A parameter of `shape` whose values were let go: the model uses a packed copy instead
/// ([`crate::Gpt::into_bf16_weights`]). It keeps its shape; reading its values (to save the
/// model, say) panics with `why`, instead of handing out made-up numbers.
pub fn released<const D: usize>(
    shape: [usize; D],
    why: &'static str,
    device: &Device,
) -> Param<Tensor<D>> {
    Param::uninitialized(
        ParamId::new(),
        move |_: &Device, _: bool| -> Tensor<D> { panic!("{why}") },
        device.clone(),
        false,
        Shape::from(shape),
    )
}

/// Draws every parameter of `module` that is still lazy, now, in declaration order.
///
/// burn's `Module::materialize` does not: since burn 0.22 it merges reparameterisations (LoRA)
/// and leaves a lazy parameter lazy, to be drawn at its first use. That first use came after
/// [`crate::rng::seeded`] had let go of the device's generator, so two models built on two
/// threads of one process drew from each other's sequence (with their lock removed, 6 to 13
/// in 100 runs of the resume tests started from other weights).
pub fn initialize_now<M: Module>(module: M) -> M {
    struct Draw;
    impl ModuleVisitor for Draw {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            // Reading the value runs its pending initialisation.
            let _ = param.val();
        }
    }
    module.visit(&mut Draw);
    module
}

/// An affine map stored input × output, as the release's `conv1d` with kernel width 1 and
/// Hugging Face's `Conv1D` store it (the transpose of `nn.Linear`).
#[derive(Module, Debug)]
pub struct Conv1D {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    /// Multiply in bf16 with fp32 sums ([`crate::kernels::linear_bf16`]): set on the compute
    /// copy of `--precision bf16` ([`crate::precision`]), never stored.
    #[module(skip)]
    pub bf16_products: bool,
    /// The weight rounded to bf16 and packed once for inference
    /// ([`crate::Gpt::with_bf16_weights`]): forward then multiplies with it
    /// ([`crate::kernels::linear_packed_bf16`]), reading half the bytes, without gradients.
    #[module(skip)]
    pub packed_bf16: Option<std::sync::Arc<crate::kernels::bf16_gemm::PackedB>>,
}

impl Conv1D {
    /// Weights N(0, std), bias 0, as the release initialises them.
    pub fn new(n_in: usize, n_out: usize, std: f64, device: &Device) -> Self {
        Self {
            weight: param([n_in, n_out], Init::Normal(std), device),
            bias: param([n_out], Init::Zeros, device),
            bf16_products: false,
            packed_bf16: None,
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, time, n_in] = x.dims();
        // One [B·T, in] × [in, out] product: a single large GEMM is the fastest shape on CPU.
        let x = x.reshape([batch * time, n_in]);
        let y = if let Some(packed) = &self.packed_bf16 {
            // The packed copy alone: the fp32 weight may have been let go
            // ([`crate::Gpt::into_bf16_weights`]).
            crate::kernels::linear_packed_bf16(x, packed, Some(self.bias.val()))
        } else if self.bf16_products {
            crate::kernels::linear_bf16(x, self.weight.val(), self.bias.val())
        } else {
            x.matmul(self.weight.val()) + self.bias.val().unsqueeze()
        };
        let n_out = y.dims()[1];
        y.reshape([batch, time, n_out])
    }
}

/// LayerNorm over the last axis with gain `weight` and offset `bias` (the release's `g`, `b`).
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub epsilon: f64,
}

impl LayerNorm {
    pub fn new(width: usize, epsilon: f64, device: &Device) -> Self {
        Self {
            weight: param([width], Init::Ones, device),
            bias: param([width], Init::Zeros, device),
            epsilon,
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        // The release's formula (biased variance, epsilon inside the square root): one fused
        // pass on flex, the composed operations elsewhere (`kernels::reference_layer_norm`).
        crate::kernels::layer_norm(x, self.weight.val(), self.bias.val(), self.epsilon)
    }
}

/// The tanh approximation of GELU that the release uses:
/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`: fused on flex (`kernels::gelu`), composed
/// elsewhere (`kernels::reference_gelu`).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    crate::kernels::gelu(x)
}
