//! Sliced Wasserstein style loss (Rabin, Peyre, Delon & Bernot 2011; Heitz et al. 2021):
//! the mean over K unit directions `d_k` of the squared 1-D Wasserstein-2 distance between
//! the projections of the two feature distributions on `d_k`.
//!
//! For each k: `p = sort(F^T d_k)` (M_F values) and `q` = the sorted style projections
//! `sort(S^T d_k)` read at the generated quantiles: value `i` sits at `(i + 0.5) / M_F`,
//! style value `j` at `(j + 0.5) / M_S`, linear interpolation between them, clamped to the
//! first / last style value beyond the ends (with `M_F = M_S`, `q` is the sorted list itself).
//!
//! `L = 1/K sum_k 1/M_F sum_i (p_i - q_i)^2`
//!
//! Gradient with the sorting permutation held fixed at the point (the loss is piecewise
//! quadratic in F; this is its gradient wherever the projections have no ties, and a valid
//! one-sided choice where they do): `dL/dF[:, pos_k(i)] += 2/(K M_F) (p_i - q_i) d_k`, where
//! `pos_k(i)` is the position of the i-th smallest projection; as a product,
//! `dL/dF = D^T Res` with the K x M_F residuals `Res` placed back at their positions.
//!
//! Directions are drawn (Gaussian, then normalised) by [`LayerLoss::resample`], K = N by
//! default, and the style projections are sorted once per draw: the loss keeps the style
//! features (N x M_S) and the K x M_S sorted projections. [`SlicedWassersteinLoss::with_directions`]
//! takes fixed directions instead (used as given, not normalised; `resample` leaves them).
//! Projections are f32 GEMMs (`K N (M_F + M_S)` multiply-adds), sums are f64.

use super::tiled::{TileGrad, TileSums, Window};
use super::{check_channel_count, LayerLoss};
use crate::gemm::{matmul, MatRef};
use crate::tensor::FeatureMap;
use crate::{Error, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub struct SlicedWassersteinLoss {
    style: FeatureMap,
    count: usize,
    /// K x N, row-major (empty until the first draw for random directions).
    directions: Vec<f32>,
    /// K x M_S: row k is `sort(S^T d_k)`.
    style_sorted: Vec<f32>,
    /// Directions given by the caller: `resample` keeps them.
    fixed: bool,
}

impl SlicedWassersteinLoss {
    /// K = N random directions, drawn by [`LayerLoss::resample`] before the first evaluation.
    pub fn new(style: &FeatureMap) -> Self {
        SlicedWassersteinLoss {
            style: style.clone(),
            count: style.channels.max(1),
            directions: Vec::new(),
            style_sorted: Vec::new(),
            fixed: false,
        }
    }

    /// `count` random directions per draw.
    pub fn with_count(style: &FeatureMap, count: usize) -> Result<Self> {
        if count == 0 {
            return Err(Error::option(
                "sliced-wasserstein needs at least one direction",
            ));
        }
        Ok(SlicedWassersteinLoss {
            count,
            ..Self::new(style)
        })
    }

    /// Fixed directions: `directions` is K x N row-major (`K = directions.len() / N`), used
    /// as given (not normalised); [`LayerLoss::resample`] does not change them.
    pub fn with_directions(style: &FeatureMap, directions: &[f32]) -> Result<Self> {
        let n = style.channels;
        if n == 0 || directions.is_empty() || !directions.len().is_multiple_of(n) {
            return Err(Error::Shape(format!(
                "sliced-wasserstein: {} direction values are not K x {n} with K >= 1",
                directions.len()
            )));
        }
        let mut l = SlicedWassersteinLoss {
            count: directions.len() / n,
            fixed: true,
            ..Self::new(style)
        };
        l.set_directions(directions.to_vec());
        Ok(l)
    }

    /// The current directions, K x N row-major (empty before the first draw).
    pub fn directions(&self) -> &[f32] {
        &self.directions
    }

    /// K, the number of directions.
    pub fn count(&self) -> usize {
        self.count
    }

    fn set_directions(&mut self, d: Vec<f32>) {
        use rayon::prelude::*;
        let m_s = self.style.positions();
        let mut sorted = project(&d, self.count, &self.style);
        if m_s > 0 {
            sorted
                .par_chunks_mut(m_s)
                .for_each(|row| row.sort_unstable_by(f32::total_cmp));
        }
        self.directions = d;
        self.style_sorted = sorted;
    }

    fn draw(&mut self, rng: &mut ChaCha8Rng) {
        let n = self.style.channels;
        if n == 0 {
            return;
        }
        let mut d = Vec::with_capacity(self.count * n);
        for _ in 0..self.count {
            loop {
                let v: Vec<f64> = (0..n).map(|_| gaussian(rng)).collect();
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                if norm > 0.0 {
                    d.extend(v.iter().map(|x| (x / norm) as f32));
                    break;
                }
            }
        }
        self.set_directions(d);
    }
}

impl SlicedWassersteinLoss {
    fn check_ready(&self, channels: usize) -> Result<()> {
        check_channel_count("sliced-wasserstein", channels, self.style.channels)?;
        if self.directions.is_empty() {
            return Err(Error::option(
                "sliced-wasserstein: no directions drawn yet (resample before evaluating)",
            ));
        }
        Ok(())
    }

    /// The loss from the K x M_F projections `res` of every generated position, which it
    /// overwrites with the scaled residuals `2/(K M_F) (p_i - q_i)` at their positions.
    fn residuals(&self, res: &mut [f32], m_f: usize) -> Result<f64> {
        use rayon::prelude::*;
        let (m_s, k) = (self.style.positions(), self.count);
        if m_f == 0 || m_s == 0 {
            return Err(Error::Shape("sliced-wasserstein: empty feature map".into()));
        }
        let table = quantile_table(m_f, m_s);
        let scale = 2.0 / (k * m_f) as f64;
        let sums: Vec<f64> = res
            .par_chunks_mut(m_f)
            .zip(self.style_sorted.par_chunks(m_s))
            .map(|(row, s)| {
                let mut idx: Vec<usize> = (0..m_f).collect();
                idx.sort_unstable_by(|&a, &b| row[a].total_cmp(&row[b]));
                let p: Vec<f32> = idx.iter().map(|&j| row[j]).collect();
                let mut sum = 0.0f64;
                for ((&pos, &pi), &(j, w)) in idx.iter().zip(&p).zip(&table) {
                    let q = if w > 0.0 {
                        s[j] as f64 + w * (s[j + 1] as f64 - s[j] as f64)
                    } else {
                        s[j] as f64
                    };
                    let d = pi as f64 - q;
                    sum += d * d;
                    row[pos] = (scale * d) as f32;
                }
                sum
            })
            .collect();
        Ok(sums.iter().sum::<f64>() / (k * m_f) as f64)
    }
}

/// `D^T Res` (N x M) for the K x N directions and K x M residuals.
fn back_project(directions: &[f32], k: usize, n: usize, res: &[f32], m: usize) -> Vec<f32> {
    let mut grad = vec![0.0f32; n * m];
    matmul(
        &mut grad,
        0,
        m,
        1,
        false,
        MatRef::row_major(directions, k, n).t(),
        MatRef::row_major(res, k, m),
        1.0,
        rayon::current_num_threads(),
    );
    grad
}

impl LayerLoss for SlicedWassersteinLoss {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        self.check_ready(f.channels)?;
        let (n, m_f, k) = (f.channels, f.positions(), self.count);
        // Projections, then in place the scaled residuals at their positions.
        let mut res = project(&self.directions, k, f);
        let loss = self.residuals(&mut res, m_f)?;
        let grad = back_project(&self.directions, k, n, &res, m_f);
        Ok((loss, FeatureMap::from_vec(n, f.height, f.width, grad)?))
    }

    fn resample(&mut self, _generated_positions: usize, rng: &mut ChaCha8Rng) {
        if !self.fixed {
            self.draw(rng);
        }
    }

    fn is_stochastic(&self) -> bool {
        !self.fixed
    }

    fn tiled(&self) -> Option<Box<dyn TileSums + '_>> {
        Some(Box::new(ProjectionSums {
            loss: self,
            projections: Vec::new(),
            full: None,
        }))
    }
}

/// Tiled evaluation, exact: the sort is global, so the statistics pass keeps every
/// generated position's K projections (one K x M_F f32 array, about one feature map at
/// K = N); the residuals computed from them are the gradient pass's rule.
struct ProjectionSums<'a> {
    loss: &'a SlicedWassersteinLoss,
    projections: Vec<f32>,
    /// The whole map's (height, width) at this layer.
    full: Option<(usize, usize)>,
}

impl TileSums for ProjectionSums<'_> {
    fn add(&mut self, core: &FeatureMap, at: Window) -> Result<()> {
        self.loss.check_ready(core.channels)?;
        let k = self.loss.count;
        let m_full = at.full_height * at.full_width;
        let (fh, fw) = *self.full.get_or_insert((at.full_height, at.full_width));
        if (fh, fw) != (at.full_height, at.full_width) {
            return Err(Error::Shape(
                "sliced-wasserstein: tiles of different maps".into(),
            ));
        }
        if self.projections.is_empty() {
            self.projections = vec![0.0; k * m_full];
        }
        let p = project(&self.loss.directions, k, core);
        let m = core.positions();
        for d in 0..k {
            let row = &mut self.projections[d * m_full..(d + 1) * m_full];
            for (local, g) in at.positions().enumerate() {
                row[g] = p[d * m + local];
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(f64, Box<dyn TileGrad>)> {
        let (fh, fw) = self
            .full
            .ok_or_else(|| Error::Shape("no tile was evaluated".into()))?;
        let loss = self.loss.residuals(&mut self.projections, fh * fw)?;
        let rule = ResidualGrad {
            directions: self.loss.directions.clone(),
            k: self.loss.count,
            residuals: std::mem::take(&mut self.projections),
        };
        Ok((loss, Box::new(rule)))
    }
}

/// `D^T Res` at a tile's positions.
struct ResidualGrad {
    directions: Vec<f32>,
    k: usize,
    residuals: Vec<f32>,
}

impl TileGrad for ResidualGrad {
    fn grad(&self, core: &FeatureMap, at: Window) -> FeatureMap {
        let (n, m, k) = (core.channels, core.positions(), self.k);
        let m_full = at.full_height * at.full_width;
        let mut res = vec![0.0f32; k * m];
        for d in 0..k {
            let row = &self.residuals[d * m_full..(d + 1) * m_full];
            for (local, g) in at.positions().enumerate() {
                res[d * m + local] = row[g];
            }
        }
        let data = back_project(&self.directions, k, n, &res, m);
        FeatureMap {
            channels: n,
            height: core.height,
            width: core.width,
            data,
        }
    }
}

/// `D X` (K x M, row-major) for the K x N directions `d` and the N x M map `x` (also
/// the score's style distance, `crate::score::style_distance`).
pub(crate) fn project(d: &[f32], k: usize, x: &FeatureMap) -> Vec<f32> {
    let (n, m) = (x.channels, x.positions());
    let mut out = vec![0.0f32; k * m];
    matmul(
        &mut out,
        0,
        m,
        1,
        false,
        MatRef::row_major(d, k, n),
        MatRef::row_major(&x.data, n, m),
        1.0,
        rayon::current_num_threads(),
    );
    out
}

/// For each generated rank `i < m_f`: the style rank `j` and weight `w` with
/// `q_i = (1 - w) s_j + w s_{j+1}`, from `x = (i + 0.5) M_S / M_F - 0.5` computed exactly as
/// the fraction `((2i + 1) M_S - M_F) / (2 M_F)`, clamped to `[0, M_S - 1]`.
fn quantile_table(m_f: usize, m_s: usize) -> Vec<(usize, f64)> {
    let den = 2 * m_f as u128;
    (0..m_f)
        .map(|i| {
            let num = (2 * i as u128 + 1) * m_s as u128;
            if num <= m_f as u128 {
                return (0, 0.0);
            }
            let num = num - m_f as u128;
            let j = (num / den) as usize;
            if j >= m_s - 1 {
                (m_s - 1, 0.0)
            } else {
                (j, (num % den) as f64 / den as f64)
            }
        })
        .collect()
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    loop {
        let u1: f64 = rng.gen();
        if u1 > 0.0 {
            let u2: f64 = rng.gen();
            return (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        }
    }
}
