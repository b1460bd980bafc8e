//! The plots of issue 22 from `docs/results/books.json` (scripts/books_summary.py):
//! - `books_pretrain.png`: bits per byte on the held-out books, and the zero-shot heuristics
//!   (Figure 2, right), against log10 of the tokens seen;
//! - `books_layers.png`: dev score against the number of transferred blocks (Figure 2, left);
//! - `books_labels.png`: SST-2 dev accuracy against log10 of the labeled examples, pre-trained
//!   against random initialisation (medians over seeds).
//!
//! Usage: cargo run --release --example books_plots -- docs/results/books.json docs/results

use std::path::{Path, PathBuf};

use genpt::plot::{plot_panels, Series};
use serde_json::Value;

fn median(values: &[Value]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn pairs(v: &Value, log_x: bool) -> Vec<(f64, f64)> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let (x, y) = (p.get(0)?.as_f64()?, p.get(1)?.as_f64()?);
            Some((if log_x { x.max(1.0).log10() } else { x }, y))
        })
        .collect()
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| "docs/results/books.json".into());
    let out = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| "docs/results".into());
    let text = std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
    let books: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;

    let bpb: Vec<(f64, f64)> = books["pretrain"]["checkpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["tokens"].as_f64()?.max(1.0).log10(),
                c["bits_per_byte"].as_f64()?,
            ))
        })
        .collect();
    let zero_shot: Vec<Series> = books["zeroshot"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(task, points)| Series {
            name: task.clone(),
            points: pairs(points, true),
        })
        .collect();
    plot_panels(
        &out.join("books_pretrain.png"),
        &[
            (
                "bits per byte, held-out books",
                "log10 tokens seen",
                vec![Series {
                    name: "books-lm".into(),
                    points: bpb,
                }],
            ),
            (
                "zero-shot (accuracy; CoLA: MCC)",
                "log10 tokens seen",
                zero_shot,
            ),
        ],
    )?;

    let layers: Vec<Series> = books["layers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(task, points)| Series {
            name: task.clone(),
            points: pairs(points, false),
        })
        .collect();
    if !layers.is_empty() {
        plot_panels(
            &out.join("books_layers.png"),
            &[(
                "dev score against transferred blocks",
                "blocks transferred",
                layers,
            )],
        )?;
    }

    let finetune = &books["finetune"];
    let mut curves = vec![
        Series {
            name: "pre-trained".into(),
            points: vec![],
        },
        Series {
            name: "random init".into(),
            points: vec![],
        },
    ];
    for (key, examples) in [
        ("sst2@250", 250.0),
        ("sst2@1000", 1000.0),
        ("sst2@4000", 4000.0),
        ("sst2@16000", 16000.0),
        ("sst2", 67349.0_f64),
    ] {
        for (series, variant) in curves.iter_mut().zip(["pretrained", "random"]) {
            if let Some(m) = finetune[key][variant].as_array().and_then(|v| median(v)) {
                series.points.push((examples.log10(), m));
            }
        }
    }
    if curves.iter().any(|s| !s.points.is_empty()) {
        plot_panels(
            &out.join("books_labels.png"),
            &[(
                "SST-2 dev accuracy against labeled examples",
                "log10 labeled examples",
                curves,
            )],
        )?;
    }
    for name in ["books_pretrain.png", "books_layers.png", "books_labels.png"] {
        let path: &Path = &out.join(name);
        if path.exists() {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}
