//! The style-loss methods, one entry each: name, aliases, equation, constructor, and the
//! memory a loss holds. Parsing, `--help`, `losses` output, the memory estimate and the
//! tests all follow from this table, so adding a method is its file plus one entry here.
//!
//! Each entry also says how several style images blend for the method (`blend`, see
//! [`super::blend`]): by mixing exact moments into a target (`Blend::Moments`, with a
//! constructor from statistics) or by one pooled sample of the mixture given to the
//! method's usual constructor (`Blend::Pooled`). The objective builds a single style with
//! `build` and several with [`super::blend::Blended::build`].

use super::blend::{Blend, Needs};
use super::{
    BnLoss, CoralLoss, GaussianMmd, GaussianMmdExact, GaussianW2Loss, GramLoss, LayerLoss,
    LinearMmd, LossOptions, PolyMmd, SlicedWassersteinLoss,
};
use crate::image_io::read_npy;
use crate::tensor::FeatureMap;
use crate::vgg::Layer;
use crate::{Error, Result};

/// What the registry knows about one method.
pub struct MethodInfo {
    /// Canonical name, as written in `--style-loss` and in every report.
    pub name: &'static str,
    /// Other accepted spellings (the paper's short names).
    pub aliases: &'static [&'static str],
    /// Where the method comes from, for `--help` and the docs.
    pub summary: &'static str,
    /// Builds the loss at a layer with targets from the style features there.
    pub build: fn(&FeatureMap, Layer, &LossOptions) -> Result<Box<dyn LayerLoss>>,
    /// Bytes the loss holds beyond its gradient, for `n` channels, `m` generated and `ms`
    /// style positions (statistics, or the samples a stochastic loss keeps).
    pub memory: fn(n: usize, m: usize, ms: usize) -> usize,
    /// How the targets of several style images mix.
    pub blend: Blend,
    /// Multiplies the beta' rule's value (not a beta' given by hand): methods differ in
    /// how hard equal gradients at the noise probe pull towards the painting, so this puts
    /// each method's default picture at about Gram's point between photo and painting at
    /// the same gamma. 1 except where measured otherwise (docs/QUALITY.md, "Every method").
    pub balance: f64,
}

/// Two `n x n` f64 matrices: the target statistics and one working copy.
fn two_f64_matrices(n: usize, _m: usize, _ms: usize) -> usize {
    8 * n * n * 2
}

macro_rules! methods {
    ($($variant:ident => $info:expr,)+) => {
        /// A style-loss method (the paper's *poly*, *linear*, *Gaussian*, *BN*, and Gatys'
        /// Gram). A plain id: what it means lives in its [`MethodInfo`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Method {
            $($variant,)+
        }

        impl Method {
            /// Every method, in registry order.
            pub const ALL: &'static [Method] = &[$(Method::$variant,)+];

            /// The method's registry entry.
            pub fn info(self) -> &'static MethodInfo {
                match self {
                    $(Method::$variant => &$info,)+
                }
            }
        }
    };
}

methods! {
    Gram => MethodInfo {
        name: "gram",
        aliases: &["gatys"],
        summary: "Gatys et al.'s Gram matrices, Eq. 6-7 (= MMD^2/4N^2 with (x^T y)^2, Eq. 9)",
        build: |s, _, _| Ok(Box::new(GramLoss::new(s))),
        memory: two_f64_matrices,
        blend: Blend::Moments {
            needs: Needs::GRAM,
            build: |m, _| Ok(Box::new(GramLoss::from_target(m.gram.clone(), m.channels)?)),
        },
        balance: 1.0,
    },
    MmdLinear => MethodInfo {
        name: "mmd-linear",
        aliases: &["linear"],
        summary: "MMD^2 with the linear kernel x^T y, Eq. 10: matches feature means",
        build: |s, _, _| Ok(Box::new(LinearMmd::new(s))),
        memory: two_f64_matrices,
        blend: Blend::Moments {
            needs: Needs::MEAN,
            build: |m, _| Ok(Box::new(LinearMmd::from_mean(m.mean.clone()))),
        },
        balance: 1.0,
    },
    MmdPoly => MethodInfo {
        name: "mmd-poly",
        aliases: &["poly"],
        summary: "MMD^2 with the polynomial kernel (x^T y + c)^2, Eq. 8",
        build: |s, _, o| Ok(Box::new(PolyMmd::new(s, o.poly_c))),
        memory: two_f64_matrices,
        blend: Blend::Moments {
            needs: Needs::GRAM,
            build: |m, o| {
                Ok(Box::new(PolyMmd::from_moments(m.gram.clone(), m.mean.clone(), o.poly_c)?))
            },
        },
        balance: 1.0,
    },
    MmdGaussian => MethodInfo {
        name: "mmd-gaussian",
        aliases: &["gaussian"],
        summary: "MMD^2 with the Gaussian kernel, Eq. 10, linear-time unbiased estimator",
        build: |s, _, o| Ok(match o.gaussian_exact_sigma2 {
            Some(s2) => Box::new(GaussianMmdExact::new(s, Some(s2))?),
            None => Box::new(GaussianMmd::new(s, o.gaussian_sigma2_scale)),
        }),
        // f64 samples of the generated and style maps plus the f64 gradient; per sampled
        // pair its four indices and four squared distances.
        memory: |n, m, ms| 8 * n * (2 * m + ms) + 64 * super::mmd::sampled_pairs(m, ms),
        blend: Blend::Pooled,
        // Measured (one shuffle per step): at gamma 100 the unbiased estimator's noise (its
        // value goes negative) takes over and the picture is noise; at gamma 5 the cat stays.
        balance: 0.05,
    },
    Bn => MethodInfo {
        name: "bn",
        aliases: &[],
        summary: "BN statistics: per-channel mean and standard deviation, Eq. 11-12",
        build: |s, _, _| Ok(Box::new(BnLoss::new(s))),
        memory: two_f64_matrices,
        blend: Blend::Moments {
            needs: Needs::VARIANCE,
            build: |m, _| Ok(Box::new(BnLoss::from_moments(m.mean.clone(), m.variance.clone())?)),
        },
        balance: 1.0,
    },
    Coral => MethodInfo {
        name: "coral",
        aliases: &[],
        summary: "CORAL: ||C_F - C_S||_F^2 / 4N^2 of the population covariances",
        build: |s, _, _| Ok(Box::new(CoralLoss::new(s))),
        memory: two_f64_matrices,
        blend: Blend::Moments {
            needs: Needs::COVARIANCE,
            build: |m, _| Ok(Box::new(CoralLoss::from_cov(m.covariance.clone(), m.channels)?)),
        },
        // Measured: gamma 100 leaves only the painting (chelsea x starry night, 256 px);
        // gamma 5 keeps the cat as Gram and BN do at 100.
        balance: 0.05,
    },
    W2 => MethodInfo {
        name: "w2",
        aliases: &["gaussian-w2"],
        summary: "squared Wasserstein-2 distance between the fitted Gaussians (mean, covariance)",
        build: |s, _, _| Ok(Box::new(GaussianW2Loss::new(s))),
        // C_S^(1/2) and a few N x N f64 working matrices, plus the centred f64 features.
        memory: |n, m, _| 8 * n * n * 6 + 8 * n * m,
        // Moment matched: the Gaussian with the mixture's mean and covariance.
        blend: Blend::Moments {
            needs: Needs::COVARIANCE,
            build: |m, _| Ok(Box::new(GaussianW2Loss::from_moments(m.mean.clone(), &m.covariance)?)),
        },
        // Measured as for coral: its covariance term pulls as hard.
        balance: 0.05,
    },
    SlicedWasserstein => MethodInfo {
        name: "sliced-wasserstein",
        aliases: &["swd"],
        summary: "sliced Wasserstein: 1-D W2^2 of projections on K random directions (Heitz et al.)",
        build: sliced_wasserstein,
        // The style features (f32), its sorted projections and the generated ones (K = N).
        memory: |n, m, ms| 4 * n * ms * 2 + 4 * n * m * 2 + 4 * n * n,
        blend: Blend::Pooled,
        balance: 1.0,
    },
}

/// Fixed directions from `DIR/<layer>.npy` where given, else K random ones per step.
fn sliced_wasserstein(s: &FeatureMap, layer: Layer, o: &LossOptions) -> Result<Box<dyn LayerLoss>> {
    Ok(Box::new(match (&o.swd_directions, o.swd_projections) {
        (Some(dir), _) => {
            let path = dir.join(format!("{layer}.npy"));
            let (shape, d) = read_npy(&path)?;
            if shape.len() != 2 || shape[1] != s.channels || shape[0] == 0 {
                return Err(Error::Shape(format!(
                    "{}: directions must have shape [K, {}], found {shape:?}",
                    path.display(),
                    s.channels
                )));
            }
            SlicedWassersteinLoss::with_directions(s, &d)?
        }
        (None, Some(k)) => SlicedWassersteinLoss::with_count(s, k)?,
        (None, None) => SlicedWassersteinLoss::new(s),
    }))
}

impl Method {
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// `gram, mmd-linear, ... or bn`: the accepted names, for messages and `--help`.
    pub fn names_sentence() -> String {
        let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }

    /// Builds this method's loss at `layer` with targets from the style features `style`.
    pub fn build(
        self,
        style: &FeatureMap,
        layer: Layer,
        opts: &LossOptions,
    ) -> Result<Box<dyn LayerLoss>> {
        (self.info().build)(style, layer, opts)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.name() == s || m.info().aliases.contains(&s))
            .ok_or_else(|| {
                Error::option(format!(
                    "unknown style loss '{s}' (expected {})",
                    Method::names_sentence()
                ))
            })
    }
}

impl serde::Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
