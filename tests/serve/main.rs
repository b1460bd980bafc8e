//! `genpt serve` over real HTTP on loopback, against tiny random models built here: every
//! endpoint, streaming, bad inputs, overload, disconnects, SIGTERM, and batched decoding checked
//! against generating alone (`generate::generate`).

mod common;
mod completions;
mod decoding;
mod endpoints;
mod gpu;
mod openai;
mod page;
mod robustness;
