//! The description of a job that every front end builds: decoded images and options. The
//! CLI fills it from its arguments, the web server from a form, Python from keywords.

use super::checkpoint::Resume;
use crate::backend::Backend;
use crate::colour::PreserveColors;
use crate::config::StyleConfig;
use image::Rgb32FImage;

/// When to optimise coarse-to-fine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Multiscale {
    /// On when the output's long edge is above [`super::plan::MULTISCALE_AUTO_ABOVE`].
    Auto,
    On,
    Off,
}

/// Whether to evaluate the objective tile by tile ([`crate::objective::tiling`]: the same
/// numbers in the memory of one tile's activations, at the cost of a second forward pass
/// and the halos' overlap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileChoice {
    /// Untiled where the stage fits the memory limit; else the largest core that fits.
    Auto,
    /// Never (a job that does not fit is refused).
    Off,
    /// Cores of this many px at every stage larger than one core (a multiple of 16).
    Core(usize),
}

impl TileChoice {
    /// `auto`, `off`, or a core edge in px, rounded to the nearest multiple of 16 (at
    /// least 16); the second value says when it was rounded.
    pub fn parse(v: &str) -> crate::Result<(TileChoice, Option<usize>)> {
        use crate::objective::tiling::TILE_ALIGN;
        let bad = || {
            crate::Error::invalid(
                "tile",
                format!(
                    "must be auto, off or a tile edge in px (a positive whole number), got '{v}'"
                ),
            )
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok((TileChoice::Auto, None)),
            "off" => Ok((TileChoice::Off, None)),
            n => {
                let px: usize = n.parse().map_err(|_| bad())?;
                if px == 0 {
                    return Err(bad());
                }
                let core = ((px + TILE_ALIGN / 2) / TILE_ALIGN).max(1) * TILE_ALIGN;
                Ok((TileChoice::Core(core), (core != px).then_some(px)))
            }
        }
    }
}

/// Where the first stage starts.
#[derive(Clone, Debug)]
pub enum InitSpec {
    /// Seeded uniform white noise (the paper's random init; also the beta' probe).
    Noise,
    /// The content image.
    Content,
    /// This image, resized to the output size.
    Image(Rgb32FImage),
}

/// A style image and its blend weight.
#[derive(Clone, Debug)]
pub struct StyleImage {
    pub image: Rgb32FImage,
    /// Relative (the weights of a job's styles are normalised to sum 1); 0 leaves the
    /// image out.
    pub weight: f64,
}

/// A whole job: images, sizes, stages, memory, backend, and one optimisation's settings.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// The photo; `None` for style reconstruction (texture synthesis, alpha = 0).
    pub content: Option<Rgb32FImage>,
    /// The paintings (at least one). Several blend: the target is the weighted mixture of
    /// their feature distributions ([`crate::loss::blend`]). Without content, the output
    /// takes the first one's aspect.
    pub styles: Vec<StyleImage>,
    /// Long edge of the output in pixels (the content image is resized to it).
    pub size: u32,
    /// Long edge of every style image (default: `size`); without content, the output's.
    pub style_size: Option<u32>,
    /// Long edge of every style image as a multiple of `size` (jcjohnson's
    /// `-style_scale`); not together with `style_size`.
    pub style_scale: Option<f64>,
    /// Keep the photo's colours ([`crate::colour`]); needs a content image.
    pub colours: PreserveColors,
    pub multiscale: Multiscale,
    /// Long edge of the first multi-scale stage.
    pub start_size: u32,
    /// Iteration cap of every multi-scale stage after the first (`config.iterations`
    /// caps the first).
    pub stage_iterations: usize,
    pub init: InitSpec,
    /// Lower the L-BFGS history (to 5 at least) when the job would not fit otherwise.
    pub fit_history: bool,
    /// Refuse jobs whose estimate exceeds this many bytes (`None`: 97% of the available
    /// memory, where the system says).
    pub memory_limit: Option<f64>,
    /// Tiled evaluation per stage (the plan decides `Auto`).
    pub tile: TileChoice,
    /// The tile edge the user gave where `tile` rounded it (the plan says so).
    pub tile_given: Option<usize>,
    pub backend: Backend,
    /// Emit a snapshot event every this many iterations.
    pub snapshot_every: Option<usize>,
    pub config: StyleConfig,
    /// Continue a stopped run from its checkpoint ([`super::checkpoint`]).
    pub resume: Option<Resume>,
}

impl JobSpec {
    /// A job with the defaults of the CLI for these images (one style).
    pub fn new(content: Option<Rgb32FImage>, style: Rgb32FImage, backend: Backend) -> Self {
        JobSpec {
            content,
            styles: vec![StyleImage {
                image: style,
                weight: 1.0,
            }],
            size: 512,
            style_size: None,
            style_scale: None,
            colours: PreserveColors::None,
            multiscale: Multiscale::Auto,
            start_size: 256,
            stage_iterations: 100,
            init: InitSpec::Noise,
            fit_history: true,
            memory_limit: None,
            tile: TileChoice::Auto,
            tile_given: None,
            backend,
            snapshot_every: None,
            config: StyleConfig::default(),
            resume: None,
        }
    }
}
