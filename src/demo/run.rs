//! The demo pipeline: generated stories → tokenizer → pre-training → fine-tuning with and without
//! pre-training on four generated tasks → a zero-shot heuristic → a sample → a table of what
//! pre-training bought. Everything lands in one run directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;

use super::world::{fact_overlap, Cast, DemoExample, World};
use crate::data::corpus::{CorpusMeta, SplitMeta, META_FILE};
use crate::data::shards::ShardWriter;
use crate::finetune::probe::{classify_states, mean_pairwise_cosine, relative_variance};
use crate::finetune::task_bridge::{encode_example, special_ids, SPECIAL_NAMES};
use crate::finetune::{self as ft, FinetuneConfig, Prediction, Target};
use crate::pretrain::RunConfig;
use crate::zeroshot::{choose_answer, LmScorer};
use crate::Gpt;
use genpt_tasks::{Example, Input, Label, TaskKind};

pub struct DemoOptions {
    pub out: PathBuf,
    pub stories: usize,
    pub merges: usize,
    pub pretrain_steps: u64,
    pub train_examples: usize,
    pub epochs: usize,
    pub finetune_lr: f64,
    /// λ of the auxiliary LM loss.
    pub lm_coef: f64,
    /// Warmup as a fraction of the fine-tuning updates.
    pub warmup: f64,
    /// Which of the four tasks to fine-tune (all by default).
    pub tasks: Vec<String>,
    /// Take the tokenizer and the pre-trained model from this earlier demo run (same seed and
    /// world) instead of stages 1–3: for fine-tuning experiments.
    pub reuse: Option<PathBuf>,
    /// Trace the first N updates of each fine-tuning run (scripts/finetune_parity.py).
    pub trace_updates: usize,
    pub seed: u64,
    pub backend: String,
}

pub const TASKS: [&str; 4] = ["classification", "entailment", "similarity", "choice"];

fn to_example(i: usize, d: &DemoExample) -> (Example, TaskKind) {
    let (input, label, kind) = match d {
        DemoExample::Classify {
            text,
            label,
            n_classes,
        } => (
            Input::Single(text.clone()),
            *label,
            TaskKind::Classification {
                n_classes: *n_classes,
            },
        ),
        DemoExample::Entail {
            premise,
            hypothesis,
            label,
        } => (
            Input::Pair(premise.clone(), hypothesis.clone()),
            *label,
            TaskKind::Entailment { n_classes: 2 },
        ),
        DemoExample::Similar { a, b, label } => (
            Input::Pair(a.clone(), b.clone()),
            *label,
            TaskKind::Similarity { regression: false },
        ),
        DemoExample::Choose {
            context,
            answers,
            label,
        } => (
            Input::Choices {
                context: context.clone(),
                question: String::new(),
                choices: answers.clone(),
            },
            *label,
            TaskKind::MultipleChoice {
                n_choices: answers.len(),
            },
        ),
    };
    (
        Example {
            id: i.to_string(),
            input,
            label: Some(Label::Class(label)),
        },
        kind,
    )
}

fn stage(name: &str) {
    eprintln!("\n== {name}");
}

pub fn run_demo(o: &DemoOptions) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    std::fs::create_dir_all(&o.out).with_context(|| format!("creating {}", o.out.display()))?;
    let world = World::new(o.seed);
    let (mut tokenizer, pretrained_dir, val_loss) = match &o.reuse {
        Some(previous) => reuse_pretrained(previous)?,
        None => pretrain_on_stories(o, &world)?,
    };

    // The pre-trained LM, without autodiff, for fact recall, zero-shot and the sample.
    let inner = crate::device::device(&o.backend).map_err(anyhow::Error::msg)?;
    let pretrained_lm = crate::weights::hf::load(&pretrained_dir, &inner)?;
    let recall = fact_recall(&pretrained_lm, &tokenizer, &world);
    eprintln!(
        "the pre-trained model recalls {:.1}% of the world's facts (chance 16.7%)",
        100.0 * recall
    );
    if o.tasks.is_empty() {
        return Ok(o.out.clone());
    }

    stage("4/6 fine-tuning on four tasks, with and without pre-training");
    let device = crate::device::device(&o.backend)
        .map_err(anyhow::Error::msg)?
        .autodiff();
    let specials = special_ids(&tokenizer.add_special_tokens(&SPECIAL_NAMES));
    let mut rows = Vec::new();
    let mut probes = Vec::new();
    let mut overlaps = Vec::new();
    let mut max_overlap = 0.0f64;
    for task in &o.tasks {
        let task = task.as_str();
        let seed_offset =
            TASKS.iter().position(|t| *t == task).with_context(|| {
                format!("unknown demo task {task:?} (tasks: {})", TASKS.join(", "))
            })? as u64
                + 1;
        type Labeled = Vec<(DemoExample, (usize, usize))>;
        let make = |n: usize,
                    cast: Cast,
                    salt: u64|
         -> anyhow::Result<(Vec<ft::EncodedExample>, TaskKind, Labeled)> {
            let examples = world.task(task, n, cast, o.seed * 100 + seed_offset * 10 + salt);
            let kind = to_example(0, &examples[0].0).1;
            let tokenize = |t: &str| tokenizer.encode(t);
            let enc = examples
                .iter()
                .enumerate()
                .map(|(i, (e, _))| {
                    encode_example(&to_example(i, e).0, &kind, &tokenize, specials, 64)
                })
                .collect::<Result<_, _>>()?;
            Ok((enc, kind, examples))
        };
        let (train_set, kind, train_raw) = make(o.train_examples, Cast::Train, 1)?;
        let (dev_set, _, dev_raw) = make(200, Cast::Dev, 2)?;
        let overlap = fact_overlap(&train_raw, &dev_raw);
        eprintln!(
            "{task}: {} training examples about {} characters, 200 dev examples about {} others; share of dev facts seen in training: {overlap:.3}",
            train_set.len(),
            world.cast(Cast::Train).len(),
            world.cast(Cast::Dev).len()
        );
        overlaps.push(serde_json::json!({ "task": task, "dev_facts_in_training": overlap }));
        max_overlap = max_overlap.max(overlap);
        // The fine-tuned directories carry their task and tokenizer, so that `genpt predict`
        // and `genpt serve` take them as they are.
        let info = genpt_tasks::TaskInfo::from_spec(&genpt_tasks::TaskSpec {
            name: format!("demo-{task}"),
            kind,
            label_names: super::world::label_names(task),
            metrics: vec![genpt_tasks::Metric::Accuracy],
        });
        let tokenizer_dir = match &o.reuse {
            Some(previous) => previous.join("tokenizer"),
            None => o.out.join("tokenizer"),
        };
        let attach =
            |dir: &std::path::Path| crate::finetune::task_data::attach(dir, &info, &tokenizer_dir);
        let mut scores = Vec::new();
        for init in ["pre-trained", "random"] {
            crate::rng::seed(&device, o.seed);
            let start = match init {
                "pre-trained" => ft::prepare::Start::Pretrained {
                    model: &pretrained_dir,
                    transfer_layers: None,
                },
                _ => ft::prepare::Start::Random(crate::weights::hf::read_config(&pretrained_dir)?),
            };
            let gpt = ft::prepare::decoder(&start, o.seed, None, &device)?;
            let states = classify_states(&gpt.valid(), &dev_set[..dev_set.len().min(100)]);
            let (cosine, variance) = (mean_pairwise_cosine(&states), relative_variance(&states));
            eprintln!("{task}, {init}: classify-token states before fine-tuning: mean pairwise cosine {cosine:.3}, relative variance {variance:.3}");
            probes.push(serde_json::json!({ "task": task, "init": init, "classify_cosine": cosine, "classify_relative_variance": variance }));
            let model = ft::prepare::classifier(gpt, &kind, 0.1, ft::Fidelity::Hf, &[], &device);
            let config = FinetuneConfig {
                lr: o.finetune_lr,
                batch_size: 16,
                micro_batch: 16,
                epochs: o.epochs,
                warmup: o.warmup,
                lm_coef: o.lm_coef,
                seed: o.seed,
                trace_updates: o.trace_updates,
                ..FinetuneConfig::default()
            };
            let accuracy = |p: &[Prediction]| {
                let correct = p
                    .iter()
                    .zip(&dev_set)
                    .filter(|(p, e)| matches!((p, e.target), (Prediction::Class { index, .. }, Some(Target::Class(c))) if *index == c))
                    .count();
                let acc = correct as f64 / dev_set.len() as f64;
                (acc, serde_json::json!({ "accuracy": acc }))
            };
            let out = o
                .out
                .join("finetune")
                .join(format!("{task}-{}", init.replace('-', "")));
            eprintln!("{task}, {init} initialisation:");
            let job = ft::FinetuneJob {
                train: &train_set,
                dev: &dev_set,
                config: &config,
                evaluate: &accuracy,
                attach: &attach,
                out: &out,
                device: &device,
            };
            let outcome = ft::finetune(model, &job)?;
            scores.push(outcome.best_score);
        }
        rows.push((task.to_string(), scores[0], scores[1]));
    }

    stage("5/6 zero-shot: choosing story endings by LM log-probability alone");
    let choice: Vec<DemoExample> = world
        .task("endings", 200, Cast::Dev, o.seed * 100 + 99)
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    crate::rng::seed(&device, o.seed ^ 0x2e50);
    let mut zero_shot = Vec::new();
    let random_lm = Gpt::new(pretrained_lm.config(), &device.clone().inner());
    for (name, model) in [("pre-trained", &pretrained_lm), ("random", &random_lm)] {
        let scorer = LmScorer { model };
        let correct = choice
            .iter()
            .filter(|e| match e {
                DemoExample::Choose {
                    context,
                    answers,
                    label,
                } => {
                    let answers: Vec<Vec<u32>> =
                        answers.iter().map(|a| tokenizer.encode(a)).collect();
                    choose_answer(&scorer, &tokenizer.encode(context), &answers) == *label
                }
                _ => false,
            })
            .count();
        zero_shot.push((name, correct as f64 / choice.len() as f64));
    }

    stage("6/6 a sample from the pre-trained model");
    let prompt = tokenizer.encode("one day mira went to");
    let sampling = crate::generate::SamplingConfig {
        temperature: 0.8,
        top_k: 20,
        seed: o.seed,
        max_new_tokens: 30,
        ..Default::default()
    };
    let sample_ids = crate::generate::generate(&pretrained_lm, &prompt, &sampling, true, |_| {});
    let sample = format!(
        "{} {}",
        tokenizer.decode(&prompt),
        tokenizer.decode(&sample_ids)
    );
    eprintln!("{sample}");

    let table = report(&rows, &zero_shot, recall, max_overlap);
    println!("\n{table}");
    let results = serde_json::json!({
        "finetune_dev_accuracy": rows.iter().map(|(t, p, r)| serde_json::json!({"task": t, "pretrained": p, "random": r})).collect::<Vec<_>>(),
        "zero_shot_choice_accuracy": zero_shot.iter().map(|(n, a)| serde_json::json!({"model": n, "accuracy": a})).collect::<Vec<_>>(),
        "pretrain_val_loss": val_loss,
        "classify_state_probes": probes,
        "pretrained_fact_recall": recall,
        "dev_facts_in_training": overlaps,
        "sample": sample,
        "seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(
        o.out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    std::fs::write(o.out.join("results.txt"), &table)?;
    plot_results(&o.out.join("finetune.png"), &rows, &zero_shot)?;
    plot_curves(
        &o.out.join("finetune_curves.png"),
        &o.out.join("finetune"),
        &o.tasks,
    )?;
    eprintln!(
        "\nfinished in {:.0} s; everything is in {}",
        started.elapsed().as_secs_f64(),
        o.out.display()
    );
    Ok(o.out.clone())
}

/// Stages 1–3 of an earlier run: its tokenizer and its last pre-training checkpoint.
fn reuse_pretrained(
    previous: &Path,
) -> anyhow::Result<(genpt_tokenizer::Tokenizer, PathBuf, Option<f64>)> {
    stage("1–3/6 reusing the tokenizer and pre-trained model of an earlier run");
    let tokenizer = genpt_tokenizer::Tokenizer::from_dir(&previous.join("tokenizer"))
        .with_context(|| format!("{}: not a demo run directory", previous.display()))?;
    let checkpoints = previous.join("pretrain").join("checkpoints");
    let mut steps: Vec<PathBuf> = std::fs::read_dir(&checkpoints)
        .with_context(|| format!("reading {}", checkpoints.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.safetensors").exists())
        .collect();
    steps.sort();
    let last = steps
        .pop()
        .with_context(|| format!("{}: no checkpoint", checkpoints.display()))?;
    eprintln!("{}", last.display());
    Ok((tokenizer, last, None))
}

/// Stages 1–3: the stories, a tokenizer trained on them, and generative pre-training.
fn pretrain_on_stories(
    o: &DemoOptions,
    world: &World,
) -> anyhow::Result<(genpt_tokenizer::Tokenizer, PathBuf, Option<f64>)> {
    stage("1/6 generating the story world");
    let corpus = world.corpus(o.stories, o.seed);
    std::fs::write(o.out.join("stories.txt"), &corpus)?;
    let stories: Vec<&str> = corpus.split("\n\n").collect();
    eprintln!(
        "{} stories, {:.1} MB",
        stories.len(),
        corpus.len() as f64 / 1e6
    );

    stage("2/6 training a BPE tokenizer on them");
    let counts = genpt_tokenizer::train::count_words(stories.clone());
    let (encoder, merges) = crate::data::vocabulary::train_vocabulary(&counts, o.merges);
    let tokenizer_dir = o.out.join("tokenizer");
    genpt_tokenizer::vocab::save(&tokenizer_dir, &encoder, &merges)?;
    let tokenizer = genpt_tokenizer::Tokenizer::new(encoder, merges);
    eprintln!(
        "{} merges, {} tokens; written to {}",
        o.merges,
        tokenizer.vocab_size(),
        tokenizer_dir.display()
    );

    stage("3/6 generative pre-training");
    let data = o.out.join("data");
    std::fs::create_dir_all(&data)?;
    let encoded = tokenizer.encode_batch(&stories);
    let newline = tokenizer.token_id("\n</w>");
    let mut train = ShardWriter::create(
        &data.join("train.tok"),
        tokenizer.vocab_size(),
        tokenizer.fingerprint(),
    )?;
    let mut val = ShardWriter::create(
        &data.join("val.tok"),
        tokenizer.vocab_size(),
        tokenizer.fingerprint(),
    )?;
    for (i, ids) in encoded.iter().enumerate() {
        let mut doc = ids.clone();
        doc.extend(newline);
        if i % 20 == 19 {
            val.push_document(&doc)?
        } else {
            train.push_document(&doc)?
        }
    }
    let (th, vh) = (train.finish()?, val.finish()?);
    let split = |name: &str, tokens| SplitMeta {
        shards: vec![name.into()],
        documents: vec![],
        tokens,
        bytes: None,
    };
    let meta = CorpusMeta {
        format: "genpt-corpus-1".into(),
        vocab_size: tokenizer.vocab_size(),
        fingerprint: tokenizer.fingerprint(),
        train: split("train.tok", th.tokens),
        validation: split("val.tok", vh.tokens),
    };
    std::fs::write(data.join(META_FILE), serde_json::to_string_pretty(&meta)?)?;
    let pretrain_dir = o.out.join("pretrain");
    let config = RunConfig::parse(
        &format!(
            r#"
            out_dir = "{}"
            [model]
            preset = "tiny"
            n_layer = 3
            n_embd = 128
            n_head = 4
            n_positions = 64
            [data]
            dir = "{}"
            [train]
            batch_size = 16
            steps = {}
            warmup_steps = {}
            eval_every = {}
            eval_windows = 64
            seed = {}
            backend = "{}"
            [optimizer]
            lr = 2e-3
            [checkpoint]
            every = 0
            keep_last = 1
            "#,
            pretrain_dir.display(),
            data.display(),
            o.pretrain_steps,
            (o.pretrain_steps / 10).max(1),
            (o.pretrain_steps / 6).max(1),
            o.seed,
            o.backend
        ),
        &[],
    )
    .map_err(anyhow::Error::msg)?;
    let outcome = crate::pretrain::pretrain(&config, false, None)?;
    let pretrained_dir = outcome
        .last_checkpoint
        .context("pre-training wrote no checkpoint")?;
    eprintln!(
        "validation loss {:.3} (perplexity {:.1}); curves in {}",
        outcome.val_loss.unwrap_or(f64::NAN),
        outcome.val_loss.unwrap_or(f64::NAN).exp(),
        pretrain_dir.join("curves.png").display()
    );

    Ok((tokenizer, pretrained_dir, outcome.val_loss))
}

/// The share of the world's facts the LM recalls: for each character and fact kind, whether the
/// true statement has the highest mean token log-probability of the kind's six.
fn fact_recall(model: &Gpt, tokenizer: &genpt_tokenizer::Tokenizer, world: &World) -> f64 {
    let scorer = LmScorer { model };
    let questions = world.recall_questions();
    let context = tokenizer.encode("this is a story.");
    let correct = questions
        .iter()
        .filter(|(_, statements, right)| {
            let answers: Vec<Vec<u32>> = statements.iter().map(|s| tokenizer.encode(s)).collect();
            choose_answer(&scorer, &context, &answers) == *right
        })
        .count();
    correct as f64 / questions.len() as f64
}

fn report(
    rows: &[(String, f64, f64)],
    zero_shot: &[(&str, f64)],
    recall: f64,
    overlap: f64,
) -> String {
    let mut t = String::from("What pre-training bought (dev accuracy after fine-tuning)\n\n");
    t.push_str(&format!(
        "{:<16} {:>8} {:>12} {:>12} {:>8}\n",
        "task", "chance", "pre-trained", "random init", "gain"
    ));
    for (task, p, r) in rows {
        t.push_str(&format!(
            "{task:<16} {:>8.3} {:>12.3} {:>12.3} {:>+8.3}\n",
            chance(task),
            p,
            r,
            p - r
        ));
    }
    t.push_str("\nZero-shot multiple choice (4 answers, chance 0.25): ");
    t.push_str(
        &zero_shot
            .iter()
            .map(|(n, a)| format!("{n} {a:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    t.push_str(&format!(
        "\n\nThe labeled training sets are about one half of the characters and the dev sets about the other\n\
         half: {:.1}% of the dev facts appear in any training set, so they can only come from the stories.\n\
         The pre-trained model recalls {:.1}% of the world's facts (chance 16.7%).\n",
        100.0 * overlap,
        100.0 * recall
    ));
    t
}

/// Chance accuracy of each demo task: six towns, two labels, four answers.
fn chance(task: &str) -> f64 {
    match task {
        "classification" => 1.0 / 6.0,
        "choice" => 0.25,
        _ => 0.5,
    }
}

/// `finetune.png`: dev accuracy after fine-tuning, pre-trained beside random per task, then the
/// zero-shot row; dashed lines at chance.
fn plot_results(
    path: &Path,
    rows: &[(String, f64, f64)],
    zero_shot: &[(&str, f64)],
) -> anyhow::Result<()> {
    use crate::plot::{plot_grouped_bars, Bar};
    let bar = |series: &str, value: f64| Bar {
        series: series.into(),
        value,
        spread: None,
    };
    let mut groups: Vec<(String, Vec<Bar>, Option<f64>)> = rows
        .iter()
        .map(|(t, p, r)| {
            (
                t.clone(),
                vec![bar("pre-trained", *p), bar("random init", *r)],
                Some(chance(t)),
            )
        })
        .collect();
    groups.push((
        "zero-shot choice".into(),
        zero_shot
            .iter()
            .map(|(n, a)| bar(if *n == "random" { "random init" } else { n }, *a))
            .collect(),
        Some(0.25),
    ));
    plot_grouped_bars(
        path,
        "What pre-training bought: dev accuracy (dashed: chance)",
        "dev accuracy",
        &groups,
    )
    .map_err(anyhow::Error::msg)
}

/// `finetune_curves.png`: the training classification loss of each fine-tuning run against
/// updates (a moving average over 10 updates), pre-trained beside random, one panel per task.
fn plot_curves(path: &Path, runs: &Path, tasks: &[String]) -> anyhow::Result<()> {
    use crate::plot::{plot_panels, Series};
    let mut panels = Vec::new();
    let titles: Vec<String> = tasks
        .iter()
        .map(|t| format!("{t}: training loss"))
        .collect();
    for (task, title) in tasks.iter().zip(&titles) {
        let mut series = Vec::new();
        for (init, name) in [("pretrained", "pre-trained"), ("random", "random init")] {
            let log =
                std::fs::read_to_string(runs.join(format!("{task}-{init}")).join("metrics.jsonl"))
                    .unwrap_or_default();
            let losses: Vec<f64> = log
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v.get("clf_loss").and_then(serde_json::Value::as_f64))
                .collect();
            let points = (0..losses.len())
                .map(|i| {
                    let window = &losses[i.saturating_sub(9)..=i];
                    (
                        (i + 1) as f64,
                        window.iter().sum::<f64>() / window.len() as f64,
                    )
                })
                .collect();
            series.push(Series {
                name: name.into(),
                points,
            });
        }
        panels.push((title.as_str(), "update", series));
    }
    plot_panels(path, &panels).map_err(anyhow::Error::msg)
}
