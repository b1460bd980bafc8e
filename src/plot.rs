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
        let points = series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite());
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
            builder
                .caption(*title, ("sans-serif", 20))
                .x_label_area_size(36)
                .y_label_area_size(56);
        }
        let mut chart = builder
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
            .map_err(|e| e.to_string())?;
        if labels {
            chart
                .configure_mesh()
                .x_desc(*x_label)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        for (i, s) in series.iter().enumerate() {
            let color = colors[i % colors.len()];
            let drawn = chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
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
    let text =
        std::fs::read_to_string(metrics).map_err(|e| format!("{}: {e}", metrics.display()))?;
    let mut loss = Vec::new();
    let mut val = Vec::new();
    let mut lr = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(step) = v["step"].as_f64() else {
            continue;
        };
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
                    Series {
                        name: "training".into(),
                        points: loss,
                    },
                    Series {
                        name: "validation".into(),
                        points: val,
                    },
                ],
            ),
            (
                "learning rate",
                "update",
                vec![Series {
                    name: "lr".into(),
                    points: lr,
                }],
            ),
        ],
    )
}

/// The zero-shot heuristics tracked during pre-training against updates, normalised between
/// chance (0) and a reference score (1): the paper's Figure 2 (right).
pub fn plot_zero_shot(metrics: &Path, out: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(metrics).map_err(|e| format!("{}: {e}", metrics.display()))?;
    let mut series: Vec<Series> = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(step), Some(tasks)) = (v["step"].as_f64(), v["zeroshot_normalized"].as_object())
        else {
            continue;
        };
        for (task, value) in tasks {
            let Some(value) = value.as_f64() else {
                continue;
            };
            match series.iter_mut().find(|s| &s.name == task) {
                Some(s) => s.points.push((step, value)),
                None => series.push(Series {
                    name: task.clone(),
                    points: vec![(step, value)],
                }),
            }
        }
    }
    plot_panels(
        out,
        &[("zero-shot (0 = chance, 1 = reference)", "update", series)],
    )
}

/// One bar of a grouped bar chart: its series name, height, and optionally the spread
/// (lowest, highest) drawn as a whisker.
pub struct Bar {
    pub series: String,
    pub value: f64,
    pub spread: Option<(f64, f64)>,
}

/// A grouped bar chart: one group of bars per label (e.g. a task), the same series in each group
/// in the same colour, with an optional dashed reference line per group (e.g. chance).
pub fn plot_grouped_bars(
    out: &Path,
    title: &str,
    y_label: &str,
    groups: &[(String, Vec<Bar>, Option<f64>)],
) -> Result<(), String> {
    let labels = register_font();
    let root = BitMapBackend::new(out, (960, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
    ];
    let mut series: Vec<String> = Vec::new();
    for (_, bars, _) in groups {
        for b in bars {
            if !series.contains(&b.series) {
                series.push(b.series.clone());
            }
        }
    }
    let n = groups.len().max(1) as f64;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if labels {
        builder
            .caption(title, ("sans-serif", 20))
            .x_label_area_size(40)
            .y_label_area_size(56);
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..n, 0.0..1.05f64)
        .map_err(|e| e.to_string())?;
    if labels {
        let names: Vec<String> = groups.iter().map(|(l, _, _)| l.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - x.floor() - 0.5).abs() < 1e-6 && i < names.len() {
                    names[i].clone()
                } else {
                    String::new()
                }
            })
            .y_desc(y_label)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    let width = 0.8 / series.len().max(1) as f64;
    for (g, (_, bars, reference)) in groups.iter().enumerate() {
        let g = g as f64;
        for b in bars {
            let k = series.iter().position(|s| *s == b.series).unwrap_or(0);
            let color = colors[k % colors.len()];
            let x0 = g + 0.1 + k as f64 * width;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.92, b.value)],
                    color.filled(),
                )))
                .map_err(|e| e.to_string())?;
            if let Some((lo, hi)) = b.spread {
                let xm = x0 + width * 0.46;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(xm, lo), (xm, hi)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(|e| e.to_string())?;
            }
        }
        if let Some(r) = reference {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(g + 0.05, *r), (g + 0.95, *r)],
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
        }
    }
    if labels {
        for (k, name) in series.iter().enumerate() {
            let color = colors[k % colors.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, 0.0), (0.0, 0.0)],
                    color.filled(),
                )))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
