//! The bf16 GEMM kernel (`kernels::bf16_gemm`, AVX512-BF16) against flex's fp32 matmul on the
//! matrix products of one gpt1 training step (batch 2 × 512 tokens): the forward `X·W` of each
//! linear layer and its two backward products, `dY·Wᵀ` and `Xᵀ·dY`. The two run back to back
//! for each shape, so the ratio is what to read (timings on shared cores vary ±30% between runs).
//!
//!     cargo bench --bench bf16_gemm -- [--tokens 1024] [--repeats 5]

use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use genpt::kernels::bf16_gemm::{self, Strided};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.into())
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut draws = genpt::rng::Draws::new(seed, 0);
    (0..n)
        .map(|_| (draws.below(2001) as f32 - 1000.0) / 1000.0)
        .collect()
}

/// Best of `repeats` wall times of `f`, in seconds, after one warm-up call.
fn best(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // Without AVX512-BF16 (or with GENPT_CPU_ISA=avx2) the fp32 column alone: the GEMM rate of
    // the training step's products, to compare with PyTorch's (scripts/torch_gemm_shapes.py).
    let bf16_on = bf16_gemm::available();
    if !bf16_on {
        println!("no AVX512-BF16 here (or GENPT_CPU_ISA caps it): fp32 only");
    }
    let tokens: usize = arg("--tokens", "1024").parse().unwrap();
    let repeats: usize = arg("--repeats", "5").parse().unwrap();
    let device = genpt::device::device("flex").unwrap();
    let d = 768;
    // (name, m, k, n): the products of c_attn, attn c_proj, c_fc and mlp c_proj.
    let mut shapes = Vec::new();
    for (layer, n_in, n_out) in [
        ("c_attn", d, 3 * d),
        ("attn.c_proj", d, d),
        ("c_fc", d, 4 * d),
        ("mlp.c_proj", 4 * d, d),
    ] {
        shapes.push((format!("{layer} X·W"), tokens, n_in, n_out, false, false));
        shapes.push((format!("{layer} dY·Wᵀ"), tokens, n_out, n_in, false, true));
        shapes.push((format!("{layer} Xᵀ·dY"), n_in, tokens, n_out, true, false));
    }
    println!("| product | m × k × n | fp32 flex GFLOP/s | bf16 GFLOP/s | ratio |");
    println!("|---|---|---|---|---|");
    let (mut t32, mut t16, mut flops) = (0.0, 0.0, 0.0);
    for (name, m, k, n, a_t, b_t) in shapes {
        // Stored as they are in training: A^T is [k, m] row-major when `a_t`, B^T [n, k] when `b_t`.
        let a_data = values(m * k, 1);
        let b_data = values(k * n, 2);
        let a = if a_t {
            Strided::row_major(&a_data, k, m).t()
        } else {
            Strided::row_major(&a_data, m, k)
        };
        let b = if b_t {
            Strided::row_major(&b_data, n, k).t()
        } else {
            Strided::row_major(&b_data, k, n)
        };
        let at = Tensor::<2>::from_data(
            TensorData::new(a_data.clone(), if a_t { [k, m] } else { [m, k] }),
            &device,
        );
        let bt = Tensor::<2>::from_data(
            TensorData::new(b_data.clone(), if b_t { [n, k] } else { [k, n] }),
            &device,
        );
        let fp32 = best(repeats, || {
            let a = if a_t {
                at.clone().transpose()
            } else {
                at.clone()
            };
            let b = if b_t {
                bt.clone().transpose()
            } else {
                bt.clone()
            };
            let _ = a.matmul(b).into_data();
        });
        let mut c = vec![0f32; m * n];
        let bf16 = match bf16_on {
            true => best(repeats, || bf16_gemm::gemm(a, b, &mut c, false)),
            false => f64::NAN,
        };
        let f = 2.0 * (m * k * n) as f64;
        println!(
            "| {name} | {m} × {k} × {n} | {:.0} | {:.0} | {:.2}× |",
            f / fp32 / 1e9,
            f / bf16 / 1e9,
            fp32 / bf16
        );
        (t32, t16, flops) = (t32 + fp32, t16 + bf16, flops + f);
    }
    println!(
        "| all 12 (one layer's step) | | {:.0} | {:.0} | {:.2}× |",
        flops / t32 / 1e9,
        flops / t16 / 1e9,
        t32 / t16
    );
}
