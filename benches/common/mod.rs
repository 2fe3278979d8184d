//! Seeded text generators shared by the benches: Zipf-distributed choices.

use rand::rngs::StdRng;
use rand::Rng;

/// Samples `0..cdf.len()` with probabilities proportional to the weights `cdf` accumulates.
pub fn sample_cdf(rng: &mut StdRng, cdf: &[f64]) -> usize {
    let x = rng.random::<f64>() * cdf[cdf.len() - 1];
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

/// Cumulative Zipf weights `1 / (rank + 1)^s` for `n` ranks.
pub fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (0..n)
        .map(|r| {
            acc += 1.0 / ((r + 1) as f64).powf(s);
            acc
        })
        .collect()
}
