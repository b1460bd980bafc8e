//! Progress for long loops: a live bar on a terminal, plain lines otherwise (logs, CI, pipes),
//! or, for a program that shows progress itself (the Python package's notebook bar), nothing
//! drawn and the newest state kept for it to poll ([`polled`], [`snapshot`]).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Where a loop stands, as the last [`Progress::update`] left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub label: String,
    pub done: u64,
    pub total: u64,
    /// Loss, validation loss and speed, as the terminal bar shows them.
    pub message: String,
}

static POLLED: AtomicBool = AtomicBool::new(false);
static LATEST: Mutex<Option<Snapshot>> = Mutex::new(None);

/// With `true`, loops draw no bar and print no progress lines: they keep their state for
/// [`snapshot`] instead.
pub fn polled(on: bool) {
    POLLED.store(on, Ordering::SeqCst);
    clear_snapshot();
}

/// Forgets the last loop's state (before a new run, whose first loop may not have started yet).
pub fn clear_snapshot() {
    *LATEST.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The state of the newest loop (None before any started).
pub fn snapshot() -> Option<Snapshot> {
    LATEST.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// For a loop with a display of its own (`genpt prepare`'s byte counter): its state, kept for
/// [`snapshot`] when progress is polled, nothing otherwise.
pub fn report(label: &str, done: u64, total: u64, message: String) {
    if POLLED.load(Ordering::SeqCst) {
        keep(label, done, total, message);
    }
}

fn keep(label: &str, done: u64, total: u64, message: String) {
    *LATEST.lock().unwrap_or_else(|e| e.into_inner()) = Some(Snapshot {
        label: label.to_string(),
        done,
        total,
        message,
    });
}

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    label: String,
    total: u64,
    started: Instant,
    first: u64,
    /// Plain mode: print every this many steps.
    every: u64,
    polled: bool,
}

impl Progress {
    pub fn new(total: u64, done: u64, label: &str) -> Self {
        let polled = POLLED.load(Ordering::SeqCst);
        report(label, done, total, String::new());
        let bar = (!polled && std::io::stderr().is_terminal()).then(|| {
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
            polled,
        }
    }

    pub fn update(&mut self, step: u64, loss: f64, tokens_per_s: f64, val_loss: Option<f64>) {
        let val = val_loss.map(|v| format!(" val {v:.4}")).unwrap_or_default();
        let message = format!("loss {loss:.4}{val} {tokens_per_s:.0} tok/s");
        if self.polled {
            keep(&self.label, step, self.total, message);
            return;
        }
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
