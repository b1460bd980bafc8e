//! The bridge between the task crate (`genpt-tasks`: loaders, the section 3.3 input
//! transformations, metrics) and the fine-tuning loop: the special tokens, the head each task
//! kind needs, encoded splits, and predictions scored by the task's own metrics.

use genpt_tasks::{Example, Label, Metric, SpecialIds, TaskError, TaskKind, TaskSpec};

use super::Pooling;
use super::{EncodedExample, Prediction};

/// The three tokens appended to the vocabulary for fine-tuning, in the order their embedding rows
/// are added: start, delimiter, classify (the release's `_start_`, `_delimiter_`, `_classify_`).
pub const SPECIAL_NAMES: [&str; 3] = ["_start_", "_delimiter_", "_classify_"];

/// The special ids from the ids `Tokenizer::add_special_tokens(&SPECIAL_NAMES)` returned.
pub fn special_ids(ids: &[u32]) -> SpecialIds {
    SpecialIds {
        start: ids[0],
        delimiter: ids[1],
        classify: ids[2],
    }
}

/// How a task kind maps onto the head: the pooling of the classify-token states and the number
/// of outputs (classes; 1 for a regression score; 1 per choice, softmaxed across choices).
pub fn head_shape(kind: &TaskKind) -> (Pooling, usize) {
    let pooling = match kind {
        TaskKind::Classification { .. } | TaskKind::Entailment { .. } => Pooling::Single,
        TaskKind::Similarity { .. } => Pooling::SumOrderings,
        TaskKind::MultipleChoice { .. } => Pooling::PerChoiceScore,
    };
    (pooling, kind.n_outputs())
}

/// One example through the input transformation of its task kind, with its gold label.
pub fn encode_example(
    example: &Example,
    kind: &TaskKind,
    tokenize: &(dyn Fn(&str) -> Vec<u32> + Sync),
    specials: SpecialIds,
    n_ctx: usize,
) -> Result<EncodedExample, TaskError> {
    let encoded = genpt_tasks::encode(&example.input, kind, tokenize, specials, n_ctx)
        .map_err(|e| TaskError::Transform(format!("example {}: {e}", example.id)))?;
    Ok(EncodedExample {
        sequences: encoded.sequences,
        classify_at: encoded.classify_at,
        target: example.label,
    })
}

/// A prediction as a label: the predicted class (or answer), or the predicted score.
pub fn predicted_label(prediction: &Prediction) -> Label {
    match prediction {
        Prediction::Class { index, .. } => Label::Class(*index),
        Prediction::Score(s) => Label::Score(*s),
    }
}

/// Scores predictions against the examples' gold labels with the task's metrics. Returns the
/// model-selection score (the task's headline metric: MCC for CoLA, F1 for MRPC, Pearson for
/// STS-B, accuracy otherwise) and every metric as JSON, with `task_score` the GLUE-style mean.
pub fn score(
    spec: &TaskSpec,
    predictions: &[Prediction],
    gold: &[EncodedExample],
) -> Result<(f64, serde_json::Value), TaskError> {
    let gold: Vec<Label> = gold
        .iter()
        .map(|e| {
            e.target.ok_or_else(|| {
                TaskError::Metrics(format!("{}: scoring needs labeled examples", spec.name))
            })
        })
        .collect::<Result<_, _>>()?;
    let predicted: Vec<Label> = predictions.iter().map(predicted_label).collect();
    let task_score = genpt_tasks::score_task(spec, &predicted, &gold)?;
    let mut out = serde_json::Map::new();
    for (metric, value) in &task_score.metrics {
        out.insert(metric.name().to_string(), (*value).into());
    }
    out.insert("task_score".into(), task_score.combined().into());
    let headline = task_score.metrics.first().map_or(f64::NAN, |(_, v)| *v);
    Ok((headline, serde_json::Value::Object(out)))
}

/// The name of a task's headline metric, as it appears in [`score`]'s JSON.
pub fn headline_metric(spec: &TaskSpec) -> &'static str {
    spec.metrics.first().map_or("score", Metric::name)
}

/// A prediction as written to a prediction file: GLUE's label names, STS-B scores on its 0–5
/// scale, and for multiple choice the answer as the task's own files number it (Story Cloze
/// endings 1 and 2, RACE letters A–D).
pub fn prediction_text(spec: &TaskSpec, prediction: &Prediction) -> String {
    match (predicted_label(prediction), &spec.kind) {
        (Label::Score(s), _) => format!("{:.3}", s.clamp(0.0, 5.0)),
        (Label::Class(c), TaskKind::MultipleChoice { .. }) if spec.name.starts_with("race") => {
            char::from(b'A' + c as u8).to_string()
        }
        (Label::Class(c), TaskKind::MultipleChoice { .. }) => (c + 1).to_string(),
        (Label::Class(c), _) => spec
            .label_names
            .get(c)
            .cloned()
            .unwrap_or_else(|| c.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> TaskSpec {
        genpt_tasks::task_spec(name).unwrap()
    }

    #[test]
    fn heads_follow_the_task_kind() {
        assert_eq!(head_shape(&spec("cola").kind), (Pooling::Single, 2));
        assert_eq!(head_shape(&spec("mnli").kind), (Pooling::Single, 3));
        assert_eq!(head_shape(&spec("stsb").kind), (Pooling::SumOrderings, 1));
        assert_eq!(head_shape(&spec("mrpc").kind), (Pooling::SumOrderings, 2));
        assert_eq!(head_shape(&spec("race").kind), (Pooling::PerChoiceScore, 1));
    }

    #[test]
    fn scores_use_the_headline_metric() {
        let gold: Vec<EncodedExample> = [1, 0, 1, 1]
            .iter()
            .map(|&c| EncodedExample {
                sequences: vec![],
                classify_at: vec![],
                target: Some(Label::Class(c)),
            })
            .collect();
        let p = |i| Prediction::Class {
            index: i,
            probabilities: vec![],
        };
        let (headline, all) = score(&spec("mrpc"), &[p(1), p(1), p(0), p(1)], &gold).unwrap();
        // F1 of the positive class: tp 2, fp 1, fn 1 → 2/3; accuracy 2/4.
        assert!((headline - 2.0 / 3.0).abs() < 1e-12, "{headline}");
        assert!((all["accuracy"].as_f64().unwrap() - 0.5).abs() < 1e-12);
        assert!((all["task_score"].as_f64().unwrap() - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn prediction_files_use_each_task_s_own_labels() {
        let p = |i| Prediction::Class {
            index: i,
            probabilities: vec![],
        };
        assert_eq!(prediction_text(&spec("rte"), &p(1)), "not_entailment");
        assert_eq!(prediction_text(&spec("storycloze"), &p(0)), "1");
        assert_eq!(prediction_text(&spec("race"), &p(2)), "C");
        assert_eq!(
            prediction_text(&spec("stsb"), &Prediction::Score(5.7)),
            "5.000"
        );
    }
}
