//! Mixed precision: the arithmetic dtype of the forward and backward passes, apart from the
//! dtype of what is kept.
//!
//! The model's parameters (the master weights), the gradients the optimizer reads and the
//! optimizer's moments stay in fp32 whatever the precision; checkpoints therefore hold fp32.
//! With `bf16` each update works on a bf16 copy of the body made by [`compute_copy`]: a `cast`
//! of every parameter that autodiff records, so `backward` carries the bf16 gradients back
//! through the cast and they arrive on the fp32 parameters in fp32 (burn's `float_cast`
//! backward casts the gradient to the source dtype). The output layer and the loss stay in
//! fp32 (see [`Precision::lm_loss_mean`]): a log-softmax over 40,478 logits in bf16 (8 bits of
//! mantissa) would round the loss itself.
//!
//! On flex, on a CPU with AVX512-BF16 (and AMX-BF16 where present), `bf16` instead keeps every
//! tensor in fp32 and runs the linear layers' products, forward and backward, in the bf16 kernel
//! of [`crate::kernels::bf16_gemm`] (bf16 operands, fp32 sums): what PyTorch's CPU autocast does
//! for matmuls; the fused LM head's three products too, its softmax and loss staying fp32.
//! flex's own bf16 arithmetic goes through f32 and gains nothing.
//!
//! bf16 needs no loss scaling: it has fp32's exponent range, so small gradients do not flush to
//! zero as they do in f16. f16 is therefore not offered.
//!
//! burn 0.22 has no dtype promotion: every operand of an operation must share one dtype (flex
//! checks it only in debug builds). Tensors the model makes itself follow their input's dtype
//! for that reason (dropout masks), and the fused flex kernels, written for f32 buffers, step
//! aside for other dtypes ([`crate::kernels`]).

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{DType, Device, FloatDType, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::Gpt;

/// The arithmetic precision of training (`train.precision`, `--precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in fp32 (the default, and what the CPU backends are fastest at).
    #[default]
    Fp32,
    /// The transformer body in bf16 on fp32 master weights; output layer and loss in fp32.
    Bf16,
}

impl Precision {
    pub const NAMES: &'static [&'static str] = &["fp32", "bf16"];

    /// The dtype the body computes in.
    pub fn compute_dtype(self) -> FloatDType {
        match self {
            Precision::Fp32 => FloatDType::F32,
            Precision::Bf16 => FloatDType::BF16,
        }
    }

    /// Whether `device` can compute in this precision. burn's CubeCL backends require buffer,
    /// conversion, arithmetic and dot-product support for a dtype; Vulkan drivers expose bf16
    /// through `VK_KHR_shader_bfloat16` for storage, conversion and dot products only, so cubecl
    /// 0.11 does not offer bf16 arithmetic there (CUDA has it; flex computes bf16 through f32).
    pub fn check_supported(self, device: &Device) -> Result<(), String> {
        let dtype = self.compute_dtype();
        if device.supports_dtype(dtype) {
            Ok(())
        } else {
            Err(format!(
                "precision {self}: this device has no {dtype:?} arithmetic in burn 0.22 \
                 (ndarray has no bf16; Vulkan and WGSL have it for storage and dot products \
                 only, and f16 with loss scaling is not implemented); use --precision fp32 \
                 (train.precision = \"fp32\"), or bf16 on flex or cuda"
            ))
        }
    }

    /// The mean next-token loss of `ids` [batch, time + 1] under `model` (fp32 master
    /// weights): the body at this precision, then the tied output layer and the loss in fp32.
    /// At fp32 this is exactly the unmixed computation (no copy, no cast).
    pub fn lm_loss_mean(
        self,
        model: &Gpt,
        inputs: Tensor<2, Int>,
        targets: Tensor<2, Int>,
        train: bool,
    ) -> Tensor<1> {
        let hidden = match self {
            Precision::Fp32 => model.forward(inputs, train).hidden,
            // Where the CPU multiplies bf16 natively, only the linear layers' products run in
            // bf16 (autocast's choice): everything else stays fp32 and nothing is cast.
            Precision::Bf16 if crate::kernels::bf16_gemm_on(&inputs.device()) => {
                // The LM head's products in bf16 too (fp32 softmax and loss).
                let model = model.with_bf16_products();
                let hidden = model.forward(inputs, train).hidden;
                return model.lm_loss_mean(hidden, targets);
            }
            Precision::Bf16 => to_fp32(compute_copy(model, self).forward(inputs, train).hidden),
        };
        model.lm_loss_mean(hidden, targets)
    }

    /// `model` ready for inference at this precision. bf16 rounds every linear layer's weight
    /// and the output matrix to bf16 once and multiplies with fp32 sums, keeping only the bf16
    /// copies ([`Gpt::into_bf16_weights`]). It needs flex on a CPU with AVX512-BF16, where
    /// the products are native, or with AVX2 and FMA, where each weight is widened to fp32 as
    /// it is read: no faster per operation than fp32, but half the bytes per decoded token.
    pub fn for_inference(self, model: Gpt) -> Result<Gpt, String> {
        self.prepare(model, true)
    }

    /// [`Self::for_inference`] for a decoder under a classifier head: its output matrix, which
    /// classification never reads, is not packed.
    pub fn for_classifier(self, model: Gpt) -> Result<Gpt, String> {
        self.prepare(model, false)
    }

    /// The model in `dir` loaded for inference at this precision: [`Self::for_inference`] of
    /// [`crate::weights::load_model`], except that in bf16 a Hugging Face directory is packed
    /// as it is read ([`crate::weights::hf::load_bf16`]), never holding all its fp32 weights.
    pub fn load_model(
        self,
        dir: &std::path::Path,
        options: &crate::weights::LoadOptions,
        device: &burn::tensor::Device,
    ) -> anyhow::Result<Gpt> {
        let hugging_face = dir.join(crate::weights::hf::CONFIG_FILE).exists();
        if self == Precision::Bf16 && hugging_face && crate::kernels::bf16_weights_on(device) {
            announce_bf16();
            return Ok(crate::weights::hf::load_bf16(dir, device)?);
        }
        let model = crate::weights::load_model(dir, options, device)?;
        self.for_inference(model).map_err(anyhow::Error::msg)
    }

    fn prepare(self, model: Gpt, with_head: bool) -> Result<Gpt, String> {
        match self {
            Precision::Fp32 => Ok(model),
            Precision::Bf16 if crate::kernels::bf16_weights_on(&model.device()) => {
                announce_bf16();
                Ok(model.into_bf16_weights(with_head))
            }
            Precision::Bf16 => Err(
                "--precision bf16 for inference needs the flex backend on an x86-64 CPU with \
                 AVX2 and FMA (AVX512-BF16 multiplies natively), and the fused kernels on \
                 (GENPT_FUSED unset); use --precision fp32"
                    .into(),
            ),
        }
    }
}

/// Says on stderr which path bf16 products take on this CPU.
fn announce_bf16() {
    eprintln!(
        "bf16 weights: products through {}",
        crate::kernels::bf16_gemm::path_name()
    );
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fp32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            other => Err(format!(
                "precision {other:?} is not one of {}",
                Precision::NAMES.join(", ")
            )),
        }
    }
}

/// A copy of `model` whose parameters are cast to `precision`'s compute dtype. The casts are
/// recorded by autodiff when `model` is on an autodiff device, so gradients flow back to the
/// fp32 parameters of `model` (whose names and ids the copy shares). Cheap next to an update:
/// one pass over the parameters.
pub fn compute_copy(model: &Gpt, precision: Precision) -> Gpt {
    struct Cast(FloatDType);
    impl ModuleMapper for Cast {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let dtype = self.0;
            param.map(|t| t.cast(dtype))
        }
    }
    model.clone().map(&mut Cast(precision.compute_dtype()))
}

/// `x` in fp32 (the identity when it already is).
pub fn to_fp32<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.dtype() == DType::F32 {
        x
    } else {
        x.cast(FloatDType::F32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Precision::NAMES {
            assert_eq!(name.parse::<Precision>().unwrap().to_string(), *name);
        }
        assert!("f16"
            .parse::<Precision>()
            .unwrap_err()
            .contains("fp32, bf16"));
        assert_eq!(Precision::default(), Precision::Fp32);
    }
}
