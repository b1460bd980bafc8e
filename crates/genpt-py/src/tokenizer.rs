//! `genpt.Tokenizer`: the GPT-1 pipeline (token-identical to the original release) and GPT-2's
//! byte-level BPE, as genpt's `genpt_tokenizer` runs them; `genpt.train_tokenizer`.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::calls::{bad, interruptible, quick, to_py};

/// A tokenizer: `Tokenizer.load(dir)` reads a directory of vocabulary files.
#[pyclass(frozen, module = "genpt")]
pub struct Tokenizer {
    pub inner: Arc<genpt_tokenizer::Tokenizer>,
    pub dir: PathBuf,
}

/// Ids from Python: a numpy integer array or any sequence of ints.
pub fn ids_from(ids: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    if let Ok(array) = ids.extract::<PyReadonlyArray1<'_, u32>>() {
        return Ok(array.as_slice()?.to_vec());
    }
    if let Ok(array) = ids.extract::<PyReadonlyArray1<'_, i64>>() {
        return array
            .as_slice()?
            .iter()
            .map(|&i| u32::try_from(i).map_err(|_| negative(i)))
            .collect();
    }
    let list: Vec<i64> = ids.extract()?;
    list.into_iter()
        .map(|i| u32::try_from(i).map_err(|_| negative(i)))
        .collect()
}

fn negative(id: i64) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(format!("token id {id} is not a token id"))
}

/// Texts from Python: a sequence of str (a lone str is refused: it would be read as characters).
pub fn texts_from(texts: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if texts.is_instance_of::<pyo3::types::PyString>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "expected a list of texts, got one str (use encode for one text)",
        ));
    }
    texts.extract()
}

/// A tokenizer's error, naming the directory unless it already names a file in it.
fn in_dir(dir: &std::path::Path, error: genpt_tokenizer::TokenizerError) -> anyhow::Error {
    let text = error.to_string();
    match text.contains(&dir.display().to_string()) {
        true => anyhow::anyhow!(text),
        false => anyhow::anyhow!("{}: {text}", dir.display()),
    }
}

/// Texts encoded between checks for Ctrl-C.
const BATCH_CHUNK: usize = 4096;

#[pymethods]
impl Tokenizer {
    /// Reads the tokenizer in `path`: the original GPT-1 release's files
    /// (`encoder_bpe_40000.json` + `vocab_40000.bpe`), GPT-2's (`encoder.json` + `vocab.bpe`),
    /// Hugging Face's (`vocab.json` + `merges.txt`), or one genpt trained or wrote with a model.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = quick(py, || {
            genpt_tokenizer::Tokenizer::from_dir(&path).map_err(|e| in_dir(&path, e))
        })?;
        Ok(Self {
            inner: Arc::new(inner),
            dir: path,
        })
    }

    /// "gpt1" (ftfy, standardise, spaCy-style split, lowercase, BPE) or "gpt2" (byte-level BPE).
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner.kind() {
            genpt_tokenizer::TokenizerKind::Gpt1 => "gpt1",
            genpt_tokenizer::TokenizerKind::Gpt2ByteLevel => "gpt2",
        }
    }

    /// Tokens in the vocabulary (special tokens not counted).
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    /// The id of `<|endoftext|>` (GPT-2), else None.
    #[getter]
    fn eot_id(&self) -> Option<u32> {
        self.inner.eot_id()
    }

    /// The id of one vocabulary piece (e.g. "the</w>" for GPT-1, "Ġthe" for GPT-2), or None.
    fn token_id(&self, piece: &str) -> Option<u32> {
        self.inner.token_id(piece)
    }

    /// The ids of `text`, as a numpy uint32 array. Special tokens in the text are encoded as
    /// ordinary text.
    fn encode<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let ids = quick(py, || Ok(self.inner.encode(text)))?;
        Ok(PyArray1::from_vec(py, ids))
    }

    /// The ids of every text, encoded in parallel on all cores (rayon's pool; set
    /// `RAYON_NUM_THREADS` before importing genpt to limit it), one uint32 array per text.
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let texts = texts_from(texts)?;
        let tokenizer = &self.inner;
        let encoded = interruptible(py, |stop| {
            let mut out = Vec::with_capacity(texts.len());
            for chunk in texts.chunks(BATCH_CHUNK) {
                stop.check()?;
                let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
                out.extend(tokenizer.encode_batch(&chunk));
            }
            Ok(out)
        })?;
        PyList::new(
            py,
            encoded.into_iter().map(|ids| PyArray1::from_vec(py, ids)),
        )
    }

    /// The vocabulary pieces of `text` (what `encode` gives ids of).
    fn pieces(&self, py: Python<'_>, text: &str) -> PyResult<Vec<String>> {
        quick(py, || Ok(self.inner.pieces(text)))
    }

    /// The text of `ids` (a numpy integer array or a sequence of ints). GPT-1 text comes back
    /// lowercased and split into words, as the release's pipeline left it.
    fn decode(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<String> {
        let ids = ids_from(ids)?;
        let size = self.inner.vocab_size() as u32;
        quick(py, || {
            if let Some(bad_id) = ids
                .iter()
                .find(|&&i| i >= size && self.inner.piece(i).is_none())
            {
                return bad(format!(
                    "token id {bad_id} is outside the vocabulary (0..{size})"
                ));
            }
            Ok(self.inner.decode(&ids))
        })
    }

    /// The directory it was read from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Tokenizer(kind={:?}, vocab_size={}, path={:?})",
            self.kind(),
            self.inner.vocab_size(),
            self.dir.display().to_string()
        )
    }
}

/// Learns a GPT-1-style vocabulary of `merges` merges from text files (or directories of
/// them) and writes it to `out`: `genpt tokenizer train` (the CLI's code). Returns the
/// tokenizer, loaded from `out`.
#[pyfunction]
#[pyo3(signature = (files, out, merges = 40_000))]
pub fn train_tokenizer(
    py: Python<'_>,
    files: Vec<PathBuf>,
    out: PathBuf,
    merges: usize,
) -> PyResult<Tokenizer> {
    if files.is_empty() {
        return Err(pyo3::exceptions::PyValueError::new_err("no files given"));
    }
    let mut argv: Vec<String> = vec!["genpt".into(), "tokenizer".into(), "train".into()];
    argv.push("--corpus".into());
    argv.extend(files.iter().map(|f| f.display().to_string()));
    argv.extend(["--merges".into(), merges.to_string()]);
    argv.extend(["--out".into(), out.display().to_string()]);
    crate::calls::command(py, None, || crate::training::run_cli(&argv))?;
    let tokenizer =
        genpt_tokenizer::Tokenizer::from_dir(&out).map_err(|e| to_py(in_dir(&out, e)))?;
    Ok(Tokenizer {
        inner: Arc::new(tokenizer),
        dir: out,
    })
}
