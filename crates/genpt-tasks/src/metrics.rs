//! Evaluation metrics and GLUE scoring. All values are fractions in [0, 1]
//! (correlations in [-1, 1]); multiply by 100 for the paper's tables.
//!
//! Degenerate inputs (empty, or a constant series) give 0.0 rather than NaN,
//! following scikit-learn's `matthews_corrcoef`/`f1_score`: a NaN would poison
//! the GLUE average and the caller's "best checkpoint" comparisons.

use crate::error::TaskError;
use crate::task::{Label, Metric, TaskSpec};

pub fn accuracy(pred: &[usize], gold: &[usize]) -> f64 {
    if gold.is_empty() {
        return 0.0;
    }
    pred.iter().zip(gold).filter(|(p, g)| p == g).count() as f64 / gold.len() as f64
}

/// Binary F1 with class 1 as the positive class (MRPC "equivalent", QQP "duplicate").
pub fn f1_binary(pred: &[usize], gold: &[usize]) -> f64 {
    let (tp, fp, fn_) = confusion(pred, gold);
    let denom = 2 * tp + fp + fn_;
    if denom == 0 {
        0.0
    } else {
        2.0 * tp as f64 / denom as f64
    }
}

fn confusion(pred: &[usize], gold: &[usize]) -> (usize, usize, usize) {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (&p, &g) in pred.iter().zip(gold) {
        match (p == 1, g == 1) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            _ => {}
        }
    }
    (tp, fp, fn_)
}

/// Matthews correlation, multiclass form (Gorodkin 2004) as in scikit-learn;
/// equals the usual binary formula for two classes. CoLA's metric.
pub fn matthews(pred: &[usize], gold: &[usize]) -> f64 {
    let n = pred.len().min(gold.len());
    if n == 0 {
        return 0.0;
    }
    let k = pred.iter().chain(gold).copied().max().unwrap_or(0) + 1;
    let mut t = vec![0f64; k]; // true counts per class
    let mut p = vec![0f64; k]; // predicted counts per class
    let mut correct = 0f64;
    for (&a, &b) in pred.iter().zip(gold) {
        p[a] += 1.0;
        t[b] += 1.0;
        if a == b {
            correct += 1.0;
        }
    }
    let s = n as f64;
    let cov_yp = correct * s - t.iter().zip(&p).map(|(a, b)| a * b).sum::<f64>();
    let cov_pp = s * s - p.iter().map(|x| x * x).sum::<f64>();
    let cov_yy = s * s - t.iter().map(|x| x * x).sum::<f64>();
    if cov_pp == 0.0 || cov_yy == 0.0 {
        return 0.0;
    }
    cov_yp / (cov_pp * cov_yy).sqrt()
}

pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return 0.0;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks starting at 1, ties sharing their average rank (scipy's `rankdata`
/// default), which is what makes Spearman correct on STS-B's many equal scores.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o] = r;
        }
        i = j + 1;
    }
    ranks
}

pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    pearson(&average_ranks(&x[..n]), &average_ranks(&y[..n]))
}

/// Scores of one task, in the order of its spec's `metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskScore {
    pub task: String,
    pub metrics: Vec<(Metric, f64)>,
}

impl TaskScore {
    /// A task with several metrics (MRPC F1 & acc, STS-B Pearson & Spearman)
    /// contributes their unweighted mean, as on the GLUE leaderboard.
    pub fn combined(&self) -> f64 {
        if self.metrics.is_empty() {
            return 0.0;
        }
        self.metrics.iter().map(|(_, v)| v).sum::<f64>() / self.metrics.len() as f64
    }
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.metrics.iter().find(|(k, _)| *k == m).map(|(_, v)| *v)
    }
}

/// Score predictions against gold labels with the task's metrics
/// (CoLA MCC; SST-2 acc; MRPC/QQP F1 & acc; STS-B Pearson & Spearman; the rest acc).
pub fn score_task(spec: &TaskSpec, pred: &[Label], gold: &[Label]) -> Result<TaskScore, TaskError> {
    if pred.len() != gold.len() {
        return Err(TaskError::Metrics(format!(
            "{} predictions for {} gold labels",
            pred.len(),
            gold.len()
        )));
    }
    let regression = spec
        .metrics
        .iter()
        .any(|m| matches!(m, Metric::Pearson | Metric::Spearman));
    let metrics = if regression {
        let f = |v: &[Label]| -> Result<Vec<f64>, TaskError> {
            v.iter()
                .map(|l| match l {
                    Label::Score(s) => Ok(*s as f64),
                    Label::Class(c) => Ok(*c as f64),
                })
                .collect()
        };
        let (p, g) = (f(pred)?, f(gold)?);
        spec.metrics
            .iter()
            .map(|m| match m {
                Metric::Pearson => Ok((*m, pearson(&p, &g))),
                Metric::Spearman => Ok((*m, spearman(&p, &g))),
                other => Err(TaskError::Metrics(format!(
                    "{} needs class labels",
                    other.name()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let f = |v: &[Label]| -> Result<Vec<usize>, TaskError> {
            v.iter()
                .map(|l| {
                    l.class().ok_or_else(|| {
                        TaskError::Metrics(format!("task {} expects class labels", spec.name))
                    })
                })
                .collect()
        };
        let (p, g) = (f(pred)?, f(gold)?);
        spec.metrics
            .iter()
            .map(|m| {
                let v = match m {
                    Metric::Accuracy => accuracy(&p, &g),
                    Metric::F1 => f1_binary(&p, &g),
                    Metric::Matthews => matthews(&p, &g),
                    Metric::Pearson | Metric::Spearman => unreachable!("handled above"),
                };
                (*m, v)
            })
            .collect()
    };
    Ok(TaskScore {
        task: spec.name.clone(),
        metrics,
    })
}

/// GLUE average over the given task scores: each task's `combined()` value,
/// with `mnli` and `mnli-mm` merged into one MNLI entry (the mean of the two
/// accuracies), and the diagnostic `ax` left out. None if nothing to average.
pub fn glue_average(scores: &[TaskScore]) -> Option<f64> {
    let mut values = Vec::new();
    let mnli: Vec<f64> = scores
        .iter()
        .filter(|s| s.task == "mnli" || s.task == "mnli-mm")
        .map(|s| s.combined())
        .collect();
    if !mnli.is_empty() {
        values.push(mnli.iter().sum::<f64>() / mnli.len() as f64);
    }
    for s in scores {
        if !matches!(s.task.as_str(), "mnli" | "mnli-mm" | "ax") {
            values.push(s.combined());
        }
    }
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}
