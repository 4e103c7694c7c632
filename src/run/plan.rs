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
use super::spec::{JobSpec, Multiscale, TileChoice};
use crate::colour::PreserveColors;
use crate::config::StyleConfig;
use crate::image_io::fit_long_edge;
use crate::loss::blend::normalised_weights;
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

/// An image's size in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Size {
    pub width: usize,
    pub height: usize,
}

/// One stage: the size it optimises at and its iteration cap.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StagePlan {
    pub width: usize,
    pub height: usize,
    /// The first style image's size (`style_sizes[0]`).
    pub style_width: usize,
    pub style_height: usize,
    /// Every style image's size, in the job's order.
    pub style_sizes: Vec<Size>,
    pub max_iterations: usize,
    /// Core edge of the tiles this stage is evaluated in (`None`: untiled).
    pub tile: Option<usize>,
}

/// Everything decided before the run.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub width: usize,
    pub height: usize,
    /// The first style image's size at the output size.
    pub style_width: usize,
    pub style_height: usize,
    /// Every style image's size at the output size.
    pub style_sizes: Vec<Size>,
    /// The style images' blend weights, normalised to sum 1.
    pub style_weights: Vec<f64>,
    pub preserve_colors: PreserveColors,
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
        if spec.styles.is_empty() {
            return Err(Error::option("no style image given"));
        }
        let style_weights =
            normalised_weights(&spec.styles.iter().map(|s| s.weight).collect::<Vec<_>>())?;
        let style_px = style_edge(spec)?;
        if spec.colours != PreserveColors::None && spec.content.is_none() {
            return Err(Error::invalid(
                "preserve-colors",
                "needs a content image (the photo whose colours are kept)",
            ));
        }
        let content = spec.content.as_ref();
        // Output: the content's aspect at `size`; style reconstruction takes the first
        // style image's aspect at the style edge.
        let final_edge = match content {
            Some(_) => spec.size,
            None => style_px,
        };
        let reference = content.unwrap_or(&spec.styles[0].image);
        let (fw, fh) = fit_long_edge(reference.width(), reference.height(), final_edge);
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
                // Style reconstruction runs at the (first) style image's size.
                let edge = match content {
                    Some(_) => ((size as f64 * style_ratio).round() as u32).max(1),
                    None => w.max(h),
                };
                let style_sizes: Vec<Size> = spec
                    .styles
                    .iter()
                    .map(|s| {
                        let (sw, sh) = fit_long_edge(s.image.width(), s.image.height(), edge);
                        Size {
                            width: sw as usize,
                            height: sh as usize,
                        }
                    })
                    .collect();
                StagePlan {
                    width: w as usize,
                    height: h as usize,
                    style_width: style_sizes[0].width,
                    style_height: style_sizes[0].height,
                    style_sizes,
                    max_iterations: if k == 0 {
                        spec.config.iterations
                    } else {
                        spec.stage_iterations
                    },
                    tile: None,
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
            style_sizes: out.style_sizes.clone(),
            style_weights,
            preserve_colors: spec.colours,
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

    /// Lowers the L-BFGS history in `cfg` (each correction pair costs two image-sized
    /// vectors) until the run fits `limit` or the history reaches [`MIN_AUTO_HISTORY`].
    fn shorten_history(
        &self,
        spec: &JobSpec,
        cfg: &mut StyleConfig,
        limit: f64,
        min_core: usize,
    ) -> (Vec<Option<usize>>, f64) {
        let (mut tiles, mut bytes) = self.tile_and_estimate(spec, cfg, limit.into(), min_core);
        while let OptimizerKind::Lbfgs { history } = cfg.optimizer {
            if bytes <= limit || history <= MIN_AUTO_HISTORY {
                break;
            }
            cfg.optimizer = OptimizerKind::Lbfgs {
                history: history - 1,
            };
            (tiles, bytes) = self.tile_and_estimate(spec, cfg, limit.into(), min_core);
        }
        (tiles, bytes)
    }

    /// Decides each stage's tiling and estimates the peak; gives up L-BFGS history (down
    /// to [`MIN_AUTO_HISTORY`]) when allowed, and refuses a job that still does not fit.
    fn fit_memory(&mut self, spec: &JobSpec) -> Result<()> {
        let mut cfg = spec.config.clone();
        let limit = spec
            .memory_limit
            // The estimate includes the allocator's share (`with_allocator_share`); keep 3% of the
            // available memory for everything else. (It was 10% while the estimate left the
            // allocator out and ran 4-8% low.)
            .or(memory::available().map(|b| 0.97 * b as f64));
        // Without a limit nothing is tiled automatically and no history is given up.
        let (mut tiles, mut bytes) = self.tile_and_estimate(spec, &cfg, None, 0);
        if let Some(limit) = limit {
            // Large tiles first: below PREFERRED_MIN_TILE the halos' overlap costs more time
            // than a shorter L-BFGS history costs progress. Where large tiles do not fit even
            // with the shortest history, smaller ones with that history (rather than a
            // longer history with still smaller tiles).
            for min_core in [PREFERRED_MIN_TILE, 0] {
                (tiles, bytes) = if spec.fit_history {
                    self.shorten_history(spec, &mut cfg, limit, min_core)
                } else {
                    self.tile_and_estimate(spec, &cfg, limit.into(), min_core)
                };
                if bytes <= limit {
                    break;
                }
            }
            if let (OptimizerKind::Lbfgs { history: chosen }, OptimizerKind::Lbfgs { history }) =
                (spec.config.optimizer, cfg.optimizer)
            {
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
        for (stage, tile) in self.stages.iter_mut().zip(&tiles) {
            stage.tile = *tile;
        }
        if let (Some(given), TileChoice::Core(core)) = (spec.tile_given, spec.tile) {
            self.notes.push(format!(
                "tile {given} px rounded to {core} px (tiles keep the pooling grid: multiples of 16)"
            ));
        }
        if let Some(note) = tiling_note(&self.stages, &spec.config) {
            self.notes.push(note);
        }
        self.memory_bytes = bytes as u64;
        self.optimizer = cfg.optimizer;
        Ok(())
    }

    /// Every stage's tile core (as `spec.tile` says, `Auto` against `limit`) and the
    /// largest stage estimate with those tiles.
    fn tile_and_estimate(
        &self,
        spec: &JobSpec,
        cfg: &StyleConfig,
        limit: Option<f64>,
        min_core: usize,
    ) -> (Vec<Option<usize>>, f64) {
        let count = self.stages.len();
        let mut peak = 0.0f64;
        let mut tiles = Vec::with_capacity(count);
        for stage in &self.stages {
            let styles = self.style_inputs(stage);
            let bytes = |tile: Option<usize>| {
                let cfg = StyleConfig {
                    tile,
                    ..cfg.clone()
                };
                stage_bytes(spec, stage, &styles, &cfg, count)
            };
            let longest = styles
                .iter()
                .fold(stage.height.max(stage.width), |m, &(h, w)| m.max(h).max(w));
            let tile = match spec.tile {
                TileChoice::Off => None,
                TileChoice::Core(core) => (core < longest).then_some(core),
                TileChoice::Auto => match limit {
                    Some(limit) if bytes(None) > limit => {
                        let mut cores =
                            AUTO_TILES.iter().filter(|&&c| c < longest && c >= min_core);
                        let fits = cores.clone().find(|&&c| bytes(Some(c)) <= limit);
                        fits.or(cores.next_back()).copied()
                    }
                    _ => None,
                },
            };
            peak = peak.max(bytes(tile));
            tiles.push(tile);
        }
        (tiles, peak)
    }

    /// The `(height, width)` of the style images a stage runs (a zero weight leaves one out).
    fn style_inputs(&self, stage: &StagePlan) -> Vec<(usize, usize)> {
        stage
            .style_sizes
            .iter()
            .zip(&self.style_weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(s, _)| (s.height, s.width))
            .collect()
    }
}

/// Tile cores `TileChoice::Auto` tries, largest (fastest: least halo) first.
pub const AUTO_TILES: &[usize] = &[1024, 768, 512, 384, 256, 128];
/// `Auto` lowers the L-BFGS history before it takes tiles under this edge: with the
/// 96 px halo of relu5_1 a 512 px tile computes 2x its own pixels, a 128 px one 5.4x.
pub const PREFERRED_MIN_TILE: usize = 512;

/// The estimate of one stage of a job of `stages` stages.
fn stage_bytes(
    spec: &JobSpec,
    stage: &StagePlan,
    styles: &[(usize, usize)],
    cfg: &StyleConfig,
    stages: usize,
) -> f64 {
    let output = (stage.height, stage.width);
    let buffers = memory::estimate(&spec.backend, output, styles, cfg);
    let largest = memory::network_input(output, styles, cfg);
    memory::with_allocator_share(buffers, largest, stages)
}

/// `tiled evaluation (exact): 1024 px tiles at 2715 px; 512 px tiles at 3840 px with a 96 px
/// halo`, where any stage is tiled.
fn tiling_note(stages: &[StagePlan], cfg: &StyleConfig) -> Option<String> {
    let mut groups: Vec<(usize, Vec<String>)> = Vec::new();
    for stage in stages {
        let Some(core) = stage.tile else { continue };
        let edge = stage.width.max(stage.height).to_string();
        match groups.last_mut() {
            Some((last, edges)) if *last == core => edges.push(edge),
            _ => groups.push((core, vec![edge])),
        }
    }
    if groups.is_empty() {
        return None;
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(core, edges)| format!("{core} px tiles at {} px", edges.join(", ")))
        .collect();
    let halo = crate::objective::tiling::halo(cfg.deepest_layer());
    Some(format!(
        "tiled evaluation (exact): {} with a {halo} px halo",
        parts.join("; ")
    ))
}

/// The long edge of the style images at the output size: `style-size`, or `style-scale`
/// times `size`, or `size`; each within the accepted edges.
fn style_edge(spec: &JobSpec) -> Result<u32> {
    match (spec.style_size, spec.style_scale) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "style-scale",
            "cannot be combined with a style size (give one of the two)",
        )),
        (Some(px), None) => check_edge(px, "style-size").map(|_| px),
        (None, Some(f)) => {
            if !(f.is_finite() && f > 0.0) {
                return Err(Error::invalid(
                    "style-scale",
                    format!("must be a positive number, got {f}"),
                ));
            }
            let px = (f * spec.size as f64).round();
            if !(MIN_EDGE as f64..=MAX_EDGE as f64).contains(&px) {
                return Err(Error::invalid(
                    "style-scale",
                    format!(
                        "{f} x {} px gives a style image of {px} px, outside {MIN_EDGE}..{MAX_EDGE} px",
                        spec.size
                    ),
                ));
            }
            Ok(px as u32)
        }
        (None, None) => Ok(spec.size),
    }
}

/// The output, the smallest stage and every style image must leave every style layer a map.
fn check_layers(spec: &JobSpec, out: &StagePlan, first: &StagePlan) -> Result<()> {
    for (l, _) in &spec.config.style_layers {
        let styles = out.style_sizes.iter().enumerate().map(|(i, s)| {
            let what = if out.style_sizes.len() == 1 {
                "style image".to_string()
            } else {
                format!("style image {}", i + 1)
            };
            (what, s.height, s.width)
        });
        let images = [
            ("output".to_string(), out.height, out.width),
            (
                "first multi-scale stage".to_string(),
                first.height,
                first.width,
            ),
        ];
        for (what, h, w) in images.into_iter().chain(styles) {
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
    use super::{stage_sizes, Plan, Size};
    use crate::backend::Backend;
    use crate::engine::{ConvAlgorithm, Pooling};
    use crate::run::spec::{JobSpec, Multiscale, StyleImage};
    use image::Rgb32FImage;

    /// A job for blank images of these sizes (content, then styles), checked against a
    /// fixed memory limit so the plan does not depend on this machine.
    fn spec(content: Option<(u32, u32)>, styles: &[(u32, u32)]) -> JobSpec {
        let blank = |(w, h): (u32, u32)| Rgb32FImage::new(w, h);
        let backend = Backend::cpu(Pooling::Average, ConvAlgorithm::Im2col).unwrap();
        let mut s = JobSpec::new(content.map(blank), blank(styles[0]), backend);
        s.styles.extend(styles[1..].iter().map(|&wh| StyleImage {
            image: blank(wh),
            weight: 1.0,
        }));
        s.memory_limit = Some(1e15);
        s.size = 200;
        s
    }

    fn err(s: &JobSpec) -> String {
        Plan::new(s).expect_err("an error").to_string()
    }

    #[test]
    fn style_scale_sets_every_style_images_edge_from_the_size() {
        let mut s = spec(Some((400, 300)), &[(300, 600), (500, 250)]);
        s.style_scale = Some(0.615);
        let p = Plan::new(&s).unwrap();
        // round(0.615 x 200) = 123 px long edge, each style image keeping its aspect.
        let want = [
            Size {
                width: 62,
                height: 123,
            },
            Size {
                width: 123,
                height: 62,
            },
        ];
        assert_eq!(p.style_sizes, want);
        assert_eq!((p.style_width, p.style_height), (62, 123));
        assert_eq!((p.width, p.height), (200, 150));
        // Every stage scales the styles with the output.
        s.multiscale = Multiscale::On;
        s.start_size = 100;
        let p = Plan::new(&s).unwrap();
        let first = &p.stages[0];
        assert_eq!(first.width, 100);
        let edge = first.style_sizes.iter().map(|z| z.width.max(z.height));
        assert!(edge.clone().all(|e| e == 62), "{:?}", first.style_sizes);
        // Without content, the output is the first painting at the scaled edge.
        let mut t = spec(None, &[(300, 600), (500, 250)]);
        t.style_scale = Some(0.615);
        let p = Plan::new(&t).unwrap();
        assert_eq!((p.width, p.height), (62, 123));
        assert_eq!(p.style_sizes[1], want[1]);
    }

    #[test]
    fn style_scale_is_checked() {
        let mut s = spec(Some((400, 300)), &[(300, 300)]);
        s.style_scale = Some(0.5);
        s.style_size = Some(100);
        assert!(
            err(&s).starts_with("style-scale cannot be combined"),
            "{}",
            err(&s)
        );
        s.style_size = None;
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            s.style_scale = Some(bad);
            assert!(err(&s).starts_with("style-scale must be a positive number"));
        }
        // 0.05 x 200 = 10 px and 100 x 200 = 20000 px are outside the edge limits.
        for bad in [0.05, 100.0] {
            s.style_scale = Some(bad);
            assert!(err(&s).contains("outside 16..16384 px"), "{}", err(&s));
        }
        // Every style image must leave every style layer a map: 0.1 x 200 = 20 px makes
        // the second painting 20 x 2.
        let mut t = spec(Some((400, 300)), &[(300, 300), (600, 60)]);
        t.style_scale = Some(0.1);
        assert!(
            err(&t).starts_with("the style image 2 (20x2 px) is too small"),
            "{}",
            err(&t)
        );
    }

    #[test]
    fn blend_weights_are_normalised_and_checked() {
        let mut s = spec(Some((64, 64)), &[(64, 64), (80, 40)]);
        s.styles[0].weight = 3.0;
        let p = Plan::new(&s).unwrap();
        assert_eq!(p.style_weights, vec![0.75, 0.25]);
        s.styles[1].weight = -1.0;
        assert!(err(&s).starts_with("style-blend "), "{}", err(&s));
        s.styles.iter_mut().for_each(|x| x.weight = 0.0);
        assert!(err(&s).contains("must not all be zero"), "{}", err(&s));
        s.styles.clear();
        assert!(err(&s).contains("no style image"), "{}", err(&s));
    }

    #[test]
    fn auto_tiles_only_what_does_not_fit_and_off_refuses_it() {
        let mut s = spec(Some((2048, 1152)), &[(512, 512)]);
        s.size = 2048;
        s.fit_history = false;
        let untiled = Plan::new(&s).unwrap();
        assert!(untiled.stages.iter().all(|st| st.tile.is_none()));
        let limit = 0.6 * untiled.memory_bytes as f64;
        s.memory_limit = Some(limit);
        let tiled = Plan::new(&s).unwrap();
        let core = tiled
            .stages
            .last()
            .unwrap()
            .tile
            .expect("the last stage tiled");
        assert!(super::AUTO_TILES.contains(&core) && core >= super::PREFERRED_MIN_TILE);
        assert!(tiled.memory_bytes as f64 <= limit);
        assert!(tiled
            .notes
            .iter()
            .any(|n| n.starts_with("tiled evaluation (exact)")));
        s.tile = crate::run::spec::TileChoice::Off;
        assert!(err(&s).contains("needs about"), "{}", err(&s));
        // History is given up before tiles go under the preferred edge.
        s.tile = crate::run::spec::TileChoice::Auto;
        s.fit_history = true;
        s.memory_limit = Some(1.0 * tiled.memory_bytes as f64);
        let shorter = Plan::new(&s).unwrap();
        let last = shorter.stages.last().unwrap().tile.unwrap();
        assert!(last >= super::PREFERRED_MIN_TILE, "{last}");
    }

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
