//! The `genpt` Python package's native module (`genpt._genpt`): genpt's Rust core for Python.
//! python/genpt/ holds the package around it (the training wrappers, type stubs).

mod calls;
mod classifier;
mod lm;
mod tokenizer;
mod training;

use pyo3::prelude::*;

// The allocator the `genpt` binary uses (training frees and reallocates large buffers every
// step); here for the Rust side's allocations only. Freed memory is kept only while a training
// command runs (`calls::command`), so that a notebook does not hold training's peak afterwards.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _genpt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Training loops keep their progress for the package to show (a notebook has no terminal
    // for genpt's own bar).
    genpt::progress::polled(true);
    m.add("GenptError", m.py().get_type::<calls::GenptError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("BUILD_COMMIT", genpt::BUILD_COMMIT)?;
    m.add_class::<tokenizer::Tokenizer>()?;
    m.add_class::<lm::LanguageModel>()?;
    m.add_class::<lm::Generation>()?;
    m.add_class::<classifier::Classifier>()?;
    m.add_function(wrap_pyfunction!(tokenizer::train_tokenizer, m)?)?;
    m.add_function(wrap_pyfunction!(training::run_command, m)?)?;
    m.add_function(wrap_pyfunction!(training::pretrain_run_dir, m)?)?;
    m.add_function(wrap_pyfunction!(panic_for_tests, m)?)?;
    Ok(())
}

/// Panics in Rust: the tests' check that a panic reaches Python as an exception and never
/// aborts the interpreter.
#[pyfunction]
#[pyo3(name = "_panic")]
fn panic_for_tests(py: Python<'_>, message: String) -> PyResult<()> {
    calls::quick(py, || -> anyhow::Result<()> { panic!("{message}") })
}
