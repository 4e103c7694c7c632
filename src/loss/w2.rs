//! Squared 2-Wasserstein distance between the Gaussians fitted to the two feature
//! distributions (Dowson & Landau 1982; Gelbrich 1990):
//!
//! `L = ||mu_F - mu_S||^2 + tr C_F + tr C_S - 2 tr (C_S^{1/2} C_F C_S^{1/2})^{1/2}`,
//!
//! `mu` the channel means, `C` the population covariances `1/M (F - mu 1^T)(F - mu 1^T)^T`.
//! For channels that are uncorrelated in both maps (diagonal C) it is
//! `||mu_F - mu_S||^2 + ||sigma_F - sigma_S||^2`, which is `N` times the BN loss (Eq. 11-12,
//! [`super::BnLoss`]) without its epsilon; the cross-covariances are what W2 adds.
//!
//! # Gradient, without inverting a singular matrix
//!
//! With `R = C_S^{1/2}` (computed once), `Xc = (F - mu_F 1^T) / sqrt(M_F)` (so `C_F = Xc Xc^T`)
//! and `A = R Xc` (N x M_F), `K = A A^T = R C_F R` and `tr K^{1/2} = ||A||_*`, the sum of
//! the singular values of `A`. Its gradient in `A` is the polar factor `P = U V^T` of the
//! thin SVD over the nonzero singular values. From the eigendecomposition `K = Q diag(l) Q^T`,
//! `P = Q diag(l^{-1/2}) Q^T A` where the inverse square root is taken only for
//! `l > W2_RANK_TOL * max l` and is 0 otherwise (a pseudo-inverse: no singular matrix is
//! inverted, and rank-deficient covariances, e.g. M < N at relu5_1 of a small image, give a
//! finite gradient). Chaining `dA = R dF (I - 1 1^T / M_F) / sqrt(M_F)`:
//! `d tr K^{1/2} / dF = R P (I - 1 1^T/M_F) / sqrt(M_F) = T Xc' / M_F`, with `Xc' = F - mu_F 1^T`
//! and `T = R Q diag(l^{-1/2}) Q^T R` (N x N); the centring term vanishes because
//! `P 1 = K^{+1/2} R Xc 1 = 0`. `T` is the optimal transport map between the two Gaussians
//! (`T C_F T = C_S` for full-rank covariances). With `d ||mu_F - mu_S||^2 / dF = 2 (mu_F - mu_S) 1^T / M_F`
//! and `d tr C_F / dF = 2 Xc' / M_F`:
//!
//! `dL/dF = 2/M_F * [ (mu_F - mu_S) 1^T + (I - T)(F - mu_F 1^T) ]`
//!
//! i.e. each position is pulled towards its image under the Gaussian transport map.
//! Eigenvalues `l <= W2_RANK_TOL * max l` count as exact zeros in the value too, so value
//! and gradient stay consistent; they are rounding noise of the structural zeros (a
//! covariance from M <= N positions has rank <= M - 1), whose square roots (~1e-8 relative
//! each) would otherwise add noise to the value. A genuine eigenvalue below the tolerance
//! changes the value by at most `sqrt(W2_RANK_TOL * max l) = 1e-6 * max singular value`.
//! The value is not clamped: it can be a rounding error below 0 when F and S match.
//!
//! # Linear algebra
//!
//! Covariances come from [`super::stats::centred_covariance`] (f64 products of f64-centred
//! features). Everything after that is N x N in f64: two products for `K`, one symmetric
//! eigendecomposition of `K` per call (`C_S` is decomposed once, at construction), two
//! products for `T`. Eigendecompositions use `nalgebra`'s `SymmetricEigen` (Householder
//! tridiagonalisation + implicit QR), with `default-features = false, features = ["std"]`.
//! Chosen over `faer` for build cost, measured with `cargo build --release --timings -j2` on
//! this project's 2-core machines: nalgebra's new crates (nalgebra, simba, wide, safe_arch,
//! matrixmultiply, typenum, num-rational, approx, rawpointer) cost ~47 crate-seconds alone
//! and ~67 of the ~690 of a clean build of the project (~10%, ~35 s wall on 2 cores); faer
//! 0.24, although it reuses this project's `gemm`, adds ~170 crate-seconds (faer itself ~47,
//! its nano-gemm / private-gemm-x86 kernels ~100). nalgebra's solver is unblocked and
//! single-threaded (~0.25 s for N = 512, ~1 ms for N = 64 here), small next to a VGG forward
//! and backward pass of the image at the sizes where N = 512 layers are used.

use super::blend::Needs;
use super::gram::check_square;
use super::moments::{moment_loss_and_grad, Affine, MomentLoss, Moments, Product};
use super::stats::centred_covariance;
use super::tiled::{MomentSums, TileSums};
use super::{check_channel_count, LayerLoss};
use crate::gemm::{matmul, MatRef};
use crate::tensor::FeatureMap;
use crate::Result;

/// Relative eigenvalue threshold: eigenvalues of `C_S` and of `K` at or below
/// `W2_RANK_TOL * max eigenvalue` are treated as exact zeros (see the module docs).
pub const W2_RANK_TOL: f64 = 1e-12;

pub struct GaussianW2Loss {
    /// Style channel means `mu_S`.
    mean: Vec<f64>,
    /// `C_S^{1/2}` (N x N, row-major, f64; NaN if the style features are not finite).
    root: Vec<f64>,
    /// `tr C_S`.
    trace: f64,
    channels: usize,
}

impl GaussianW2Loss {
    pub fn new(style: &FeatureMap) -> Self {
        let (mean, cov) = centred_covariance(style);
        Self::gaussian(mean, &cov)
    }

    /// The distance to `N(mean, cov)` (N x N population covariance, row-major): for a
    /// blend of styles, the Gaussian with the mixture's mean and covariance (moment
    /// matched; the mixture itself is not Gaussian).
    pub fn from_moments(mean: Vec<f64>, cov: &[f64]) -> Result<Self> {
        check_square("w2", cov, mean.len())?;
        Ok(Self::gaussian(mean, cov))
    }

    fn gaussian(mean: Vec<f64>, cov: &[f64]) -> Self {
        let n = mean.len();
        let trace = (0..n).map(|i| cov[i * n + i]).sum();
        let root = match sym_eigen(cov, n) {
            Some((l, q)) => {
                // R = Q diag(sqrt l) Q^T = W W^T with W = Q diag(l^{1/4}).
                let (w, r) = scaled_columns(&q, n, &l, |x| x.sqrt().sqrt());
                gram_of_columns(&w, n, r)
            }
            None => vec![f64::NAN; n * n],
        };
        GaussianW2Loss {
            mean,
            root,
            trace,
            channels: n,
        }
    }
}

impl MomentLoss for GaussianW2Loss {
    fn needs(&self) -> Needs {
        Needs::COVARIANCE
    }

    fn check(&self, channels: usize) -> Result<()> {
        check_channel_count("gaussian-w2", channels, self.channels)
    }

    fn value_and_rule(&self, mo: &Moments) -> Result<(f64, Affine)> {
        let (n, m) = (mo.channels, mo.count as f64);
        let (mu, cov) = (&mo.mean, &mo.covariance);
        let k = symmetrised(mul(&mul(&self.root, cov, n), &self.root, n), n);
        let Some((l, q)) = sym_eigen(&k, n) else {
            // Non-finite features (or style): NaN like the other losses would give.
            let rule = Affine {
                constant: Some((vec![f64::NAN; n], 1.0)),
                ..Affine::default()
            };
            return Ok((f64::NAN, rule));
        };
        let lmax = l.iter().fold(0.0f64, |a, &b| a.max(b));
        let cut = W2_RANK_TOL * lmax;
        let tr_sqrt: f64 = l.iter().filter(|&&x| x > cut).map(|x| x.sqrt()).sum();
        let dmu: Vec<f64> = mu.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        let tr_f: f64 = (0..n).map(|i| cov[i * n + i]).sum();
        let loss = dmu.iter().map(|v| v * v).sum::<f64>() + tr_f + self.trace - 2.0 * tr_sqrt;
        // T = R Q diag(l^{-1/2}) Q^T R = W W^T with W = R Q diag(l^{-1/4}), kept l only.
        let (w, r) = scaled_columns(&mul(&self.root, &q, n), n, &l, |x| 1.0 / x.sqrt().sqrt());
        let mut g = gram_of_columns(&w, n, r);
        // g := I - T
        g.iter_mut().for_each(|v| *v = -*v);
        (0..n).for_each(|i| g[i * n + i] += 1.0);
        let rule = Affine {
            product: Some(Product {
                matrix: g,
                centre: Some(mu.clone()),
                scale: 2.0 / m,
            }),
            constant: Some((dmu, 2.0 / m)),
            ..Affine::default()
        };
        Ok((loss, rule))
    }
}

impl LayerLoss for GaussianW2Loss {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        moment_loss_and_grad(self, f)
    }

    fn tiled(&self) -> Option<Box<dyn TileSums + '_>> {
        Some(Box::new(MomentSums::new(self)))
    }
}

/// Eigenvalues and eigenvectors (the columns of the returned row-major N x N matrix) of a
/// symmetric row-major matrix, or None if it is not finite or the QR iteration stalls.
fn sym_eigen(a: &[f64], n: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    if n == 0 || !a.iter().all(|v| v.is_finite()) {
        return (n == 0).then(|| (Vec::new(), Vec::new()));
    }
    let m = nalgebra::DMatrix::from_row_slice(n, n, a);
    let e = nalgebra::SymmetricEigen::try_new(m, f64::EPSILON, 100 * n.max(10))?;
    let mut q = vec![0.0; n * n];
    for r in 0..n {
        for c in 0..n {
            q[r * n + c] = e.eigenvectors[(r, c)];
        }
    }
    Some((e.eigenvalues.as_slice().to_vec(), q))
}

/// The columns `j` of the row-major N x N `q` with `l_j > W2_RANK_TOL * max l`, each
/// multiplied by `scale(l_j)`: an N x r row-major matrix and r.
fn scaled_columns(q: &[f64], n: usize, l: &[f64], scale: impl Fn(f64) -> f64) -> (Vec<f64>, usize) {
    let lmax = l.iter().fold(0.0f64, |a, &b| a.max(b));
    let kept: Vec<(usize, f64)> = l
        .iter()
        .enumerate()
        .filter(|&(_, &x)| x > W2_RANK_TOL * lmax)
        .map(|(j, &x)| (j, scale(x)))
        .collect();
    let r = kept.len();
    let mut w = vec![0.0; n * r];
    for i in 0..n {
        for (jj, &(j, s)) in kept.iter().enumerate() {
            w[i * r + jj] = q[i * n + j] * s;
        }
    }
    (w, r)
}

/// `W W^T` for a row-major N x r `W` (exactly symmetric).
fn gram_of_columns(w: &[f64], n: usize, r: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    if r > 0 {
        let a = MatRef::row_major(w, n, r);
        matmul(&mut out, 0, n, 1, false, a, a.t(), 1.0, threads());
    }
    symmetrised(out, n)
}

/// `a b` for row-major N x N matrices.
fn mul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    matmul(
        &mut out,
        0,
        n,
        1,
        false,
        MatRef::row_major(a, n, n),
        MatRef::row_major(b, n, n),
        1.0,
        threads(),
    );
    out
}

fn symmetrised(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (a[i * n + j] + a[j * n + i]);
            a[i * n + j] = s;
            a[j * n + i] = s;
        }
    }
    a
}

fn threads() -> usize {
    rayon::current_num_threads()
}
