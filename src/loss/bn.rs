//! BN-statistics matching, Eq. 11-12: per-channel mean and (population) standard deviation,
//! `L = 1/N * sum_i (mu_F,i - mu_S,i)^2 + (sigma_F,i - sigma_S,i)^2`.
//!
//! Departure from the paper: `sigma = sqrt(var + BN_EPSILON)`, so a constant channel gives a
//! finite loss and gradient (the authors' code returned NaN there).

use super::blend::Needs;
use super::moments::{moment_loss_and_grad, Affine, MomentLoss, Moments, PerChannel};
use super::tiled::{MomentSums, TileSums};
use super::{check_channel_count, LayerLoss};
use crate::tensor::FeatureMap;
use crate::{Error, Result};

/// Added to every variance before the square root (feature values are O(1..1000)).
pub const BN_EPSILON: f64 = 1e-5;

/// Channel means and standard deviations (with [`BN_EPSILON`]) in f64.
pub fn mean_std(f: &FeatureMap) -> (Vec<f64>, Vec<f64>) {
    let (mean, var) = mean_var(f);
    (mean, std_of(var))
}

/// Channel means and population variances (no epsilon) in f64, two passes.
pub fn mean_var(f: &FeatureMap) -> (Vec<f64>, Vec<f64>) {
    let m = f.positions() as f64;
    (0..f.channels)
        .map(|c| {
            let row = f.channel(c);
            let mu = row.iter().map(|&v| v as f64).sum::<f64>() / m;
            let var = row.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / m;
            (mu, var)
        })
        .unzip()
}

fn std_of(var: Vec<f64>) -> Vec<f64> {
    var.into_iter().map(|v| (v + BN_EPSILON).sqrt()).collect()
}

pub struct BnLoss {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl BnLoss {
    pub fn new(style: &FeatureMap) -> Self {
        let (mean, std) = mean_std(style);
        BnLoss { mean, std }
    }

    /// From target means and population variances per channel, e.g. a blend's mixture
    /// moments ([`super::blend`]); [`BN_EPSILON`] is added as for an image.
    pub fn from_moments(mean: Vec<f64>, var: Vec<f64>) -> Result<Self> {
        if mean.len() != var.len() {
            return Err(Error::Shape(format!(
                "bn: {} means but {} variances",
                mean.len(),
                var.len()
            )));
        }
        Ok(BnLoss {
            mean,
            std: std_of(var),
        })
    }
}

impl MomentLoss for BnLoss {
    fn needs(&self) -> Needs {
        Needs::VARIANCE
    }

    fn check(&self, channels: usize) -> Result<()> {
        check_channel_count("bn", channels, self.mean.len())
    }

    fn value_and_rule(&self, mo: &Moments) -> Result<(f64, Affine)> {
        let (n, m) = (mo.channels as f64, mo.count as f64);
        let mu = mo.mean.clone();
        let sd = std_of(mo.variance.clone());
        let mut loss = 0.0;
        let (mut a, mut b) = (Vec::with_capacity(mu.len()), Vec::with_capacity(mu.len()));
        for c in 0..mo.channels {
            let dm = mu[c] - self.mean[c];
            let ds = sd[c] - self.std[c];
            loss += dm * dm + ds * ds;
            // d mu / dF_j = 1/M;  d sigma / dF_j = (F_j - mu) / (M sigma).
            a.push(2.0 * dm / (n * m));
            b.push(2.0 * ds / (n * m * sd[c]));
        }
        let rule = Affine {
            per_channel: Some(PerChannel { a, b, mu }),
            ..Affine::default()
        };
        Ok((loss / n, rule))
    }
}

impl LayerLoss for BnLoss {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        moment_loss_and_grad(self, f)
    }

    fn tiled(&self) -> Option<Box<dyn TileSums + '_>> {
        Some(Box::new(MomentSums::new(self)))
    }
}
