//! `genpt.LanguageModel`: a GPT-1 or GPT-2 language model with its tokenizer; per-token
//! log-probabilities, hidden states, and generation as an iterator of text pieces.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use burn::tensor::Device;
use genpt::generate::SamplingConfig;
use genpt::host::{ids_row, HostValues};
use genpt::serve::text::{piece_bytes, CompletionText, Step};
use genpt::Gpt;
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::calls::{bad, interruptible, quick};
use crate::tokenizer::Tokenizer;

struct Loaded {
    /// One call at a time computes with the model (Python threads share it safely).
    model: Mutex<Gpt>,
    tokenizer: Arc<genpt_tokenizer::Tokenizer>,
    tokenizer_dir: PathBuf,
    dir: PathBuf,
    device: Device,
    config: genpt::GptConfig,
    precision: genpt::precision::Precision,
}

/// A language model: `LanguageModel.load(dir)`.
#[pyclass(frozen, module = "genpt")]
pub struct LanguageModel {
    loaded: Arc<Loaded>,
}

/// A model's input from Python: text, or token ids (a numpy integer array or a sequence).
enum TextOrIds {
    Text(String),
    Ids(Vec<u32>),
}

impl TextOrIds {
    fn from_py(input: &Bound<'_, PyAny>) -> PyResult<Self> {
        match input.extract::<String>() {
            Ok(text) => Ok(Self::Text(text)),
            Err(_) => Ok(Self::Ids(crate::tokenizer::ids_from(input)?)),
        }
    }
}

impl Loaded {
    fn encode(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    /// The ids of `input`: text encoded, ids checked against the vocabulary.
    fn ids_of(&self, input: TextOrIds) -> anyhow::Result<Vec<u32>> {
        match input {
            TextOrIds::Text(text) => Ok(self.encode(&text)),
            TextOrIds::Ids(ids) => {
                check_ids(&self.config, &ids)?;
                Ok(ids)
            }
        }
    }

    /// log p(ids[t+1] | ids[..=t]) for every t ([`genpt::cli::score_ids`], what `genpt score`
    /// prints).
    fn score_ids(&self, ids: &[u32]) -> anyhow::Result<Vec<f32>> {
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let model = self.model.lock().unwrap_or_else(|e| e.into_inner());
        match genpt::cli::score_ids(&model, &ids) {
            Ok(values) => Ok(values),
            Err(e) => bad(crate::calls::message(&e)),
        }
    }
}

/// Ids the model has embeddings for.
fn check_ids(config: &genpt::GptConfig, ids: &[u32]) -> anyhow::Result<()> {
    if let Some(id) = ids.iter().find(|&&i| i as usize >= config.vocab_size) {
        return bad(format!(
            "token id {id} is outside the model's vocabulary (0..{})",
            config.vocab_size
        ));
    }
    Ok(())
}

fn check_context(config: &genpt::GptConfig, n: usize) -> anyhow::Result<()> {
    if n > config.n_positions {
        return bad(format!(
            "{n} tokens exceed the model's context of {} positions",
            config.n_positions
        ));
    }
    Ok(())
}

#[pymethods]
impl LanguageModel {
    /// Loads the model in `path` (Hugging Face's `config.json` + `model.safetensors`, or the
    /// original release's `params_*.npy`) with its tokenizer (`tokenizer`, else the
    /// directory's own vocabulary files). `precision="bf16"` rounds the linear layers' weights
    /// to bf16 once (half the bytes per token; products with fp32 sums). `backend`: "flex"
    /// (default CPU), or another backend genpt was built with ("ndarray", a GPU backend). `n_head`: for the
    /// original release's layout, whose files do not record it.
    #[staticmethod]
    #[pyo3(signature = (path, precision = "fp32", backend = "flex", tokenizer = None, n_head = 12))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        precision: &str,
        backend: &str,
        tokenizer: Option<PathBuf>,
        n_head: usize,
    ) -> PyResult<Self> {
        let loaded = quick(py, || {
            let precision: genpt::precision::Precision = match precision.parse() {
                Ok(p) => p,
                Err(e) => return bad(format!("precision: {e}")),
            };
            let device = match genpt::device::device(backend) {
                Ok(device) => device,
                Err(e) => return bad(format!("backend: {e}")),
            };
            let options = genpt::weights::LoadOptions { n_head };
            let model = precision.load_model(&path, &options, &device)?;
            let (tok, tokenizer_dir) =
                genpt::model_tokenizer::resolve_tokenizer(tokenizer.as_deref(), Some(&path))?;
            genpt::model_tokenizer::check_vocabulary(&tok, &model)?;
            Ok(Loaded {
                config: model.config().clone(),
                model: Mutex::new(model),
                tokenizer: Arc::new(tok),
                tokenizer_dir,
                dir: path.clone(),
                device,
                precision,
            })
        })?;
        Ok(Self {
            loaded: Arc::new(loaded),
        })
    }

    /// Its tokenizer.
    #[getter]
    fn tokenizer(&self) -> Tokenizer {
        Tokenizer {
            inner: self.loaded.tokenizer.clone(),
            dir: self.loaded.tokenizer_dir.clone(),
        }
    }

    /// The model's configuration (arch, vocab_size, n_positions, n_embd, n_layer, n_head, ...).
    #[getter]
    fn config(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let json = serde_json::to_string(&self.loaded.config).expect("a config serialises");
        let module = py.import("json")?;
        Ok(module.call_method1("loads", (json,))?.unbind())
    }

    /// "fp32" or "bf16".
    #[getter]
    fn precision(&self) -> String {
        self.loaded.precision.to_string()
    }

    /// The log-probability of each next token of `texts` (one str or a list of them): for a
    /// text of n tokens, n-1 values, log p(token t+1 | tokens ..t), in eval mode. One float32
    /// array per text (one array for one str). Each text needs at least two tokens and at most
    /// the model's context.
    fn score<'py>(&self, py: Python<'py>, texts: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let single = texts.is_instance_of::<pyo3::types::PyString>();
        let texts: Vec<String> = match single {
            true => vec![texts.extract()?],
            false => texts.extract()?,
        };
        let loaded = &self.loaded;
        let scores = interruptible(py, |stop| {
            let mut out = Vec::with_capacity(texts.len());
            for (i, text) in texts.iter().enumerate() {
                stop.check()?;
                let ids = loaded.encode(text);
                let scored = loaded.score_ids(&ids).map_err(|e| match single {
                    true => e,
                    false => crate::calls::BadArgument(format!("texts[{i}]: {e}")).into(),
                })?;
                out.push(scored);
            }
            Ok(out)
        })?;
        let arrays: Vec<_> = scores
            .into_iter()
            .map(|s| PyArray1::from_vec(py, s))
            .collect();
        match single {
            true => Ok(arrays.into_iter().next().expect("one").into_any().unbind()),
            false => Ok(PyList::new(py, arrays)?.into_any().unbind()),
        }
    }

    /// [`score`] of token ids instead of text.
    fn score_ids<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let ids = crate::tokenizer::ids_from(ids)?;
        let scored = quick(py, || self.loaded.score_ids(&ids))?;
        Ok(PyArray1::from_vec(py, scored))
    }

    /// The last layer's hidden states of `text` (a str, or token ids), after GPT-2's final
    /// LayerNorm: a float32 array [tokens, n_embd], what the LM head and the fine-tuning heads
    /// read.
    fn hidden_states<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let input = TextOrIds::from_py(text)?;
        let loaded = &self.loaded;
        let (values, tokens) = quick(py, || {
            let ids = loaded.ids_of(input)?;
            if ids.is_empty() {
                return bad("the text has no tokens");
            }
            check_context(&loaded.config, ids.len())?;
            let model = loaded.model.lock().unwrap_or_else(|e| e.into_inner());
            let hidden = model.forward(ids_row(&ids, &loaded.device), false).hidden;
            let values: Vec<f32> = hidden.host_values();
            Ok((values, ids.len()))
        })?;
        let width = self.loaded.config.n_embd;
        PyArray1::from_vec(py, values).reshape([tokens, width])
    }

    /// Continues `prompt` (a str, or token ids), as an iterator of text pieces (each as soon as
    /// it is known: a GPT-2 character split over two tokens comes whole); the iterator's
    /// `tokens` holds the ids made so far. `temperature` 0 is greedy; `top_k` 0 and `top_p` 1.0
    /// keep every token; `seed` makes sampling repeatable; generation ends after
    /// `max_new_tokens`, at GPT-2's `<|endoftext|>`, or before the first of `stop` (strings).
    /// GPT-1 text gets transformers' clean-up (" ." → ".") unless `clean_up` is False.
    #[pyo3(signature = (prompt, max_new_tokens = 50, temperature = 1.0, top_k = 0, top_p = 1.0, seed = 0, stop = None, clean_up = None))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        py: Python<'_>,
        prompt: &Bound<'_, PyAny>,
        max_new_tokens: usize,
        temperature: f64,
        top_k: usize,
        top_p: f64,
        seed: u64,
        stop: Option<Vec<String>>,
        clean_up: Option<bool>,
    ) -> PyResult<Generation> {
        // NaN fails both ranges.
        let valid = (0.0..=f64::INFINITY).contains(&temperature) && top_p > 0.0 && top_p <= 1.0;
        if !valid {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "temperature must be >= 0 and top_p in (0, 1]",
            ));
        }
        let prompt = TextOrIds::from_py(prompt)?;
        let loaded = self.loaded.clone();
        let config = SamplingConfig {
            temperature,
            top_k,
            top_p,
            seed,
            max_new_tokens,
        };
        let gpt1 = loaded.tokenizer.kind() == genpt_tokenizer::TokenizerKind::Gpt1;
        let text = CompletionText::new(stop.unwrap_or_default(), clean_up.unwrap_or(gpt1));
        let state = quick(py, || {
            let ids = loaded.ids_of(prompt)?;
            if ids.is_empty() {
                return bad("the prompt has no tokens");
            }
            let model = loaded.model.lock().unwrap_or_else(|e| e.into_inner());
            Ok(genpt::generate::Generation::new(
                &model,
                &ids,
                &config,
                true,
                loaded.tokenizer.eot_id(),
            ))
        })?;
        Ok(Generation {
            loaded,
            state: Mutex::new(GenerationState {
                running: Some((state, text)),
                tokens: Vec::new(),
            }),
        })
    }

    fn __repr__(&self) -> String {
        let c = &self.loaded.config;
        format!(
            "LanguageModel({:?}, arch={:?}, n_layer={}, n_embd={}, n_positions={}, precision={:?})",
            self.loaded.dir.display().to_string(),
            format!("{:?}", c.arch).to_lowercase(),
            c.n_layer,
            c.n_embd,
            c.n_positions,
            self.loaded.precision.to_string()
        )
    }
}

struct GenerationState {
    /// None once finished.
    running: Option<(genpt::generate::Generation, CompletionText)>,
    /// The ids made so far.
    tokens: Vec<u32>,
}

/// Text pieces of a continuation, one model step per piece (`for piece in lm.generate(...)`).
#[pyclass(frozen, module = "genpt")]
pub struct Generation {
    loaded: Arc<Loaded>,
    state: Mutex<GenerationState>,
}

#[pymethods]
impl Generation {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let loaded = &self.loaded;
        let state = &self.state;
        quick(py, || {
            let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
            let GenerationState { running, tokens } = &mut *guard;
            let Some((generation, text)) = running.as_mut() else {
                return Ok(None);
            };
            let model = loaded.model.lock().unwrap_or_else(|e| e.into_inner());
            // Tokens until one shows text (a GPT-2 character's first byte shows none yet).
            loop {
                let step = match generation.next_token(&model) {
                    Some(token) => {
                        tokens.push(token);
                        text.push(&piece_bytes(&loaded.tokenizer, token))
                    }
                    None => {
                        let rest = match text.finish() {
                            Step::Text(t) | Step::Stopped(t) => t,
                        };
                        *running = None;
                        return Ok((!rest.is_empty()).then_some(rest));
                    }
                };
                match step {
                    Step::Text(t) if t.is_empty() => continue,
                    Step::Text(t) => return Ok(Some(t)),
                    Step::Stopped(t) => {
                        *running = None;
                        return Ok((!t.is_empty()).then_some(t));
                    }
                }
            }
        })
    }

    /// The token ids made so far (a stop string's tokens included).
    #[getter]
    fn tokens<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        PyArray1::from_slice(py, &guard.tokens)
    }
}
