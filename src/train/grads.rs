//! Gradients by parameter name, flattened to rank 1 so that tensors of every rank share one
//! map: collected after `backward`, summed over micro-batches, averaged, clipped.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Gradients, Tensor};

use crate::weights::named::PathStack;

/// Every float parameter of a model as (checkpoint name, number of values), in the order the
/// model visits them: the layout of the flat buffer that data-parallel ranks all-reduce.
pub type ParameterLayout = Vec<(String, usize)>;

/// The [`ParameterLayout`] of `model`, named as [`NamedGrads`] names their gradients.
pub fn parameter_layout<M: Module>(model: &M) -> ParameterLayout {
    struct Names {
        path: PathStack,
        out: ParameterLayout,
    }
    impl ModuleVisitor for Names {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n = param.val().shape().num_elements();
            self.out.push((self.path.name(), n));
        }
    }
    let mut names = Names {
        path: PathStack::default(),
        out: Vec::new(),
    };
    model.visit(&mut names);
    names.out
}

/// Checkpoint name → flat gradient (no autodiff graph attached).
#[derive(Default)]
pub struct NamedGrads {
    pub grads: BTreeMap<String, Tensor<1>>,
    /// Micro-batches summed in so far.
    pub count: usize,
}

impl NamedGrads {
    /// Adds the gradients of one backward pass.
    pub fn accumulate<M: Module>(&mut self, model: &M, grads: Gradients) {
        struct Collect<'a> {
            path: PathStack,
            grads: Gradients,
            into: &'a mut BTreeMap<String, Tensor<1>>,
        }
        impl ModuleVisitor for Collect<'_> {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.path.enter(name);
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.exit();
            }
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let Some(grad) = param.val().grad_remove(&mut self.grads) else {
                    return;
                };
                let n = grad.shape().num_elements();
                let grad = grad.reshape([n]);
                let name = self.path.name();
                let sum = match self.into.remove(&name) {
                    Some(previous) => previous + grad,
                    None => grad,
                };
                self.into.insert(name, sum);
            }
        }
        model.visit(&mut Collect {
            path: PathStack::default(),
            grads,
            into: &mut self.grads,
        });
        self.count += 1;
    }

    /// Divides the sum by the number of micro-batches: losses are averaged, never summed.
    pub fn average(&mut self) {
        if self.count > 1 {
            let scale = 1.0 / self.count as f64;
            for g in self.grads.values_mut() {
                *g = g.clone().mul_scalar(scale);
            }
            self.count = 1;
        }
    }

    /// The global L2 norm over every gradient: each tensor's Σ g² ([`sum_of_squares`]), added
    /// in f64 in name order. (`&mut`: each gradient's values are read in place and handed back.)
    pub fn global_norm(&mut self) -> f64 {
        let mut total = 0.0;
        self.grads = std::mem::take(&mut self.grads)
            .into_iter()
            .map(|(name, g)| {
                let (sum, g) = sum_of_squares(g);
                total += sum;
                (name, g)
            })
            .collect();
        total.sqrt()
    }

    /// `tf.clip_by_global_norm`: scales every gradient by `max_norm / max(norm, max_norm)`.
    /// Returns the norm before clipping.
    pub fn clip_global_norm(&mut self, max_norm: f64) -> f64 {
        let norm = self.global_norm();
        if max_norm > 0.0 && norm > max_norm {
            let scale = max_norm / norm;
            for g in self.grads.values_mut() {
                *g = g.clone().mul_scalar(scale);
            }
        }
        norm
    }
}

/// Σ g² of one gradient, in f64, the same bits however rayon schedules the work.
///
/// burn-flex sums a tensor of 4M values or more with rayon's adaptive reduction, whose
/// grouping follows which worker steals which half of the work: summed there, the same
/// gradients gave sums that differed in the last bit from one call to the next (measured on
/// 5M and 38M values), and with them the clipping factor, so a gpt1-sized run could not be
/// reproduced or resumed bit for bit. On the CPU the values
/// are summed here instead, in chunks of a fixed size whose partial sums are added in order.
/// A GPU backend keeps its own reduction (copying every gradient to the host each update would
/// cost more than the step).
pub fn sum_of_squares(g: Tensor<1>) -> (f64, Tensor<1>) {
    let device = g.device();
    if !crate::device::on_cpu(&device) {
        let sum = g.clone().square().sum().into_scalar::<f32>() as f64;
        return (sum, g);
    }
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    let sum = |values: &[f32]| -> f64 {
        let partial: Vec<f64> = values
            .par_chunks(CHUNK)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|&x| f64::from(x) * f64::from(x))
                    .sum::<f64>()
            })
            .collect();
        partial.iter().sum()
    };
    if g.dtype() != burn::tensor::DType::F32 {
        let values = g.clone().into_data().convert::<f32>();
        return (sum(values.as_slice().expect("f32 values")), g);
    }
    // A gradient nothing else holds hands over its buffer, and takes it back: no copy.
    let data = g.into_data();
    let total = sum(data.as_slice().expect("f32 values"));
    (total, Tensor::from_data(data, &device))
}
