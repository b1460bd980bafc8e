//! `genpt.Classifier`: a fine-tuned model (`genpt finetune`'s `OUT/best`) predicting its task on
//! new inputs, through the task's input transformation (paper, section 3.3), as `genpt serve`'s
//! `/v1/classify` does.

use std::path::PathBuf;
use std::sync::Arc;

use burn::tensor::Device;
use genpt::finetune::classifier::Classifier as Model;
use genpt::finetune::task_data;
use genpt::finetune::Prediction;
use genpt_tasks::{Example, Input, InputForm, SpecialIds, TaskInfo};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::calls::{bad, interruptible, quick};

struct Loaded {
    model: Model,
    info: TaskInfo,
    tokenizer: genpt_tokenizer::Tokenizer,
    specials: SpecialIds,
    device: Device,
    dir: PathBuf,
}

/// A fine-tuned classifier: `Classifier.load(dir)`.
#[pyclass(frozen, module = "genpt")]
pub struct Classifier {
    loaded: Arc<Loaded>,
}

/// Examples predicted per forward pass.
const MICRO_BATCH: usize = 16;

fn input_of(info: &TaskInfo, i: usize, item: &Bound<'_, PyAny>) -> PyResult<Input> {
    let err = |what: &str| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "inputs[{i}]: this {} task takes {what}",
            info.task
        ))
    };
    let field = |dict: &Bound<'_, PyDict>, name: &str| -> PyResult<String> {
        dict.get_item(name)?
            .ok_or_else(|| {
                pyo3::exceptions::PyKeyError::new_err(format!("inputs[{i}] has no {name:?}"))
            })?
            .extract()
    };
    let fields = &info.fields;
    match info.input {
        InputForm::Text => {
            if item.is_instance_of::<PyString>() {
                return Ok(Input::Single(item.extract()?));
            }
            let dict = item.cast::<PyDict>().map_err(|_| err("a str"))?;
            Ok(Input::Single(field(dict, &fields[0])?))
        }
        InputForm::Pair => {
            if let Ok(dict) = item.cast::<PyDict>() {
                return Ok(Input::Pair(
                    field(dict, &fields[0])?,
                    field(dict, &fields[1])?,
                ));
            }
            let (a, b): (String, String) = item
                .extract()
                .map_err(|_| err(&format!("pairs of str ({}, {})", fields[0], fields[1])))?;
            Ok(Input::Pair(a, b))
        }
        InputForm::Choices => {
            let dict = item
                .cast::<PyDict>()
                .map_err(|_| err("dicts with \"context\", \"question\" and \"choices\""))?;
            let choices: Vec<String> = dict
                .get_item("choices")?
                .ok_or_else(|| {
                    pyo3::exceptions::PyKeyError::new_err(format!("inputs[{i}] has no \"choices\""))
                })?
                .extract()?;
            if let Some(n) = info.n_choices {
                if choices.len() != n {
                    return Err(pyo3::exceptions::PyValueError::new_err(format!(
                        "inputs[{i}]: this task has {n} choices, got {}",
                        choices.len()
                    )));
                }
            }
            let optional = |name: &str| -> PyResult<String> {
                match dict.get_item(name)? {
                    Some(v) => v.extract(),
                    None => Ok(String::new()),
                }
            };
            Ok(Input::Choices {
                context: optional("context")?,
                question: optional("question")?,
                choices,
            })
        }
    }
}

#[pymethods]
impl Classifier {
    /// Loads a fine-tuned model directory (what `genpt finetune` writes to `OUT/best`, or
    /// `genpt.finetune(...)["model"]`), with its task description and tokenizer.
    #[staticmethod]
    #[pyo3(signature = (path, backend = "flex"))]
    fn load(py: Python<'_>, path: PathBuf, backend: &str) -> PyResult<Self> {
        let loaded = quick(py, || {
            let device = match genpt::device::device(backend) {
                Ok(device) => device,
                Err(e) => return bad(format!("backend: {e}")),
            };
            let model = genpt::finetune::load(&path, &device)?;
            let info = task_data::model_task(&path)?;
            let (mut tokenizer, _) = genpt::model_tokenizer::resolve_tokenizer(None, Some(&path))?;
            let specials = task_data::add_specials(&mut tokenizer, model.gpt.config().vocab_size)?;
            Ok(Loaded {
                model,
                info,
                tokenizer,
                specials,
                device,
                dir: path.clone(),
            })
        })?;
        Ok(Self {
            loaded: Arc::new(loaded),
        })
    }

    /// The task it was fine-tuned on (`custom`, or the benchmark's name).
    #[getter]
    fn task(&self) -> String {
        self.loaded.info.task.clone()
    }

    /// The class labels, in the order of the probabilities' columns (empty for regression and
    /// multiple choice).
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.loaded.info.labels.clone()
    }

    /// "text", "pair" or "choices": what each input of `predict` is.
    #[getter]
    fn input(&self) -> &'static str {
        match self.loaded.info.input {
            InputForm::Text => "text",
            InputForm::Pair => "pair",
            InputForm::Choices => "choices",
        }
    }

    /// Predicts `inputs`: str for a text task, (str, str) pairs for a pair task (or dicts with
    /// the task's field names), dicts with "context", "question" and "choices" for multiple
    /// choice. Inputs longer than the context are cut as fine-tuning cut them.
    ///
    /// Returns `(labels, probabilities)`: the predicted label of each input (its name; the
    /// choice's index for multiple choice) and a float32 array [inputs, classes]; for a
    /// regression task `(scores, None)`, scores a float32 array.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        if inputs.is_instance_of::<PyString>() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "expected a list of inputs, got one str",
            ));
        }
        let loaded = &self.loaded;
        let mut examples = Vec::new();
        for (i, item) in inputs.try_iter()?.enumerate() {
            examples.push(Example {
                id: format!("input {i}"),
                input: input_of(&loaded.info, i, &item?)?,
                label: None,
            });
        }
        let predictions = interruptible(py, |stop| {
            let n_ctx = loaded.model.gpt.config().n_positions;
            let encoded = match task_data::encode_examples(
                &loaded.tokenizer,
                loaded.specials,
                &loaded.info,
                &examples,
                n_ctx,
            ) {
                Ok(encoded) => encoded,
                Err(e) => return bad(crate::calls::message(&e)),
            };
            let mut out = Vec::with_capacity(encoded.len());
            for chunk in encoded.chunks(MICRO_BATCH * 4) {
                stop.check()?;
                out.extend(genpt::finetune::predict(
                    &loaded.model,
                    chunk,
                    MICRO_BATCH,
                    &loaded.device,
                ));
            }
            Ok(out)
        })?;
        let regression = loaded.info.labels.is_empty() && loaded.info.n_choices.is_none();
        if regression
            || predictions
                .iter()
                .any(|p| matches!(p, Prediction::Score(_)))
        {
            let scores = predictions
                .iter()
                .map(|p| match p {
                    Prediction::Score(s) => Ok(*s),
                    _ => Err(crate::calls::to_py(anyhow::anyhow!(
                        "a class prediction among regression scores"
                    ))),
                })
                .collect::<PyResult<Vec<f32>>>()?;
            return Ok((
                PyArray1::from_vec(py, scores).into_any().unbind(),
                py.None(),
            ));
        }
        let labels = PyList::empty(py);
        let mut probabilities = Vec::new();
        let mut classes = loaded
            .info
            .labels
            .len()
            .max(loaded.info.n_choices.unwrap_or(0));
        for prediction in &predictions {
            let Prediction::Class {
                index,
                probabilities: p,
            } = prediction
            else {
                return Err(crate::calls::to_py(anyhow::anyhow!(
                    "a regression score among class predictions"
                )));
            };
            match loaded.info.labels.get(*index) {
                Some(name) => labels.append(name)?,
                None => labels.append(*index)?,
            }
            classes = p.len();
            probabilities.extend_from_slice(p);
        }
        let probabilities =
            PyArray1::from_vec(py, probabilities).reshape([predictions.len(), classes])?;
        let _: &Bound<'_, PyArray2<f32>> = &probabilities;
        Ok((
            labels.into_any().unbind(),
            probabilities.into_any().unbind(),
        ))
    }

    fn __repr__(&self) -> String {
        format!(
            "Classifier({:?}, task={:?}, input={:?}, labels={:?})",
            self.loaded.dir.display().to_string(),
            self.loaded.info.task,
            self.input(),
            self.loaded.info.labels
        )
    }
}
