//! Randomness, at the bottom of the crate: every other layer (data, model, kernels, fine-tuning,
//! serving) draws from here and this module imports none of them.
//!
//! - [`splitmix64`] and [`Draws`]: deterministic streams, a pure function of (seed, stream), so a
//!   resumed run draws exactly what it would have drawn without stopping;
//! - [`dropout`]: dropout masks as counter-based keys, and inverted dropout on a tensor.

pub mod dropout;

/// Seeds `device`'s generator and runs `init`, which draws from it (a model's initial weights),
/// while no other thread of the process does the same. burn keeps one generator per process,
/// so two runs initialising at once on two threads (tests, ranks sharing a process) would
/// otherwise each take some of the other's draws; with every seeded initialisation behind this
/// lock, each gets exactly the values its seed gives.
pub fn seeded<T>(device: &burn::tensor::Device, seed: u64, init: impl FnOnce() -> T) -> T {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    self::seed(device, seed);
    init()
}

/// Seeds the generator that random initial weights for `device` are drawn from: the device's
/// own on the CPU backends, the host's for a GPU, whose weights are drawn on the host and copied
/// over ([`crate::model::layers::param`]). So a seed gives the same initial model on every
/// backend, and a run on a GPU starts where the same run on flex does.
pub fn seed(device: &burn::tensor::Device, seed: u64) {
    device.seed(seed);
    if !crate::device::on_cpu(device) {
        crate::device::host().seed(seed);
    }
}

/// SplitMix64: a tiny, well-mixed generator; here only as a deterministic hash of counters.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stream of 64-bit draws determined by `(seed, stream)`.
pub struct Draws(u64);

impl Draws {
    pub fn new(seed: u64, stream: u64) -> Self {
        Self(splitmix64(seed ^ splitmix64(stream)))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }
    /// Uniform in `0..n` (n > 0); the modulo bias is below 2⁻⁴⁰ for any corpus size here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
