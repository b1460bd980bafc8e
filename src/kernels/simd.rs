//! Row primitives of the fused kernels, written as plain loops over 16-lane blocks that LLVM
//! turns into vector code, and compiled three times: for AVX-512, for AVX2 + FMA, and for any
//! x86-64 or other CPU. The variant is chosen once per call from what the CPU reports, so one
//! binary runs everywhere and uses the widest units it finds.
//!
//! Float reductions are not vectorised by the compiler on its own (that would reorder the
//! additions), so the sums and maxima below keep 16 partial results and combine them at the
//! end: a fixed order, hence deterministic results for a given row length.

/// Lanes per block: one AVX-512 register, two AVX2 registers.
const LANES: usize = 16;

/// `exp(x)` to about 2 ulp for every f32 (Cephes' `expf`: x = n·ln 2 + r with |r| ≤ ln2/2,
/// a degree-6 polynomial for eʳ, then 2ⁿ put into the exponent bits). Inputs below −87.3
/// give ≈1e−38 instead of 0: far below anything the callers add it to.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// The instruction sets the kernels are compiled for, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Any CPU: what the compiler makes of the plain loops for the build's target.
    Baseline,
    /// AVX2 and FMA (most x86-64 CPUs since 2013-2015: Haswell, Zen).
    Avx2,
    /// AVX-512 F (with AVX2 and FMA).
    Avx512,
}

/// The widest instruction set the kernels use here: what the CPU reports, read once, capped by
/// `GENPT_CPU_ISA` (`avx2` or `baseline`) when set, so that a machine with AVX-512 can run and
/// time the code an AVX2-only CPU runs (burn's GEMM is not capped: docs/speed.md).
pub fn isa() -> Isa {
    static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *ISA.get_or_init(|| {
        let setting = std::env::var("GENPT_CPU_ISA").ok();
        capped(detected_isa(), setting.as_deref()).unwrap_or_else(|e| {
            eprintln!("warning: {e}; using what the CPU has");
            detected_isa()
        })
    })
}

/// `detected` capped by a `GENPT_CPU_ISA` value.
fn capped(detected: Isa, setting: Option<&str>) -> Result<Isa, String> {
    match setting {
        None | Some("") | Some("native") | Some("avx512") => Ok(detected),
        Some("avx2") => Ok(detected.min(Isa::Avx2)),
        Some("baseline") => Ok(Isa::Baseline),
        Some(other) => Err(format!(
            "GENPT_CPU_ISA={other:?} is not one of avx512, avx2, baseline, native"
        )),
    }
}

fn detected_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// Defines `pub fn $name(args) -> ret` that runs `$body` compiled for the widest instruction set
/// [`isa`] allows. `$body` must be an `#[inline(always)]` function taking the same arguments.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $body:path;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                match $crate::kernels::simd::isa() {
                    // SAFETY: `isa` is at most what the CPU reported supporting.
                    $crate::kernels::simd::Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::kernels::simd::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::kernels::simd::Isa::Baseline => {}
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// The largest element of `x` (−∞ for an empty slice).
#[inline(always)]
fn max_body(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut blocks = x.chunks_exact(LANES);
    for block in &mut blocks {
        for (m, &v) in lanes.iter_mut().zip(block) {
            *m = m.max(v);
        }
    }
    let mut m = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in blocks.remainder() {
        m = m.max(v);
    }
    m
}

multiversion! {
    /// The largest element of `x`.
    pub fn max(x: &[f32]) -> f32 = max_body;
}

/// Replaces each `x[i]` by `exp(x[i] − shift)` and returns their sum (in f32 lanes, then f64).
#[inline(always)]
fn exp_shifted_sum_body(x: &mut [f32], shift: f32) -> f64 {
    let mut lanes = [0f32; LANES];
    let mut blocks = x.chunks_exact_mut(LANES);
    for block in &mut blocks {
        for (s, v) in lanes.iter_mut().zip(block.iter_mut()) {
            *v = exp(*v - shift);
            *s += *v;
        }
    }
    let mut sum: f64 = lanes.iter().map(|&s| s as f64).sum();
    for v in blocks.into_remainder() {
        *v = exp(*v - shift);
        sum += *v as f64;
    }
    sum
}

multiversion! {
    /// `x[i] ← exp(x[i] − shift)`; returns Σ x[i] afterwards.
    pub fn exp_shifted_sum(x: &mut [f32], shift: f32) -> f64 = exp_shifted_sum_body;
}

/// Σ exp(x[i] − shift) without writing anything.
#[inline(always)]
fn sum_exp_shifted_body(x: &[f32], shift: f32) -> f64 {
    let mut lanes = [0f32; LANES];
    let mut blocks = x.chunks_exact(LANES);
    for block in &mut blocks {
        for (s, &v) in lanes.iter_mut().zip(block) {
            *s += exp(v - shift);
        }
    }
    let mut sum: f64 = lanes.iter().map(|&s| s as f64).sum();
    for &v in blocks.remainder() {
        sum += exp(v - shift) as f64;
    }
    sum
}

multiversion! {
    /// Σ exp(x[i] − shift).
    pub fn sum_exp_shifted(x: &[f32], shift: f32) -> f64 = sum_exp_shifted_body;
}

#[inline(always)]
fn scale_body(x: &mut [f32], factor: f32) {
    for v in x.iter_mut() {
        *v *= factor;
    }
}

multiversion! {
    /// `x[i] ← factor·x[i]`.
    pub fn scale(x: &mut [f32], factor: f32) = scale_body;
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_isa_setting_only_narrows() {
        use super::{capped, Isa};
        assert_eq!(capped(Isa::Avx512, Some("avx2")), Ok(Isa::Avx2));
        assert_eq!(capped(Isa::Avx2, Some("avx512")), Ok(Isa::Avx2));
        assert_eq!(capped(Isa::Avx2, None), Ok(Isa::Avx2));
        assert_eq!(capped(Isa::Avx512, Some("baseline")), Ok(Isa::Baseline));
        assert_eq!(capped(Isa::Baseline, Some("avx2")), Ok(Isa::Baseline));
        assert!(capped(Isa::Avx512, Some("sse9")).is_err());
    }

    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        println!("worst relative error of exp over [-87, 88]: {worst:.2e}");
        assert!(worst < 5e-7, "{worst}");
        assert!(exp(-1e9) < 1e-37 && exp(-1e9) >= 0.0);
    }

    #[test]
    fn reductions_match_plain_loops_on_odd_lengths() {
        for n in [0usize, 1, 15, 16, 17, 33, 1000] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let want_max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&x), want_max);
            let want_sum: f64 = x.iter().map(|&v| ((v - 1.5) as f64).exp()).sum();
            let got = sum_exp_shifted(&x, 1.5);
            assert!(
                (got - want_sum).abs() <= 1e-6 * want_sum.max(1.0),
                "{n}: {got} {want_sum}"
            );
            let mut y = x.clone();
            let s = exp_shifted_sum(&mut y, 1.5);
            assert!((s - want_sum).abs() <= 1e-6 * want_sum.max(1.0));
            for (a, b) in y.iter().zip(&x) {
                let e = ((b - 1.5) as f64).exp();
                assert!(((*a as f64) - e).abs() <= 1e-6 * e);
            }
        }
    }
}
