//! Stage two of the method (paper, sections 3.2–3.3): discriminative fine-tuning with
//! task-aware input transformations and an auxiliary language-modelling loss.

pub mod fidelity;
pub mod head;
pub mod model;
pub mod objective;
pub mod probe;
// Issue 15: `--fidelity release`, the official release's graph and loop.
pub mod release;
pub mod release_loop;
pub mod run;
pub mod task_data;
pub mod tasks;
pub mod trace;

pub use fidelity::Fidelity;
pub use head::{ClassifierHead, Pooling};
