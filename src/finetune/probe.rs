//! What a transformer's classify-token states look like before any fine-tuning: if they barely
//! vary across inputs, a linear head on them starts with nothing to read, and fine-tuning has to
//! build the representation the head needs.

use super::EncodedExample;
use crate::host::HostValues;
use crate::Gpt;

/// Final hidden states at the classify token of each example's first sequence: [n, width].
pub fn classify_states(gpt: &Gpt, examples: &[EncodedExample]) -> Vec<Vec<f32>> {
    let device = gpt.tokens_embed.val().device();
    let mut out = Vec::with_capacity(examples.len());
    for e in examples {
        let ids = crate::host::ids_row(&e.sequences[0], &device);
        let hidden = gpt.forward(ids, false).hidden;
        let width = hidden.dims()[2];
        let at = e.classify_at[0];
        let state = hidden.narrow(1, at, 1).reshape([width]);
        out.push(state.host_values());
    }
    out
}

/// Mean cosine similarity over all pairs of `states`: 1 when every input gives the same
/// direction, about 0 for unrelated ones.
pub fn mean_pairwise_cosine(states: &[Vec<f32>]) -> f64 {
    let unit: Vec<Vec<f64>> = states
        .iter()
        .map(|s| {
            let norm = s
                .iter()
                .map(|&v| (v as f64).powi(2))
                .sum::<f64>()
                .sqrt()
                .max(1e-12);
            s.iter().map(|&v| v as f64 / norm).collect()
        })
        .collect();
    let (mut sum, mut pairs) = (0.0, 0usize);
    for i in 0..unit.len() {
        for j in i + 1..unit.len() {
            sum += unit[i]
                .iter()
                .zip(&unit[j])
                .map(|(a, b)| a * b)
                .sum::<f64>();
            pairs += 1;
        }
    }
    if pairs == 0 {
        f64::NAN
    } else {
        sum / pairs as f64
    }
}

/// The share of the states' total variance (summed over features) relative to their mean
/// squared norm: 0 when every input maps to the same vector.
pub fn relative_variance(states: &[Vec<f32>]) -> f64 {
    let n = states.len() as f64;
    let width = states.first().map_or(0, Vec::len);
    let mean: Vec<f64> = (0..width)
        .map(|k| states.iter().map(|s| s[k] as f64).sum::<f64>() / n)
        .collect();
    let variance: f64 = states
        .iter()
        .map(|s| {
            s.iter()
                .zip(&mean)
                .map(|(&v, m)| (v as f64 - m).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n;
    let power: f64 = states
        .iter()
        .map(|s| s.iter().map(|&v| (v as f64).powi(2)).sum::<f64>())
        .sum::<f64>()
        / n;
    variance / power.max(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_variance_by_hand() {
        // [1,0], [0,1], [1,1]: cosines 0, 1/√2, 1/√2 → mean √2/3.
        let s = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]];
        assert!((mean_pairwise_cosine(&s) - 2f64.sqrt() / 3.0).abs() < 1e-12);
        let same = vec![vec![3.0, 4.0]; 4];
        assert!((mean_pairwise_cosine(&same) - 1.0).abs() < 1e-12);
        assert!(relative_variance(&same).abs() < 1e-12);
        // ±[1, 0]: mean 0, variance 1 per example, power 1.
        assert!((relative_variance(&[vec![1.0, 0.0], vec![-1.0, 0.0]]) - 1.0).abs() < 1e-12);
    }
}
