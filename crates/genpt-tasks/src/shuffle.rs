//! Deterministic shuffling without the `rand` crate: SplitMix64 (Steele, Lea &
//! Flood 2014; the generator Vigna recommends for seeding) driving a
//! Fisher–Yates shuffle. The exact algorithm is part of the data split's
//! definition, so it is spelled out here rather than borrowed from a crate
//! whose stream could change between versions.

/// SplitMix64 as in Vigna's reference `splitmix64.c`.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` by Lemire's multiply-shift (bias < n / 2^64, i.e. none
    /// that matters for n in the thousands). `n` must be > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Fisher–Yates (Durstenfeld): for i from n-1 down to 1, swap i with a uniform j in 0..=i.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}
