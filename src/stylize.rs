//! The style-transfer objective and its optimisation loop: Eq. 3 with the paper's balance
//! `beta = gamma * beta'`, fusion of several methods, and style reconstruction (alpha = 0).
//!
//! total = alpha * L_content + gamma * sum_m b_m * beta'_m * sum_l w_l * L_m^l
//!
//! **beta' rule** (the paper picks beta' by hand "such that the gradients on x* from the style
//! loss are of the same order of magnitudes as those from the content loss"): at a probe
//! image — seeded white noise, whatever the initialisation, so that neither gradient vanishes
//! — `beta'_m = |grad L_content| / |grad sum_l w_l L_m^l|`. Without a content term,
//! `beta'_m = 1 / |grad sum_l w_l L_m^l|`. Values given by the user replace the rule.
//!
//! **Scale**: the optimiser sees `total * s` with `s` chosen so that the gradient at the
//! probe has an RMS of 1 per pixel value; reported losses are the raw, unscaled values.

use crate::engine::FeatureNet;
use crate::loss::{style_loss, ContentLoss, LayerLoss, LossOptions, Method, StyleSpec};
use crate::optim::{norm, OptimizerKind, Problem};
use crate::tensor::{FeatureMap, InputImage};
use crate::vgg::{Layer, MEAN_RGB};
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Where the optimisation starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Seeded uniform white noise over the whole pixel range.
    Noise,
    /// The content image.
    Content,
    /// A given image (already at the output size).
    Image(InputImage),
}

/// Everything that defines a run. Defaults are the paper's where it has one.
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
    /// beta' given by hand, per method; others follow the rule above.
    pub beta_prime: Vec<(Method, f64)>,
    pub loss: LossOptions,
    pub iterations: usize,
    /// Stop when `|x_t - x_{t-1}| / |x_t| < tol` (paper: 0.005).
    pub tol: f64,
    pub optimizer: OptimizerKind,
    pub init: Init,
    pub seed: u64,
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
            beta_prime: Vec::new(),
            loss: LossOptions::default(),
            iterations: 500,
            tol: 0.005,
            optimizer: OptimizerKind::Lbfgs { history: 20 },
            init: Init::Noise,
            seed: 0,
        }
    }
}

/// Raw loss values at one point: `L_content` and, per method, `sum_l w_l L_m^l`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Breakdown {
    pub content: Option<f64>,
    pub style: Vec<(Method, f64)>,
    /// `alpha L_c + gamma sum_m b_m beta'_m L_m` (unscaled).
    pub total: f64,
}

struct StyleTerm {
    method: Method,
    blend: f64,
    beta_prime: f64,
    losses: Vec<(Layer, f64, Box<dyn LayerLoss>)>,
}

/// Loss values and feature gradients of every term at one point.
struct Parts {
    content: Option<(f64, FeatureMap)>,
    style: Vec<Vec<(f64, FeatureMap)>>,
}

/// [`Parts`] given away (evaluation) or lent (calibration, which reuses them).
enum PartsRef<'p> {
    Owned(Parts),
    Borrowed(&'p Parts),
}

impl From<Parts> for PartsRef<'_> {
    fn from(p: Parts) -> Self {
        PartsRef::Owned(p)
    }
}

impl<'p> From<&'p Parts> for PartsRef<'p> {
    fn from(p: &'p Parts) -> Self {
        PartsRef::Borrowed(p)
    }
}

/// The objective over one image size: targets, weights, and the network.
pub struct Objective<'a> {
    net: &'a mut dyn FeatureNet,
    height: usize,
    width: usize,
    layers: Vec<Layer>,
    content: Option<(Layer, ContentLoss)>,
    alpha: f64,
    terms: Vec<StyleTerm>,
    gamma: f64,
    scale: f64,
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
    InputImage::new(h, w, data)
}

impl<'a> Objective<'a> {
    /// Builds targets from the content and style images; `(height, width)` is the size of
    /// the image being optimised. beta' and the scale are set by [`Objective::calibrate`].
    pub fn new(
        net: &'a mut dyn FeatureNet,
        content: Option<&InputImage>,
        style: &InputImage,
        height: usize,
        width: usize,
        cfg: &StyleConfig,
    ) -> Result<Self> {
        let use_content = content.is_some() && cfg.content_weight > 0.0;
        let style_layers: Vec<Layer> = cfg.style_layers.iter().map(|l| l.0).collect();
        let deepest_style = *style_layers
            .iter()
            .max()
            .ok_or_else(|| Error::option("no style layers"))?;
        net.run(&style.data, style.height, style.width, deepest_style)?;
        let mut terms: Vec<StyleTerm> = cfg
            .style
            .terms
            .iter()
            .map(|&(method, blend)| StyleTerm {
                method,
                blend,
                beta_prime: cfg
                    .beta_prime
                    .iter()
                    .find(|b| b.0 == method)
                    .map_or(f64::NAN, |b| b.1),
                losses: Vec::new(),
            })
            .collect();
        // Targets layer by layer: one feature copy alive at a time (each loss keeps only
        // its statistics, or its own sample for the Gaussian MMD).
        for &(layer, w) in &cfg.style_layers {
            let s = net.features(layer)?;
            for t in &mut terms {
                t.losses
                    .push((layer, w, style_loss(t.method, &s, &cfg.loss)?));
            }
        }
        let content = match content {
            Some(c) if use_content => {
                if (c.height, c.width) != (height, width) {
                    return Err(Error::Shape(format!(
                        "content image is {}x{}, output is {width}x{height}",
                        c.width, c.height
                    )));
                }
                let p = net
                    .forward(&c.data, c.height, c.width, &[cfg.content_layer])?
                    .remove(0);
                Some((cfg.content_layer, ContentLoss::new(p)))
            }
            _ => None,
        };
        let mut layers = style_layers.clone();
        if let Some((l, _)) = &content {
            layers.push(*l);
        }
        layers.sort();
        layers.dedup();
        let mut obj = Objective {
            net,
            height,
            width,
            layers,
            content,
            alpha: cfg.content_weight,
            terms,
            gamma: cfg.style_weight,
            scale: 1.0,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_6a55),
            last: Breakdown::default(),
        };
        obj.resample();
        Ok(obj)
    }

    fn resample(&mut self) -> bool {
        let (h, w) = (self.height, self.width);
        let mut any = false;
        for t in &mut self.terms {
            for (layer, _, loss) in &mut t.losses {
                if loss.is_stochastic() {
                    let (lh, lw) = layer.spatial(h, w);
                    loss.resample(lh * lw, &mut self.rng);
                    any = true;
                }
            }
        }
        any
    }

    /// beta'_m per method, after calibration.
    pub fn beta_primes(&self) -> Vec<(Method, f64)> {
        self.terms
            .iter()
            .map(|t| (t.method, t.beta_prime))
            .collect()
    }

    /// The optimiser's scale factor `s`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Losses and feature gradients at `x`. Features are copied out of the network one
    /// layer at a time and dropped once that layer's losses are done, so at most one copy
    /// is alive (at 3840x2160, relu1_1's copy alone is 2 GB).
    fn parts(&mut self, x: &[f32]) -> Result<Parts> {
        let deepest = *self.layers.iter().max().expect("objective has layers");
        self.net.run(x, self.height, self.width, deepest)?;
        let mut content = None;
        let mut style: Vec<Vec<Option<(f64, FeatureMap)>>> = self
            .terms
            .iter()
            .map(|t| t.losses.iter().map(|_| None).collect())
            .collect();
        for &layer in &self.layers {
            let f = self.net.features(layer)?;
            if let Some((l, loss)) = &self.content {
                if *l == layer {
                    content = Some(loss.loss_and_grad(&f)?);
                }
            }
            for (t, slots) in self.terms.iter().zip(&mut style) {
                for ((l, _, loss), slot) in t.losses.iter().zip(slots.iter_mut()) {
                    if *l == layer {
                        *slot = Some(loss.loss_and_grad(&f)?);
                    }
                }
            }
        }
        let style = style
            .into_iter()
            .map(|v| {
                v.into_iter()
                    .map(|s| s.expect("every loss layer is run"))
                    .collect()
            })
            .collect();
        Ok(Parts { content, style })
    }

    /// The feature gradients of `parts` with their coefficients: `cc` for the content
    /// term, `cs[m] * w_l` for method m at layer l.
    fn contributions<'p>(
        &self,
        parts: impl Into<PartsRef<'p>>,
        cc: f64,
        cs: &[f64],
    ) -> Vec<(Layer, Cow<'p, FeatureMap>, f64)> {
        let (content, style) = match parts.into() {
            PartsRef::Owned(p) => (
                p.content.map(|(_, g)| Cow::Owned(g)),
                p.style
                    .into_iter()
                    .map(|v| v.into_iter().map(|(_, g)| Cow::Owned(g)).collect())
                    .collect::<Vec<Vec<_>>>(),
            ),
            PartsRef::Borrowed(p) => (
                p.content.as_ref().map(|(_, g)| Cow::Borrowed(g)),
                p.style
                    .iter()
                    .map(|v| v.iter().map(|(_, g)| Cow::Borrowed(g)).collect())
                    .collect(),
            ),
        };
        let mut out = Vec::new();
        if let (Some((l, _)), Some(g)) = (&self.content, content) {
            out.push((*l, g, cc));
        }
        for ((t, grads), &c) in self.terms.iter().zip(style).zip(cs) {
            for ((l, w, _), g) in t.losses.iter().zip(grads) {
                out.push((*l, g, c * w));
            }
        }
        out
    }

    /// Input gradient of `sum k * <g, F_l>` over the contributions. An owned gradient is
    /// scaled in place and becomes its layer's sum, so `evaluate` copies no feature map.
    fn backward(&mut self, contributions: Vec<(Layer, Cow<FeatureMap>, f64)>) -> Result<Vec<f32>> {
        let mut per_layer: BTreeMap<Layer, FeatureMap> = BTreeMap::new();
        for (l, g, k) in contributions {
            if k == 0.0 {
                continue;
            }
            let k = k as f32;
            match per_layer.entry(l) {
                Entry::Vacant(e) => {
                    let mut g = g.into_owned();
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
        if per_layer.is_empty() {
            return Ok(vec![0.0; 3 * self.height * self.width]);
        }
        let grads: Vec<(Layer, &FeatureMap)> = per_layer.iter().map(|(l, g)| (*l, g)).collect();
        self.net.input_gradient(&grads)
    }

    fn breakdown(&self, parts: &Parts) -> Breakdown {
        let content = parts.content.as_ref().map(|c| c.0);
        let style: Vec<(Method, f64)> = self
            .terms
            .iter()
            .zip(&parts.style)
            .map(|(t, v)| {
                (
                    t.method,
                    t.losses
                        .iter()
                        .zip(v)
                        .map(|((_, w, _), (l, _))| w * l)
                        .sum(),
                )
            })
            .collect();
        let total = self.alpha * content.unwrap_or(0.0)
            + self.gamma
                * self
                    .terms
                    .iter()
                    .zip(&style)
                    .map(|(t, s)| t.blend * t.beta_prime * s.1)
                    .sum::<f64>();
        Breakdown {
            content,
            style,
            total,
        }
    }

    fn coefficients(&self) -> (f64, Vec<f64>) {
        let cc = self.alpha * self.scale;
        let cs = self
            .terms
            .iter()
            .map(|t| self.gamma * t.blend * t.beta_prime * self.scale)
            .collect();
        (cc, cs)
    }

    /// Sets beta' (where not given) and the scale from gradients at the probe image.
    pub fn calibrate(&mut self, probe: &InputImage) -> Result<()> {
        let parts = self.parts(&probe.data)?;
        let n = self.terms.len();
        let mut total_grad = vec![0.0f32; probe.data.len()];
        let content_norm = if self.content.is_some() {
            let g = self.backward(self.contributions(&parts, 1.0, &vec![0.0; n]))?;
            let gn = norm(&g);
            let a = self.alpha as f32;
            total_grad.iter_mut().zip(&g).for_each(|(t, v)| *t += a * v);
            Some(gn)
        } else {
            None
        };
        for m in 0..n {
            let mut cs = vec![0.0; n];
            cs[m] = 1.0;
            let g = self.backward(self.contributions(&parts, 0.0, &cs))?;
            let gn = norm(&g);
            if self.terms[m].beta_prime.is_nan() {
                let reference = content_norm.filter(|c| *c > 0.0).unwrap_or(1.0);
                self.terms[m].beta_prime = if gn > 0.0 && gn.is_finite() {
                    reference / gn
                } else {
                    1.0
                };
            }
            let k = (self.gamma * self.terms[m].blend * self.terms[m].beta_prime) as f32;
            total_grad.iter_mut().zip(&g).for_each(|(t, v)| *t += k * v);
        }
        let tn = norm(&total_grad);
        self.scale = if tn > 0.0 && tn.is_finite() {
            (total_grad.len() as f64).sqrt() / tn
        } else {
            1.0
        };
        Ok(())
    }
}

impl Problem for Objective<'_> {
    fn evaluate(&mut self, x: &[f32]) -> Result<(f64, Vec<f32>)> {
        let parts = self.parts(x)?;
        let (cc, cs) = self.coefficients();
        self.last = self.breakdown(&parts);
        let contributions = self.contributions(parts, cc, &cs);
        let grad = self.backward(contributions)?;
        Ok((self.last.total * self.scale, grad))
    }

    fn begin_step(&mut self) -> bool {
        self.resample()
    }
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Relative change fell below `tol`.
    Converged,
    MaxIterations,
    /// The optimiser could not decrease the objective any more.
    Stalled,
    /// The callback asked to stop (e.g. Ctrl-C).
    Interrupted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Converged => "converged (relative change below tolerance)",
            StopReason::MaxIterations => "reached the maximum number of iterations",
            StopReason::Stalled => "optimiser stalled (no further decrease)",
            StopReason::Interrupted => "interrupted",
        })
    }
}

/// Progress after one optimiser step, handed to the caller's callback.
#[derive(Clone, Debug)]
pub struct Iterate {
    pub iteration: usize,
    pub max_iterations: usize,
    pub evaluations: usize,
    /// Optimised (scaled) objective.
    pub objective: f64,
    pub losses: Breakdown,
    /// `|x_t - x_{t-1}| / |x_t|` in pixel space.
    pub relative_change: f64,
    pub elapsed: Duration,
    pub note: Option<String>,
}

/// The result of a run.
pub struct Stylized {
    pub image: InputImage,
    pub iterations: usize,
    pub evaluations: usize,
    pub stop: StopReason,
    pub losses: Breakdown,
    pub beta_primes: Vec<(Method, f64)>,
    pub scale: f64,
    pub elapsed: Duration,
}

/// Style transfer (or, without `content`, style reconstruction at `style`'s size).
/// The callback sees every step and the current image; `Break` stops the run.
pub fn stylize(
    net: &mut dyn FeatureNet,
    content: Option<&InputImage>,
    style: &InputImage,
    cfg: &StyleConfig,
    callback: &mut dyn FnMut(&Iterate, &InputImage) -> ControlFlow<()>,
) -> Result<Stylized> {
    let (h, w) = content.map_or((style.height, style.width), |c| (c.height, c.width));
    validate(cfg)?;
    let start = Instant::now();
    let probe = noise_image(h, w, cfg.seed);
    let mut x = match &cfg.init {
        Init::Noise => probe.clone(),
        Init::Content => content
            .ok_or_else(|| Error::option("--init content needs a content image"))?
            .clone(),
        Init::Image(img) => {
            if (img.height, img.width) != (h, w) {
                return Err(Error::Shape(format!(
                    "initial image is {}x{}, output is {w}x{h}",
                    img.width, img.height
                )));
            }
            img.clone()
        }
    };
    let mut obj = Objective::new(net, content, style, h, w, cfg)?;
    obj.calibrate(&probe)?;
    let lower: Vec<f32> = (0..3)
        .flat_map(|c| std::iter::repeat_n(-MEAN_RGB[c], h * w))
        .collect();
    let upper: Vec<f32> = lower.iter().map(|l| l + 255.0).collect();
    let mut opt = cfg.optimizer.build(lower, upper);
    let pixel_norm = |x: &[f32]| -> f64 {
        let n = h * w;
        (0..3)
            .map(|c| {
                x[c * n..(c + 1) * n]
                    .iter()
                    .map(|&v| ((v + MEAN_RGB[c]) as f64).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            .sqrt()
    };
    let mut evaluations = 0;
    let mut stop = StopReason::MaxIterations;
    let mut last_step_stalled = false;
    let mut iterations = 0;
    for it in 1..=cfg.iterations {
        let prev = x.data.clone();
        let out = opt.step(&mut x.data, &mut obj)?;
        evaluations += out.evaluations;
        last_step_stalled = out.stalled;
        iterations = it;
        let diff: f64 = x
            .data
            .iter()
            .zip(&prev)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let rel = diff / pixel_norm(&x.data).max(1e-12);
        let iterate = Iterate {
            iteration: it,
            max_iterations: cfg.iterations,
            evaluations,
            objective: out.value,
            losses: obj.last.clone(),
            relative_change: rel,
            elapsed: start.elapsed(),
            note: out.note.clone(),
        };
        if !out.value.is_finite() {
            return Err(Error::option(
                "the objective became non-finite; try a smaller --style-weight or learning rate",
            ));
        }
        if callback(&iterate, &x).is_break() {
            stop = StopReason::Interrupted;
            break;
        }
        if out.stalled {
            stop = StopReason::Stalled;
            break;
        }
        if rel < cfg.tol {
            stop = StopReason::Converged;
            break;
        }
    }
    // Report losses at the final image. An L-BFGS step that succeeded ended by evaluating
    // exactly that image; Adam moves after its evaluation, and a stalled search's last
    // evaluation was a rejected trial point, so those need one more pass.
    let beta_primes = obj.beta_primes();
    let scale = obj.scale();
    let last_evaluated_at_x = matches!(cfg.optimizer, OptimizerKind::Lbfgs { .. })
        && iterations > 0
        && !last_step_stalled;
    if !last_evaluated_at_x {
        obj.evaluate(&x.data)?;
    }
    let losses = obj.last.clone();
    Ok(Stylized {
        image: x,
        iterations,
        evaluations,
        stop,
        losses,
        beta_primes,
        scale,
        elapsed: start.elapsed(),
    })
}

/// Checks a configuration for impossible values before any work starts.
pub fn validate(cfg: &StyleConfig) -> Result<()> {
    let finite_nonneg = |v: f64, what: &str| -> Result<()> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(Error::option(format!(
                "{what} must be a finite number >= 0, got {v}"
            )))
        }
    };
    finite_nonneg(cfg.content_weight, "--content-weight")?;
    finite_nonneg(cfg.style_weight, "--style-weight")?;
    finite_nonneg(cfg.tol, "--tol")?;
    if cfg.iterations == 0 {
        return Err(Error::option("--iterations must be at least 1"));
    }
    if cfg.style_layers.is_empty() {
        return Err(Error::option("no style layers given"));
    }
    for (m, b) in &cfg.beta_prime {
        if !(b.is_finite() && *b > 0.0) {
            return Err(Error::option(format!(
                "beta' for {m} must be positive, got {b}"
            )));
        }
    }
    if !(cfg.loss.gaussian_sigma2_scale.is_finite() && cfg.loss.gaussian_sigma2_scale > 0.0) {
        return Err(Error::option("--gaussian-sigma2-scale must be positive"));
    }
    if let OptimizerKind::Adam { lr } = cfg.optimizer {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::option("--lr must be positive"));
        }
    }
    Ok(())
}

/// Raw per-layer loss values (and optionally the input gradient of their plain sum) for
/// the `losses` inspection command.
pub struct LossReport {
    pub content: Option<(Layer, f64)>,
    pub style: Vec<(Method, Vec<(Layer, f64)>)>,
    /// d(L_content + sum_m sum_l L_m^l)/d(image), `3 x H x W`.
    pub gradient: Option<Vec<f32>>,
}

/// Evaluates every method on `image` (all at one size) without weights or beta'.
#[allow(clippy::too_many_arguments)]
pub fn inspect_losses(
    net: &mut dyn FeatureNet,
    content: Option<&InputImage>,
    style: &InputImage,
    image: &InputImage,
    methods: &[Method],
    content_layer: Layer,
    style_layers: &[Layer],
    loss: &LossOptions,
    seed: u64,
    want_gradient: bool,
) -> Result<LossReport> {
    let cfg = StyleConfig {
        style: StyleSpec {
            terms: methods.iter().map(|&m| (m, 1.0)).collect(),
        },
        style_layers: style_layers.iter().map(|&l| (l, 1.0)).collect(),
        content_layer,
        beta_prime: methods.iter().map(|&m| (m, 1.0)).collect(),
        loss: loss.clone(),
        seed,
        ..StyleConfig::default()
    };
    let mut obj = Objective::new(net, content, style, image.height, image.width, &cfg)?;
    let parts = obj.parts(&image.data)?;
    let report_content = obj
        .content
        .as_ref()
        .zip(parts.content.as_ref())
        .map(|((l, _), (v, _))| (*l, *v));
    let style_vals = obj
        .terms
        .iter()
        .zip(&parts.style)
        .map(|(t, v)| {
            (
                t.method,
                t.losses
                    .iter()
                    .zip(v)
                    .map(|((l, _, _), (val, _))| (*l, *val))
                    .collect(),
            )
        })
        .collect();
    let gradient = if want_gradient {
        let ones = vec![1.0; obj.terms.len()];
        Some(obj.backward(obj.contributions(&parts, 1.0, &ones))?)
    } else {
        None
    };
    Ok(LossReport {
        content: report_content,
        style: style_vals,
        gradient,
    })
}

/// Bytes a run at `h x w` (style image `sh x sw`) needs at its peak, estimated from the
/// buffers it allocates: engine activations and scratch, per-layer features and gradients,
/// the losses' own copies (the Gaussian one keeps f64 samples), and the optimiser's memory.
pub fn estimate_memory(h: usize, w: usize, sh: usize, sw: usize, cfg: &StyleConfig) -> usize {
    let mut deepest = cfg.content_layer;
    for (l, _) in &cfg.style_layers {
        deepest = deepest.max(*l);
    }
    let engine = crate::engine::CpuVgg19::memory_estimate(
        h.max(sh),
        w.max(sw),
        deepest,
        crate::engine::ConvAlgorithm::Winograd,
    );
    // One feature copy at a time (see `Objective::parts`), one gradient per loss, kept
    // until the backward pass (they become the per-layer sums in place).
    let mut losses = 0usize;
    let mut largest_copy = 0usize;
    for (l, _) in &cfg.style_layers {
        let (lh, lw) = l.spatial(h, w);
        let (slh, slw) = l.spatial(sh, sw);
        let n = l.channels();
        let (m, ms) = (lh * lw, slh * slw);
        largest_copy = largest_copy.max(4 * n * m);
        for (method, _) in &cfg.style.terms {
            losses += 4 * n * m;
            losses += match method {
                // f64 samples of generated and style maps plus the f64 gradient.
                Method::MmdGaussian => 8 * n * (2 * m + ms),
                _ => 8 * n * n * 2,
            };
        }
    }
    let (ch, cw) = cfg.content_layer.spatial(h, w);
    // Content target and gradient.
    losses += 2 * 4 * cfg.content_layer.channels() * ch * cw;
    let pixels = 3 * h * w * 4;
    let optimizer = match cfg.optimizer {
        OptimizerKind::Lbfgs { history } => (2 * history + 8) * pixels,
        OptimizerKind::Adam { .. } => 2 * 2 * pixels + 6 * pixels,
    };
    // The feature copies of the loss evaluation and the backward scratch never coexist.
    engine.resident + losses + largest_copy.max(engine.backward_scratch) + optimizer
}
