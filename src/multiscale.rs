//! Coarse-to-fine style transfer: optimise at a small size, upscale the result by about √2,
//! optimise again, up to the requested size.
//!
//! Why: VGG's deepest style layer (relu5_1) sees about 200 px, so at large sizes a
//! single-scale run from noise only arranges small-scale texture, and every iteration costs
//! in proportion to the pixel count. The coarse stages settle the layout cheaply; the fine
//! stages start close to a solution and stop after few iterations.

use crate::engine::FeatureNet;
use crate::image_io::{fit_long_edge, from_network, resize, to_input};
use crate::stylize::{stylize, Init, Iterate, StyleConfig, Stylized};
use crate::tensor::InputImage;
use crate::{Error, Result};
use image::Rgb32FImage;
use std::ops::ControlFlow;
use std::time::Instant;

/// Growth of the long edge from one stage to the next.
pub const STAGE_FACTOR: f64 = std::f64::consts::SQRT_2;

/// Long edges of the stages from `start` up to `target` (last = `target`), growing by
/// [`STAGE_FACTOR`]; a single stage when `target <= start`.
pub fn stage_sizes(target: u32, start: u32) -> Vec<u32> {
    let mut sizes = vec![target];
    let mut s = target as f64;
    loop {
        s /= STAGE_FACTOR;
        if s.round() < start as f64 {
            break;
        }
        sizes.push(s.round() as u32);
    }
    sizes.reverse();
    sizes
}

/// A multi-stage run's plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Output long edge per stage, ascending; the last is the output size.
    pub sizes: Vec<u32>,
    /// Iteration cap at the first stage (the stop rule still applies).
    pub first_iterations: usize,
    /// Iteration cap at every later stage.
    pub later_iterations: usize,
    /// Style image long edge / output long edge (kept at every stage).
    pub style_ratio: f64,
}

/// Which stage an iterate belongs to (1-based) and how many there are.
#[derive(Clone, Copy, Debug)]
pub struct StageInfo {
    pub stage: usize,
    pub stages: usize,
    pub width: usize,
    pub height: usize,
}

/// Runs the stages of `plan`: content and style are resized from the originals at every
/// stage; the first stage starts from `cfg.init`, later ones from the previous result
/// upscaled. Without content, the output has the style image's aspect ratio.
/// Returns the final result (iterations and evaluations summed over the stages); an
/// interrupted run returns its current image upscaled to the output size.
pub fn stylize_multiscale(
    net: &mut dyn FeatureNet,
    content: Option<&Rgb32FImage>,
    style: &Rgb32FImage,
    plan: &Plan,
    cfg: &StyleConfig,
    callback: &mut dyn FnMut(StageInfo, &Iterate, &InputImage) -> ControlFlow<()>,
) -> Result<Stylized> {
    if plan.sizes.is_empty() {
        return Err(Error::option("a multi-scale plan needs at least one stage"));
    }
    let start = Instant::now();
    let reference = content.unwrap_or(style);
    let final_size = *plan.sizes.last().unwrap();
    let (fw, fh) = fit_long_edge(reference.width(), reference.height(), final_size);
    let mut previous: Option<Stylized> = None;
    let (mut iterations, mut evaluations) = (0, 0);
    let stages = plan.sizes.len();
    for (k, &size) in plan.sizes.iter().enumerate() {
        let (w, h) = if k + 1 == stages {
            (fw, fh)
        } else {
            fit_long_edge(reference.width(), reference.height(), size)
        };
        // Style reconstruction runs at the style image's size, so that is the stage size.
        let (sw, sh) = match content {
            Some(_) => {
                let edge = ((size as f64 * plan.style_ratio).round() as u32).max(1);
                fit_long_edge(style.width(), style.height(), edge)
            }
            None => (w, h),
        };
        let style_in = to_input(&resize(style, sw, sh));
        let content_in = content.map(|c| to_input(&resize(c, w, h)));
        let mut stage_cfg = cfg.clone();
        stage_cfg.iterations = if k == 0 {
            plan.first_iterations
        } else {
            plan.later_iterations
        };
        stage_cfg.init = match (&previous, &cfg.init) {
            (Some(p), _) => Init::Image(upscale(&p.image, w, h)),
            (None, Init::Image(img)) => Init::Image(upscale(img, w, h)),
            (None, other) => other.clone(),
        };
        let info = StageInfo {
            stage: k + 1,
            stages,
            width: w as usize,
            height: h as usize,
        };
        let result = stylize(
            net,
            content_in.as_ref(),
            &style_in,
            &stage_cfg,
            &mut |it, x| callback(info, it, x),
        )?;
        iterations += result.iterations;
        evaluations += result.evaluations;
        let interrupted = result.stop == crate::stylize::StopReason::Interrupted;
        previous = Some(result);
        if interrupted {
            break;
        }
    }
    let mut last = previous.expect("at least one stage ran");
    if (last.image.width, last.image.height) != (fw as usize, fh as usize) {
        last.image = upscale(&last.image, fw, fh);
    }
    last.iterations = iterations;
    last.evaluations = evaluations;
    last.elapsed = start.elapsed();
    Ok(last)
}

/// Resizes an image in network space (through RGB, Lanczos3).
fn upscale(x: &InputImage, w: u32, h: u32) -> InputImage {
    to_input(&resize(&from_network(&x.data, x.height, x.width), w, h))
}

#[cfg(test)]
mod tests {
    use super::stage_sizes;

    #[test]
    fn stages_grow_by_sqrt2_and_end_at_the_target() {
        assert_eq!(stage_sizes(512, 256), vec![256, 362, 512]);
        assert_eq!(stage_sizes(1024, 256), vec![256, 362, 512, 724, 1024]);
        // The first stage is the smallest size >= start on the √2 ladder down from the target.
        let big = stage_sizes(3840, 256);
        assert_eq!(big, vec![339, 480, 679, 960, 1358, 1920, 2715, 3840]);
        assert_eq!(stage_sizes(200, 256), vec![200]);
        assert_eq!(stage_sizes(256, 256), vec![256]);
    }
}
