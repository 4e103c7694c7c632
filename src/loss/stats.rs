//! Statistics of a feature map shared by several losses: channel means and the
//! normalised Gram matrix `F F^T / M`, accumulated in f64.

use crate::engine::gemm::{matmul, MatRef};
use crate::tensor::FeatureMap;

/// Positions per f32 GEMM block before accumulating into f64: keeps each block's f32
/// rounding at the level of a 4096-term dot product whatever the image size.
const GRAM_BLOCK: usize = 4096;

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
    let (n, m) = (f.channels, f.positions());
    let mut acc = vec![0.0f64; n * n];
    let mut block = vec![0.0f32; n * n];
    let threads = rayon::current_num_threads();
    for start in (0..m).step_by(GRAM_BLOCK) {
        let len = GRAM_BLOCK.min(m - start);
        let a = MatRef {
            data: &f.data,
            offset: start,
            rows: n,
            cols: len,
            rs: m,
            cs: 1,
        };
        matmul(&mut block, 0, n, 1, false, a, a.t(), 1.0, threads);
        for (s, &b) in acc.iter_mut().zip(&block) {
            *s += b as f64;
        }
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
        g.data[c * m..(c + 1) * m].iter_mut().for_each(|x| *x += add);
    }
}

pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
