//! Maximum Mean Discrepancy style losses (Eq. 1-2, 10), one sample per position.
//!
//! * [`LinearMmd`]: `k(x,y) = x^T y`; the biased MMD^2 is `||mu_F - mu_S||^2`.
//! * [`PolyMmd`]: `k(x,y) = (x^T y + c)^2`; the biased MMD^2 expands to the N x N form
//!   `||F F^T/M_F - S S^T/M_S||_F^2 + 2c ||mu_F - mu_S||^2` (Eq. 8): no M x M kernel matrix.
//!   With c = 0 this is `4 N^2` times the Gram loss (Eq. 9).
//! * [`GaussianMmd`]: `k(x,y) = exp(-||x-y||^2 / (2 sigma^2))` with the paper's linear-time
//!   unbiased estimator (Gretton et al. 2012): positions are paired by fresh random
//!   permutations, `MMD_l^2 = 1/P sum_i k(x,x') + k(y,y') - k(x,y') - k(x',y)`.
//! * [`GaussianMmdExact`]: the quadratic-time unbiased U-statistic `MMD_u^2`, for small maps
//!   and for testing the linear-time one.

use super::blend::Needs;
use super::moments::{moment_loss_and_grad, Affine, MomentLoss, Moments, Product};
use super::stats::{channel_means, normalized_gram};
use super::tiled::{MomentSums, TileGrad, TileSums, Window};
use super::{check_channel_count, check_channels, LayerLoss};
use crate::gemm::{matmul, MatRef};
use crate::tensor::FeatureMap;
use crate::{Error, Result};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Linear-kernel MMD^2 (biased V-statistic): `||mu_F - mu_S||^2`.
pub struct LinearMmd {
    mean: Vec<f64>,
}

impl LinearMmd {
    pub fn new(style: &FeatureMap) -> Self {
        LinearMmd {
            mean: channel_means(style),
        }
    }

    /// From target channel means (a blend's mixture mean, [`super::blend`]).
    pub fn from_mean(mean: Vec<f64>) -> Self {
        LinearMmd { mean }
    }
}

impl MomentLoss for LinearMmd {
    fn needs(&self) -> Needs {
        Needs::MEAN
    }

    fn check(&self, channels: usize) -> Result<()> {
        check_channel_count("mmd-linear", channels, self.mean.len())
    }

    fn value_and_rule(&self, m: &Moments) -> Result<(f64, Affine)> {
        let d: Vec<f64> = m.mean.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        let loss = d.iter().map(|v| v * v).sum();
        let scale = 2.0 / m.count as f64;
        let rule = Affine {
            constant: Some((d, scale)),
            ..Affine::default()
        };
        Ok((loss, rule))
    }
}

impl LayerLoss for LinearMmd {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        moment_loss_and_grad(self, f)
    }

    fn tiled(&self) -> Option<Box<dyn TileSums + '_>> {
        Some(Box::new(MomentSums::new(self)))
    }
}

/// Polynomial-kernel MMD^2 (biased V-statistic) with `k(x,y) = (x^T y + c)^2`.
pub struct PolyMmd {
    gram: Vec<f64>,
    mean: Vec<f64>,
    c: f64,
}

impl PolyMmd {
    pub fn new(style: &FeatureMap, c: f64) -> Self {
        PolyMmd {
            gram: normalized_gram(style),
            mean: channel_means(style),
            c,
        }
    }

    /// From a target second moment `E[y y^T]` and mean (a blend's mixture moments,
    /// [`super::blend`]): the kernel's expansion needs nothing else of the style.
    pub fn from_moments(gram: Vec<f64>, mean: Vec<f64>, c: f64) -> Result<Self> {
        super::gram::check_square("mmd-poly", &gram, mean.len())?;
        Ok(PolyMmd { gram, mean, c })
    }
}

impl MomentLoss for PolyMmd {
    fn needs(&self) -> Needs {
        Needs::GRAM
    }

    fn check(&self, channels: usize) -> Result<()> {
        check_channel_count("mmd-poly", channels, self.mean.len())
    }

    fn value_and_rule(&self, mo: &Moments) -> Result<(f64, Affine)> {
        let m = mo.count as f64;
        let mut d = mo.gram.clone();
        d.iter_mut().zip(&self.gram).for_each(|(g, a)| *g -= a);
        let mut loss: f64 = d.iter().map(|v| v * v).sum();
        // d/dF ||G_F - G_S||^2 = 4 (G_F - G_S) F / M_F
        let mut rule = Affine {
            product: Some(Product {
                matrix: d,
                centre: None,
                scale: 4.0 / m,
            }),
            ..Affine::default()
        };
        if self.c != 0.0 {
            let dm: Vec<f64> = mo.mean.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
            loss += 2.0 * self.c * dm.iter().map(|v| v * v).sum::<f64>();
            rule.constant = Some((dm, 4.0 * self.c / m));
        }
        Ok((loss, rule))
    }
}

impl LayerLoss for PolyMmd {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        moment_loss_and_grad(self, f)
    }

    fn tiled(&self) -> Option<Box<dyn TileSums + '_>> {
        Some(Box::new(MomentSums::new(self)))
    }
}

/// Transposes an `N x M` map into `M` rows of `N` values (one sample per row), in f64.
fn samples(f: &FeatureMap) -> Vec<f64> {
    let (n, m) = (f.channels, f.positions());
    let mut out = vec![0.0; n * m];
    for c in 0..n {
        for (j, &v) in f.channel(c).iter().enumerate() {
            out[j * n + c] = v as f64;
        }
    }
    out
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    super::stats::squared_distance(a, b)
}

/// Gaussian-kernel MMD^2, linear-time unbiased estimator.
///
/// The pairing is redrawn by [`LayerLoss::resample`] (once per optimiser step, so a line
/// search sees one function). The bandwidth is the paper's: `sigma^2` = mean squared distance
/// of the sampled pairs (all four kinds), times `sigma2_scale`; no gradient flows through it.
pub struct GaussianMmd {
    style: Vec<f64>,
    style_positions: usize,
    channels: usize,
    sigma2_scale: f64,
    /// A fixed bandwidth instead of the one chosen from the sampled pairs.
    fixed_sigma2: Option<f64>,
    /// (x, x') position indices into F and (y, y') into S, one entry per pair.
    pairs: Vec<[usize; 4]>,
    generated_positions: usize,
}

impl GaussianMmd {
    pub fn new(style: &FeatureMap, sigma2_scale: f64) -> Self {
        GaussianMmd {
            style: samples(style),
            style_positions: style.positions(),
            channels: style.channels,
            sigma2_scale,
            fixed_sigma2: None,
            pairs: Vec::new(),
            generated_positions: 0,
        }
    }

    /// The same estimator with a fixed `sigma^2` (then the loss is a smooth function of F
    /// for a fixed pairing, which is what gradient checks need).
    pub fn with_fixed_sigma2(style: &FeatureMap, sigma2: f64) -> Self {
        GaussianMmd {
            fixed_sigma2: Some(sigma2),
            ..Self::new(style, 1.0)
        }
    }

    /// Draws the pairing for maps of `m_f` generated positions: [`pairings`] independent
    /// shuffles, each the paper's `M/2` disjoint pairs. Their mean is still unbiased, and
    /// its variance falls with their number; the gradient's noise is what L-BFGS turns into
    /// pixel grain.
    fn draw(&mut self, m_f: usize, shuffles: Option<usize>, rng: &mut ChaCha8Rng) {
        let mut pf: Vec<usize> = (0..m_f).collect();
        let mut ps: Vec<usize> = (0..self.style_positions).collect();
        let p = pairs_per_shuffle(m_f, self.style_positions);
        self.pairs.clear();
        for _ in 0..shuffles.unwrap_or_else(|| pairings(p)) {
            pf.shuffle(rng);
            ps.shuffle(rng);
            self.pairs
                .extend((0..p).map(|i| [pf[2 * i], pf[2 * i + 1], ps[2 * i], ps[2 * i + 1]]));
        }
        self.generated_positions = m_f;
    }

    /// Value of the estimator and sigma^2 for the current pairing (for tests and reports).
    pub fn estimate(&self, f: &FeatureMap) -> Result<(f64, f64)> {
        let (l, _, s2) = self.compute(f, false)?;
        Ok((l, s2))
    }

    fn compute(&self, f: &FeatureMap, want_grad: bool) -> Result<(f64, Option<FeatureMap>, f64)> {
        self.check_pairing(f.channels, f.positions())?;
        let n = self.channels;
        let x = samples(f);
        let (loss, gx, sigma2) = self.estimate_at(&x, |j| j, f.positions(), want_grad);
        let grad = want_grad.then(|| {
            let mut g = FeatureMap::zeros(f.channels, f.height, f.width);
            let m = f.positions();
            for j in 0..m {
                for c in 0..n {
                    g.data[c * m + j] = gx[j * n + c] as f32;
                }
            }
            g
        });
        Ok((loss, grad, sigma2))
    }

    fn check_pairing(&self, channels: usize, positions: usize) -> Result<()> {
        check_channel_count("mmd-gaussian", channels, self.channels)?;
        if positions != self.generated_positions || self.pairs.is_empty() {
            return Err(Error::option(format!(
                "mmd-gaussian needs at least 2 positions per map and a pairing drawn for {positions} positions"
            )));
        }
        Ok(())
    }

    /// The estimator and its gradient for the current pairing, with the generated samples
    /// in `x` (`rows` rows of N f64): position `j`'s sample is row `row(j)`. The gradient
    /// has the same rows.
    fn estimate_at(
        &self,
        x: &[f64],
        row: impl Fn(usize) -> usize,
        rows: usize,
        want_grad: bool,
    ) -> (f64, Vec<f64>, f64) {
        let n = self.channels;
        let s = &self.style;
        let d: Vec<[f64; 4]> = self
            .pairs
            .iter()
            .map(|&[a, b, c, dd]| {
                let (a, b) = (row(a), row(b));
                let (xa, xb) = (&x[a * n..(a + 1) * n], &x[b * n..(b + 1) * n]);
                let (sc, sd) = (&s[c * n..(c + 1) * n], &s[dd * n..(dd + 1) * n]);
                [dist2(xa, xb), dist2(sc, sd), dist2(xa, sd), dist2(xb, sc)]
            })
            .collect();
        let p = self.pairs.len() as f64;
        let mean_d = d.iter().map(|q| q.iter().sum::<f64>()).sum::<f64>() / (4.0 * p);
        let sigma2 = match self.fixed_sigma2 {
            Some(s2) => s2,
            None if mean_d > 0.0 => mean_d * self.sigma2_scale,
            None => 1.0,
        };
        let k = |dd: f64| (-dd / (2.0 * sigma2)).exp();
        let mut loss = 0.0;
        let mut gx = if want_grad {
            vec![0.0f64; rows * n]
        } else {
            Vec::new()
        };
        for (&[a, b, c, dd], q) in self.pairs.iter().zip(&d) {
            let (kxx, kyy, kxy, kxy2) = (k(q[0]), k(q[1]), k(q[2]), k(q[3]));
            loss += kxx + kyy - kxy - kxy2;
            if want_grad {
                let (a, b) = (row(a), row(b));
                let (xa, xb) = (&x[a * n..(a + 1) * n], &x[b * n..(b + 1) * n]);
                let (sc, sd) = (&s[c * n..(c + 1) * n], &s[dd * n..(dd + 1) * n]);
                for i in 0..n {
                    // d k(u,v)/du = -k (u - v) / sigma^2
                    let ga = -kxx * (xa[i] - xb[i]) + kxy * (xa[i] - sd[i]);
                    let gb = -kxx * (xb[i] - xa[i]) + kxy2 * (xb[i] - sc[i]);
                    gx[a * n + i] += ga / (sigma2 * p);
                    gx[b * n + i] += gb / (sigma2 * p);
                }
            }
        }
        (loss / p, gx, sigma2)
    }
}

/// Tiled evaluation, exact: the statistics pass gathers the samples of the generated
/// positions the current pairing uses (at most two per pair), the estimator runs on them,
/// and the gradient pass reads each tile's positions' gradients back.
struct SampledSums<'a> {
    loss: &'a GaussianMmd,
    /// Position -> row of `x` (`u32::MAX`: not in any pair).
    slot: Vec<u32>,
    x: Vec<f64>,
}

/// The gathered positions' gradients (rows as in `slot`).
struct SampledGrad {
    slot: Vec<u32>,
    gx: Vec<f64>,
    channels: usize,
}

impl<'a> SampledSums<'a> {
    fn new(loss: &'a GaussianMmd) -> Self {
        let mut slot = vec![u32::MAX; loss.generated_positions];
        let mut rows = 0u32;
        for &[a, b, _, _] in &loss.pairs {
            for j in [a, b] {
                if slot[j] == u32::MAX {
                    slot[j] = rows;
                    rows += 1;
                }
            }
        }
        SampledSums {
            loss,
            slot,
            x: vec![0.0; rows as usize * loss.channels],
        }
    }
}

impl TileSums for SampledSums<'_> {
    fn add(&mut self, core: &FeatureMap, at: Window) -> Result<()> {
        self.loss
            .check_pairing(core.channels, at.full_height * at.full_width)?;
        let (n, m) = (core.channels, core.positions());
        for (local, j) in at.positions().enumerate() {
            let r = self.slot[j];
            if r != u32::MAX {
                let r = r as usize;
                for c in 0..n {
                    self.x[r * n + c] = core.data[c * m + local] as f64;
                }
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(f64, Box<dyn TileGrad>)> {
        let n = self.loss.channels;
        let slot = &self.slot;
        let rows = self.x.len() / n.max(1);
        let (loss, gx, _) = self
            .loss
            .estimate_at(&self.x, |j| slot[j] as usize, rows, true);
        let rule = SampledGrad {
            slot: self.slot,
            gx,
            channels: n,
        };
        Ok((loss, Box::new(rule)))
    }
}

impl TileGrad for SampledGrad {
    fn grad(&self, core: &FeatureMap, at: Window) -> FeatureMap {
        let (n, m) = (self.channels, core.positions());
        let mut g = FeatureMap::zeros(n, core.height, core.width);
        for (local, j) in at.positions().enumerate() {
            let r = self.slot[j];
            if r != u32::MAX {
                let r = r as usize;
                for c in 0..n {
                    g.data[c * m + local] = self.gx[r * n + c] as f32;
                }
            }
        }
        g
    }
}

impl LayerLoss for GaussianMmd {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        let (l, g, _) = self.compute(f, true)?;
        Ok((l, g.unwrap()))
    }

    fn resample(&mut self, generated_positions: usize, rng: &mut ChaCha8Rng) {
        self.draw(generated_positions, None, rng);
    }

    fn is_stochastic(&self) -> bool {
        true
    }

    fn tiled(&self) -> Option<Box<dyn TileSums + '_>> {
        Some(Box::new(SampledSums::new(self)))
    }
}

/// Shuffles averaged per optimiser step, for `p` pairs per shuffle: up to
/// [`MAX_PAIRINGS`], while all of them stay within [`MAX_PAIRS`] pairs (the pairing's memory
/// and time stay small beside the network's at any size; huge maps get one shuffle).
pub fn pairings(p: usize) -> usize {
    (MAX_PAIRS / p.max(1)).clamp(1, MAX_PAIRINGS)
}

/// Disjoint pairs one shuffle takes from maps of `m_f` generated and `m_s` style positions.
fn pairs_per_shuffle(m_f: usize, m_s: usize) -> usize {
    m_f.min(m_s) / 2
}

/// Pairs one step samples for maps of `m_f` generated and `m_s` style positions (what
/// [`GaussianMmd`] draws; the memory estimate counts them).
pub fn sampled_pairs(m_f: usize, m_s: usize) -> usize {
    let p = pairs_per_shuffle(m_f, m_s);
    p * pairings(p)
}

/// Most shuffles averaged per step (measured: docs/QUALITY.md, "mmd-gaussian").
pub const MAX_PAIRINGS: usize = 8;
/// Most sampled pairs per layer and step, over all shuffles (32 MiB of indices).
pub const MAX_PAIRS: usize = 1 << 20;

/// Largest number of positions per map the quadratic-time estimator accepts (64 x 64):
/// it builds M x M kernel matrices in f64 (128 MiB at this size).
pub const EXACT_GAUSSIAN_MAX_POSITIONS: usize = 4096;

/// Gaussian-kernel MMD^2, quadratic-time unbiased U-statistic:
/// `1/(m(m-1)) sum_{i!=j} k(f_i,f_j) + 1/(n(n-1)) sum_{i!=j} k(s_i,s_j) - 2/(mn) sum k(f_i,s_j)`.
///
/// `sigma^2` is given, or else the expectation of the linear-time estimator's choice:
/// `1/4 mean_{i!=j} d(f_i,f_j) + 1/4 mean_{i!=j} d(s_i,s_j) + 1/2 mean d(f_i,s_j)`.
pub struct GaussianMmdExact {
    style: FeatureMap,
    sigma2: Option<f64>,
}

/// Squared distances between the columns of `a` (N x Ma) and `b` (N x Mb), Ma x Mb, f64.
fn pairwise_sq(a: &FeatureMap, b: &FeatureMap) -> Vec<f64> {
    let n = a.channels;
    let (ma, mb) = (a.positions(), b.positions());
    let a64: Vec<f64> = a.data.iter().map(|&v| v as f64).collect();
    let b64: Vec<f64> = b.data.iter().map(|&v| v as f64).collect();
    let mut dot = vec![0.0f64; ma * mb];
    matmul(
        &mut dot,
        0,
        mb,
        1,
        false,
        MatRef::row_major(&a64, n, ma).t(),
        MatRef::row_major(&b64, n, mb),
        1.0,
        rayon::current_num_threads(),
    );
    let norms = |v: &[f64], m: usize| -> Vec<f64> {
        (0..m)
            .map(|j| (0..n).map(|c| v[c * m + j].powi(2)).sum())
            .collect()
    };
    let (na, nb) = (norms(&a64, ma), norms(&b64, mb));
    for i in 0..ma {
        for j in 0..mb {
            let d = &mut dot[i * mb + j];
            *d = (na[i] + nb[j] - 2.0 * *d).max(0.0);
        }
    }
    dot
}

fn mean_offdiag(d: &[f64], m: usize) -> f64 {
    let total: f64 = d.iter().sum::<f64>() - (0..m).map(|i| d[i * m + i]).sum::<f64>();
    total / (m * (m - 1)) as f64
}

impl GaussianMmdExact {
    pub fn new(style: &FeatureMap, sigma2: Option<f64>) -> Result<Self> {
        Self::check(style.positions(), "style")?;
        if let Some(s) = sigma2 {
            if !(s > 0.0 && s.is_finite()) {
                return Err(Error::option(format!(
                    "gaussian sigma^2 must be positive, got {s}"
                )));
            }
        }
        Ok(GaussianMmdExact {
            style: style.clone(),
            sigma2,
        })
    }

    fn check(m: usize, which: &str) -> Result<()> {
        if m > EXACT_GAUSSIAN_MAX_POSITIONS {
            return Err(Error::TooLarge(format!(
                "exact Gaussian MMD is quadratic in positions: the {which} map has {m} > {EXACT_GAUSSIAN_MAX_POSITIONS} \
                 (use a smaller size or the linear-time estimator)"
            )));
        }
        if m < 2 {
            return Err(Error::option(format!(
                "exact Gaussian MMD needs at least 2 positions, the {which} map has {m}"
            )));
        }
        Ok(())
    }

    /// Loss, gradient and the sigma^2 used.
    pub fn evaluate(&self, f: &FeatureMap) -> Result<(f64, FeatureMap, f64)> {
        check_channels("mmd-gaussian", f, self.style.channels)?;
        Self::check(f.positions(), "generated")?;
        let s = &self.style;
        let (m, n) = (f.positions(), s.positions());
        let dff = pairwise_sq(f, f);
        let dss = pairwise_sq(s, s);
        let dfs = pairwise_sq(f, s);
        let sigma2 = self.sigma2.unwrap_or_else(|| {
            let v = 0.25 * mean_offdiag(&dff, m)
                + 0.25 * mean_offdiag(&dss, n)
                + 0.5 * dfs.iter().sum::<f64>() / (m * n) as f64;
            if v > 0.0 {
                v
            } else {
                1.0
            }
        });
        let k = |d: f64| (-d / (2.0 * sigma2)).exp();
        let mut kff: Vec<f64> = dff.iter().map(|&d| k(d)).collect();
        for i in 0..m {
            kff[i * m + i] = 0.0;
        }
        let kss_sum: f64 = dss.iter().map(|&d| k(d)).sum::<f64>() - n as f64;
        let kfs: Vec<f64> = dfs.iter().map(|&d| k(d)).collect();
        let (mf, nf) = (m as f64, n as f64);
        let loss = kff.iter().sum::<f64>() / (mf * (mf - 1.0)) + kss_sum / (nf * (nf - 1.0))
            - 2.0 * kfs.iter().sum::<f64>() / (mf * nf);
        // grad f_i = -2/(m(m-1) s2) (f_i sum_j Kff_ij - (F Kff)_i) + 2/(m n s2) (f_i sum_j Kfs_ij - (S Kfs^T)_i)
        let a = -2.0 / (mf * (mf - 1.0) * sigma2);
        let b = 2.0 / (mf * nf * sigma2);
        let mut coef = vec![0.0f64; m * m];
        let mut diag = vec![0.0f64; m];
        for i in 0..m {
            let row_ff: f64 = kff[i * m..(i + 1) * m].iter().sum();
            let row_fs: f64 = kfs[i * n..(i + 1) * n].iter().sum();
            diag[i] = a * row_ff + b * row_fs;
            for j in 0..m {
                coef[j * m + i] = -a * kff[i * m + j];
            }
        }
        let f64d: Vec<f64> = f.data.iter().map(|&v| v as f64).collect();
        let s64: Vec<f64> = s.data.iter().map(|&v| v as f64).collect();
        let ch = f.channels;
        // G = F * coef  (ch x m) ...
        let mut g = vec![0.0f64; ch * m];
        matmul(
            &mut g,
            0,
            m,
            1,
            false,
            MatRef::row_major(&f64d, ch, m),
            MatRef::row_major(&coef, m, m),
            1.0,
            1,
        );
        // ... - b * S Kfs^T
        matmul(
            &mut g,
            0,
            m,
            1,
            true,
            MatRef::row_major(&s64, ch, n),
            MatRef::row_major(&kfs, m, n).t(),
            -b,
            1,
        );
        let mut grad = FeatureMap::zeros(ch, f.height, f.width);
        for c in 0..ch {
            for i in 0..m {
                grad.data[c * m + i] = (g[c * m + i] + diag[i] * f64d[c * m + i]) as f32;
            }
        }
        Ok((loss, grad, sigma2))
    }
}

impl LayerLoss for GaussianMmdExact {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        let (l, g, _) = self.evaluate(f)?;
        Ok((l, g))
    }
}

/// The exact estimator's value with a fixed sigma^2, used by tests of the linear-time one.
pub fn exact_gaussian_value(f: &FeatureMap, s: &FeatureMap, sigma2: f64) -> Result<f64> {
    Ok(GaussianMmdExact::new(s, Some(sigma2))?.evaluate(f)?.0)
}

/// One linear-time estimate with a fixed sigma^2 and a pairing drawn from `rng`, for
/// unbiasedness tests.
pub fn linear_gaussian_value_fixed_sigma(
    f: &FeatureMap,
    s: &FeatureMap,
    sigma2: f64,
    shuffles: Option<usize>,
    rng: &mut ChaCha8Rng,
) -> Result<f64> {
    let mut l = GaussianMmd::with_fixed_sigma2(s, sigma2);
    l.draw(f.positions(), shuffles, rng);
    Ok(l.compute(f, false)?.0)
}
