//! The style-transfer objective, Eq. 3 with the paper's balance `beta = gamma * beta'`:
//!
//! total = alpha L_content + gamma sum_m b_m beta'_m sum_l w_l L_m^l + sum_r w_r beta'_r L_r
//!
//! made of [`Group`]s of [`Term`]s: the content loss, one group per style method (a fusion
//! has several), and image-space regularisers (total variation). The loop never looks
//! inside: it evaluates the objective and reads the [`Breakdown`].
//!
//! beta' and the optimiser's scale are set by [`Objective::calibrate`] (`calibrate.rs`).

mod calibrate;
mod inspect;
mod style;
pub mod term;
pub mod tiling;

pub use inspect::{inspect_losses, LossReport};
pub use term::{Breakdown, Group, GroupValue, Role, Tap, Term};

use crate::backend::FeatureNet;
use crate::config::StyleConfig;
use crate::loss::tiled::{TileGrad, TileSums};
use crate::loss::{ContentLoss, TotalVariation};
use crate::optim::Problem;
use crate::tensor::{FeatureMap, InputImage};
use crate::vgg::{Layer, MEAN_RGB};
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

/// The gradient one term produced: at its layer, in pixel space, or (tiled evaluation)
/// as its rule at its layer, applied tile by tile in the backward pass.
enum Grad {
    Layer(Layer, FeatureMap),
    Image(Vec<f32>),
    Rule(Layer, Box<dyn TileGrad>),
}

/// Loss values and gradients of every term at one point, `[group][term]`.
struct Parts(Vec<Vec<(f64, Grad)>>);

/// The objective over one image size: groups of terms, their balance, and the network.
pub struct Objective<'a> {
    net: &'a mut dyn FeatureNet,
    height: usize,
    width: usize,
    /// Every layer a term reads, ascending.
    layers: Vec<Layer>,
    groups: Vec<Group>,
    /// gamma, shared by the style groups.
    gamma: f64,
    scale: f64,
    /// Core edge of the tiles when evaluated tile by tile ([`tiling`]).
    tile: Option<usize>,
    /// The tile the network holds after the statistics pass, for the gradient pass to
    /// start with (once: its backward pass consumes the activations).
    held: Option<tiling::Held>,
    rng: ChaCha8Rng,
    /// Breakdown at the last evaluated point.
    pub last: Breakdown,
}

/// The seeded white-noise image (uniform over 0..255 per value) that is both the default
/// initialisation and the probe for beta'.
pub fn noise_image(h: usize, w: usize, seed: u64) -> InputImage {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = h * w;
    let mut data = vec![0.0f32; 3 * n];
    for c in 0..3 {
        for v in &mut data[c * n..(c + 1) * n] {
            *v = rng.gen_range(0.0f32..255.0) - MEAN_RGB[c];
        }
    }
    InputImage {
        height: h,
        width: w,
        data,
    }
}

impl<'a> Objective<'a> {
    /// Builds the groups with targets from the content and style images; `(height, width)`
    /// is the size of the image being optimised. beta' and the scale are set by
    /// [`Objective::calibrate`].
    pub fn new(
        net: &'a mut dyn FeatureNet,
        content: Option<&InputImage>,
        style: &InputImage,
        height: usize,
        width: usize,
        cfg: &StyleConfig,
    ) -> Result<Self> {
        Self::blended(net, content, &[(style, 1.0)], height, width, cfg)
    }

    /// [`Objective::new`] with several style images and their blend weights (relative;
    /// see [`crate::loss::blend`] for what the blend means per method). One style of
    /// positive weight is exactly [`Objective::new`].
    pub fn blended(
        net: &'a mut dyn FeatureNet,
        content: Option<&InputImage>,
        styles: &[(&InputImage, f64)],
        height: usize,
        width: usize,
        cfg: &StyleConfig,
    ) -> Result<Self> {
        let mut groups = Vec::new();
        if let Some(c) = content.filter(|_| cfg.content_weight > 0.0) {
            groups.push(content_group(net, c, (height, width), cfg)?);
        }
        groups.extend(style::style_groups(net, styles, cfg)?);
        if cfg.tv_weight > 0.0 {
            groups.push(Group {
                role: Role::Regularizer("tv"),
                weight: cfg.tv_weight,
                beta_prime: f64::NAN,
                terms: vec![Term::Image {
                    loss: Box::new(TotalVariation),
                }],
            });
        }
        let mut layers: Vec<Layer> = groups
            .iter()
            .flat_map(|g| &g.terms)
            .filter_map(|t| match t.tap() {
                Tap::Layer(l) => Some(l),
                Tap::Image => None,
            })
            .collect();
        layers.sort();
        layers.dedup();
        let mut obj = Objective {
            net,
            height,
            width,
            layers,
            groups,
            gamma: cfg.style_weight,
            scale: 1.0,
            tile: cfg.tile,
            held: None,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_6a55),
            last: Breakdown::default(),
        };
        obj.resample();
        Ok(obj)
    }

    /// Draws new random choices for every stochastic term (the Gaussian MMD's pairing).
    fn resample(&mut self) -> bool {
        let (h, w) = (self.height, self.width);
        let mut any = false;
        for term in self.groups.iter_mut().flat_map(|g| &mut g.terms) {
            if let Term::Layer { layer, loss, .. } = term {
                if loss.is_stochastic() {
                    let (lh, lw) = layer.spatial(h, w);
                    loss.resample(lh * lw, &mut self.rng);
                    any = true;
                }
            }
        }
        any
    }

    /// beta' of every balanced group (style methods, regularisers), after calibration.
    pub fn beta_primes(&self) -> Vec<(Role, f64)> {
        self.groups
            .iter()
            .filter(|g| g.is_balanced())
            .map(|g| (g.role, g.beta_prime))
            .collect()
    }

    /// The optimiser's scale factor `s`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Losses and gradients at `x`. Features are copied out of the network one layer at a
    /// time and dropped once that layer's losses are done, so at most one copy is alive
    /// (at 3840x2160, relu1_1's copy alone is 2 GB).
    fn parts(&mut self, x: &[f32]) -> Result<Parts> {
        if let Some(core) = self.tile {
            return self.tiled_parts(x, core);
        }
        let mut slots: Vec<Vec<Option<(f64, Grad)>>> = self
            .groups
            .iter()
            .map(|g| g.terms.iter().map(|_| None).collect())
            .collect();
        if let Some(&deepest) = self.layers.last() {
            self.held = None;
            self.net.run(x, self.height, self.width, deepest)?;
        }
        for &layer in &self.layers {
            let f = self.net.features(layer)?;
            for (g, slots) in self.groups.iter().zip(&mut slots) {
                for (t, slot) in g.terms.iter().zip(slots.iter_mut()) {
                    if let Term::Layer { layer: l, loss, .. } = t {
                        if *l == layer {
                            let (v, grad) = loss.loss_and_grad(&f)?;
                            *slot = Some((v, Grad::Layer(layer, grad)));
                        }
                    }
                }
            }
        }
        for (g, slots) in self.groups.iter().zip(&mut slots) {
            for (t, slot) in g.terms.iter().zip(slots.iter_mut()) {
                if let Term::Image { loss } = t {
                    let (v, grad) = loss.loss_and_grad(x, self.height, self.width)?;
                    *slot = Some((v, Grad::Image(grad)));
                }
            }
        }
        Ok(Parts(
            slots
                .into_iter()
                .map(|v| {
                    v.into_iter()
                        .map(|s| s.expect("every term is evaluated"))
                        .collect()
                })
                .collect(),
        ))
    }

    /// [`Objective::parts`] by the statistics pass of the tiled evaluation: values, and
    /// each layer term's gradient as its rule.
    fn tiled_parts(&mut self, x: &[f32], core: usize) -> Result<Parts> {
        let (h, w) = (self.height, self.width);
        let Objective {
            net, groups, held, ..
        } = self;
        let mut sums: Vec<(Layer, Box<dyn TileSums + '_>)> = Vec::new();
        for t in groups.iter().flat_map(|g| &g.terms) {
            if let Term::Layer { layer, loss, .. } = t {
                let s = loss.tiled().ok_or_else(|| {
                    Error::invalid(
                        "tile",
                        "is not available for the exact quadratic-time Gaussian MMD (use --tile off)",
                    )
                })?;
                sums.push((*layer, s));
            }
        }
        *held = tiling::accumulate(&mut **net, x, (h, w), core, &mut sums)?;
        let mut finished = sums.into_iter();
        let mut parts = Vec::with_capacity(groups.len());
        for g in groups.iter() {
            let mut vals = Vec::with_capacity(g.terms.len());
            for t in &g.terms {
                vals.push(match t {
                    Term::Layer { layer, .. } => {
                        let (_, s) = finished.next().expect("one sum per layer term");
                        let (v, rule) = s.finish()?;
                        (v, Grad::Rule(*layer, rule))
                    }
                    Term::Image { loss } => {
                        let (v, grad) = loss.loss_and_grad(x, h, w)?;
                        (v, Grad::Image(grad))
                    }
                });
            }
            parts.push(vals);
        }
        Ok(Parts(parts))
    }

    /// Input gradient of `sum_g coefs[g] sum_t w_t L_t`. The parts are scaled in place and
    /// become their layer's sum, so no feature map is copied (calibration hands each group
    /// its own gradients, see `calibrate.rs`).
    fn backward(&mut self, x: &[f32], parts: Parts, coefs: &[f64]) -> Result<Vec<f32>> {
        let mut per_layer: BTreeMap<Layer, FeatureMap> = BTreeMap::new();
        let mut rules: Vec<(Layer, f32, Box<dyn TileGrad>)> = Vec::new();
        let mut image: Option<Vec<f32>> = None;
        for ((group, coef), grads) in self.groups.iter().zip(coefs).zip(parts.0) {
            for (term, (_, grad)) in group.terms.iter().zip(grads) {
                let k = coef * term.weight();
                if k == 0.0 {
                    continue;
                }
                let k = k as f32;
                match grad {
                    Grad::Layer(l, g) => accumulate_layer(&mut per_layer, l, g, k),
                    Grad::Image(g) => accumulate(&mut image, g, k),
                    Grad::Rule(l, r) => rules.push((l, k, r)),
                }
            }
        }
        let mut grad = if let (false, Some(core)) = (rules.is_empty(), self.tile) {
            let rules: Vec<(Layer, f32, &dyn TileGrad)> =
                rules.iter().map(|(l, k, r)| (*l, *k, &**r)).collect();
            let size = (self.height, self.width);
            let held = self.held.take();
            tiling::gradient(&mut *self.net, x, size, core, &rules, held)?
        } else if per_layer.is_empty() {
            vec![0.0; 3 * self.height * self.width]
        } else {
            let grads: Vec<(Layer, &FeatureMap)> = per_layer.iter().map(|(l, g)| (*l, g)).collect();
            self.net.input_gradient(&grads)?
        };
        if let Some(img) = image {
            grad.iter_mut().zip(&img).for_each(|(a, b)| *a += b);
        }
        Ok(grad)
    }

    fn breakdown(&self, parts: &Parts) -> Breakdown {
        let groups: Vec<GroupValue> = self
            .groups
            .iter()
            .zip(&parts.0)
            .map(|(g, vals)| GroupValue {
                role: g.role,
                value: g
                    .terms
                    .iter()
                    .zip(vals)
                    .map(|(t, v)| t.weight() * v.0)
                    .sum(),
                terms: g
                    .terms
                    .iter()
                    .zip(vals)
                    .map(|(t, v)| (t.tap(), v.0))
                    .collect(),
            })
            .collect();
        let mut content = 0.0;
        let mut alpha = 0.0;
        let mut style = Vec::new();
        let mut regularizers = Vec::new();
        for (g, v) in self.groups.iter().zip(&groups) {
            match g.role {
                Role::Content => (alpha, content) = (g.weight, v.value),
                Role::Style(_) => style.push(g.weight * g.beta_prime * v.value),
                Role::Regularizer(_) => regularizers.push(g.weight * g.beta_prime * v.value),
            }
        }
        // The order of these sums is the one reported values have always had.
        let mut total = alpha * content + self.gamma * style.iter().sum::<f64>();
        if !regularizers.is_empty() {
            total += regularizers.iter().sum::<f64>();
        }
        Breakdown { groups, total }
    }

    /// Every group's coefficient times the scale: what the optimiser's gradient weighs.
    fn coefficients(&self) -> Vec<f64> {
        self.groups
            .iter()
            .map(|g| g.coefficient(self.gamma) * self.scale)
            .collect()
    }
}

impl Problem for Objective<'_> {
    fn evaluate(&mut self, x: &[f32]) -> Result<(f64, Vec<f32>)> {
        let parts = self.parts(x)?;
        let coefs = self.coefficients();
        self.last = self.breakdown(&parts);
        let grad = self.backward(x, parts, &coefs)?;
        Ok((self.last.total * self.scale, grad))
    }

    fn begin_step(&mut self) -> bool {
        self.resample()
    }
}

/// The content group: Eq. 4 at the content layer, targets from `content`.
fn content_group(
    net: &mut dyn FeatureNet,
    content: &InputImage,
    (height, width): (usize, usize),
    cfg: &StyleConfig,
) -> Result<Group> {
    if (content.height, content.width) != (height, width) {
        return Err(Error::Shape(format!(
            "content image is {}x{}, output is {width}x{height}",
            content.width, content.height
        )));
    }
    let layer = cfg.content_layer;
    let p = match cfg.tile {
        Some(core) => tiling::tiled_features(net, &content.data, (height, width), core, &[layer])?,
        None => net.forward(&content.data, content.height, content.width, &[layer])?,
    }
    .remove(0);
    Ok(Group {
        role: Role::Content,
        weight: cfg.content_weight,
        beta_prime: 1.0,
        terms: vec![Term::Layer {
            layer,
            weight: 1.0,
            loss: Box::new(ContentLoss::new(p)),
        }],
    })
}

/// Adds `k * g` to the sum at `layer` (the first contribution is scaled in place).
fn accumulate_layer(
    per_layer: &mut BTreeMap<Layer, FeatureMap>,
    layer: Layer,
    mut g: FeatureMap,
    k: f32,
) {
    match per_layer.entry(layer) {
        Entry::Vacant(e) => {
            g.data.iter_mut().for_each(|v| *v *= k);
            e.insert(g);
        }
        Entry::Occupied(mut e) => e
            .get_mut()
            .data
            .iter_mut()
            .zip(&g.data)
            .for_each(|(a, b)| *a += k * b),
    }
}

/// Adds `k * g` to an image-space sum.
fn accumulate(sum: &mut Option<Vec<f32>>, mut g: Vec<f32>, k: f32) {
    match sum {
        None => {
            g.iter_mut().for_each(|v| *v *= k);
            *sum = Some(g);
        }
        Some(s) => s.iter_mut().zip(&g).for_each(|(a, b)| *a += k * b),
    }
}
