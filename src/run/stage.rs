//! One optimisation at one size: calibrate the objective at the probe, then step the
//! optimiser until the stopping rule, the iteration cap, a stall, or an observer says so.

use super::events::{Event, IterationInfo, Observer, StageInfo, StopReason, Summary};
use crate::backend::FeatureNet;
use crate::config::{Init, StyleConfig};
use crate::objective::{noise_image, Objective};
use crate::optim::{OptimizerKind, Problem};
use crate::tensor::InputImage;
use crate::vgg::MEAN_RGB;
use crate::{Error, Result};
use std::time::Instant;

/// The image a stage produced, with its summary.
pub struct Stylized {
    pub image: InputImage,
    pub summary: Summary,
}

/// Where one stage runs and what it tells its observer.
pub struct StageContext {
    pub info: StageInfo,
    /// When the job started (event times count from here).
    pub job_start: Instant,
    /// Emit [`Event::Snapshot`] every this many iterations.
    pub snapshot_every: Option<usize>,
}

impl StageContext {
    /// A lone stage at `w x h` (no multi-scale, timed from now).
    pub fn single(cfg: &StyleConfig, width: usize, height: usize) -> Self {
        StageContext {
            info: StageInfo {
                stage: 1,
                stages: 1,
                width,
                height,
                max_iterations: cfg.iterations,
            },
            job_start: Instant::now(),
            snapshot_every: None,
        }
    }
}

/// Style transfer (or, without `content`, style reconstruction at the first style's size)
/// at one size, towards one style image or a blend of several (images with relative
/// weights, see [`crate::loss::blend`]). Observers see every step with the current image;
/// `Break` stops the run.
pub fn optimize(
    net: &mut dyn FeatureNet,
    content: Option<&InputImage>,
    styles: &[(&InputImage, f64)],
    init: &Init,
    cfg: &StyleConfig,
    ctx: &StageContext,
    observer: &mut dyn Observer,
) -> Result<Stylized> {
    let first = styles
        .first()
        .ok_or_else(|| Error::option("no style image given"))?
        .0;
    let (h, w) = content.map_or((first.height, first.width), |c| (c.height, c.width));
    cfg.validate()?;
    let start = Instant::now();
    let probe = noise_image(h, w, cfg.seed);
    let mut x = initial_image(init, &probe, content, h, w)?;
    let mut obj = Objective::blended(net, content, styles, h, w, cfg)?;
    obj.calibrate(&probe)?;
    let lower: Vec<f32> = (0..3)
        .flat_map(|c| std::iter::repeat_n(-MEAN_RGB[c], h * w))
        .collect();
    let upper: Vec<f32> = lower.iter().map(|l| l + 255.0).collect();
    let mut opt = cfg.optimizer.build(lower, upper);
    let mut evaluations = 0;
    let mut stop = StopReason::MaxIterations;
    let mut last_step_stalled = false;
    let mut iterations = 0;
    let mut objective = Vec::with_capacity(cfg.iterations);
    for it in 1..=cfg.iterations {
        let step_start = Instant::now();
        let prev = x.data.clone();
        let out = opt.step(&mut x.data, &mut obj)?;
        evaluations += out.evaluations;
        last_step_stalled = out.stalled;
        iterations = it;
        let rel = relative_change(&x.data, &prev, h * w);
        objective.push(out.value);
        if !out.value.is_finite() {
            return Err(Error::option(
                "the objective became non-finite; try a smaller style weight or learning rate",
            ));
        }
        let event = Event::Iteration(IterationInfo {
            stage: ctx.info.stage,
            width: w,
            height: h,
            iteration: it,
            max_iterations: cfg.iterations,
            evaluations,
            objective: out.value,
            losses: obj.last.clone(),
            relative_change: rel,
            elapsed_s: ctx.job_start.elapsed().as_secs_f64(),
            step_s: step_start.elapsed().as_secs_f64(),
            note: out.note.clone(),
        });
        let mut flow = observer.on_event(&event, Some(&x));
        if ctx.snapshot_every.is_some_and(|n| it.is_multiple_of(n)) {
            let snap = Event::Snapshot {
                stage: ctx.info.stage,
                iteration: it,
                width: w,
                height: h,
            };
            if observer.on_event(&snap, Some(&x)).is_break() {
                flow = std::ops::ControlFlow::Break(());
            }
        }
        if flow.is_break() {
            stop = StopReason::Interrupted;
            break;
        }
        if out.stalled {
            stop = StopReason::Stalled;
            break;
        }
        if cfg.converged(&objective, rel) {
            stop = StopReason::Converged;
            break;
        }
    }
    // Report losses at the final image. An L-BFGS step that succeeded ended by evaluating
    // exactly that image; Adam moves after its evaluation, and a stalled search's last
    // evaluation was a rejected trial point, so those need one more pass.
    let last_evaluated_at_x = matches!(cfg.optimizer, OptimizerKind::Lbfgs { .. })
        && iterations > 0
        && !last_step_stalled;
    if !last_evaluated_at_x {
        obj.evaluate(&x.data)?;
    }
    let summary = Summary {
        stage: ctx.info.stage,
        width: w,
        height: h,
        iterations,
        evaluations,
        stop,
        losses: obj.last.clone(),
        beta_primes: obj.beta_primes(),
        scale: obj.scale(),
        elapsed_s: start.elapsed().as_secs_f64(),
    };
    Ok(Stylized { image: x, summary })
}

/// The starting image at `h x w`.
fn initial_image(
    init: &Init,
    probe: &InputImage,
    content: Option<&InputImage>,
    h: usize,
    w: usize,
) -> Result<InputImage> {
    Ok(match init {
        Init::Noise => probe.clone(),
        Init::Content => content
            .ok_or_else(|| Error::invalid("init", "content needs a content image"))?
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
    })
}

/// `|x - prev| / |x|` with `|x|` in pixel units (0..255, means added back).
fn relative_change(x: &[f32], prev: &[f32], n: usize) -> f64 {
    let diff: f64 = x
        .iter()
        .zip(prev)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let pixel_norm = (0..3)
        .map(|c| {
            x[c * n..(c + 1) * n]
                .iter()
                .map(|&v| ((v + MEAN_RGB[c]) as f64).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        .sqrt();
    diff / pixel_norm.max(1e-12)
}

/// [`optimize`] as a lone run at the content's (or, without content, the style's) size.
pub fn stylize(
    net: &mut dyn FeatureNet,
    content: Option<&InputImage>,
    style: &InputImage,
    init: &Init,
    cfg: &StyleConfig,
    observer: &mut dyn Observer,
) -> Result<Stylized> {
    let (h, w) = content.map_or((style.height, style.width), |c| (c.height, c.width));
    let ctx = StageContext::single(cfg, w, h);
    optimize(net, content, &[(style, 1.0)], init, cfg, &ctx, observer)
}
