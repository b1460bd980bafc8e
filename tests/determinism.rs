//! Numbers that must not depend on how rayon schedules the work: the same inputs give the same
//! bits with 1, 2, 3 or 4 worker threads. A reduction whose grouping follows which worker steals
//! which half (rayon's `reduce` and `sum` over a parallel iterator) fails this: its tree has
//! more leaves the more threads there are, and under load it changes from one call to the next.
//! Training that resumes bit for bit, and two runs of one seed that agree, rest on it.

mod common;

use burn::tensor::{Tensor, TensorData};

use genpt::rng::Draws;
use genpt::train::grads::{sum_of_squares, NamedGrads};

/// `f` run inside a pool of `threads` workers.
fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// `n` values in [-1, 1].
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut draws = Draws::new(seed, 0);
    (0..n)
        .map(|_| (draws.below(2_000_001) as f32 - 1e6) * 1e-6)
        .collect()
}

#[test]
fn a_large_gradients_norm_is_the_same_whatever_the_threads() {
    let device = genpt::device::device("flex").unwrap();
    // Above the 4M values from which burn-flex sums a tensor with rayon's adaptive reduction.
    let v = values(5_000_003, 1);
    let exact: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let g = Tensor::<1>::from_data(TensorData::new(v, [5_000_003]), &device);

    let ours: Vec<u64> = (1..=4)
        .map(|t| with_threads(t, || sum_of_squares(g.clone()).0).to_bits())
        .collect();
    assert!(
        ours.iter().all(|&b| b == ours[0]),
        "Σ g² by thread count: {:?}",
        ours.iter().map(|&b| f64::from_bits(b)).collect::<Vec<_>>()
    );
    let got = f64::from_bits(ours[0]);
    // f64 sums of 5M terms grouped two ways agree to about n·ε ≈ 1e-9.
    assert!(
        ((got - exact) / exact).abs() < 1e-9,
        "{got} against {exact} summed in order in f64"
    );
    let mut grads = NamedGrads::default();
    grads.grads.insert("w".into(), g.clone());
    grads.count = 1;
    assert_eq!(grads.global_norm().to_bits(), got.sqrt().to_bits());

    // Negative control: the same squares summed by rayon's own parallel `sum` (the adaptive
    // reduction burn-flex sums large tensors with), whose grouping follows the thread count,
    // is not the same with 1 to 8 threads. Plain Rust f32 additions, so what it shows does not
    // depend on which vector instructions the CPU has (burn-flex's own sum, the control this
    // replaces, came out thread-independent on an AVX2-only CPU).
    let squares: Vec<f32> = g
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|x| x * x)
        .collect();
    let mut rayon_sums: Vec<u32> = (1..=8)
        .map(|t| {
            with_threads(t, || {
                use rayon::prelude::*;
                squares.par_iter().copied().sum::<f32>().to_bits()
            })
        })
        .collect();
    rayon_sums.sort_unstable();
    rayon_sums.dedup();
    assert!(
        rayon_sums.len() > 1,
        "the control cannot tell: rayon's sum was the same with 1 to 8 threads"
    );
}

/// The fused CPU kernels give the same bits whichever instruction set runs them
/// (`GENPT_CPU_ISA`: AVX-512 where the CPU has it, AVX2 + FMA, or plain code): they sum in 16
/// lanes in a fixed order, whatever the register width. So a run resumes, and a seed repeats,
/// across machines with and without AVX-512. Checked on the weights after 8 updates of
/// pre-training (forward, backward and the optimizer: every fused kernel).
#[test]
fn the_kernels_give_the_same_bits_on_every_instruction_set() {
    let data = common::scratch("isa", "data");
    common::write_corpus(&data);
    let weights = |name: &str, env: &[(&str, &str)]| {
        let out = common::scratch("isa", name);
        let config = out.join("run.toml");
        std::fs::write(
            &config,
            common::run_config(&data, &out, "tiny", &[]).to_toml(),
        )
        .unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_genpt"));
        command.args(["pretrain", "--config", config.to_str().unwrap()]);
        for (key, value) in env {
            command.env(key, value);
        }
        let status = command.output().unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        std::fs::read(out.join("checkpoints/step-00000008/model.safetensors")).unwrap()
    };
    let native = weights("native", &[]);
    for isa in ["avx2", "baseline"] {
        assert!(
            weights(isa, &[("GENPT_CPU_ISA", isa)]) == native,
            "GENPT_CPU_ISA={isa} changed the weights"
        );
    }
    // Negative control: the composed operations instead of the fused kernels round otherwise.
    assert!(
        weights("composed", &[("GENPT_FUSED", "0")]) != native,
        "the comparison cannot tell the composed path from the fused one"
    );
}
