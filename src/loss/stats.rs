//! Statistics of a feature map shared by several losses: channel means and the
//! normalised Gram matrix `F F^T / M`, accumulated in f64.

use crate::gemm::{matmul, MatRef};
use crate::tensor::FeatureMap;

/// Positions per f32 GEMM block before accumulating into f64: keeps each block's f32
/// rounding at the level of a 4096-term dot product whatever the image size.
const GRAM_BLOCK: usize = 4096;
/// Smallest block worth a GEMM call (deep layers have few positions: split them anyway so
/// every worker gets blocks).
const GRAM_MIN_BLOCK: usize = 256;

/// Per-channel means over positions (the paper's mu, Eq. 12), in f64.
pub fn channel_means(f: &FeatureMap) -> Vec<f64> {
    let m = f.positions() as f64;
    (0..f.channels)
        .map(|c| f.channel(c).iter().map(|&v| v as f64).sum::<f64>() / m)
        .collect()
}

/// `G = F F^T / M` (N x N, row-major, f64): Eq. 7 divided by M so that maps of different
/// sizes compare (with equal sizes this is exactly the paper's G / M).
pub fn normalized_gram(f: &FeatureMap) -> Vec<f64> {
    use rayon::prelude::*;
    let (n, m) = (f.channels, f.positions());
    let threads = rayon::current_num_threads().max(1);
    let block_len = m.div_ceil(2 * threads).clamp(GRAM_MIN_BLOCK, GRAM_BLOCK);
    let starts: Vec<usize> = (0..m).step_by(block_len).collect();
    // Each worker sums a fixed subset of blocks (single-threaded GEMMs: the N x N output
    // is too small to split well), then the partial sums are added in worker order, so
    // the result does not depend on scheduling.
    let partials: Vec<Vec<f64>> = (0..threads.min(starts.len()))
        .into_par_iter()
        .map(|worker| {
            let mut acc = vec![0.0f64; n * n];
            let mut block = vec![0.0f32; n * n];
            for &start in starts.iter().skip(worker).step_by(threads) {
                let len = block_len.min(m - start);
                let a = MatRef {
                    data: &f.data,
                    offset: start,
                    rows: n,
                    cols: len,
                    rs: m,
                    cs: 1,
                };
                matmul(&mut block, 0, n, 1, false, a, a.t(), 1.0, 1);
                for (s, &b) in acc.iter_mut().zip(&block) {
                    *s += b as f64;
                }
            }
            acc
        })
        .collect();
    let mut acc = vec![0.0f64; n * n];
    for p in &partials {
        acc.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    let inv = 1.0 / m as f64;
    acc.iter_mut().for_each(|v| *v *= inv);
    acc
}

/// `scale * D F` for an `N x N` matrix `D` (f64, converted to f32 for the product).
pub fn left_multiply(d: &[f64], f: &FeatureMap, scale: f64) -> FeatureMap {
    let (n, m) = (f.channels, f.positions());
    let d32: Vec<f32> = d.iter().map(|&v| v as f32).collect();
    let mut out = FeatureMap::zeros(n, f.height, f.width);
    matmul(
        &mut out.data,
        0,
        m,
        1,
        false,
        MatRef::row_major(&d32, n, n),
        MatRef::row_major(&f.data, n, m),
        scale as f32,
        rayon::current_num_threads(),
    );
    out
}

/// Adds `scale * v[c]` to every position of channel `c`.
pub fn add_channel_constant(g: &mut FeatureMap, v: &[f64], scale: f64) {
    let m = g.positions();
    for (c, &vc) in v.iter().enumerate() {
        let add = (scale * vc) as f32;
        g.data[c * m..(c + 1) * m]
            .iter_mut()
            .for_each(|x| *x += add);
    }
}

pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Positions per f64 block of [`centred_covariance`] (N x 1024 f64 = 4 MiB at N = 512).
const COV_BLOCK: usize = 1024;

/// Channel means and the population covariance `C = 1/M sum_j (f_j - mu)(f_j - mu)^T`
/// (N x N, row-major), both in f64.
///
/// Unlike `normalized_gram(f) - mu mu^T`, the positions are centred and multiplied in f64:
/// no cancellation when the means are large against the spread, and a map with M <= N
/// positions gives a covariance of rank <= M - 1 up to f64 rounding (~1e-16 relative),
/// which the rank tolerances of the CORAL and Wasserstein losses rely on.
pub fn centred_covariance(f: &FeatureMap) -> (Vec<f64>, Vec<f64>) {
    use rayon::prelude::*;
    let (n, m) = (f.channels, f.positions());
    let mu = channel_means(f);
    let threads = rayon::current_num_threads().max(1);
    let block_len = m.div_ceil(2 * threads).clamp(GRAM_MIN_BLOCK, COV_BLOCK);
    let starts: Vec<usize> = (0..m).step_by(block_len.max(1)).collect();
    // Fixed block-to-worker assignment and summation order, as in `normalized_gram`.
    let partials: Vec<Vec<f64>> = (0..threads.min(starts.len()))
        .into_par_iter()
        .map(|worker| {
            let mut acc = vec![0.0f64; n * n];
            let mut block = vec![0.0f64; n * block_len];
            for &start in starts.iter().skip(worker).step_by(threads) {
                let len = block_len.min(m - start);
                for c in 0..n {
                    let row = &f.channel(c)[start..start + len];
                    for (b, &v) in block[c * len..(c + 1) * len].iter_mut().zip(row) {
                        *b = v as f64 - mu[c];
                    }
                }
                let a = MatRef::row_major(&block[..n * len], n, len);
                matmul(&mut acc, 0, n, 1, true, a, a.t(), 1.0, 1);
            }
            acc
        })
        .collect();
    let mut cov = vec![0.0f64; n * n];
    for p in &partials {
        cov.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    let inv = 1.0 / m as f64;
    cov.iter_mut().for_each(|v| *v *= inv);
    // Exactly symmetric (the eigensolvers downstream read one triangle).
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (cov[i * n + j] + cov[j * n + i]);
            cov[i * n + j] = s;
            cov[j * n + i] = s;
        }
    }
    (mu, cov)
}

/// `F - mu 1^T` in f32 (centred in f64, then rounded).
pub fn centred(f: &FeatureMap, mu: &[f64]) -> FeatureMap {
    let m = f.positions();
    let mut out = f.clone();
    for (c, &mc) in mu.iter().enumerate() {
        out.data[c * m..(c + 1) * m]
            .iter_mut()
            .for_each(|v| *v = (*v as f64 - mc) as f32);
    }
    out
}
