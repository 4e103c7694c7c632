//! Gatys et al.'s Gram loss, Eq. 6-7:
//! `L = 1/(4 N^2) * || F F^T / M_F - S S^T / M_S ||_F^2`,
//! which with equal sizes is Eq. 6's `1/(4 N^2 M^2) sum (G - A)^2`, and equals
//! `MMD^2 / (4 N^2)` with the kernel `(x^T y)^2` (Eq. 9; see [`super::mmd::PolyMmd`]).

use super::blend::Needs;
use super::moments::{moment_loss_and_grad, Affine, MomentLoss, Moments, Product};
use super::stats::normalized_gram;
use super::tiled::{MomentSums, TileSums};
use super::{check_channel_count, LayerLoss};
use crate::tensor::FeatureMap;
use crate::{Error, Result};

pub struct GramLoss {
    /// Style Gram matrix `A / M_S`.
    target: Vec<f64>,
    channels: usize,
}

impl GramLoss {
    pub fn new(style: &FeatureMap) -> Self {
        GramLoss {
            target: normalized_gram(style),
            channels: style.channels,
        }
    }

    /// From a target second moment `E[y y^T]` (N x N, row-major) that no single image
    /// need have: a blend of several styles ([`super::blend`]) mixes their Grams.
    pub fn from_target(target: Vec<f64>, channels: usize) -> Result<Self> {
        check_square("gram", &target, channels)?;
        Ok(GramLoss { target, channels })
    }

    /// The target `S S^T / M_S` (N x N, row-major).
    pub fn target(&self) -> &[f64] {
        &self.target
    }
}

/// An error unless `m` holds an `n x n` matrix.
pub(crate) fn check_square(name: &str, m: &[f64], n: usize) -> Result<()> {
    if m.len() != n * n {
        return Err(Error::Shape(format!(
            "{name}: a {n}x{n} target needs {} values, got {}",
            n * n,
            m.len()
        )));
    }
    Ok(())
}

impl MomentLoss for GramLoss {
    fn needs(&self) -> Needs {
        Needs::GRAM
    }

    fn check(&self, channels: usize) -> Result<()> {
        check_channel_count("gram", channels, self.channels)
    }

    fn value_and_rule(&self, m: &Moments) -> Result<(f64, Affine)> {
        let n = m.channels as f64;
        let mut d = m.gram.clone();
        d.iter_mut().zip(&self.target).for_each(|(g, a)| *g -= a);
        let loss = d.iter().map(|v| v * v).sum::<f64>() / (4.0 * n * n);
        // dL/dF = (G - A) F / (N^2 M_F)   (G, A normalised by their M).
        let rule = Affine {
            product: Some(Product {
                matrix: d,
                centre: None,
                scale: 1.0 / (n * n * m.count as f64),
            }),
            ..Affine::default()
        };
        Ok((loss, rule))
    }
}

impl LayerLoss for GramLoss {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        moment_loss_and_grad(self, f)
    }

    fn tiled(&self) -> Option<Box<dyn TileSums + '_>> {
        Some(Box::new(MomentSums::new(self)))
    }
}
