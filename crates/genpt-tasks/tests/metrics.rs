//! Metric values checked against scikit-learn 1.x / scipy 1.x. The literals
//! were produced with:
//!
//! ```python
//! from sklearn.metrics import matthews_corrcoef, f1_score, accuracy_score
//! from scipy.stats import pearsonr, spearmanr, rankdata
//! p=[1,0,1,1,0,1,0,0,1,1]; g=[1,0,0,1,0,1,1,0,1,0]
//! accuracy_score(g,p)      # 0.7
//! f1_score(g,p)            # 0.7272727272727273
//! matthews_corrcoef(g,p)   # 0.408248290463863
//! p3=[0,1,2,2,1,0,2,1,0,2,1,1]; g3=[0,1,2,1,1,0,2,2,0,2,0,1]
//! matthews_corrcoef(g3,p3) # 0.6316139407998892
//! x=[0.5,2.0,3.5,3.5,1.0,4.8,2.0,5.0]; y=[0.0,2.4,3.0,4.0,1.6,4.2,2.2,4.6]
//! pearsonr(x,y)[0]         # 0.9532852459627168
//! spearmanr(x,y)[0]        # 0.9880235200593538
//! rankdata(x)              # [1, 3.5, 5.5, 5.5, 2, 7, 3.5, 8]
//! ```

use genpt_tasks::metrics::average_ranks;
use genpt_tasks::*;

const P: [usize; 10] = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1];
const G: [usize; 10] = [1, 0, 0, 1, 0, 1, 1, 0, 1, 0];
const X: [f64; 8] = [0.5, 2.0, 3.5, 3.5, 1.0, 4.8, 2.0, 5.0];
const Y: [f64; 8] = [0.0, 2.4, 3.0, 4.0, 1.6, 4.2, 2.2, 4.6];

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

#[test]
fn binary_metrics_match_sklearn() {
    close(accuracy(&P, &G), 0.7);
    close(f1_binary(&P, &G), 0.7272727272727273);
    close(matthews(&P, &G), 0.408248290463863);
}

#[test]
fn multiclass_matthews_matches_sklearn() {
    let p3 = [0, 1, 2, 2, 1, 0, 2, 1, 0, 2, 1, 1];
    let g3 = [0, 1, 2, 1, 1, 0, 2, 2, 0, 2, 0, 1];
    close(matthews(&p3, &g3), 0.6316139407998892);
}

#[test]
fn correlations_match_scipy_with_ties() {
    close(pearson(&X, &Y), 0.9532852459627168);
    close(spearman(&X, &Y), 0.9880235200593538);
    assert_eq!(
        average_ranks(&X),
        vec![1.0, 3.5, 5.5, 5.5, 2.0, 7.0, 3.5, 8.0]
    );
}

#[test]
fn degenerate_inputs_are_zero_not_nan() {
    // sklearn returns 0.0 for MCC when a side is constant, and F1 0.0 with no positives.
    assert_eq!(matthews(&[1, 1, 1], &[0, 1, 0]), 0.0);
    assert_eq!(f1_binary(&[0, 0], &[0, 0]), 0.0);
    assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
    assert_eq!(accuracy(&[], &[]), 0.0);
}

#[test]
fn score_task_uses_each_tasks_glue_metrics() {
    let cls = |v: &[usize]| v.iter().map(|&c| Label::Class(c)).collect::<Vec<_>>();
    let mrpc = score_task(&task_spec("mrpc").unwrap(), &cls(&P), &cls(&G)).unwrap();
    assert_eq!(
        mrpc.metrics.iter().map(|m| m.0).collect::<Vec<_>>(),
        vec![Metric::F1, Metric::Accuracy]
    );
    close(mrpc.get(Metric::F1).unwrap(), 0.7272727272727273);
    close(mrpc.combined(), (0.7272727272727273 + 0.7) / 2.0);

    let cola = score_task(&task_spec("cola").unwrap(), &cls(&P), &cls(&G)).unwrap();
    close(cola.combined(), 0.408248290463863);

    let sc = |v: &[f64]| {
        v.iter()
            .map(|&s| Label::Score(s as f32))
            .collect::<Vec<_>>()
    };
    let stsb = score_task(&task_spec("stsb").unwrap(), &sc(&X), &sc(&Y)).unwrap();
    // f32 storage of the scores costs a few ulps of f32.
    assert!((stsb.get(Metric::Pearson).unwrap() - 0.9532852459627168).abs() < 1e-6);
    assert!((stsb.get(Metric::Spearman).unwrap() - 0.9880235200593538).abs() < 1e-6);

    assert!(score_task(&task_spec("sst2").unwrap(), &cls(&[1]), &cls(&[1, 0])).is_err());
}

#[test]
fn glue_average_merges_mnli_and_averages_two_metric_tasks() {
    let s = |task: &str, m: &[(Metric, f64)]| TaskScore {
        task: task.into(),
        metrics: m.to_vec(),
    };
    let scores = vec![
        s("cola", &[(Metric::Matthews, 0.40)]),
        s("mrpc", &[(Metric::F1, 0.80), (Metric::Accuracy, 0.70)]), // 0.75
        s("mnli", &[(Metric::Accuracy, 0.80)]),
        s("mnli-mm", &[(Metric::Accuracy, 0.70)]), // MNLI: 0.75
        s("ax", &[(Metric::Matthews, 0.99)]),      // not part of the average
    ];
    // (0.40 + 0.75 + 0.75) / 3
    close(glue_average(&scores).unwrap(), 1.9 / 3.0);
    assert_eq!(glue_average(&[]), None);
}
