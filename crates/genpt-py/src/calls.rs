//! How a Python call runs Rust code: without the GIL, with a Rust panic turned into a Python
//! exception (never an abort of the interpreter), with genpt's errors as `GenptError` carrying
//! their message, and, for long calls, with Ctrl-C honoured and progress reported.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use genpt::train::interrupt::{self, Interrupted};
use pyo3::exceptions::{PyException, PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    genpt,
    GenptError,
    pyo3::exceptions::PyException,
    "An error genpt reports: bad input (with its file and line where it has one), a model or \
     tokenizer that does not load, a run that cannot resume."
);

/// `error` as the Python exception it becomes: an interruption as `KeyboardInterrupt`, a
/// caller's bad argument as `ValueError`, anything else as `GenptError`; the message is the
/// whole chain of contexts (`outer: inner`).
pub fn to_py(error: anyhow::Error) -> PyErr {
    if let Some(stopped) = error.downcast_ref::<Interrupted>() {
        return PyKeyboardInterrupt::new_err(stopped.to_string());
    }
    if let Some(bad) = error.downcast_ref::<BadArgument>() {
        return PyValueError::new_err(bad.0.clone());
    }
    GenptError::new_err(message(&error))
}

/// The chain of contexts, `outer: inner`, leaving out a cause whose text the message already
/// holds (a context that quotes its source).
pub fn message(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

/// A Python argument the call cannot use (raised as `ValueError`).
#[derive(Debug)]
pub struct BadArgument(pub String);

impl std::fmt::Display for BadArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadArgument {}

/// `Err(BadArgument)` with `message`.
pub fn bad<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(BadArgument(message.into()).into())
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = genpt::panic_text(&*payload).unwrap_or_else(|| "(no message)".into());
    format!("genpt panicked: {text} (a bug in genpt: please report it with the call that made it)")
}

/// Runs a short `work` without the GIL; a panic becomes `GenptError`.
pub fn quick<T: Send>(
    py: Python<'_>,
    work: impl FnOnce() -> anyhow::Result<T> + Send,
) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(work)))
        .unwrap_or_else(|panic| Err(anyhow::anyhow!(panic_message(panic))))
        .map_err(to_py)
}

/// A stop request for one call: what Ctrl-C sets while that call runs.
#[derive(Default)]
pub struct Stop(AtomicBool);

impl Stop {
    /// `Err(Interrupted)` once Ctrl-C was pressed, saying that nothing of the call was kept.
    pub fn check(&self) -> Result<(), Interrupted> {
        match self.0.load(Ordering::SeqCst) {
            true => Err(Interrupted {
                resume: "nothing was kept".into(),
            }),
            false => Ok(()),
        }
    }
}

/// Runs a long `work` (encoding, scoring, predicting many inputs) on a thread of its own with
/// Ctrl-C honoured: `work` checks the [`Stop`] it is given between pieces. Each call has its
/// own: a Ctrl-C in one Python thread does not stop another's call.
pub fn interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&Stop) -> anyhow::Result<T> + Send,
) -> PyResult<T> {
    let stop = Stop::default();
    wait_for(
        py,
        None,
        || stop.0.store(true, Ordering::SeqCst),
        || work(&stop),
    )
}

/// One `genpt` command at a time per process: the stop request training loops read
/// ([`genpt::train::interrupt`]) and the progress they report are process-wide.
static COMMAND: Mutex<()> = Mutex::new(());

/// Runs a `genpt` command (training, preparing data) with Ctrl-C honoured at its update
/// boundaries ([`genpt::train::interrupt`]) and its progress passed to `progress(label, done,
/// total, message)`. Freed memory stays with the process while it runs (training reallocates
/// the same buffers every step) and goes back to the OS afterwards.
pub fn command<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce() -> anyhow::Result<T> + Send,
) -> PyResult<T> {
    let _one_at_a_time = match COMMAND.try_lock() {
        Ok(guard) => guard,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            return Err(GenptError::new_err(
                "another genpt training or data command is running in this process; \
                 run one at a time (or use separate processes)",
            ))
        }
    };
    interrupt::clear();
    genpt::progress::clear_snapshot();
    genpt::retain_freed_memory();
    let result = wait_for(py, progress, interrupt::request, work);
    genpt::return_freed_memory();
    interrupt::clear();
    result
}

/// Runs `work` on a thread of its own while this (Python's) thread waits without the GIL,
/// waking every 100 ms to let Python handle signals and, with `progress`, to pass it the
/// newest progress. Ctrl-C (or any exception a signal handler or the callback raises that is
/// not an `Exception`, such as `SystemExit`) calls `stop` and waits for the work to wind down,
/// so that what it leaves behind (a checkpoint) is whole; then that exception is raised.
fn wait_for<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    stop: impl Fn(),
    work: impl FnOnce() -> anyhow::Result<T> + Send,
) -> PyResult<T> {
    let done: (Mutex<Option<anyhow::Result<T>>>, Condvar) = (Mutex::new(None), Condvar::new());
    let mut signal: Option<PyErr> = None;
    let stop_for = |e: PyErr, signal: &mut Option<PyErr>| {
        if signal.is_none() {
            eprintln!("genpt: stopping at the next boundary ({})", e.value(py));
            stop();
            *signal = Some(e);
        }
    };
    let outcome = std::thread::scope(|scope| -> anyhow::Result<T> {
        scope.spawn(|| {
            let result = catch_unwind(AssertUnwindSafe(work))
                .unwrap_or_else(|panic| Err(anyhow::anyhow!(panic_message(panic))));
            *done.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            done.1.notify_all();
        });
        let mut shown = None;
        loop {
            let finished = py.detach(|| {
                let guard = done.0.lock().unwrap_or_else(|e| e.into_inner());
                let (mut guard, _) = done
                    .1
                    .wait_timeout_while(guard, Duration::from_millis(100), |r| r.is_none())
                    .unwrap_or_else(|e| e.into_inner());
                guard.take()
            });
            if let Some(callback) = progress {
                let now = genpt::progress::snapshot();
                if now.is_some() && now != shown {
                    let s = now.clone().expect("checked");
                    if let Err(e) = callback.call1((s.label, s.done, s.total, s.message)) {
                        if e.is_instance_of::<PyException>(py) {
                            // A failing callback must not lose the run: report, carry on.
                            e.print(py);
                        } else {
                            // KeyboardInterrupt that arrived while the callback ran, or an
                            // exit: as from a signal handler below.
                            stop_for(e, &mut signal);
                        }
                    }
                    shown = now;
                }
            }
            if let Some(result) = finished {
                return result;
            }
            if let Err(e) = py.check_signals() {
                stop_for(e, &mut signal);
            }
        }
    });
    match (outcome, signal) {
        (Ok(value), None) => Ok(value),
        // Stopped at a boundary: KeyboardInterrupt, saying what it left to resume from.
        (Err(error), Some(e))
            if error.is::<Interrupted>() && e.is_instance_of::<PyKeyboardInterrupt>(py) =>
        {
            Err(to_py(error))
        }
        (Err(error), None) => Err(to_py(error)),
        // The signal's own exception, whether or not the work finished before stopping.
        (_, Some(signal)) => Err(signal),
    }
}
