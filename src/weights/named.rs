//! Parameters by checkpoint name: the bridge between a [`Gpt`] and any file format.
//!
//! Module paths are checkpoint names because the model's fields are named like Hugging Face's
//! (`h.0.attn.c_attn.weight`); this module walks the model with burn's visitor and mapper and
//! never needs a hand-written list of names.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::WeightsError;
use crate::config::GptConfig;
use crate::model::Gpt;

/// A host-side f32 tensor: row-major values and their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl HostTensor {
    pub fn new(shape: Vec<usize>, values: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        Self { shape, values }
    }

    pub fn from_tensor<const D: usize>(tensor: &Tensor<D>) -> Self {
        let data = tensor.to_data().convert::<f32>();
        Self::new(
            data.shape().to_vec(),
            data.try_to_vec::<f32>().expect("f32 tensor data"),
        )
    }
}

/// Checkpoint name → tensor, sorted by name.
pub type NamedTensors = BTreeMap<String, HostTensor>;

/// Tracks the module path while burn walks the model.
#[derive(Default)]
pub struct PathStack(Vec<String>);

impl PathStack {
    pub fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    pub fn exit(&mut self) {
        self.0.pop();
    }
    pub fn name(&self) -> String {
        self.0.join(".")
    }
}

/// Every parameter of `model`, copied to the host, by checkpoint name.
pub fn export(model: &Gpt) -> NamedTensors {
    struct Exporter {
        path: PathStack,
        out: NamedTensors,
    }
    impl ModuleVisitor for Exporter {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.out
                .insert(self.path.name(), HostTensor::from_tensor(&param.val()));
        }
    }
    let mut exporter = Exporter {
        path: PathStack::default(),
        out: NamedTensors::new(),
    };
    model.visit(&mut exporter);
    exporter.out
}

/// The names and shapes a model of `config` has, in the order burn visits them.
pub fn expected_shapes(config: &GptConfig) -> Vec<(String, Vec<usize>)> {
    // Read off a lazy model (nothing allocated) so that the list cannot drift from the struct.
    struct Shapes {
        path: PathStack,
        out: Vec<(String, Vec<usize>)>,
    }
    impl ModuleVisitor for Shapes {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.out
                .push((self.path.name(), param.lazy_shape().to_vec()));
        }
    }
    let model = Gpt::new_lazy(config, &Device::default());
    let mut shapes = Shapes {
        path: PathStack::default(),
        out: Vec::new(),
    };
    model.visit(&mut shapes);
    shapes.out
}

/// Builds a model of `config` whose every parameter comes from `tensors`. Every name must be
/// present with the exact shape; names left over are an error too, so that a checkpoint of
/// another architecture never loads half-way.
pub fn import(
    config: &GptConfig,
    tensors: NamedTensors,
    device: &Device,
) -> Result<Gpt, WeightsError> {
    import_released(config, tensors, &Default::default(), device)
}

/// The checks every imported tensor passes: the shape the config expects, finite values.
pub fn check(name: &str, expected: &[usize], t: &HostTensor) -> Result<(), WeightsError> {
    if t.shape != expected {
        return Err(WeightsError::Shape {
            name: name.to_string(),
            expected: expected.to_vec(),
            found: t.shape.clone(),
        });
    }
    match t.values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(WeightsError::NonFinite {
            name: name.to_string(),
            index,
        }),
        None => Ok(()),
    }
}

/// [`import`] where the parameters named in `released` come without values: they are made
/// [`crate::model::layers::released`] (the caller holds a packed copy of each, as
/// `hf::load_bf16` does).
pub fn import_released(
    config: &GptConfig,
    mut tensors: NamedTensors,
    released: &std::collections::BTreeSet<String>,
    device: &Device,
) -> Result<Gpt, WeightsError> {
    for (name, shape) in expected_shapes(config) {
        if released.contains(&name) {
            continue;
        }
        match tensors.get(&name) {
            None => return Err(WeightsError::Missing { name }),
            Some(t) => check(&name, &shape, t)?,
        }
    }
    struct Importer<'a> {
        path: PathStack,
        tensors: &'a mut NamedTensors,
        released: &'a std::collections::BTreeSet<String>,
        device: Device,
    }
    impl ModuleMapper for Importer<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let name = self.path.name();
            if self.released.contains(&name) {
                return crate::model::layers::released(
                    param.lazy_shape().dims(),
                    crate::model::RELEASED_FOR_BF16,
                    &self.device,
                );
            }
            let host = self.tensors.remove(&name).expect("checked above");
            let tensor = Tensor::from_data(TensorData::new(host.values, host.shape), &self.device);
            Param::initialized(param.id, tensor.require_grad_if_autodiff())
        }
    }
    let model = Gpt::new_lazy(config, device);
    let mut importer = Importer {
        path: PathStack::default(),
        tensors: &mut tensors,
        released,
        device: device.clone(),
    };
    let model = model.map(&mut importer);
    if let Some(name) = tensors.keys().next() {
        return Err(WeightsError::Unexpected { name: name.clone() });
    }
    Ok(model)
}

trait RequireGradIfAutodiff {
    fn require_grad_if_autodiff(self) -> Self;
}

impl<const D: usize> RequireGradIfAutodiff for Tensor<D> {
    fn require_grad_if_autodiff(self) -> Self {
        if self.is_autodiff() {
            self.require_grad()
        } else {
            self
        }
    }
}

/// The L2 norm of each parameter's gradient, by checkpoint name. Parameters without a gradient
/// (not reached by the loss) are absent, which is how a detached graph shows itself.
pub fn grad_norms(
    model: &Gpt,
    grads: &burn::tensor::Gradients,
) -> std::collections::BTreeMap<String, f64> {
    struct Norms<'a> {
        path: PathStack,
        grads: &'a burn::tensor::Gradients,
        out: std::collections::BTreeMap<String, f64>,
    }
    impl ModuleVisitor for Norms<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = param.val().grad(self.grads) {
                let sum_sq: f64 = grad
                    .to_data()
                    .convert::<f32>()
                    .as_slice::<f32>()
                    .expect("f32")
                    .iter()
                    .map(|&g| (g as f64) * (g as f64))
                    .sum();
                self.out.insert(self.path.name(), sum_sq.sqrt());
            }
        }
    }
    let mut norms = Norms {
        path: PathStack::default(),
        grads,
        out: Default::default(),
    };
    model.visit(&mut norms);
    norms.out
}
