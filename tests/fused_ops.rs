//! Every fused kernel against the composed tensor operations it replaces: values and the
//! gradients of every input, to 1e-5, on random inputs of odd sizes, on flex with autodiff.
//! Each case also runs a negative control (a slightly wrong reference) to show that the
//! comparison can fail.

use burn::tensor::{Device, Int, Tensor, TensorData};
use genpt::kernels;

fn device() -> Device {
    genpt::device::device("flex").unwrap().autodiff()
}

/// Deterministic values in [-scale/2, scale/2).
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
        })
        .collect()
}

fn leaf<const D: usize>(v: &[f32], shape: [usize; D], d: &Device) -> Tensor<D> {
    Tensor::<D>::from_data(TensorData::new(v.to_vec(), shape), d).require_grad()
}

fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Largest |a − b| / (1 + |b|).
fn worst(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs() / (1.0 + (y as f64).abs()))
        .fold(0.0, f64::max)
}

const TOLERANCE: f64 = 1e-5;

/// Runs `op` on leaves made from `inputs` and returns its output and each input's gradient of
/// Σ output·probe.
fn output_and_grads<const D: usize, const O: usize>(
    inputs: &[(Vec<f32>, [usize; D])],
    probe: &[f32],
    out_shape: [usize; O],
    op: &dyn Fn(&[Tensor<D>]) -> Tensor<O>,
) -> (Vec<f32>, Vec<Vec<f32>>) {
    let d = device();
    let leaves: Vec<Tensor<D>> = inputs.iter().map(|(v, s)| leaf(v, *s, &d)).collect();
    let out = op(&leaves);
    let probe = Tensor::<O>::from_data(TensorData::new(probe.to_vec(), out_shape), &d);
    let grads = (out.clone() * probe).sum().backward();
    let g = leaves
        .iter()
        .map(|l| vec_of(l.grad(&grads).expect("every input gets a gradient")))
        .collect();
    (vec_of(out), g)
}

fn compare(
    name: &str,
    fused: &(Vec<f32>, Vec<Vec<f32>>),
    reference: &(Vec<f32>, Vec<Vec<f32>>),
    wrong: &(Vec<f32>, Vec<Vec<f32>>),
) {
    let mut w = worst(&fused.0, &reference.0);
    for (a, b) in fused.1.iter().zip(&reference.1) {
        w = w.max(worst(a, b));
    }
    let mut control = worst(&wrong.0, &reference.0);
    for (a, b) in wrong.1.iter().zip(&reference.1) {
        control = control.max(worst(a, b));
    }
    println!("{name}: fused vs composed worst {w:.2e}; negative control {control:.2e}");
    assert!(
        w < TOLERANCE,
        "{name}: fused differs from composed by {w:e}"
    );
    assert!(
        control > 10.0 * TOLERANCE,
        "{name}: the negative control was not caught ({control:e})"
    );
}

#[test]
fn layer_norm_matches_the_composed_formula() {
    for (rows, width) in [(3usize, 7usize), (37, 129)] {
        let x = values(rows * width, 1, 6.0);
        let g = values(width, 2, 2.0);
        let b = values(width, 3, 1.0);
        let probe = values(rows * width, 4, 2.0);
        let shape3 = [1, rows, width];
        let run = |f: &dyn Fn(Tensor<3>, Tensor<1>, Tensor<1>) -> Tensor<3>| {
            let d = device();
            let (xl, gl, bl) = (
                leaf(&x, shape3, &d),
                leaf(&g, [width], &d),
                leaf(&b, [width], &d),
            );
            let out = f(xl.clone(), gl.clone(), bl.clone());
            let p = Tensor::<3>::from_data(TensorData::new(probe.clone(), shape3), &d);
            let grads = (out.clone() * p).sum().backward();
            (
                vec_of(out),
                vec![
                    vec_of(xl.grad(&grads).unwrap()),
                    vec_of(gl.grad(&grads).unwrap()),
                    vec_of(bl.grad(&grads).unwrap()),
                ],
            )
        };
        let fused = run(&|x, g, b| kernels::layer_norm(x, g, b, 1e-5));
        let reference = run(&|x, g, b| kernels::reference_layer_norm(x, g, b, 1e-5));
        // Negative control: the unbiased variance (÷ (width − 1)), a classic port bug.
        let wrong = run(&|x, g, b| {
            let n = width as f64;
            let mean = x.clone().mean_dim(2);
            let c = x - mean;
            let var = c.clone().square().sum_dim(2).div_scalar(n - 1.0);
            c / (var + 1e-5).sqrt() * g.unsqueeze() + b.unsqueeze()
        });
        compare(
            &format!("layer_norm {rows}×{width}"),
            &fused,
            &reference,
            &wrong,
        );
    }
}

#[test]
fn gelu_matches_the_composed_formula() {
    let n = 4099;
    let x = values(n, 5, 16.0);
    let probe = values(n, 6, 2.0);
    let inputs = [(x, [n])];
    let fused = output_and_grads(&inputs, &probe, [n], &|t| kernels::gelu(t[0].clone()));
    let reference = output_and_grads(&inputs, &probe, [n], &|t| {
        kernels::reference_gelu(t[0].clone())
    });
    // Negative control: the exact (erf) GELU, which the release does not use.
    let wrong = output_and_grads(&inputs, &probe, [n], &|t| {
        burn::tensor::activation::gelu(t[0].clone())
    });
    compare("gelu", &fused, &reference, &wrong);
}

#[test]
fn linear_cross_entropy_matches_logits_log_softmax_gather() {
    // Odd sizes; more rows than one chunk at this vocabulary, some rows weighted 0.
    for (n, d, v) in [(5usize, 3usize, 11usize), (301, 37, 1013)] {
        let hidden = values(n * d, 7, 4.0);
        let weight = values(v * d, 8, 4.0);
        let targets: Vec<i64> = (0..n).map(|r| ((r * 7919) % v) as i64).collect();
        let row_w: Vec<f32> = (0..n)
            .map(|r| if r % 5 == 2 { 0.0 } else { 1.0 / n as f32 })
            .collect();
        let dev = device();
        let t = Tensor::<1, Int>::from_data(TensorData::new(targets.clone(), [n]), &dev);
        let w = Tensor::<1>::from_data(TensorData::new(row_w.clone(), [n]), &dev);
        let inputs = [(hidden.clone(), [n, d]), (weight.clone(), [v, d])];
        let probe = [1.7f32];
        let fused = output_and_grads(&inputs, &probe, [1], &|x| {
            kernels::linear_cross_entropy(x[0].clone(), x[1].clone(), t.clone(), w.clone())
        });
        let reference = output_and_grads(&inputs, &probe, [1], &|x| {
            kernels::reference_linear_cross_entropy(
                x[0].clone(),
                x[1].clone(),
                t.clone(),
                w.clone(),
            )
        });
        // Negative control: every row weighted, the padding too.
        let all = Tensor::<1>::ones([n], &dev).div_scalar(n as f64);
        let wrong = output_and_grads(&inputs, &probe, [1], &|x| {
            kernels::reference_linear_cross_entropy(
                x[0].clone(),
                x[1].clone(),
                t.clone(),
                all.clone(),
            )
        });
        compare(
            &format!("linear_cross_entropy {n}×{d}, vocab {v}"),
            &fused,
            &reference,
            &wrong,
        );

        // The forward-only log-probabilities of every row.
        let h = Tensor::<2>::from_data(TensorData::new(hidden.clone(), [n, d]), &dev);
        let wt = Tensor::<2>::from_data(TensorData::new(weight.clone(), [v, d]), &dev);
        let got = vec_of(kernels::linear_target_logprobs(
            h.clone(),
            wt.clone(),
            t.clone(),
        ));
        let want = vec_of(kernels::reference_target_logprobs(h, wt, t.clone()));
        let e = worst(&got, &want);
        println!("linear_target_logprobs {n}×{d}, vocab {v}: worst {e:.2e}");
        assert!(e < TOLERANCE);
    }
}

#[test]
fn attention_softmax_matches_scale_mask_softmax_dropout() {
    // [batch 2, heads 3, queries 5, keys 9]: 4 cached keys before the 5 queries; and a square
    // causal block without a past. With dropout the fused kernel draws the same mask as the
    // composed path for the same seed, so outputs and gradients compare exactly.
    for (queries, keys, dropout) in [
        (5usize, 9usize, 0.0),
        (7, 7, 0.0),
        (5, 9, 0.25),
        (7, 7, 0.1),
    ] {
        let past = keys - queries;
        let shape = [2, 3, queries, keys];
        let n = shape.iter().product();
        let scores = values(n, 9, 8.0);
        let probe = values(n, 10, 2.0);
        let inputs = [(scores, shape)];
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            genpt::rng::dropout::reseed(42);
            output_and_grads(&inputs, &probe, shape, &|t| f(t[0].clone()))
        };
        let fused = run(&|s| kernels::attention_softmax(s, past, 0.37, dropout));
        let reference = run(&|s| kernels::reference_attention_softmax(s, past, 0.37, dropout));
        // Negative control: the mask one position off (each query also sees the next key).
        let wrong = run(&|s| kernels::reference_attention_softmax(s, past + 1, 0.37, dropout));
        compare(
            &format!("attention_softmax {queries}×{keys}, past {past}, dropout {dropout}"),
            &fused,
            &reference,
            &wrong,
        );
    }
}

#[test]
fn residual_dropout_matches_add_and_dropout() {
    // [2, 37, 129]: more elements than one parallel task, an odd size.
    let shape = [2, 37, 129];
    let n = shape.iter().product();
    let inputs = [(values(n, 11, 4.0), shape), (values(n, 12, 4.0), shape)];
    let probe = values(n, 13, 2.0);
    for dropout in [0.0, 0.1] {
        let run = |f: &dyn Fn(Tensor<3>, Tensor<3>) -> Tensor<3>| {
            genpt::rng::dropout::reseed(5);
            output_and_grads(&inputs, &probe, shape, &|t| f(t[0].clone(), t[1].clone()))
        };
        let fused = run(&|x, y| kernels::residual_dropout(x, y, dropout));
        let reference = run(&|x, y| kernels::reference_residual_dropout(x, y, dropout));
        // Negative control: the dropout applied to the residual instead of the sublayer.
        let wrong = run(&|x, y| kernels::reference_residual_dropout(y, x, dropout.max(0.1)));
        compare(
            &format!("residual_dropout p={dropout}"),
            &fused,
            &reference,
            &wrong,
        );
    }
}

#[test]
fn linear_bf16_matches_the_products_of_the_rounded_operands() {
    use genpt::kernels::bf16_gemm::{available, from_bf16, to_bf16};
    if !available() {
        eprintln!("skipped: this CPU has no AVX512-BF16");
        return;
    }
    let round =
        |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| from_bf16(to_bf16(x)) as f64).collect() };
    // Sizes off every tile multiple; n rows, k inputs, m outputs.
    let (n, k, m) = (37, 70, 45);
    let (x, w, b) = (
        values(n * k, 21, 4.0),
        values(k * m, 22, 2.0),
        values(m, 23, 1.0),
    );
    let probe = values(n * m, 24, 3.0);
    let inputs = [
        (x.clone(), [n, k]),
        (w.clone(), [k, m]),
        (b.clone(), [1, m]),
    ];
    let (out, grads) = output_and_grads(&inputs, &probe, [n, m], &|t| {
        kernels::linear_bf16(t[0].clone(), t[1].clone(), t[2].clone().reshape([m]))
    });
    // The forward equals the composed reference (a cast to bf16 and back, an fp32 product).
    let (reference, _) = output_and_grads(&inputs, &probe, [n, m], &|t| {
        kernels::reference_linear_bf16(t[0].clone(), t[1].clone(), t[2].clone().reshape([m]))
    });
    let forward = worst(&out, &reference);
    // The gradients equal the exact products of the bf16-rounded operands (the incoming
    // gradient, here the probe, rounded too), computed here in f64.
    let (xr, wr, dy) = (round(&x), round(&w), round(&probe));
    let dx: Vec<f32> = (0..n * k)
        .map(|e| {
            (0..m)
                .map(|j| dy[e / k * m + j] * wr[e % k * m + j])
                .sum::<f64>() as f32
        })
        .collect();
    let dw: Vec<f32> = (0..k * m)
        .map(|e| {
            (0..n)
                .map(|i| xr[i * k + e / m] * dy[i * m + e % m])
                .sum::<f64>() as f32
        })
        .collect();
    let db: Vec<f32> = (0..m)
        .map(|j| (0..n).map(|i| probe[i * m + j] as f64).sum::<f64>() as f32)
        .collect();
    let backward = worst(&grads[0], &dx)
        .max(worst(&grads[1], &dw))
        .max(worst(&grads[2], &db));
    // Negative control: the fp32 gradient (operands not rounded) is measurably different.
    let dx32: Vec<f32> = (0..n * k)
        .map(|e| {
            (0..m)
                .map(|j| probe[e / k * m + j] as f64 * w[e % k * m + j] as f64)
                .sum::<f64>() as f32
        })
        .collect();
    let control = worst(&grads[0], &dx32);
    println!("linear_bf16: forward {forward:.2e}, backward {backward:.2e}; control {control:.2e}");
    assert!(forward < TOLERANCE, "forward differs by {forward:e}");
    assert!(backward < TOLERANCE, "gradients differ by {backward:e}");
    assert!(
        control > 10.0 * TOLERANCE,
        "the control was not caught ({control:e})"
    );
}
