//! `genpt demo`: the whole method on built-in generated data, in minutes on a CPU.

pub mod run;
pub mod world;
