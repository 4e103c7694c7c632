//! Style and content losses: the paper's Sec. 3.
//!
//! Every loss is per layer, sees the generated image's features `F` (N channels x M
//! positions, each position one sample) and owns its target statistics computed once from
//! the style (or content) features. Means over positions normalise each image separately,
//! so style and generated images may differ in size; with equal sizes the values are
//! exactly the paper's equations.
//!
//! | method         | file          | equation                                   |
//! |----------------|---------------|--------------------------------------------|
//! | content        | `content.rs`  | Eq. 4                                      |
//! | `gram`         | `gram.rs`     | Eq. 6-7 (= MMD^2 / 4N^2 with (x^T y)^2, Eq. 9) |
//! | `mmd-linear`   | `mmd.rs`      | Eq. 2/10, linear kernel                    |
//! | `mmd-poly`     | `mmd.rs`      | Eq. 2/8/10, (x^T y + c)^2                  |
//! | `mmd-gaussian` | `mmd.rs`      | Eq. 10, Gaussian kernel, linear-time unbiased estimator |
//! | `bn`           | `bn.rs`       | Eq. 11-12                                  |
//! | `coral`        | `coral.rs`    | ||C_F - C_S||_F^2 / 4N^2 of the population covariances (CORAL) |
//! | `w2`           | `w2.rs`       | W2^2 of the fitted Gaussians, `dmu^2 + tr C_F + tr C_S - 2 tr (C_S^1/2 C_F C_S^1/2)^1/2` |
//! | `sliced-wasserstein` | `sliced_wasserstein.rs` | mean over K random unit directions of the 1-D W2^2 of the projections |
//! | `tv` (image)   | `tv.rs`       | total variation (not in the paper)         |
//!
//! The last four are not in the paper; the first three are further distribution alignments
//! in its sense: centred second moments (CORAL), optimal transport between the fitted
//! Gaussians (W2), and the whole 1-D marginals along random directions (sliced W2).
//!
//! The methods' names, constructors and memory needs are listed once, in `registry.rs`.
//! Several style images blend into one target per method and layer (`blend.rs`).

pub mod blend;
pub mod bn;
pub mod content;
pub mod coral;
pub mod gram;
pub mod mmd;
pub mod moments;
pub mod registry;
pub mod sliced_wasserstein;
pub mod stats;
pub mod tiled;
pub mod tv;
pub mod w2;

use crate::tensor::FeatureMap;
use crate::vgg::Layer;
use crate::{Error, Result};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

pub use bn::BnLoss;
pub use content::ContentLoss;
pub use coral::CoralLoss;
pub use gram::GramLoss;
pub use mmd::{GaussianMmd, GaussianMmdExact, LinearMmd, PolyMmd};
pub use registry::{Method, MethodInfo};
pub use sliced_wasserstein::SlicedWassersteinLoss;
pub use tv::TotalVariation;
pub use w2::GaussianW2Loss;

/// A loss on one layer's features: raw value (no weights, no beta') and its gradient.
pub trait LayerLoss: Send + Sync {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)>;
    /// Draws new random choices (the Gaussian pairing) for the next evaluations.
    fn resample(&mut self, _generated_positions: usize, _rng: &mut ChaCha8Rng) {}
    /// Whether [`LayerLoss::resample`] changes the function.
    fn is_stochastic(&self) -> bool {
        false
    }
    /// The loss evaluated tile by tile ([`tiled`]): an accumulator for one pass over the
    /// generated image's tiles. `None`: this loss needs the whole map at once.
    fn tiled(&self) -> Option<Box<dyn tiled::TileSums + '_>> {
        None
    }
}

/// A loss on the image being optimised itself (`3 x height x width`, network space): raw
/// value and gradient with respect to every pixel value.
pub trait ImageLoss: Send + Sync {
    fn loss_and_grad(&self, x: &[f32], height: usize, width: usize) -> Result<(f64, Vec<f32>)>;
}

pub(crate) fn check_channels(name: &str, f: &FeatureMap, n: usize) -> Result<()> {
    check_channel_count(name, f.channels, n)
}

pub(crate) fn check_channel_count(name: &str, channels: usize, n: usize) -> Result<()> {
    if channels != n {
        return Err(Error::Shape(format!(
            "{name}: generated features have {channels} channels, style has {n}"
        )));
    }
    Ok(())
}

/// Options of the individual losses.
#[derive(Clone, Debug, PartialEq)]
pub struct LossOptions {
    /// `c` of the polynomial kernel `(x^T y + c)^2` (0 = Gram).
    pub poly_c: f64,
    /// Multiplier of the Gaussian bandwidth chosen from the sampled pairs.
    pub gaussian_sigma2_scale: f64,
    /// If set, use the exact quadratic-time Gaussian estimator with this sigma^2.
    pub gaussian_exact_sigma2: Option<f64>,
    /// Directions per layer for sliced Wasserstein (default: the layer's channel count).
    pub swd_projections: Option<usize>,
    /// Fixed sliced-Wasserstein directions: `DIR/relu1_1.npy`, ... (`[K, N]`, used as given).
    pub swd_directions: Option<PathBuf>,
}

impl Default for LossOptions {
    fn default() -> Self {
        LossOptions {
            poly_c: 0.0,
            gaussian_sigma2_scale: 1.0,
            gaussian_exact_sigma2: None,
            swd_projections: None,
            swd_directions: None,
        }
    }
}

/// One method or a fusion of several with blend weights `b_m` that sum to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct StyleSpec {
    pub terms: Vec<(Method, f64)>,
}

impl StyleSpec {
    pub fn single(m: Method) -> Self {
        StyleSpec {
            terms: vec![(m, 1.0)],
        }
    }
    pub fn methods(&self) -> Vec<Method> {
        self.terms.iter().map(|t| t.0).collect()
    }
}

impl std::str::FromStr for StyleSpec {
    type Err = Error;
    /// `gram`, or a fusion `mmd-linear:0.5,mmd-gaussian:0.5` (weights normalised to sum 1;
    /// a method without `:w` weighs 1).
    fn from_str(s: &str) -> Result<Self> {
        let mut terms: Vec<(Method, f64)> = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, w) = match part.split_once(':') {
                Some((n, w)) => (n, parse_weight(w, "style loss blend weight")?),
                None => (part, 1.0),
            };
            let m: Method = name.parse()?;
            if terms.iter().any(|t| t.0 == m) {
                return Err(Error::option(format!("style loss '{m}' is listed twice")));
            }
            terms.push((m, w));
        }
        if terms.is_empty() {
            return Err(Error::option("empty style loss specification"));
        }
        let total: f64 = terms.iter().map(|t| t.1).sum();
        if total <= 0.0 {
            return Err(Error::option(
                "style loss blend weights must not all be zero",
            ));
        }
        terms.iter_mut().for_each(|t| t.1 /= total);
        Ok(StyleSpec { terms })
    }
}

impl std::fmt::Display for StyleSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.terms.iter().map(|(m, w)| format!("{m}:{w}")).collect();
        f.write_str(&parts.join(","))
    }
}

fn parse_weight(s: &str, what: &str) -> Result<f64> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| Error::option(format!("invalid {what} '{s}' (expected a number)")))?;
    if !(v >= 0.0 && v.is_finite()) {
        return Err(Error::option(format!(
            "invalid {what} '{s}' (must be finite and >= 0)"
        )));
    }
    Ok(v)
}

/// Parses `relu1_1,relu2_1:0.5,...` into layers with per-layer weights `w_l` (default 1).
pub fn parse_layer_weights(s: &str) -> Result<Vec<(Layer, f64)>> {
    let mut out: Vec<(Layer, f64)> = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, w) = match part.split_once(':') {
            Some((n, w)) => (n, parse_weight(w, "layer weight")?),
            None => (part, 1.0),
        };
        let l: Layer = name.trim().parse()?;
        if out.iter().any(|o| o.0 == l) {
            return Err(Error::option(format!("layer '{l}' is listed twice")));
        }
        out.push((l, w));
    }
    if out.is_empty() {
        return Err(Error::option("no style layers given"));
    }
    Ok(out)
}
