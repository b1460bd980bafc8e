//! Zero-shot evaluations ready to run: a task's examples loaded and tokenized once, then scored
//! with the paper's heuristic for that task on any model. `genpt zeroshot` runs one on a model;
//! pre-training runs a set of them every K updates to trace Figure 2 (right).
//!
//! Each result is also reported normalised as in Figure 2: 0 at chance, 1 at a reference score.
//! The references are the state of the art the paper reports for a single model (its own
//! fine-tuned GPT results: CoLA 45.4 MCC, SST-2 91.3%, RACE 59.0%, Story Cloze 86.5%). For the
//! Winograd data, which the paper does not score, DPR uses its dataset's authors' system (Rahman &
//! Ng 2012, 73.1%) and WSC273 Trinh & Le's language models (2018, 63.7%).

use std::path::Path;

use anyhow::Context;
use genpt_tasks::{Input, Label, Split};
use genpt_tokenizer::Tokenizer;

use super::winograd::{parse_dpr, parse_wsc_xml};
use super::{
    answer_scores, argmax, best_threshold, cola_score, sst2_scores, winograd_scores, Scorer,
};

/// The tasks a zero-shot heuristic exists for.
pub const ZERO_SHOT_TASKS: &[&str] = &[
    "cola",
    "sst2",
    "race",
    "race-middle",
    "race-high",
    "storycloze",
    "storycloze-all",
    "dpr",
    "wsc",
];

/// One task's examples, tokenized for its heuristic.
enum Examples {
    /// CoLA: (tokens, acceptable) for the training examples that set the threshold and for the
    /// examples evaluated.
    Acceptability {
        train: Vec<(Vec<u32>, bool)>,
        eval: Vec<(Vec<u32>, bool)>,
    },
    /// SST-2: the sentence followed by "very", the tokens of "positive" and "negative", the class.
    Sentiment {
        eval: Vec<(Vec<u32>, usize)>,
        positive: Vec<u32>,
        negative: Vec<u32>,
    },
    /// RACE, Story Cloze: (document and question, answers, right answer).
    Choice {
        eval: Vec<(Vec<u32>, Vec<Vec<u32>>, usize)>,
    },
    /// Winograd (DPR, WSC): per candidate, the substituted sentence split after the candidate; the
    /// right candidate.
    Winograd {
        eval: Vec<(Vec<SplitSentence>, usize)>,
    },
}

/// A Winograd sentence with a candidate substituted: the tokens up to and including the
/// candidate, and the rest.
pub type SplitSentence = (Vec<u32>, Vec<u32>);

/// A zero-shot evaluation of one task.
pub struct ZeroShotTask {
    pub task: String,
    ids: Vec<String>,
    examples: Examples,
}

/// What one evaluation measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroShotResult {
    pub task: String,
    /// `mcc` for CoLA, `accuracy` otherwise.
    pub metric: &'static str,
    pub value: f64,
    pub chance: f64,
    pub reference: f64,
    /// The CoLA threshold on average log-probability, chosen on training examples.
    pub threshold: Option<f64>,
    /// One JSON object per example: its id, its label, and what was predicted with the scores
    /// it was picked by (`scores`, one per option in label order; CoLA: `mean_logprob`).
    pub per_example: Vec<serde_json::Value>,
}

impl ZeroShotResult {
    /// The value on Figure 2's scale: 0 at chance, 1 at the reference.
    pub fn normalized(&self) -> f64 {
        (self.value - self.chance) / (self.reference - self.chance)
    }

    pub fn summary(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "task": self.task,
            self.metric: self.value,
            "normalized": self.normalized(),
            "examples": self.per_example.len(),
        });
        if let Some(t) = self.threshold {
            v["threshold"] = t.into();
        }
        v
    }
}

fn class(label: Option<Label>, id: &str) -> anyhow::Result<usize> {
    label
        .and_then(|l| l.class())
        .with_context(|| format!("example {id} has no class label"))
}

impl ZeroShotTask {
    /// Loads `task` from `data` (as `genpt finetune` reads it; DPR: `dpr_test.c.txt` or its
    /// directory; WSC: `WSCollection.xml` or its directory), at most `limit` examples per split, tokenized with `tokenizer`.
    pub fn load(
        task: &str,
        data: &Path,
        tokenizer: &Tokenizer,
        limit: Option<usize>,
    ) -> anyhow::Result<Self> {
        let enc = |t: &str| tokenizer.encode(t);
        // `storycloze-all`: every story of the 2016 validation file (1,871), not only the 374
        // that fine-tuning holds out: zero-shot trains on none of them.
        let source = if task == "storycloze-all" {
            "storycloze"
        } else {
            task
        };
        let take = |split: Split| -> anyhow::Result<Vec<genpt_tasks::Example>> {
            let mut examples = genpt_tasks::load_task(source, data, split)?.examples;
            examples.truncate(limit.unwrap_or(usize::MAX));
            anyhow::ensure!(
                !examples.is_empty(),
                "{task} {split}: no examples under {}",
                data.display()
            );
            Ok(examples)
        };
        let text = |e: &genpt_tasks::Example| match &e.input {
            Input::Single(t) => Ok(t.clone()),
            _ => anyhow::bail!("{task} example {}: expected a single text", e.id),
        };
        let mut ids = Vec::new();
        let examples = match task {
            "cola" => {
                let labeled = |examples: Vec<genpt_tasks::Example>, ids: &mut Vec<String>| {
                    examples
                        .iter()
                        .map(|e| {
                            ids.push(e.id.clone());
                            Ok((enc(&text(e)?), class(e.label, &e.id)? == 1))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                };
                let train = labeled(take(Split::Train)?, &mut Vec::new())?;
                let eval = labeled(take(Split::Dev)?, &mut ids)?;
                Examples::Acceptability { train, eval }
            }
            "sst2" => {
                let eval = take(Split::Dev)?
                    .iter()
                    .map(|e| {
                        ids.push(e.id.clone());
                        Ok((enc(&format!("{} very", text(e)?)), class(e.label, &e.id)?))
                    })
                    .collect::<anyhow::Result<_>>()?;
                Examples::Sentiment {
                    eval,
                    positive: enc("positive"),
                    negative: enc("negative"),
                }
            }
            "storycloze" | "storycloze-all" | "race" | "race-middle" | "race-high" => {
                let stories = if task == "storycloze-all" {
                    let mut all = take(Split::Train)?;
                    all.extend(take(Split::Dev)?);
                    all
                } else {
                    take(Split::Dev)?
                };
                let eval = stories
                    .iter()
                    .map(|e| {
                        let Input::Choices {
                            context,
                            question,
                            choices,
                        } = &e.input
                        else {
                            anyhow::bail!("{task} example {}: expected answer choices", e.id);
                        };
                        ids.push(e.id.clone());
                        let mut document = enc(context);
                        document.extend(enc(question));
                        Ok((
                            document,
                            choices.iter().map(|c| enc(c)).collect(),
                            class(e.label, &e.id)?,
                        ))
                    })
                    .collect::<anyhow::Result<_>>()?;
                Examples::Choice { eval }
            }
            "dpr" | "wsc" => {
                let file = if task == "dpr" {
                    "dpr_test.c.txt"
                } else {
                    "WSCollection.xml"
                };
                let path = if data.is_file() {
                    data.to_path_buf()
                } else {
                    data.join(file)
                };
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let parse = if task == "dpr" {
                    parse_dpr
                } else {
                    parse_wsc_xml
                };
                let mut parsed =
                    parse(&text, &path.display().to_string()).map_err(anyhow::Error::msg)?;
                parsed.truncate(limit.unwrap_or(usize::MAX));
                anyhow::ensure!(!parsed.is_empty(), "{}: no examples", path.display());
                let eval = parsed
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        ids.push(i.to_string());
                        let candidates = (0..e.candidates.len())
                            .filter_map(|c| e.substitute(c))
                            .map(|(prefix, rest)| (enc(&prefix), enc(&rest)))
                            .collect();
                        (candidates, e.answer)
                    })
                    .collect();
                Examples::Winograd { eval }
            }
            other => anyhow::bail!(
                "no zero-shot heuristic for {other:?}; expected one of {}",
                ZERO_SHOT_TASKS.join(", ")
            ),
        };
        Ok(Self {
            task: task.to_string(),
            ids,
            examples,
        })
    }

    /// Runs the task's heuristic with `scorer`.
    pub fn evaluate(&self, scorer: &dyn Scorer) -> ZeroShotResult {
        let (chance, reference) = chance_and_reference(&self.task);
        if let Examples::Acceptability { train, eval } = &self.examples {
            let train_scores: Vec<f64> = train.iter().map(|(t, _)| cola_score(scorer, t)).collect();
            let labels: Vec<bool> = train.iter().map(|&(_, l)| l).collect();
            let threshold = best_threshold(&train_scores, &labels);
            let (mut predicted, mut gold, mut per_example) = (Vec::new(), Vec::new(), Vec::new());
            for (id, (tokens, acceptable)) in self.ids.iter().zip(eval) {
                let score = cola_score(scorer, tokens);
                predicted.push(usize::from(score >= threshold));
                gold.push(usize::from(*acceptable));
                per_example.push(serde_json::json!({ "id": id, "mean_logprob": score, "label": usize::from(*acceptable) }));
            }
            let value = genpt_tasks::matthews(&predicted, &gold);
            return ZeroShotResult {
                task: self.task.clone(),
                metric: "mcc",
                value,
                chance,
                reference,
                threshold: Some(threshold),
                per_example,
            };
        }
        // The other heuristics score each option and pick the highest: (scores, label) per
        // example. The scores go out with each example, so that a threshold-free measure (the
        // ranking of SST-2's two scores, say) can be computed from them.
        let scored: Vec<(Vec<f64>, usize)> = match &self.examples {
            Examples::Acceptability { .. } => unreachable!("handled above"),
            Examples::Sentiment {
                eval,
                positive,
                negative,
            } => eval
                .iter()
                .map(|(tokens, label)| {
                    (
                        sst2_scores(scorer, tokens, positive, negative).to_vec(),
                        *label,
                    )
                })
                .collect(),
            Examples::Choice { eval } => eval
                .iter()
                .map(|(document, answers, label)| {
                    (answer_scores(scorer, document, answers), *label)
                })
                .collect(),
            Examples::Winograd { eval } => eval
                .iter()
                .map(|(candidates, answer)| (winograd_scores(scorer, candidates), *answer))
                .collect(),
        };
        let (predicted, gold): (Vec<usize>, Vec<usize>) =
            scored.iter().map(|(s, l)| (argmax(s), *l)).unzip();
        let per_example = self
            .ids
            .iter()
            .zip(&scored)
            .zip(&predicted)
            .map(|((id, (scores, l)), p)| {
                serde_json::json!({ "id": id, "predicted": p, "label": l, "scores": scores })
            })
            .collect();
        let value = genpt_tasks::accuracy(&predicted, &gold);
        ZeroShotResult {
            task: self.task.clone(),
            metric: "accuracy",
            value,
            chance,
            reference,
            threshold: None,
            per_example,
        }
    }
}

/// The normalisation of each task's score: chance, and the reference named in the module docs.
fn chance_and_reference(task: &str) -> (f64, f64) {
    match task {
        "cola" => (0.0, 0.454),
        "sst2" => (0.5, 0.913),
        "storycloze" | "storycloze-all" => (0.5, 0.865),
        "dpr" => (0.5, 0.731),
        "wsc" => (0.5, 0.637),
        _ => (0.25, 0.590), // RACE and its levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_puts_chance_at_zero_and_the_reference_at_one() {
        let r = |value, chance, reference| ZeroShotResult {
            task: "x".into(),
            metric: "accuracy",
            value,
            chance,
            reference,
            threshold: None,
            per_example: vec![],
        };
        assert_eq!(r(0.5, 0.5, 0.865).normalized(), 0.0);
        assert!((r(0.865, 0.5, 0.865).normalized() - 1.0).abs() < 1e-12);
        assert!((r(0.4, 0.25, 0.55).normalized() - 0.5).abs() < 1e-12);
    }
}
