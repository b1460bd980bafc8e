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

    /// The global L2 norm over every gradient.
    pub fn global_norm(&self) -> f64 {
        // One scalar per tensor, summed on the host in f64.
        self.grads
            .values()
            .map(|g| g.clone().square().sum().into_scalar::<f32>() as f64)
            .sum::<f64>()
            .sqrt()
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
