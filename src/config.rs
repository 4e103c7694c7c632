//! What one optimisation means: the objective's terms and balance (Eq. 3, beta = gamma
//! beta'), the optimiser and its stopping rule. Defaults are the paper's where it has one.
//! [`crate::run::JobSpec`] adds what a whole job needs (images, sizes, stages, backend).

use crate::loss::{LossOptions, Method, StyleSpec};
use crate::optim::OptimizerKind;
use crate::tensor::InputImage;
use crate::vgg::Layer;
use crate::{Error, Result};

/// Iterations over which [`StyleConfig::min_progress`] is measured.
pub const PROGRESS_WINDOW: usize = 20;

/// Where one optimisation starts (a job's first stage: [`crate::run::InitSpec`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Seeded uniform white noise over the whole pixel range.
    Noise,
    /// The content image.
    Content,
    /// A given image (already at the output size).
    Image(InputImage),
}

/// Everything that defines one optimisation at one size.
#[derive(Clone, Debug)]
pub struct StyleConfig {
    pub style: StyleSpec,
    /// Style layers with weights `w_l` (default relu1_1..relu5_1, all 1).
    pub style_layers: Vec<(Layer, f64)>,
    /// Content layer (default relu4_2).
    pub content_layer: Layer,
    /// alpha (default 1).
    pub content_weight: f64,
    /// gamma, the balance factor (default 5, the authors' default).
    pub style_weight: f64,
    /// Weight of the total-variation term, balanced like a style method (0: no term).
    pub tv_weight: f64,
    /// beta' given by hand, per method; others follow the rule in [`crate::objective`].
    pub beta_prime: Vec<(Method, f64)>,
    pub loss: LossOptions,
    pub iterations: usize,
    /// Stop when `|x_t - x_{t-1}| / |x_t| < tol` (the paper's rule, 0.005; 0: off).
    pub tol: f64,
    /// Stop when the objective fell by less than this fraction over the last
    /// [`PROGRESS_WINDOW`] iterations (0: off). See [`StyleConfig::converged`].
    pub min_progress: f64,
    pub optimizer: OptimizerKind,
    pub seed: u64,
    /// Evaluate the objective tile by tile with cores of this many px (a multiple of 16;
    /// [`crate::objective::tiling`]): the same function, computed in the memory of one
    /// tile's activations. `None`: the whole image at once. The job's plan chooses it.
    pub tile: Option<usize>,
}

impl Default for StyleConfig {
    fn default() -> Self {
        StyleConfig {
            style: StyleSpec::single(Method::Gram),
            style_layers: Layer::default_style()
                .into_iter()
                .map(|l| (l, 1.0))
                .collect(),
            content_layer: Layer::default_content(),
            content_weight: 1.0,
            style_weight: 5.0,
            tv_weight: 0.0,
            beta_prime: Vec::new(),
            loss: LossOptions::default(),
            iterations: 500,
            tol: 0.005,
            min_progress: 0.0,
            optimizer: OptimizerKind::Lbfgs { history: 20 },
            seed: 0,
            tile: None,
        }
    }
}

impl StyleConfig {
    /// Checks for impossible values before any work starts.
    pub fn validate(&self) -> Result<()> {
        finite_nonneg(self.content_weight, "content-weight")?;
        finite_nonneg(self.style_weight, "style-weight")?;
        finite_nonneg(self.tv_weight, "tv-weight")?;
        finite_nonneg(self.tol, "tol")?;
        finite_nonneg(self.min_progress, "min-progress")?;
        if self.iterations == 0 {
            return Err(Error::invalid("iterations", "must be at least 1"));
        }
        if self.style_layers.is_empty() {
            return Err(Error::invalid("style-layers", "gives no layers"));
        }
        for (m, b) in &self.beta_prime {
            if !(b.is_finite() && *b > 0.0) {
                return Err(Error::invalid(
                    "beta-prime",
                    format!("for {m} must be positive, got {b}"),
                ));
            }
        }
        if let Some(core) = self.tile {
            if core == 0 || !core.is_multiple_of(crate::objective::tiling::TILE_ALIGN) {
                return Err(Error::invalid(
                    "tile",
                    format!("must be a positive multiple of 16 px, got {core}"),
                ));
            }
        }
        if self.loss.swd_projections == Some(0) {
            return Err(Error::invalid("swd-projections", "must be at least 1"));
        }
        let s2 = self.loss.gaussian_sigma2_scale;
        if !(s2.is_finite() && s2 > 0.0) {
            return Err(Error::invalid("gaussian-sigma2-scale", "must be positive"));
        }
        match self.optimizer {
            OptimizerKind::Adam { lr } if !(lr.is_finite() && lr > 0.0) => {
                Err(Error::invalid("lr", "must be positive"))
            }
            OptimizerKind::Lbfgs { history: 0 } => {
                Err(Error::invalid("history", "must be at least 1"))
            }
            _ => Ok(()),
        }
    }

    /// The stopping rules after an iteration, given the objective's values so far (one
    /// per iteration) and the step's relative change: the paper's rule on the image
    /// (`tol`), or too little progress of the objective over a window (`min_progress`).
    /// The window rule exists because L-BFGS steps become small long before the picture
    /// stops improving: on the default pictures the paper's 0.005 stopped runs after 32-53
    /// iterations while the objective was still falling by several percent per ten
    /// iterations (docs/QUALITY.md).
    pub fn converged(&self, objective: &[f64], relative_change: f64) -> bool {
        if relative_change < self.tol {
            return true;
        }
        let t = objective.len();
        if self.min_progress <= 0.0 || t <= PROGRESS_WINDOW {
            return false;
        }
        let (then, now) = (objective[t - 1 - PROGRESS_WINDOW], objective[t - 1]);
        then - now < self.min_progress * now.abs()
    }

    /// The deepest layer any term reads (the forward pass stops there).
    pub fn deepest_layer(&self) -> Layer {
        self.style_layers
            .iter()
            .map(|l| l.0)
            .fold(self.content_layer, Layer::max)
    }
}

fn finite_nonneg(v: f64, option: &'static str) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            option,
            format!("must be a finite number >= 0, got {v}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(tol: f64, min_progress: f64) -> StyleConfig {
        StyleConfig {
            tol,
            min_progress,
            ..StyleConfig::default()
        }
    }

    #[test]
    fn the_window_rule_waits_for_a_full_window_then_compares_its_ends() {
        let c = cfg(0.0, 0.01);
        // Flat from the start: not before the window is full, then at once.
        let flat = vec![100.0; PROGRESS_WINDOW + 1];
        assert!(!c.converged(&flat[..PROGRESS_WINDOW], 1.0));
        assert!(c.converged(&flat, 1.0));
        // 2% over the window keeps going; 0.5% stops.
        let mut falling = vec![102.0; PROGRESS_WINDOW + 1];
        *falling.last_mut().unwrap() = 100.0;
        assert!(!c.converged(&falling, 1.0));
        *falling.last_mut().unwrap() = 101.5;
        assert!(c.converged(&falling, 1.0));
    }

    #[test]
    fn the_papers_rule_and_the_window_rule_are_independent_and_zero_turns_them_off() {
        let flat = vec![100.0; 50];
        assert!(cfg(0.005, 0.0).converged(&flat[..2], 0.001));
        assert!(!cfg(0.005, 0.0).converged(&flat, 0.01));
        assert!(!cfg(0.0, 0.0).converged(&flat, 0.0));
    }
}
