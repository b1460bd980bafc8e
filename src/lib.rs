//! genpt: OpenAI's GPT-1 (Radford et al., 2018, *Improving Language Understanding by
//! Generative Pre-Training*) and the pre-LN GPT-2 that followed it (Radford et al., 2019), in
//! Rust: the tokenizers, the model, generative pre-training, discriminative fine-tuning,
//! zero-shot evaluation and an OpenAI-compatible server.

pub mod cli;
pub mod config;
pub mod data;
pub mod demo;
pub mod device;
pub mod files;
pub mod finetune;
pub mod generate;
pub mod host;
pub mod kernels;
pub mod loss;
pub mod metrics_log;
pub mod model;
pub mod model_tokenizer;
pub mod plot;
pub mod precision;
pub mod pretrain;
pub mod progress;
pub mod rng;
pub mod serve;
pub mod settings;
pub mod surgery;
pub mod tensorboard;
pub mod train;
pub mod weights;
pub mod zeroshot;

pub use config::GptConfig;
pub use model::Gpt;

/// The shared data directory (`$GENPT_SHARED`, else `../shared` from the crate root), if it
/// exists. Tests and benchmarks that need it skip with a printed reason when it is absent.
pub fn shared_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("GENPT_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.is_dir().then_some(dir)
}

/// Keeps freed memory in the process instead of returning it to the OS. A training step frees
/// and reallocates the same large activation buffers every time; returned to the OS they come
/// back as fresh pages the kernel must zero (about 11% of a step in a profile). Call once at
/// start-up in programs that use mimalloc as their global allocator.
pub fn retain_freed_memory() {
    set_purge_delay(-1);
}

/// Undoes [`retain_freed_memory`]: mimalloc's default again (freed memory goes back to the OS
/// after 10 ms), for a long-lived process (a notebook) once its training call is over.
pub fn return_freed_memory() {
    set_purge_delay(10);
}

fn set_purge_delay(milliseconds: std::ffi::c_long) {
    // mi_option_purge_delay (index 15 in mimalloc's option enum): -1 = never purge.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets a process-wide allocator option; mimalloc documents it as safe at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, milliseconds) };
}

/// The message a panic carried (its `String` or `&str` payload), for reporting a caught panic.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
}

/// The commit this genpt was built from (`-dirty` when tracked files differed from it;
/// `unknown` outside a git checkout): see build.rs.
pub const BUILD_COMMIT: &str = env!("GENPT_COMMIT");
