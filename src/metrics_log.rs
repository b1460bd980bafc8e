//! `metrics.jsonl`: one JSON object per line, appended and flushed as the run goes, so that a
//! crashed run keeps everything it logged.

use std::io::Write;
use std::path::{Path, PathBuf};

pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
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
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn write(&mut self, record: &serde_json::Value) -> std::io::Result<()> {
        writeln!(self.file, "{record}")?;
        self.file.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
