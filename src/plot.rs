//! PNG plots of training curves from `metrics.jsonl`.
//!
//! Text is drawn with DejaVu Sans from the system fonts when present (Debian's fonts-dejavu);
//! without it the curves are still drawn, unlabeled, rather than failing the run.

use std::path::Path;

use plotters::prelude::*;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
];

fn register_font() -> bool {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REGISTERED.get_or_init(|| {
        FONT_PATHS.iter().any(|path| match std::fs::read(path) {
            Ok(bytes) => {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            }
            Err(_) => false,
        })
    })
}

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws `panels` side by side, each a set of series against a shared x label, into `out`.
pub fn plot_panels(out: &Path, panels: &[(&str, &str, Vec<Series>)]) -> Result<(), String> {
    let labels = register_font();
    let width = 640 * panels.len().max(1) as u32;
    let root = BitMapBackend::new(out, (width, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for ((title, x_label, series), area) in panels.iter().zip(areas) {
        let points = series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in points {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            continue; // nothing to draw
        }
        if x0 == x1 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-9);
        let mut builder = ChartBuilder::on(&area);
        builder.margin(12);
        if labels {
            builder.caption(*title, ("sans-serif", 20)).x_label_area_size(36).y_label_area_size(56);
        }
        let mut chart = builder
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
            .map_err(|e| e.to_string())?;
        if labels {
            chart.configure_mesh().x_desc(*x_label).draw().map_err(|e| e.to_string())?;
        }
        for (i, s) in series.iter().enumerate() {
            let color = colors[i % colors.len()];
            let drawn = chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            if labels {
                drawn.label(s.name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            }
        }
        if labels {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())
}

/// Loss (training and validation) and learning rate against updates, from a metrics log.
pub fn plot_metrics(metrics: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(metrics).map_err(|e| format!("{}: {e}", metrics.display()))?;
    let mut loss = Vec::new();
    let mut val = Vec::new();
    let mut lr = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let Some(step) = v["step"].as_f64() else { continue };
        if let Some(x) = v["loss"].as_f64() {
            loss.push((step, x));
        }
        if let Some(x) = v["val_loss"].as_f64() {
            val.push((step, x));
        }
        if let Some(x) = v["lr"].as_f64() {
            lr.push((step, x));
        }
    }
    plot_panels(
        out,
        &[
            (
                "loss (nats/token)",
                "update",
                vec![
                    Series { name: "training".into(), points: loss },
                    Series { name: "validation".into(), points: val },
                ],
            ),
            ("learning rate", "update", vec![Series { name: "lr".into(), points: lr }]),
        ],
    )
}

/// The zero-shot heuristics tracked during pre-training against updates, normalised between
/// chance (0) and a reference score (1): the paper's Figure 2 (right).
pub fn plot_zero_shot(metrics: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(metrics).map_err(|e| format!("{}: {e}", metrics.display()))?;
    let mut series: Vec<Series> = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let (Some(step), Some(tasks)) = (v["step"].as_f64(), v["zeroshot_normalized"].as_object()) else { continue };
        for (task, value) in tasks {
            let Some(value) = value.as_f64() else { continue };
            match series.iter_mut().find(|s| &s.name == task) {
                Some(s) => s.points.push((step, value)),
                None => series.push(Series { name: task.clone(), points: vec![(step, value)] }),
            }
        }
    }
    plot_panels(out, &[("zero-shot (0 = chance, 1 = reference)", "update", series)])
}
