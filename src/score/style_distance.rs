//! The style distance of [`super::Score`]: a sliced Wasserstein distance between two
//! feature distributions along **fixed** seeded directions, compared at fixed quantile
//! levels so that maps of different sizes compare, relative to the painting's spread.
//! (The sliced-Wasserstein *loss* draws new directions every step and matches whole sorted
//! lists; a measure along directions it never optimised cannot be gamed by it.)

use crate::loss::sliced_wasserstein::project;
use crate::tensor::FeatureMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Random directions per layer.
pub const DIRECTIONS: usize = 64;
/// Quantile levels compared per direction.
pub const QUANTILES: usize = 256;

/// `sqrt(mean_k mean_q (Qa_k(q) - Qb_k(q))^2) / sqrt(mean_k Var(b_k))` where `a_k`, `b_k`
/// are the projections of every position of `a` and `b` on direction `k` and `Q` their
/// quantile functions. 0 for equal distributions; about 1 when `a` is off by `b`'s spread.
/// `seed` picks the directions (the same for both maps).
pub fn relative_swd(a: &FeatureMap, b: &FeatureMap, seed: u64) -> f64 {
    assert_eq!(
        a.channels, b.channels,
        "style distance: channel counts differ"
    );
    let dirs = directions(a.channels, seed);
    let (pa, pb) = (project(&dirs, DIRECTIONS, a), project(&dirs, DIRECTIONS, b));
    let (ma, mb) = (a.positions(), b.positions());
    let (mut diff, mut spread) = (0.0f64, 0.0f64);
    for k in 0..DIRECTIONS {
        let qa = quantiles(&mut pa[k * ma..(k + 1) * ma].to_vec());
        let rb = &pb[k * mb..(k + 1) * mb];
        let qb = quantiles(&mut rb.to_vec());
        diff += qa
            .iter()
            .zip(&qb)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            / QUANTILES as f64;
        let mean = rb.iter().map(|&v| v as f64).sum::<f64>() / mb as f64;
        spread += rb.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / mb as f64;
    }
    if spread > 0.0 {
        (diff / spread).sqrt()
    } else {
        diff.sqrt()
    }
}

/// `DIRECTIONS x n` unit vectors (Gaussian, normalised), row-major.
fn directions(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5c0e_0000 + seed);
    let mut d = vec![0.0f32; DIRECTIONS * n];
    for row in d.chunks_exact_mut(n) {
        for v in row.iter_mut() {
            // Box-Muller: one standard normal from two uniforms.
            let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
            *v = ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32;
        }
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    d
}

/// Values at levels `(i + 1/2) / QUANTILES` of the sorted sample.
fn quantiles(v: &mut [f32]) -> Vec<f64> {
    v.sort_unstable_by(f32::total_cmp);
    let m = v.len();
    (0..QUANTILES)
        .map(|i| v[((2 * i + 1) * m / (2 * QUANTILES)).min(m - 1)] as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(n: usize, h: usize, w: usize, f: impl Fn(usize, usize) -> f32) -> FeatureMap {
        let m = h * w;
        let data = (0..n * m).map(|i| f(i / m, i % m)).collect();
        FeatureMap::from_vec(n, h, w, data).unwrap()
    }

    #[test]
    fn a_map_is_at_distance_zero_from_itself_and_from_its_shuffle() {
        let a = map(8, 16, 16, |c, j| ((c * 31 + j * 17) % 23) as f32);
        assert_eq!(relative_swd(&a, &a, 3), 0.0);
        // Same positions in another order (a distribution ignores where a sample is).
        let b = map(8, 16, 16, |c, j| ((c * 31 + (255 - j) * 17) % 23) as f32);
        assert_eq!(relative_swd(&b, &a, 3), 0.0);
    }

    #[test]
    fn a_shift_by_the_spread_scores_about_one() {
        let a = map(4, 32, 32, |c, j| ((j * 7 + c) % 101) as f32);
        // Shifting every channel by s moves each projection by s * sum(d): measured, not 0.
        let b = map(4, 32, 32, |c, j| ((j * 7 + c) % 101) as f32 + 29.0);
        let d = relative_swd(&b, &a, 1);
        assert!(d > 0.3 && d < 3.0, "{d}");
    }
}
