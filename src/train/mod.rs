//! The training core shared by pre-training and fine-tuning: one update (micro-batches,
//! gradient sync, clipping, the release's Adam), its schedules, one checkpoint format, and the
//! processes' roles. `crate::pretrain` and `crate::finetune` each drive it from their own loop
//! (windows of text by update count; epochs of examples), through hooks.

pub mod adam;
pub mod checkpoint;
pub mod grads;
pub mod interrupt;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod schedule;
pub mod sync;
pub mod update;

pub use adam::{AdamConfig, OpenAiAdam};
pub use checkpoint::ModelFiles;
pub use grads::{parameter_layout, NamedGrads, ParameterLayout};
pub use schedule::Schedule;
pub use sync::{average_over_processes, in_launched_world, GradientSync, LocalSync, Role};
pub use update::{mean_gradients, take_step, MeanGradients, MicroBatchLoss};
