//! Stage two of the method (paper, sections 3.2–3.3): discriminative fine-tuning with
//! task-aware input transformations and an auxiliary language-modelling loss.
//!
//! Layers, lowest first: `fidelity` (the flag and the loop policies, which the settings
//! name), `types` (examples, settings, outcomes) and `batch`; the model (`head`, `model`,
//! `objective`) and the release's graph (`release`); `recipe`, which reads the flag once and
//! chooses graph and loop policy; `prepare` (decoder and head, for the CLI and the demo alike); `step` (one update, and predictions); `io` (a fine-tuned
//! model on disk); `trace`; and `run`, the one loop.

pub mod batch;
pub mod fidelity;
pub mod head;
pub mod io;
pub mod model;
pub mod objective;
pub mod prepare;
pub mod probe;
pub mod recipe;
// `--fidelity release`: the official release's graph.
pub mod release;
pub mod run;
pub mod step;
pub mod task_data;
pub mod tasks;
pub mod trace;
pub mod types;

pub use fidelity::{Fidelity, LoopPolicy};
pub use head::{ClassifierHead, Pooling};
pub use io::{load, save, save_complete};
pub use run::{finetune, finetune_with};
pub use step::{apply_update, predict, update_gradients, update_gradients_with, UpdateGradients};
pub use types::{
    Attach, EncodedExample, Evaluate, FinetuneConfig, FinetuneOutcome, Prediction, Target,
};
