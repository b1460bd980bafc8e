//! A request to stop training early, made from outside the loop (Ctrl-C in the Python package,
//! which runs training on a thread of its own). Pre-training stops after the update in progress
//! and checkpoints it, as `--until` does; fine-tuning stops before its next update, leaving the
//! resume point of its last whole epoch. Either run then continues with `--resume`.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the running loop to stop at its next update boundary.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for since the last [`clear`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Forgets an earlier request (before a new run starts).
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// The error a loop stopped by [`request`] returns, after saving what it resumes from.
#[derive(Debug, thiserror::Error)]
#[error("interrupted; {resume}")]
pub struct Interrupted {
    /// What `--resume` continues from.
    pub resume: String,
}

/// `Err(Interrupted)` when a stop was asked for.
pub fn check(resume: impl FnOnce() -> String) -> Result<(), Interrupted> {
    match requested() {
        true => Err(Interrupted { resume: resume() }),
        false => Ok(()),
    }
}
