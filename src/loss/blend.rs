//! Several style images with blend weights `w_i` (normalised here to sum 1): at every
//! layer the target is the weighted **mixture** `sum_i w_i P_i` of the styles' feature
//! distributions, `P_i` being style i's empirical distribution (one sample per position,
//! as for a single style). How a method's target is made from the mixture depends on what
//! the method sees of a style, which its registry entry says ([`Blend`]):
//!
//! * **Moments, exact.** gram, mmd-linear, mmd-poly, bn, coral and w2 see a style only
//!   through its moments, and a mixture's moments follow from the components' exactly:
//!   mean `mu = sum w_i mu_i`; second moment (the normalised Gram, `E[y y^T]`)
//!   `sum w_i G_i`; per-channel variance `sum w_i var_i + sum w_i (mu_i - mu)^2` and
//!   covariance `sum w_i C_i + sum w_i (mu_i - mu)(mu_i - mu)^T` (the law of total
//!   variance). w2 then measures the distance to the Gaussian with the mixture's mean and
//!   covariance: moment matched, as it fits a Gaussian to one image too.
//! * **Pooled sample.** The Gaussian MMD (both estimators) and sliced Wasserstein use the
//!   samples themselves, so they get one sample of the mixture: `M_pool = max_i M_i`
//!   positions (over the styles that contribute), style i giving `n_i = round(w_i M_pool)`
//!   of its positions at the evenly spaced indices `floor(j M_i / n_i)`, `j < n_i`
//!   (repeats where `n_i > M_i`), concatenated into one `N x 1 x sum n_i` map that the
//!   method's own constructor takes as its style. Should every `n_i` round to 0 (a map of
//!   a position or two), the heaviest style gives one position.
//!
//! Zero-weight styles contribute nothing (not even to `M_pool`). A single style does not
//! come here: the objective builds it with the methods' usual constructors, so one-style
//! runs are unchanged.
//!
//! Memory, per layer while the targets are built: the sums of the moments the methods
//! need (N x N f64 for the Gram matrix and for the covariance, N for the variance), one
//! mean vector per style, and the pooled sample (N x sum n_i f32, about one style map);
//! the objective feeds one style's features at a time and drops each after use.

use super::moments::Moments;
use super::{LayerLoss, LossOptions, Method};
use crate::tensor::FeatureMap;
use crate::vgg::Layer;
use crate::{Error, Result};

/// How several styles' targets combine for one method (a field of its registry entry).
pub enum Blend {
    /// The loss depends on a style only through these moments (the mean always): their
    /// mixture is exact, and `build` makes the loss from it.
    Moments {
        needs: Needs,
        build: fn(&Mixture, &LossOptions) -> Result<Box<dyn LayerLoss>>,
    },
    /// The loss uses samples: it is built by the method's own constructor from one pooled
    /// sample of the mixture.
    Pooled,
}

/// The moments beyond the mean that a method's target needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The second moment `E[y y^T]` (the normalised Gram matrix).
    pub gram: bool,
    /// Per-channel variances.
    pub variance: bool,
    /// The covariance matrix.
    pub covariance: bool,
}

impl Needs {
    pub const MEAN: Needs = Needs {
        gram: false,
        variance: false,
        covariance: false,
    };
    pub const GRAM: Needs = Needs {
        gram: true,
        ..Needs::MEAN
    };
    pub const VARIANCE: Needs = Needs {
        variance: true,
        ..Needs::MEAN
    };
    pub const COVARIANCE: Needs = Needs {
        covariance: true,
        ..Needs::MEAN
    };

    fn union(self, o: Needs) -> Needs {
        Needs {
            gram: self.gram || o.gram,
            variance: self.variance || o.variance,
            covariance: self.covariance || o.covariance,
        }
    }
}

/// The mixture's moments at one layer, in f64. A moment nobody asked for is empty.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    pub channels: usize,
    pub mean: Vec<f64>,
    /// `sum w_i G_i`, N x N row-major.
    pub gram: Vec<f64>,
    /// Population variance per channel.
    pub variance: Vec<f64>,
    /// Population covariance, N x N row-major.
    pub covariance: Vec<f64>,
}

/// The targets of one layer being built from several styles, one style at a time.
pub struct LayerBlend {
    /// Normalised to sum 1.
    weights: Vec<f64>,
    positions: Vec<usize>,
    /// `None` when no method needs the moments.
    needs: Option<Needs>,
    /// Positions each style gives the pooled sample (`None`: no sample method).
    counts: Option<Vec<usize>>,
    channels: Option<usize>,
    added: Vec<bool>,
    means: Vec<Vec<f64>>,
    gram: Vec<f64>,
    variance: Vec<f64>,
    covariance: Vec<f64>,
    pooled: Option<FeatureMap>,
}

/// A layer's blended targets, ready to build any of the methods it was prepared for.
#[derive(Clone, Debug)]
pub struct Blended {
    mixture: Option<Mixture>,
    pooled: Option<FeatureMap>,
}

/// `w_i / sum w`; an error unless every weight is finite and >= 0 and their sum positive.
pub fn normalised_weights(weights: &[f64]) -> Result<Vec<f64>> {
    if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(Error::invalid(
            "style-blend",
            format!("weights must be finite and >= 0, got {w}"),
        ));
    }
    let total: f64 = weights.iter().sum();
    if weights.is_empty() || total <= 0.0 {
        return Err(Error::invalid(
            "style-blend",
            "weights must not all be zero",
        ));
    }
    Ok(weights.iter().map(|w| w / total).collect())
}

/// Positions each style gives the pooled sample: `round(w_i M_pool)` with `M_pool` the
/// largest map among the styles of positive weight (see the module docs).
pub fn pooled_counts(weights: &[f64], positions: &[usize]) -> Vec<usize> {
    let pool = weights
        .iter()
        .zip(positions)
        .filter(|(w, _)| **w > 0.0)
        .map(|(_, &m)| m)
        .max()
        .unwrap_or(0);
    let mut counts: Vec<usize> = weights
        .iter()
        .map(|w| (w * pool as f64).round() as usize)
        .collect();
    if pool > 0 && counts.iter().all(|&c| c == 0) {
        let heaviest =
            (0..weights.len()).fold(
                0,
                |best, i| if weights[i] > weights[best] { i } else { best },
            );
        counts[heaviest] = 1;
    }
    counts
}

impl LayerBlend {
    /// Prepares the targets of `methods` from styles with these weights (normalised here)
    /// and these numbers of positions at the layer (`M_i`).
    pub fn new(methods: &[Method], weights: &[f64], positions: &[usize]) -> Result<Self> {
        let weights = normalised_weights(weights)?;
        if weights.len() != positions.len() {
            return Err(Error::Shape(format!(
                "{} blend weights for {} styles",
                weights.len(),
                positions.len()
            )));
        }
        let mut needs = None;
        let mut pooled = false;
        for m in methods {
            match &m.info().blend {
                Blend::Moments { needs: n, .. } => {
                    needs = Some(needs.unwrap_or(Needs::MEAN).union(*n))
                }
                Blend::Pooled => pooled = true,
            }
        }
        let k = weights.len();
        Ok(LayerBlend {
            counts: pooled.then(|| pooled_counts(&weights, positions)),
            weights,
            positions: positions.to_vec(),
            needs,
            channels: None,
            added: vec![false; k],
            means: vec![Vec::new(); k],
            gram: Vec::new(),
            variance: Vec::new(),
            covariance: Vec::new(),
            pooled: None,
        })
    }

    /// Whether style `i` contributes at all (a zero weight does not).
    pub fn contributes(&self, i: usize) -> bool {
        self.weights.get(i).is_some_and(|&w| w > 0.0)
    }

    /// Adds style `i`'s features at this layer (`f` may be dropped afterwards).
    pub fn add(&mut self, i: usize, f: &FeatureMap) -> Result<()> {
        if !self.expect(i, f.positions(), f.channels)? {
            return Ok(());
        }
        if let Some(needs) = self.needs {
            self.mix_in(i, &Moments::of(f, needs));
        }
        if let Some(counts) = &self.counts {
            let n = f.channels;
            let total: usize = counts.iter().sum();
            let offset: usize = counts[..i].iter().sum();
            let pooled = self
                .pooled
                .get_or_insert_with(|| FeatureMap::zeros(n, 1, total));
            let (m, count) = (f.positions(), counts[i]);
            for c in 0..n {
                let row = f.channel(c);
                let out = &mut pooled.data[c * total + offset..c * total + offset + count];
                for (j, v) in out.iter_mut().enumerate() {
                    *v = row[j * m / count];
                }
            }
        }
        Ok(())
    }

    /// The moments this blend needs of each style (`None`: it needs a pooled sample only).
    pub fn needs(&self) -> Option<Needs> {
        self.needs
    }

    /// Whether a method of this blend needs the styles' samples, not only their moments.
    pub fn needs_samples(&self) -> bool {
        self.counts.is_some()
    }

    /// Adds style `i` by its moments at this layer (computed tile by tile, say); only for
    /// a blend whose methods all read moments ([`LayerBlend::needs_samples`] false).
    pub fn add_moments(&mut self, i: usize, m: &Moments) -> Result<()> {
        if self.needs_samples() {
            return Err(Error::Shape(
                "a sample method's blend needs the styles' features, not their moments".into(),
            ));
        }
        if self.expect(i, m.count, m.channels)? {
            self.mix_in(i, m);
        }
        Ok(())
    }

    /// Marks style `i` added after checking its shape; whether it contributes.
    fn expect(&mut self, i: usize, positions: usize, channels: usize) -> Result<bool> {
        if i >= self.weights.len() || self.added[i] {
            return Err(Error::Shape(format!("style {i} is not expected here")));
        }
        self.added[i] = true;
        if !self.contributes(i) {
            return Ok(false);
        }
        if positions != self.positions[i] {
            return Err(Error::Shape(format!(
                "style {i} has {positions} positions at this layer, {} were planned",
                self.positions[i]
            )));
        }
        let n = *self.channels.get_or_insert(channels);
        if channels != n {
            return Err(Error::Shape(format!(
                "style {i} has {channels} channels, the first {n}"
            )));
        }
        Ok(true)
    }

    /// Adds style `i`'s moments, weighted, to the mixture's sums.
    fn mix_in(&mut self, i: usize, m: &Moments) {
        let w = self.weights[i];
        self.means[i] = m.mean.clone();
        if !m.gram.is_empty() {
            add_scaled(&mut self.gram, &m.gram, w);
        }
        if !m.variance.is_empty() {
            add_scaled(&mut self.variance, &m.variance, w);
        }
        if !m.covariance.is_empty() {
            add_scaled(&mut self.covariance, &m.covariance, w);
        }
    }

    /// The mixture's moments and the pooled sample, once every style was added.
    pub fn finish(self) -> Result<Blended> {
        if let Some(i) = self.added.iter().position(|a| !a) {
            return Err(Error::Shape(format!("style {i} was never added")));
        }
        let n = self.channels.unwrap_or(0);
        let mixture = self.needs.map(|needs| {
            let parts: Vec<(f64, &Vec<f64>)> = self
                .weights
                .iter()
                .zip(&self.means)
                .filter(|(w, _)| **w > 0.0)
                .map(|(&w, m)| (w, m))
                .collect();
            let mut mean = vec![0.0; n];
            for (w, m) in &parts {
                add_scaled(&mut mean, m, *w);
            }
            let mut variance = self.variance;
            let mut covariance = self.covariance;
            // Between-style spread: sum w_i d_i d_i^T with d_i = mu_i - mu.
            for (w, m) in &parts {
                let d: Vec<f64> = m.iter().zip(&mean).map(|(a, b)| a - b).collect();
                if needs.variance {
                    variance
                        .iter_mut()
                        .zip(&d)
                        .for_each(|(v, x)| *v += w * x * x);
                }
                if needs.covariance {
                    for r in 0..n {
                        for c in 0..n {
                            covariance[r * n + c] += w * d[r] * d[c];
                        }
                    }
                }
            }
            Mixture {
                channels: n,
                mean,
                gram: self.gram,
                variance,
                covariance,
            }
        });
        Ok(Blended {
            mixture,
            pooled: self.pooled,
        })
    }
}

/// `acc += w * v` (`acc` starts empty: the first call sizes it).
fn add_scaled(acc: &mut Vec<f64>, v: &[f64], w: f64) {
    if acc.is_empty() {
        acc.resize(v.len(), 0.0);
    }
    acc.iter_mut().zip(v).for_each(|(a, b)| *a += w * b);
}

impl Blended {
    /// The mixture's moments (if a moment method was prepared).
    pub fn mixture(&self) -> Option<&Mixture> {
        self.mixture.as_ref()
    }

    /// The pooled sample (if a sample method was prepared).
    pub fn pooled(&self) -> Option<&FeatureMap> {
        self.pooled.as_ref()
    }

    /// `method`'s loss at `layer` with the blended target.
    pub fn build(
        &self,
        method: Method,
        layer: Layer,
        opts: &LossOptions,
    ) -> Result<Box<dyn LayerLoss>> {
        let missing = || Error::Shape(format!("the blend was not prepared for {method}"));
        match &method.info().blend {
            Blend::Moments { build, .. } => build(self.mixture.as_ref().ok_or_else(missing)?, opts),
            Blend::Pooled => method.build(self.pooled.as_ref().ok_or_else(missing)?, layer, opts),
        }
    }
}
