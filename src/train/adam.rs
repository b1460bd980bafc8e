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
    /// multiplier for this update. Parameters without a gradient are left as they are. The
    /// gradients are consumed: the in-place update reads each one's buffer without a copy.
    pub fn update<M: Module>(&mut self, model: M, grads: NamedGrads, schedule_factor: f64) -> M {
        let c = &self.config;
        let t = (self.step + 1) as i32;
        let lrt = c.lr * (1.0 - c.b2.powi(t)).sqrt() / (1.0 - c.b1.powi(t)) * schedule_factor;
        let mut mapper = Update {
            path: PathStack::default(),
            grads: grads.grads,
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
    grads: BTreeMap<String, Tensor<1>>,
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
        let Some(grad) = self.grads.remove(&name) else {
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
        let decay = (D > 1 || c.vector_l2) && c.l2 > 0.0;
        let state = AdamState { p, m, v };
        let AdamState { p, m, v } = if crate::kernels::fused_on(&grad.device()) {
            fused_step(state, grad, c, self.lrt, decay)
        } else {
            composed_step(state, &grad, c, self.lrt, decay)
        };
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

/// One parameter's values and moments, flat.
struct AdamState {
    p: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
}

/// The update of one parameter in tensor operations (every backend; the reference):
/// `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`, `p ← p − lrt·(m/(√v + ε) [+ w·p])`.
fn composed_step(
    AdamState { p, m, v }: AdamState,
    grad: &Tensor<1>,
    c: &AdamConfig,
    lrt: f64,
    decay: bool,
) -> AdamState {
    let m = m.mul_scalar(c.b1) + grad.clone().mul_scalar(1.0 - c.b1);
    let v = v.mul_scalar(c.b2) + grad.clone().square().mul_scalar(1.0 - c.b2);
    let mut step = m.clone() / (v.clone().sqrt() + c.eps);
    if decay {
        step = step + p.clone().mul_scalar(c.l2);
    }
    let p = p - step.mul_scalar(lrt);
    AdamState { p, m, v }
}

/// [`composed_step`] in one pass over the elements, in place on flex: the parameter and the
/// moments are updated in their own buffers (burn's flex tensors hand over their bytes when
/// nothing else holds them) instead of through ten tensor operations that each allocate and
/// sweep the whole parameter. The same f32 operations in the same order, so the result is
/// bit for bit the composed one (tested).
fn fused_step(
    AdamState { p, m, v }: AdamState,
    grad: Tensor<1>,
    c: &AdamConfig,
    lrt: f64,
    decay: bool,
) -> AdamState {
    use rayon::prelude::*;
    let device = p.device();
    let (mut pd, mut md, mut vd) = (p.into_data(), m.into_data(), v.into_data());
    let gd = grad.into_data();
    let (ps, ms, vs) = (
        pd.as_mut_slice::<f32>().expect("f32 parameters"),
        md.as_mut_slice::<f32>().expect("f32 moments"),
        vd.as_mut_slice::<f32>().expect("f32 moments"),
    );
    let gs = gd.as_slice::<f32>().expect("f32 gradients");
    // The scalars as burn's `mul_scalar`/`add_scalar` take them: computed in f64, used as f32.
    let (b1, nb1) = (c.b1 as f32, (1.0 - c.b1) as f32);
    let (b2, nb2) = (c.b2 as f32, (1.0 - c.b2) as f32);
    let (eps, l2, lrt) = (c.eps as f32, c.l2 as f32, lrt as f32);
    const CHUNK: usize = 1 << 14;
    ps.par_chunks_mut(CHUNK)
        .zip(ms.par_chunks_mut(CHUNK))
        .zip(vs.par_chunks_mut(CHUNK))
        .zip(gs.par_chunks(CHUNK))
        .for_each(|(((p, m), v), g)| {
            for i in 0..p.len() {
                let mi = m[i] * b1 + g[i] * nb1;
                let vi = v[i] * b2 + (g[i] * g[i]) * nb2;
                let mut step = mi / (vi.sqrt() + eps);
                if decay {
                    step += p[i] * l2;
                }
                p[i] -= step * lrt;
                m[i] = mi;
                v[i] = vi;
            }
        });
    AdamState {
        p: Tensor::from_data(pd, &device),
        m: Tensor::from_data(md, &device),
        v: Tensor::from_data(vd, &device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut draws = crate::rng::Draws::new(seed, 0);
        (0..n)
            .map(|_| (draws.below(20001) as f32 - 10000.0) / 10000.0 * scale)
            .collect()
    }

    fn tensor(values: Vec<f32>, device: &burn::tensor::Device) -> Tensor<1> {
        let n = values.len();
        Tensor::from_data(burn::tensor::TensorData::new(values, [n]), device)
    }

    fn host(t: &Tensor<1>) -> Vec<f32> {
        t.to_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn the_fused_step_is_the_composed_step_bit_for_bit() {
        let device = crate::device::device("flex").unwrap();
        let c = AdamConfig::default();
        // More elements than one chunk, and not a multiple of it.
        let n = 40_000;
        let start = || AdamState {
            p: tensor(values(n, 1, 0.1), &device),
            m: tensor(vec![0.0; n], &device),
            v: tensor(vec![0.0; n], &device),
        };
        let (mut fused, mut composed) = (start(), start());
        for step in 0..3u64 {
            let g = tensor(values(n, 10 + step, 1e-2), &device);
            let lrt = 2.5e-4 * (step + 1) as f64;
            let decay = step != 1;
            fused = fused_step(fused, g.clone(), &c, lrt, decay);
            composed = composed_step(composed, &g, &c, lrt, decay);
        }
        for (name, f, r) in [
            ("p", &fused.p, &composed.p),
            ("m", &fused.m, &composed.m),
            ("v", &fused.v, &composed.v),
        ] {
            let (f, r) = (host(f), host(r));
            let differ = f
                .iter()
                .zip(&r)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differ, 0, "{name}: {differ} of {n} elements differ");
        }
        // Negative control: a different ε changes the parameters (the check sees the formula).
        let g = tensor(values(n, 20, 1e-2), &device);
        let other = AdamConfig {
            eps: 1e-6,
            ..c.clone()
        };
        let a = host(&fused_step(start(), g.clone(), &c, 2.5e-4, true).p);
        let b = host(&composed_step(start(), &g, &other, 2.5e-4, true).p);
        assert!(a.iter().zip(&b).any(|(x, y)| x != y));
    }
}
