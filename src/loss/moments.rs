//! The moment view of the style losses: gram, mmd-linear, mmd-poly, bn, coral and w2 see
//! the generated features `F` only through sums over positions (means, second moments,
//! variances, covariances), and their gradient is then an *affine* function of each
//! position's feature vector: `dL/df_j = s K (f_j - c) + v` for an N x N matrix `K`, a
//! centre `c` and a vector `v` fixed by the moments (BN's is per channel).
//!
//! So each such loss is written once as [`MomentLoss::value_and_rule`]: moments in, value
//! and [`Affine`] rule out. The whole-map evaluation ([`moment_loss_and_grad`]) computes the
//! moments of `F` and applies the rule to `F`; the tiled evaluation (`super::tiled`)
//! accumulates the same moments tile by tile ([`Moments::merge`]) and applies the rule to
//! each tile's positions. Both are the same function of the image up to f64 summation
//! order in the moments.

use super::blend::Needs;
use super::bn::mean_var;
use super::stats::{
    add_channel_constant, centred, centred_covariance, channel_means, left_multiply,
    normalized_gram,
};
use crate::tensor::FeatureMap;
use crate::Result;

/// Moments of one feature map over its positions, in f64: the mean always, and what a
/// [`Needs`] asked for (an entry nobody asked for is empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    pub channels: usize,
    /// Positions summed over (the paper's M).
    pub count: usize,
    pub mean: Vec<f64>,
    /// `E[f f^T]` (the normalised Gram matrix), N x N row-major.
    pub gram: Vec<f64>,
    /// Population variance per channel.
    pub variance: Vec<f64>,
    /// Population covariance, N x N row-major.
    pub covariance: Vec<f64>,
}

impl Moments {
    /// The moments of `f` that `needs` asks for, computed as the whole-map losses always
    /// have (so their values do not change): the f64-accumulated Gram of
    /// [`normalized_gram`], the two-pass variances of [`mean_var`], the f64-centred
    /// covariance of [`centred_covariance`].
    pub fn of(f: &FeatureMap, needs: Needs) -> Moments {
        let (mean, covariance) = if needs.covariance {
            centred_covariance(f)
        } else {
            (channel_means(f), Vec::new())
        };
        Moments {
            channels: f.channels,
            count: f.positions(),
            mean,
            gram: if needs.gram {
                normalized_gram(f)
            } else {
                Vec::new()
            },
            variance: if needs.variance {
                mean_var(f).1
            } else {
                Vec::new()
            },
            covariance,
        }
    }

    /// Nothing yet: the start of a sum over tiles.
    pub fn empty(channels: usize) -> Moments {
        Moments {
            channels,
            count: 0,
            mean: vec![0.0; channels],
            gram: Vec::new(),
            variance: Vec::new(),
            covariance: Vec::new(),
        }
    }

    /// The moments of the union of the positions of `self` and `o` (pairwise update of
    /// Chan, Golub & LeVeque: centred moments merge through the means' difference, so no
    /// large uncentred sums are subtracted).
    pub fn merge(&mut self, o: &Moments) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = o.clone();
            return;
        }
        let n = self.channels;
        let (a, b) = (self.count as f64, o.count as f64);
        let total = a + b;
        let (wa, wb) = (a / total, b / total);
        let delta: Vec<f64> = o.mean.iter().zip(&self.mean).map(|(x, y)| x - y).collect();
        // Between-part spread of the two means about their union's mean: wa wb d d^T.
        let between = wa * wb;
        mix(&mut self.gram, &o.gram, wa, wb);
        mix(&mut self.variance, &o.variance, wa, wb);
        if !self.variance.is_empty() {
            for (v, d) in self.variance.iter_mut().zip(&delta) {
                *v += between * d * d;
            }
        }
        mix(&mut self.covariance, &o.covariance, wa, wb);
        if !self.covariance.is_empty() {
            for r in 0..n {
                for c in 0..n {
                    self.covariance[r * n + c] += between * delta[r] * delta[c];
                }
            }
        }
        for (m, d) in self.mean.iter_mut().zip(&delta) {
            *m += wb * d;
        }
        self.count += o.count;
    }
}

/// `a := wa a + wb b` (both empty, or both full).
fn mix(a: &mut [f64], b: &[f64], wa: f64, wb: f64) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x = wa * *x + wb * y);
}

/// The gradient of a moment loss at every position: `constant + product` or
/// `constant + per_channel` (see the module docs). Each field keeps the arithmetic the
/// whole-map losses had, so their gradients are unchanged to the bit.
#[derive(Clone, Debug, Default)]
pub struct Affine {
    /// `scale K (f - centre)`, K row-major N x N (`centre` None: 0).
    pub product: Option<Product>,
    /// BN: `a_c + b_c (f - mu_c)` per channel, in f64.
    pub per_channel: Option<PerChannel>,
    /// `scale v_c` added at every position of channel c.
    pub constant: Option<(Vec<f64>, f64)>,
}

#[derive(Clone, Debug)]
pub struct Product {
    pub matrix: Vec<f64>,
    pub centre: Option<Vec<f64>>,
    pub scale: f64,
}

#[derive(Clone, Debug)]
pub struct PerChannel {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub mu: Vec<f64>,
}

impl Affine {
    /// The gradient at every position of `f` (a whole map or one tile's positions).
    pub fn apply(&self, f: &FeatureMap) -> FeatureMap {
        let mut grad = if let Some(p) = &self.product {
            match &p.centre {
                Some(c) => left_multiply(&p.matrix, &centred(f, c), p.scale),
                None => left_multiply(&p.matrix, f, p.scale),
            }
        } else if let Some(pc) = &self.per_channel {
            let mut g = FeatureMap::zeros(f.channels, f.height, f.width);
            let m = f.positions();
            for c in 0..f.channels {
                let (a, b, mu) = (pc.a[c], pc.b[c], pc.mu[c]);
                for (g, &v) in g.data[c * m..(c + 1) * m].iter_mut().zip(f.channel(c)) {
                    *g = (a + b * (v as f64 - mu)) as f32;
                }
            }
            g
        } else {
            FeatureMap::zeros(f.channels, f.height, f.width)
        };
        if let Some((v, scale)) = &self.constant {
            add_channel_constant(&mut grad, v, *scale);
        }
        grad
    }
}

/// A loss that depends on the generated features only through their moments.
pub trait MomentLoss {
    /// The moments [`MomentLoss::value_and_rule`] reads.
    fn needs(&self) -> Needs;
    /// Checks the generated map's channel count against the target's.
    fn check(&self, f_channels: usize) -> Result<()>;
    /// The loss value and its gradient's rule, from the generated image's moments.
    fn value_and_rule(&self, m: &Moments) -> Result<(f64, Affine)>;
}

/// Value and gradient of a moment loss on a whole map.
pub fn moment_loss_and_grad(loss: &dyn MomentLoss, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
    loss.check(f.channels)?;
    let (value, rule) = loss.value_and_rule(&Moments::of(f, loss.needs()))?;
    Ok((value, rule.apply(f)))
}
