//! `metrics.jsonl`: one JSON object per line, appended and flushed as the run goes, so that a
//! crashed run keeps everything it logged; and the same numbers as TensorBoard scalars in
//! `tb/` beside it ([`crate::tensorboard`]), so that `tensorboard --logdir runs/` compares runs.
//!
//! Opening the log for a resumed run drops the records (and events) of the updates it will
//! repeat, so that its curves continue without duplicates.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::tensorboard::{record_scalars, EventWriter};

pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
    events: EventWriter,
}

/// The TensorBoard directory of a run whose metrics are at `metrics`.
pub fn tensorboard_dir(metrics: &Path) -> PathBuf {
    metrics.with_file_name("tb")
}

impl MetricsLog {
    /// Opens `path` for appending; when `truncate_after_step` is given, first drops the lines of
    /// later steps (a resumed run re-logs them).
    pub fn open(path: &Path, truncate_after_step: Option<u64>) -> std::io::Result<Self> {
        if let (Some(step), true) = (truncate_after_step, path.exists()) {
            let kept: String = std::fs::read_to_string(path)?
                .lines()
                .filter(|line| {
                    serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v["step"].as_u64())
                        .is_some_and(|s| s <= step)
                })
                .map(|line| format!("{line}\n"))
                .collect();
            std::fs::write(path, kept)?;
        }
        // The events of the records kept: none for a fresh start (no metrics.jsonl).
        let keep_through = match path.exists() {
            true => Some(truncate_after_step.unwrap_or(u64::MAX)),
            false => None,
        };
        let events = EventWriter::rewrite(&tensorboard_dir(path), keep_through)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            events,
        })
    }

    pub fn write(&mut self, record: &serde_json::Value) -> std::io::Result<()> {
        writeln!(self.file, "{record}")?;
        self.file.flush()?;
        let step = record["step"].as_u64().unwrap_or(0);
        self.events.scalars(step, &record_scalars(record))
    }

    /// `text` under `tag` in TensorBoard's text dashboard (the run's configuration), at `step`.
    pub fn text(&mut self, step: u64, tag: &str, text: &str) -> std::io::Result<()> {
        self.events.text(step, tag, text)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
