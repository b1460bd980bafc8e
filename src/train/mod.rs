//! Training machinery shared by pre-training and fine-tuning: the release's Adam, its
//! schedules, gradient bookkeeping.

pub mod adam;
pub mod grads;
pub mod schedule;

pub use adam::{AdamConfig, OpenAiAdam};
pub use grads::NamedGrads;
pub use schedule::Schedule;
