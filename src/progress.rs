//! Progress for long loops: a live bar on a terminal, plain lines otherwise (logs, CI, pipes).

use std::io::IsTerminal;
use std::time::Instant;

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    label: String,
    total: u64,
    started: Instant,
    first: u64,
    /// Plain mode: print every this many steps.
    every: u64,
}

impl Progress {
    pub fn new(total: u64, done: u64, label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total).with_position(done);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        Self {
            bar,
            label: label.into(),
            total,
            started: Instant::now(),
            first: done,
            every: (total / 20).max(1),
        }
    }

    pub fn update(&mut self, step: u64, loss: f64, tokens_per_s: f64, val_loss: Option<f64>) {
        let val = val_loss.map(|v| format!(" val {v:.4}")).unwrap_or_default();
        let message = format!("loss {loss:.4}{val} {tokens_per_s:.0} tok/s");
        match &self.bar {
            Some(bar) => {
                bar.set_position(step);
                bar.set_message(message);
            }
            None => {
                if step.is_multiple_of(self.every) || step == self.total {
                    let elapsed = self.started.elapsed().as_secs_f64();
                    let rate = (step - self.first) as f64 / elapsed.max(1e-9);
                    let eta = (self.total - step) as f64 / rate.max(1e-9);
                    eprintln!(
                        "{} {step}/{} {message} ETA {eta:.0}s",
                        self.label, self.total
                    );
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
