//! The metrics of the paper's tasks: accuracy, F1, Matthews correlation (CoLA), Pearson and
//! Spearman correlation (STS-B), and the GLUE conventions for combining them.

pub fn accuracy(predicted: &[usize], gold: &[usize]) -> f64 {
    assert_eq!(predicted.len(), gold.len());
    if gold.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(gold).filter(|(p, g)| p == g).count() as f64 / gold.len() as f64
}

fn confusion(predicted: &[usize], gold: &[usize]) -> (f64, f64, f64, f64) {
    let (mut tp, mut tn, mut fp, mut fn_) = (0.0, 0.0, 0.0, 0.0);
    for (&p, &g) in predicted.iter().zip(gold) {
        match (p == 1, g == 1) {
            (true, true) => tp += 1.0,
            (false, false) => tn += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
        }
    }
    (tp, tn, fp, fn_)
}

/// F1 of the positive class (1).
pub fn f1(predicted: &[usize], gold: &[usize]) -> f64 {
    let (tp, _, fp, fn_) = confusion(predicted, gold);
    if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) }
}

/// Matthews correlation coefficient of binary predictions (0 when undefined).
pub fn mcc(predicted: &[usize], gold: &[usize]) -> f64 {
    let (tp, tn, fp, fn_) = confusion(predicted, gold);
    let denominator = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
    if denominator == 0.0 { 0.0 } else { (tp * tn - fp * fn_) / denominator }
}

pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// Ranks from 1, ties given their average rank.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut out = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            out[order[k]] = average;
        }
        i = j + 1;
    }
    out
}

pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// A task's metrics by name, for classification predictions.
pub fn classification_metrics(names: &[&str], predicted: &[usize], gold: &[usize]) -> Vec<(String, f64)> {
    names
        .iter()
        .map(|&name| {
            let value = match name {
                "mcc" => mcc(predicted, gold),
                "f1" => f1(predicted, gold),
                _ => accuracy(predicted, gold),
            };
            (name.to_string(), value)
        })
        .collect()
}

/// The GLUE score of one task: the mean of its metrics (MRPC: F1 and accuracy; STS-B: Pearson
/// and Spearman); the GLUE average is the mean of these over tasks.
pub fn glue_task_score(metrics: &[(String, f64)]) -> f64 {
    metrics.iter().map(|(_, v)| v).sum::<f64>() / metrics.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from NumPy (python3: the confusion-matrix formulas; np.corrcoef; for
    // Spearman, np.corrcoef of the average ranks [1,2.5,4,5,6,2.5] and [3,1.5,5,4,6,1.5]).
    #[test]
    fn against_reference_values() {
        let gold = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1];
        let pred = [1, 0, 0, 1, 0, 1, 1, 0, 1, 0];
        assert!((accuracy(&pred, &gold) - 0.7).abs() < 1e-12);
        assert!((f1(&pred, &gold) - 0.727_272_727_272_727_3).abs() < 1e-12);
        assert!((mcc(&pred, &gold) - 0.408_248_290_463_863).abs() < 1e-12);
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 2.0];
        let b = [2.0, 1.0, 4.0, 3.0, 5.0, 1.0];
        assert!((pearson(&a, &b) - 0.804_315_284_526_582_2).abs() < 1e-12);
        assert_eq!(ranks(&a), vec![1.0, 2.5, 4.0, 5.0, 6.0, 2.5]);
        assert!((spearman(&a, &b) - 0.764_705_882_352_941_2).abs() < 1e-12);
        assert_eq!(mcc(&[1, 1], &[1, 1]), 0.0, "undefined MCC is 0, as scikit-learn reports");
    }
}
