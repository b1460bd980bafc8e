//! Training machinery shared by pre-training and fine-tuning: the release's Adam, its
//! schedules, gradient bookkeeping.

pub mod adam;
pub mod grads;
pub mod schedule;
pub mod sync;

pub use adam::{AdamConfig, OpenAiAdam};
pub use grads::NamedGrads;
pub use schedule::Schedule;
pub use sync::{GradientSync, LocalSync};
