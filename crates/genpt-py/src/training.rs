//! Training from Python through the command line's own code: `genpt.pretrain`,
//! `genpt.finetune` and `genpt.train_tokenizer` build the arguments `genpt pretrain|finetune|
//! tokenizer train` would get and run them as the `genpt` binary does (python/genpt/
//! _training.py builds them).

use std::path::PathBuf;

use clap::Parser;
use pyo3::prelude::*;

use crate::calls::{bad, command};

/// Parses `argv` (`genpt SUBCOMMAND ...`) as the binary does and runs it. A parse error (an
/// unknown option, a bad value) is a `ValueError` with clap's message.
pub fn run_cli(argv: &[String]) -> anyhow::Result<()> {
    let cli = match genpt::cli::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => return bad(e.render().to_string().trim_end().to_string()),
    };
    genpt::cli::run(cli)
}

/// Runs `genpt ARGV...` with Ctrl-C honoured (training stops at its next update boundary,
/// leaving what `resume` continues from) and its progress passed to `progress(label, done,
/// total, message)`.
#[pyfunction]
#[pyo3(signature = (argv, progress = None))]
pub fn run_command(
    py: Python<'_>,
    argv: Vec<String>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let mut full = vec!["genpt".to_string()];
    full.extend(argv);
    command(py, progress.as_ref(), || run_cli(&full))
}

/// The run directory of a pre-training configuration with `overrides` (`KEY=VALUE`, as
/// `--set` takes them).
#[pyfunction]
pub fn pretrain_run_dir(
    py: Python<'_>,
    config: PathBuf,
    overrides: Vec<String>,
) -> PyResult<PathBuf> {
    crate::calls::quick(py, || {
        let run =
            genpt::pretrain::RunConfig::load(&config, &overrides).map_err(anyhow::Error::msg)?;
        Ok(run.out_dir)
    })
}
