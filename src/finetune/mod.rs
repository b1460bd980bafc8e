//! Stage two of the method (paper, sections 3.2–3.3): discriminative fine-tuning with
//! task-aware input transformations and an auxiliary language-modelling loss.
//!
//! Layers, lowest first: `fidelity` (the flag and the loop policies, which the settings name),
//! `examples` (encoded examples, targets, predictions), `job` (a run's settings and outcome)
//! and `batch`; the model (`head`, `classifier`, `objective`) and the release's graph
//! (`release`); `recipe`, which reads the flag once and chooses graph and loop policy;
//! `task_bridge` (the task crate's transformations and metrics in the loop's terms) and
//! `task_data` (where examples come from); `prepare` (decoder and head, for the CLI and the
//! demo alike); `step` (fine-tuning's loss for the training core's update, and predictions);
//! `model_dir` (a fine-tuned model on disk); `trace`; and `run`, the one loop.

pub mod batch;
pub mod classifier;
pub mod examples;
pub mod fidelity;
pub mod head;
pub mod job;
pub mod model_dir;
pub mod objective;
pub mod prepare;
pub mod probe;
pub mod recipe;
// `--fidelity release`: the official release's graph.
pub mod release;
pub mod run;
pub mod step;
pub mod task_bridge;
pub mod task_data;
pub mod trace;

pub use examples::{EncodedExample, Prediction, Target};
pub use fidelity::{Fidelity, LoopPolicy};
pub use head::{ClassifierHead, Pooling};
pub use job::{Attach, Evaluate, FinetuneConfig, FinetuneJob, FinetuneOutcome};
pub use model_dir::{load, save, save_complete};
pub use run::{finetune, finetune_with};
pub use step::{predict, update_gradients, update_gradients_with, UpdateGradients};
