//! GLUE leaderboard prediction files: one `<Task>.tsv` per task with the header
//! `index\tprediction`, classification predictions written as the label
//! *names* the server expects (entailment/not_entailment, 0/1,
//! contradiction/entailment/neutral), STS-B as floats.

use crate::error::TaskError;
use crate::task::{Label, TaskSpec};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name the GLUE server expects for a task, or None for non-GLUE tasks.
pub fn glue_file_name(task: &str) -> Option<&'static str> {
    Some(match task {
        "cola" => "CoLA.tsv",
        "sst2" => "SST-2.tsv",
        "mrpc" => "MRPC.tsv",
        "stsb" => "STS-B.tsv",
        "qqp" => "QQP.tsv",
        "mnli" => "MNLI-m.tsv",
        "mnli-mm" => "MNLI-mm.tsv",
        "qnli" => "QNLI.tsv",
        "rte" => "RTE.tsv",
        "wnli" => "WNLI.tsv",
        "ax" => "AX.tsv",
        _ => return None,
    })
}

/// Render the file contents. STS-B scores are clamped to the 0–5 scale the
/// server accepts and written with 3 decimals (like the gold files).
pub fn format_predictions(
    spec: &TaskSpec,
    ids: &[String],
    preds: &[Label],
) -> Result<String, TaskError> {
    if ids.len() != preds.len() {
        return Err(TaskError::Metrics(format!(
            "{} ids for {} predictions",
            ids.len(),
            preds.len()
        )));
    }
    let mut out = String::from("index\tprediction\n");
    for (id, p) in ids.iter().zip(preds) {
        let v = match *p {
            Label::Score(s) => format!("{:.3}", s.clamp(0.0, 5.0)),
            Label::Class(c) => spec.label_names.get(c).cloned().ok_or_else(|| {
                TaskError::Metrics(format!("class {c} out of range for {}", spec.name))
            })?,
        };
        out.push_str(id);
        out.push('\t');
        out.push_str(&v);
        out.push('\n');
    }
    Ok(out)
}

/// Write `<dir>/<GLUE file name>`, creating `dir`. Returns the path written.
pub fn write_glue_submission(
    dir: &Path,
    spec: &TaskSpec,
    ids: &[String],
    preds: &[Label],
) -> Result<PathBuf, TaskError> {
    let name = glue_file_name(&spec.name)
        .ok_or_else(|| TaskError::Metrics(format!("{} is not a GLUE task", spec.name)))?;
    let text = format_predictions(spec, ids, preds)?;
    std::fs::create_dir_all(dir).map_err(|e| TaskError::io(dir, e))?;
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).map_err(|e| TaskError::io(&path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| TaskError::io(&path, e))?;
    Ok(path)
}
