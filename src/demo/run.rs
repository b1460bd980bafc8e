//! The demo pipeline: generated stories → tokenizer → pre-training → fine-tuning with and without
//! pre-training on four generated tasks → a zero-shot heuristic → a sample → a table of what
//! pre-training bought. Everything lands in one run directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::world::{DemoExample, World};
use crate::data::corpus::{CorpusMeta, SplitMeta, META_FILE};
use crate::data::shards::ShardWriter;
use crate::finetune::model::{add_special_rows, new_classifier};
use crate::finetune::run::{self as ft, FinetuneConfig, Prediction, Target};
use crate::pretrain::RunConfig;
use crate::finetune::tasks::{encode_example, head_shape, special_ids, SPECIAL_NAMES};
use genpt_tasks::{Example, Input, Label, TaskKind};
use crate::zeroshot::{choose_answer, LmScorer};
use crate::Gpt;

pub struct DemoOptions {
    pub out: PathBuf,
    pub stories: usize,
    pub merges: usize,
    pub pretrain_steps: u64,
    pub train_examples: usize,
    pub epochs: usize,
    pub finetune_lr: f64,
    pub seed: u64,
    pub backend: String,
}

fn to_example(i: usize, d: &DemoExample) -> (Example, TaskKind) {
    let (input, label, kind) = match d {
        DemoExample::Classify { text, label } => (Input::Single(text.clone()), *label, TaskKind::Classification { n_classes: 2 }),
        DemoExample::Entail { premise, hypothesis, label } => {
            (Input::Pair(premise.clone(), hypothesis.clone()), *label, TaskKind::Entailment { n_classes: 2 })
        }
        DemoExample::Similar { a, b, label } => (Input::Pair(a.clone(), b.clone()), *label, TaskKind::Similarity { regression: false }),
        DemoExample::Choose { context, answers, label } => (
            Input::Choices { context: context.clone(), question: String::new(), choices: answers.clone() },
            *label,
            TaskKind::MultipleChoice { n_choices: answers.len() },
        ),
    };
    (Example { id: i.to_string(), input, label: Some(Label::Class(label)) }, kind)
}

fn stage(name: &str) {
    eprintln!("\n== {name}");
}

pub fn run_demo(o: &DemoOptions) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    std::fs::create_dir_all(&o.out).with_context(|| format!("creating {}", o.out.display()))?;
    let world = World::new(o.seed);

    stage("1/6 generating the story world");
    let corpus = world.corpus(o.stories, o.seed);
    std::fs::write(o.out.join("stories.txt"), &corpus)?;
    let stories: Vec<&str> = corpus.split("\n\n").collect();
    eprintln!("{} stories, {:.1} MB", stories.len(), corpus.len() as f64 / 1e6);

    stage("2/6 training a BPE tokenizer on them");
    let counts = genpt_tokenizer::train::count_words(stories.clone());
    let (encoder, merges) = crate::cli::train_vocabulary(&counts, o.merges);
    let tokenizer_dir = o.out.join("tokenizer");
    genpt_tokenizer::vocab::save(&tokenizer_dir, &encoder, &merges)?;
    let mut tokenizer = genpt_tokenizer::Tokenizer::new(encoder, merges);
    eprintln!("{} merges, {} tokens; written to {}", o.merges, tokenizer.vocab_size(), tokenizer_dir.display());

    stage("3/6 generative pre-training");
    let data = o.out.join("data");
    std::fs::create_dir_all(&data)?;
    let encoded = tokenizer.encode_batch(&stories);
    let newline = tokenizer.token_id("\n</w>");
    let mut train = ShardWriter::create(&data.join("train.tok"), tokenizer.vocab_size(), tokenizer.fingerprint())?;
    let mut val = ShardWriter::create(&data.join("val.tok"), tokenizer.vocab_size(), tokenizer.fingerprint())?;
    for (i, ids) in encoded.iter().enumerate() {
        let mut doc = ids.clone();
        doc.extend(newline);
        if i % 20 == 19 { val.push_document(&doc)? } else { train.push_document(&doc)? }
    }
    let (th, vh) = (train.finish()?, val.finish()?);
    let split = |name: &str, tokens| SplitMeta { shards: vec![name.into()], documents: vec![], tokens };
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
    let pretrained_dir = outcome.last_checkpoint.context("pre-training wrote no checkpoint")?;
    eprintln!(
        "validation loss {:.3} (perplexity {:.1}); curves in {}",
        outcome.val_loss.unwrap_or(f64::NAN),
        outcome.val_loss.unwrap_or(f64::NAN).exp(),
        pretrain_dir.join("curves.png").display()
    );

    stage("4/6 fine-tuning on four tasks, with and without pre-training");
    let device = crate::device::device(&o.backend).map_err(anyhow::Error::msg)?.autodiff();
    let specials = special_ids(&tokenizer.add_special_tokens(&SPECIAL_NAMES));
    let mut rows = Vec::new();
    for (task, seed_offset) in [("classification", 1u64), ("entailment", 2), ("similarity", 3), ("choice", 4)] {
        let make = |n: usize, salt: u64| -> anyhow::Result<(Vec<ft::EncodedExample>, TaskKind)> {
            let examples = world.task(task, n, o.seed * 100 + seed_offset * 10 + salt);
            let kind = to_example(0, &examples[0]).1;
            let tokenize = |t: &str| tokenizer.encode(t);
            let enc = examples
                .iter()
                .enumerate()
                .map(|(i, e)| encode_example(&to_example(i, e).0, &kind, &tokenize, specials, 64))
                .collect::<Result<_, _>>()?;
            Ok((enc, kind))
        };
        let (train_set, kind) = make(o.train_examples, 1)?;
        let (dev_set, _) = make(200, 2)?;
        let (pooling, outputs) = head_shape(&kind);
        let mut scores = Vec::new();
        for init in ["pre-trained", "random"] {
            device.seed(o.seed);
            let gpt = match init {
                "pre-trained" => crate::weights::hf::load(&pretrained_dir, &device)?,
                _ => Gpt::new(&crate::weights::hf::read_config(&pretrained_dir)?, &device),
            };
            let gpt = add_special_rows(gpt, SPECIAL_NAMES.len(), o.seed, &device);
            let model = new_classifier(gpt, pooling, outputs, 0.1, &device);
            let config = FinetuneConfig { lr: o.finetune_lr, batch_size: 16, micro_batch: 16, epochs: o.epochs, warmup: 0.05, seed: o.seed, ..FinetuneConfig::default() };
            let accuracy = |p: &[Prediction]| {
                let correct = p
                    .iter()
                    .zip(&dev_set)
                    .filter(|(p, e)| matches!((p, e.target), (Prediction::Class { index, .. }, Some(Target::Class(c))) if *index == c))
                    .count();
                let acc = correct as f64 / dev_set.len() as f64;
                (acc, serde_json::json!({ "accuracy": acc }))
            };
            let out = o.out.join("finetune").join(format!("{task}-{}", init.replace('-', "")));
            eprintln!("{task}, {init} initialisation:");
            let outcome = ft::finetune(model, &train_set, &dev_set, &config, &accuracy, &out, &device)?;
            scores.push(outcome.best_score);
        }
        rows.push((task.to_string(), scores[0], scores[1]));
    }

    stage("5/6 zero-shot: choosing story endings by LM log-probability alone");
    let choice = world.task("choice", 200, o.seed * 100 + 99);
    let mut zero_shot = Vec::new();
    let inner = device.clone().inner();
    for (name, model) in [
        ("pre-trained", crate::weights::hf::load(&pretrained_dir, &inner)?),
        ("random", Gpt::new(&crate::weights::hf::read_config(&pretrained_dir)?, &inner)),
    ] {
        let scorer = LmScorer { model: &model };
        let correct = choice
            .iter()
            .filter(|e| match e {
                DemoExample::Choose { context, answers, label } => {
                    let answers: Vec<Vec<u32>> = answers.iter().map(|a| tokenizer.encode(a)).collect();
                    choose_answer(&scorer, &tokenizer.encode(context), &answers) == *label
                }
                _ => false,
            })
            .count();
        zero_shot.push((name, correct as f64 / choice.len() as f64));
    }

    stage("6/6 a sample from the pre-trained model");
    let model = crate::weights::hf::load(&pretrained_dir, &inner)?;
    let prompt = tokenizer.encode("one day mira went to");
    let sampling = crate::generate::SamplingConfig { temperature: 0.8, top_k: 20, seed: o.seed, max_new_tokens: 30, ..Default::default() };
    let sample_ids = crate::generate::generate(&model, &prompt, &sampling, true, |_| {});
    let sample = format!("{} {}", tokenizer.decode(&prompt), tokenizer.decode(&sample_ids));
    eprintln!("{sample}");

    let table = report(&rows, &zero_shot);
    println!("\n{table}");
    let results = serde_json::json!({
        "finetune_dev_accuracy": rows.iter().map(|(t, p, r)| serde_json::json!({"task": t, "pretrained": p, "random": r})).collect::<Vec<_>>(),
        "zero_shot_choice_accuracy": zero_shot.iter().map(|(n, a)| serde_json::json!({"model": n, "accuracy": a})).collect::<Vec<_>>(),
        "pretrain_val_loss": outcome.val_loss,
        "sample": sample,
        "seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(o.out.join("results.json"), serde_json::to_string_pretty(&results)?)?;
    std::fs::write(o.out.join("results.txt"), &table)?;
    plot_results(&o.out.join("finetune.png"), &rows)?;
    eprintln!("\nfinished in {:.0} s; everything is in {}", started.elapsed().as_secs_f64(), o.out.display());
    Ok(o.out.clone())
}

fn report(rows: &[(String, f64, f64)], zero_shot: &[(&str, f64)]) -> String {
    let mut t = String::from("What pre-training bought (dev accuracy after fine-tuning)\n\n");
    t.push_str(&format!("{:<16} {:>12} {:>12} {:>8}\n", "task", "pre-trained", "random init", "gain"));
    for (task, p, r) in rows {
        t.push_str(&format!("{task:<16} {:>12.3} {:>12.3} {:>+8.3}\n", p, r, p - r));
    }
    t.push_str("\nZero-shot story endings (4 choices, chance 0.25): ");
    t.push_str(&zero_shot.iter().map(|(n, a)| format!("{n} {a:.3}")).collect::<Vec<_>>().join(", "));
    t.push('\n');
    t
}

fn plot_results(path: &Path, rows: &[(String, f64, f64)]) -> anyhow::Result<()> {
    use crate::plot::{plot_panels, Series};
    let points = |pick: fn(&(String, f64, f64)) -> f64| rows.iter().enumerate().map(|(i, r)| (i as f64, pick(r))).collect();
    plot_panels(
        path,
        &[(
            "dev accuracy by task (0 classification, 1 entailment, 2 similarity, 3 choice)",
            "task",
            vec![Series { name: "pre-trained".into(), points: points(|r| r.1) }, Series { name: "random init".into(), points: points(|r| r.2) }],
        )],
    )
    .map_err(anyhow::Error::msg)
}
