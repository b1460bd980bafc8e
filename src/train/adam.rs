//! The Adam variant of the official release (`opt.py`), which differs from `torch.optim.AdamW`:
//!
//! - the step size is bias-corrected and scheduled: `lrt = lr · √(1−β2ᵗ)/(1−β1ᵗ) · schedule`;
//! - weight decay is decoupled L2 *scaled by that same `lrt`*: `p ← p − lrt·(m̂/(√v+ε) + w·p)`;
//! - decay applies to every tensor of rank > 1 (embeddings included), never to biases or gains.
//!
//! Moments are kept per parameter name, flattened, so that checkpoints store them by name.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::grads::NamedGrads;
use crate::weights::named::PathStack;
use crate::weights::{HostTensor, NamedTensors};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    /// Peak learning rate (paper: 2.5e-4 pre-training, 6.25e-5 fine-tuning).
    pub lr: f64,
    pub b1: f64,
    pub b2: f64,
    pub eps: f64,
    /// Decoupled L2 weight `w` (paper: 0.01).
    pub l2: f64,
    /// Decay rank-1 tensors (biases, gains) too; the release's default is false.
    pub vector_l2: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 2.5e-4,
            b1: 0.9,
            b2: 0.999,
            eps: 1e-8,
            l2: 0.01,
            vector_l2: false,
        }
    }
}

pub struct OpenAiAdam {
    pub config: AdamConfig,
    /// Updates applied so far (the release's `t`).
    pub step: u64,
    /// name → (first moment m, second moment v), flat.
    moments: BTreeMap<String, (Tensor<1>, Tensor<1>)>,
}

impl OpenAiAdam {
    pub fn new(config: AdamConfig) -> Self {
        Self {
            config,
            step: 0,
            moments: BTreeMap::new(),
        }
    }

    /// Applies one update with `grads` (already averaged and clipped) and the schedule's
    /// multiplier for this update. Parameters without a gradient are left as they are.
    pub fn update<M: Module>(&mut self, model: M, grads: &NamedGrads, schedule_factor: f64) -> M {
        let c = &self.config;
        let t = (self.step + 1) as i32;
        let lrt = c.lr * (1.0 - c.b2.powi(t)).sqrt() / (1.0 - c.b1.powi(t)) * schedule_factor;
        let mut mapper = Update {
            path: PathStack::default(),
            grads: &grads.grads,
            moments: &mut self.moments,
            config: c,
            lrt,
        };
        let model = model.map(&mut mapper);
        self.step += 1;
        model
    }

    /// The moments as host tensors named `m.<param>` and `v.<param>`, for checkpoints.
    pub fn export_moments(&self) -> NamedTensors {
        let mut out = NamedTensors::new();
        for (name, (m, v)) in &self.moments {
            out.insert(format!("m.{name}"), HostTensor::from_tensor(m));
            out.insert(format!("v.{name}"), HostTensor::from_tensor(v));
        }
        out
    }

    /// Restores moments written by [`Self::export_moments`].
    pub fn import_moments(
        &mut self,
        mut tensors: NamedTensors,
        device: &burn::tensor::Device,
    ) -> Result<(), String> {
        self.moments.clear();
        let names: Vec<String> = tensors
            .keys()
            .filter_map(|k| k.strip_prefix("m.").map(str::to_string))
            .collect();
        for name in names {
            let m = tensors.remove(&format!("m.{name}")).expect("listed");
            let v = tensors
                .remove(&format!("v.{name}"))
                .ok_or_else(|| format!("second moment v.{name} is missing"))?;
            let to_tensor = |h: HostTensor| {
                let n = h.values.len();
                Tensor::<1>::from_data(burn::tensor::TensorData::new(h.values, [n]), device)
            };
            self.moments.insert(name, (to_tensor(m), to_tensor(v)));
        }
        match tensors.keys().next() {
            Some(extra) => Err(format!("unexpected optimizer tensor {extra}")),
            None => Ok(()),
        }
    }
}

struct Update<'a> {
    path: PathStack,
    grads: &'a BTreeMap<String, Tensor<1>>,
    moments: &'a mut BTreeMap<String, (Tensor<1>, Tensor<1>)>,
    config: &'a AdamConfig,
    lrt: f64,
}

impl ModuleMapper for Update<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.name();
        let Some(grad) = self.grads.get(&name) else {
            return param;
        };
        let c = self.config;
        let (id, value, mapper) = param.consume();
        let autodiff = value.is_autodiff();
        let dims = value.dims();
        let n = grad.dims()[0];
        let p = value.inner().reshape([n]);

        let (m, v) = self.moments.remove(&name).unwrap_or_else(|| {
            let zeros = Tensor::zeros([n], &grad.device());
            (zeros.clone(), zeros)
        });
        let m = m.mul_scalar(c.b1) + grad.clone().mul_scalar(1.0 - c.b1);
        let v = v.mul_scalar(c.b2) + grad.clone().square().mul_scalar(1.0 - c.b2);
        let mut step = m.clone() / (v.clone().sqrt() + c.eps);
        if (D > 1 || c.vector_l2) && c.l2 > 0.0 {
            step = step + p.clone().mul_scalar(c.l2);
        }
        let p = p - step.mul_scalar(self.lrt);
        self.moments.insert(name, (m, v));

        let p = p.reshape(dims);
        let p = if autodiff {
            p.autodiff().require_grad()
        } else {
            p
        };
        Param::from_mapped_value(id, p, mapper)
    }
}
