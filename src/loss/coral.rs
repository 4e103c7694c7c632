//! CORAL (Sun, Feng & Saenko 2016): align the second-order statistics about the means,
//! `L = 1/(4 N^2) * || C_F - C_S ||_F^2` with the population covariances
//! `C = 1/M (F - mu 1^T)(F - mu 1^T)^T`.
//!
//! It is the Gram loss ([`super::GramLoss`]) of the centred features: shifting every
//! position by the same vector leaves it unchanged, where the Gram loss also matches means.
//!
//! Gradient, with `Xc = F - mu_F 1^T` and `D = C_F - C_S` (symmetric):
//! `dC_F = (dXc Xc^T + Xc dXc^T) / M_F`, so `dL = 1/(4N^2) * 2 <D, dC_F> = <D Xc, dXc> / (N^2 M_F)`;
//! `dXc = dF (I - 1 1^T / M_F)` and `Xc 1 = 0`, so the centring drops out:
//! `dL/dF = D Xc / (N^2 M_F)`.

use super::blend::Needs;
use super::gram::check_square;
use super::moments::{moment_loss_and_grad, Affine, MomentLoss, Moments, Product};
use super::stats::centred_covariance;
use super::tiled::{MomentSums, TileSums};
use super::{check_channel_count, LayerLoss};
use crate::tensor::FeatureMap;
use crate::Result;

pub struct CoralLoss {
    /// Style covariance `C_S` (N x N, row-major, f64).
    cov: Vec<f64>,
    channels: usize,
}

impl CoralLoss {
    pub fn new(style: &FeatureMap) -> Self {
        CoralLoss {
            cov: centred_covariance(style).1,
            channels: style.channels,
        }
    }

    /// From a target population covariance (N x N, row-major), e.g. a blend's mixture
    /// covariance ([`super::blend`]).
    pub fn from_cov(cov: Vec<f64>, channels: usize) -> Result<Self> {
        check_square("coral", &cov, channels)?;
        Ok(CoralLoss { cov, channels })
    }
}

impl MomentLoss for CoralLoss {
    fn needs(&self) -> Needs {
        Needs::COVARIANCE
    }

    fn check(&self, channels: usize) -> Result<()> {
        check_channel_count("coral", channels, self.channels)
    }

    fn value_and_rule(&self, m: &Moments) -> Result<(f64, Affine)> {
        let n = m.channels as f64;
        let mut d = m.covariance.clone();
        d.iter_mut().zip(&self.cov).for_each(|(c, s)| *c -= s);
        let loss = d.iter().map(|v| v * v).sum::<f64>() / (4.0 * n * n);
        let rule = Affine {
            product: Some(Product {
                matrix: d,
                centre: Some(m.mean.clone()),
                scale: 1.0 / (n * n * m.count as f64),
            }),
            ..Affine::default()
        };
        Ok((loss, rule))
    }
}

impl LayerLoss for CoralLoss {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        moment_loss_and_grad(self, f)
    }

    fn tiled(&self) -> Option<Box<dyn TileSums + '_>> {
        Some(Box::new(MomentSums::new(self)))
    }
}
