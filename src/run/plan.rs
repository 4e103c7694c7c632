//! A job's plan, decided once before any work: output and style sizes, the coarse-to-fine
//! stages, and the memory fit. Everything a front end shows before the run (and every
//! refusal of an impossible size) comes from here.
//!
//! **Multi-scale** (coarse-to-fine): optimise at a small size, upscale the result by about
//! √2, optimise again, up to the requested size. VGG's deepest style layer (relu5_1) sees
//! about 200 px, so at large sizes a single-scale run from noise only arranges small-scale
//! texture, and every iteration costs in proportion to the pixel count. The coarse stages
//! settle the layout cheaply; the fine stages start close to a solution.

use super::memory;
use super::spec::{JobSpec, Multiscale};
use crate::image_io::fit_long_edge;
use crate::optim::OptimizerKind;
use crate::{Error, Result};
use serde::Serialize;

/// Growth of the long edge from one stage to the next.
pub const STAGE_FACTOR: f64 = std::f64::consts::SQRT_2;
/// `Multiscale::Auto` turns coarse-to-fine on above this long edge (so a default 512 px
/// run goes 256 -> 362 -> 512: the layout settles where iterations are 4x cheaper).
pub const MULTISCALE_AUTO_ABOVE: u32 = 256;
/// Accepted long edges: the network pools four times, and a documented upper bound.
pub const MIN_EDGE: u32 = 16;
pub const MAX_EDGE: u32 = 16384;
/// The smallest L-BFGS history chosen automatically to fit a large image in memory.
pub const MIN_AUTO_HISTORY: usize = 5;

/// One stage: the size it optimises at and its iteration cap.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StagePlan {
    pub width: usize,
    pub height: usize,
    pub style_width: usize,
    pub style_height: usize,
    pub max_iterations: usize,
}

/// Everything decided before the run.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub width: usize,
    pub height: usize,
    pub style_width: usize,
    pub style_height: usize,
    /// Ascending; the last is the output size. One stage without multi-scale.
    pub stages: Vec<StagePlan>,
    /// Estimated peak, bytes.
    pub memory_bytes: u64,
    /// What the estimate was checked against, bytes (none known: unchecked).
    pub memory_limit: Option<u64>,
    /// The style loss, e.g. `gram:1` or `mmd-linear:0.5,bn:0.5`.
    pub style_loss: String,
    pub backend: String,
    #[serde(skip)]
    pub optimizer: OptimizerKind,
    /// What was adjusted to make the job fit, for the user to read.
    pub notes: Vec<String>,
}

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

/// An error unless `px` is an accepted long edge for `option`.
pub fn check_edge(px: u32, option: &'static str) -> Result<()> {
    if px < MIN_EDGE {
        return Err(Error::invalid(
            option,
            format!("must be at least {MIN_EDGE} px (the network pools four times), got {px}"),
        ));
    }
    if px > MAX_EDGE {
        return Err(Error::invalid(
            option,
            format!("of {px} px is above the limit of {MAX_EDGE} px"),
        ));
    }
    Ok(())
}

impl Plan {
    /// Validates `spec` and decides sizes, stages and the memory fit.
    pub fn new(spec: &JobSpec) -> Result<Plan> {
        spec.config.validate()?;
        check_edge(spec.size, "size")?;
        if let Some(s) = spec.style_size {
            check_edge(s, "style-size")?;
        }
        let content = spec.content.as_ref();
        // Output: the content's aspect at `size`; style reconstruction takes the style
        // image's aspect at `style_size` (or `size`).
        let final_edge = match content {
            Some(_) => spec.size,
            None => spec.style_size.unwrap_or(spec.size),
        };
        let reference = content.unwrap_or(&spec.style);
        let (fw, fh) = fit_long_edge(reference.width(), reference.height(), final_edge);
        let style_px = spec.style_size.unwrap_or(spec.size);
        let multiscale = match spec.multiscale {
            Multiscale::On => true,
            Multiscale::Off => false,
            Multiscale::Auto => final_edge > MULTISCALE_AUTO_ABOVE,
        };
        if multiscale {
            check_edge(spec.start_size, "start-size")?;
            if spec.stage_iterations == 0 {
                return Err(Error::invalid("stage-iterations", "must be at least 1"));
            }
        }
        let sizes = if multiscale {
            stage_sizes(final_edge, spec.start_size)
        } else {
            vec![final_edge]
        };
        let style_ratio = style_px as f64 / spec.size as f64;
        let last = sizes.len() - 1;
        let stages: Vec<StagePlan> = sizes
            .iter()
            .enumerate()
            .map(|(k, &size)| {
                let (w, h) = if k == last {
                    (fw, fh)
                } else {
                    fit_long_edge(reference.width(), reference.height(), size)
                };
                // Style reconstruction runs at the style image's size.
                let (sw, sh) = match content {
                    Some(_) => {
                        let edge = ((size as f64 * style_ratio).round() as u32).max(1);
                        fit_long_edge(spec.style.width(), spec.style.height(), edge)
                    }
                    None => (w, h),
                };
                StagePlan {
                    width: w as usize,
                    height: h as usize,
                    style_width: sw as usize,
                    style_height: sh as usize,
                    max_iterations: if k == 0 {
                        spec.config.iterations
                    } else {
                        spec.stage_iterations
                    },
                }
            })
            .collect();
        let out = &stages[last];
        check_layers(spec, out, &stages[0])?;
        let mut plan = Plan {
            width: out.width,
            height: out.height,
            style_width: out.style_width,
            style_height: out.style_height,
            stages,
            memory_bytes: 0,
            memory_limit: None,
            style_loss: spec.config.style.to_string(),
            backend: spec.backend.describe(),
            optimizer: spec.config.optimizer,
            notes: Vec::new(),
        };
        plan.fit_memory(spec)?;
        Ok(plan)
    }

    /// Estimates the peak; gives up L-BFGS history (down to [`MIN_AUTO_HISTORY`]) when
    /// allowed, and refuses a job that still does not fit.
    fn fit_memory(&mut self, spec: &JobSpec) -> Result<()> {
        let mut cfg = spec.config.clone();
        let sizes = (
            (self.height, self.width),
            (self.style_height, self.style_width),
        );
        let overhead = memory::heap_overhead(self.stages.len());
        let estimate =
            |cfg: &_| overhead * memory::estimate(&spec.backend, sizes.0, sizes.1, cfg) as f64;
        let mut bytes = estimate(&cfg);
        let limit = spec
            .memory_limit
            // The estimate includes the allocator's share (`heap_overhead`); keep 3% of the
            // available memory for everything else. (It was 10% while the estimate left the
            // allocator out and ran 4-8% low.)
            .or(memory::available().map(|b| 0.97 * b as f64));
        if let Some(limit) = limit {
            // Each L-BFGS correction pair costs two image-sized vectors.
            if let (OptimizerKind::Lbfgs { history: chosen }, true) =
                (cfg.optimizer, spec.fit_history)
            {
                let mut history = chosen;
                while bytes > limit && history > MIN_AUTO_HISTORY {
                    history -= 1;
                    cfg.optimizer = OptimizerKind::Lbfgs { history };
                    bytes = estimate(&cfg);
                }
                if history != chosen && bytes <= limit {
                    self.notes.push(format!(
                        "L-BFGS history lowered from {chosen} to {history} to fit in {}",
                        memory::gib(limit)
                    ));
                }
            }
            if bytes > limit {
                return Err(Error::TooLarge(format!(
                    "a {}x{} run needs about {} of memory but only {} is available (lower the size or raise the memory limit)",
                    self.width,
                    self.height,
                    memory::gib(bytes),
                    memory::gib(limit)
                )));
            }
            self.memory_limit = Some(limit as u64);
        }
        self.memory_bytes = bytes as u64;
        self.optimizer = cfg.optimizer;
        Ok(())
    }
}

/// The output, the smallest stage and the style image must leave every style layer a map.
fn check_layers(spec: &JobSpec, out: &StagePlan, first: &StagePlan) -> Result<()> {
    for (l, _) in &spec.config.style_layers {
        for (what, h, w) in [
            ("output", out.height, out.width),
            ("first multi-scale stage", first.height, first.width),
            ("style image", out.style_height, out.style_width),
        ] {
            let (lh, lw) = l.spatial(h, w);
            if lh == 0 || lw == 0 {
                return Err(Error::option(format!(
                    "the {what} ({w}x{h} px) is too small for style layer {l}"
                )));
            }
        }
    }
    Ok(())
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
