//! Training machinery shared by pre-training and fine-tuning: the release's Adam, its
//! schedules, gradient bookkeeping.

pub mod adam;
pub mod grads;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod schedule;
pub mod sync;

pub use adam::{AdamConfig, OpenAiAdam};
pub use grads::{parameter_layout, NamedGrads, ParameterLayout};
pub use schedule::Schedule;
pub use sync::{average_over_processes, in_launched_world, GradientSync, LocalSync};
