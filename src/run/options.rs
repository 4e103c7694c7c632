//! A transfer's options as the user names them, with the command line's names and
//! defaults, and their translation into a [`JobSpec`]: the one place every front end (the
//! `nstyle` command, `nstyle batch` manifests, the Python package) turns options into a job.
//!
//! Options can be set from text by their canonical kebab-case name ([`TransferOptions::set`]),
//! which is how manifest columns and Python keywords arrive; errors name the option
//! ([`Error::InvalidValue`]) so each front end spells it its own way.

use super::spec::{InitSpec, JobSpec, Multiscale, StyleImage, TileChoice};
use crate::backend::Backend;
use crate::colour::PreserveColors;
use crate::engine::{ConvAlgorithm, Pooling};
use crate::loss::blend::normalised_weights;
use crate::loss::{parse_layer_weights, LossOptions, Method, StyleSpec};
use crate::optim::OptimizerKind;
use crate::vgg::{Layer, Vgg19Weights};
use crate::{Error, Result, StyleConfig};
use image::Rgb32FImage;
use std::path::{Path, PathBuf};

/// Defaults shared by every front end (the command line's `--help` shows these).
pub mod defaults {
    pub const STYLE_LOSS: &str = "gram";
    /// jcjohnson/neural-style's balance under our beta' rule (docs/QUALITY.md): with the
    /// layer weights below it meets that tool's content distance and beats its style
    /// distance and grain; 100 paints harder at a higher content distance.
    pub const STYLE_WEIGHT: f64 = 25.0;
    pub const TV_WEIGHT: f64 = 1.0;
    pub const CONTENT_WEIGHT: f64 = 1.0;
    /// `w_l = (64 / N_l)^2`: Eq. 6 normalises each layer's Gram by its positions only, so
    /// relu4_1 (512 channels) dominates the style gradient; these weights make it the
    /// normalisation by `N_l M_l` that jcjohnson's and crowsonkb's tools use, which brings
    /// the painting's brush-scale texture (docs/QUALITY.md). The paper's equal weights are
    /// [`STYLE_LAYER_NAMES`].
    pub const STYLE_LAYERS: &str = "relu1_1:64,relu2_1:16,relu3_1:4,relu4_1:1,relu5_1:1";
    /// The paper's style layers, equal weights (`losses` reports them raw).
    pub const STYLE_LAYER_NAMES: &str = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1";
    pub const CONTENT_LAYER: &str = "relu4_2";
    pub const SIZE: u32 = 512;
    pub const ITERATIONS: usize = 500;
    pub const START_SIZE: u32 = 256;
    pub const STAGE_ITERATIONS: usize = 100;
    /// The paper's rule on the image's relative change is off by default: it stopped the
    /// default pictures after 32-53 iterations, still improving ([`MIN_PROGRESS`] instead).
    pub const TOL: f64 = 0.0;
    pub const MIN_PROGRESS: f64 = 0.02;
    pub const LR: f64 = 5.0;
    pub const HISTORY: usize = 20;
    pub const INIT: &str = "noise";
    pub const GAUSSIAN_SIGMA2_SCALE: f64 = 1.0;
    pub const POLY_C: f64 = 0.0;
    pub const SEED: u64 = 0;
}

/// The optimiser, by name (`lbfgs`, `adam`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OptimizerChoice {
    #[default]
    Lbfgs,
    Adam,
}

/// Where the first stage starts, before any image is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitChoice<'a> {
    Noise,
    Content,
    /// An image file, resized to the output size.
    File(&'a Path),
}

/// Every option of a transfer, named and defaulted as on the command line
/// (`--style-weight` is `style_weight`).
#[derive(Clone, Debug)]
pub struct TransferOptions {
    pub style_loss: String,
    pub style_weight: f64,
    pub tv_weight: f64,
    pub content_weight: f64,
    /// `METHOD:V,...`; `None`: the automatic rule.
    pub beta_prime: Option<String>,
    /// `relu1_1,relu2_1:0.5,...`
    pub style_layers: String,
    pub content_layer: String,
    pub size: u32,
    pub style_size: Option<u32>,
    /// Style images' long edge as a multiple of `size`.
    pub style_scale: Option<f64>,
    /// Blend weights of the style images, `0.7,0.3` (`None`: equal).
    pub style_blend: Option<String>,
    /// Keep the photo's colours: `none`, `luminance` or `match`.
    pub preserve_colors: PreserveColors,
    pub iterations: usize,
    pub multiscale: Multiscale,
    pub start_size: u32,
    pub stage_iterations: usize,
    pub tol: f64,
    pub min_progress: f64,
    pub optimizer: OptimizerChoice,
    pub lr: f64,
    /// `None`: [`defaults::HISTORY`], lowered when a large image would not fit.
    pub history: Option<usize>,
    /// `noise`, `content` or an image file.
    pub init: String,
    pub gaussian_sigma2_scale: f64,
    /// GiB; `None`: the available memory.
    pub max_memory: Option<f64>,
    /// Tiled evaluation: `auto`, `off` or a tile edge in px.
    pub tile: TileChoice,
    /// The edge given when `tile` rounded it to a multiple of 16.
    pub tile_given: Option<usize>,
    /// `None`: `$NSTYLE_WEIGHTS`, else the bundled copy.
    pub weights: Option<PathBuf>,
    pub pooling: Pooling,
    /// `None`: Winograd.
    pub conv: Option<ConvAlgorithm>,
    pub poly_c: f64,
    pub swd_projections: Option<usize>,
    pub seed: u64,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            style_loss: defaults::STYLE_LOSS.into(),
            style_weight: defaults::STYLE_WEIGHT,
            tv_weight: defaults::TV_WEIGHT,
            content_weight: defaults::CONTENT_WEIGHT,
            beta_prime: None,
            style_layers: defaults::STYLE_LAYERS.into(),
            content_layer: defaults::CONTENT_LAYER.into(),
            size: defaults::SIZE,
            style_size: None,
            style_scale: None,
            style_blend: None,
            preserve_colors: PreserveColors::None,
            iterations: defaults::ITERATIONS,
            multiscale: Multiscale::Auto,
            start_size: defaults::START_SIZE,
            stage_iterations: defaults::STAGE_ITERATIONS,
            tol: defaults::TOL,
            min_progress: defaults::MIN_PROGRESS,
            optimizer: OptimizerChoice::Lbfgs,
            lr: defaults::LR,
            history: None,
            init: defaults::INIT.into(),
            gaussian_sigma2_scale: defaults::GAUSSIAN_SIGMA2_SCALE,
            max_memory: None,
            tile: TileChoice::Auto,
            tile_given: None,
            weights: None,
            pooling: Pooling::Average,
            conv: None,
            poly_c: defaults::POLY_C,
            swd_projections: None,
            seed: defaults::SEED,
        }
    }
}

/// The canonical name of `name` (`style_weight` or `style-weight` -> `style-weight`) if it
/// is one of `names`.
fn canonical(names: &'static [&'static str], name: &str) -> Option<&'static str> {
    let key = name.trim().replace('_', "-").to_ascii_lowercase();
    names.iter().copied().find(|n| *n == key)
}

fn number<T: std::str::FromStr>(option: &'static str, v: &str, what: &str) -> Result<T> {
    v.trim()
        .parse()
        .map_err(|_| Error::invalid(option, format!("must be {what}, got '{v}'")))
}

fn float(option: &'static str, v: &str) -> Result<f64> {
    number(option, v, "a number")
}

fn whole<T: std::str::FromStr>(option: &'static str, v: &str) -> Result<T> {
    number(option, v, "a whole number")
}

/// One of `choices` (`a|b|c`), by name.
fn choice<T: Copy>(option: &'static str, v: &str, choices: &[(&str, T)]) -> Result<T> {
    let key = v.trim().to_ascii_lowercase();
    choices
        .iter()
        .find(|(n, _)| *n == key)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|c| c.0).collect();
            Error::invalid(
                option,
                format!("must be one of {}, got '{v}'", names.join(", ")),
            )
        })
}

fn pooling(v: &str) -> Result<Pooling> {
    choice(
        "pooling",
        v,
        &[
            ("avg", Pooling::Average),
            ("average", Pooling::Average),
            ("max", Pooling::Max),
        ],
    )
}

fn conv(v: &str) -> Result<ConvAlgorithm> {
    choice(
        "conv",
        v,
        &[
            ("winograd", ConvAlgorithm::Winograd),
            ("im2col", ConvAlgorithm::Im2col),
            ("winograd-bf16", ConvAlgorithm::WinogradBf16),
        ],
    )
}

/// `METHOD:V,...`
fn parse_beta_prime(s: &str) -> Result<Vec<(Method, f64)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (m, v) = p.split_once(':').ok_or_else(|| {
                Error::invalid("beta-prime", format!("entry '{p}' must be METHOD:VALUE"))
            })?;
            let v: f64 = v.trim().parse().map_err(|_| {
                Error::invalid("beta-prime", format!("value '{v}' is not a number"))
            })?;
            Ok((m.parse::<Method>()?, v))
        })
        .collect()
}

impl TransferOptions {
    /// Every option [`TransferOptions::set`] knows, by canonical name.
    pub const NAMES: &'static [&'static str] = &[
        "style-loss",
        "style-weight",
        "tv-weight",
        "content-weight",
        "beta-prime",
        "style-layers",
        "content-layer",
        "size",
        "style-size",
        "style-scale",
        "style-blend",
        "preserve-colors",
        "iterations",
        "multiscale",
        "start-size",
        "stage-iterations",
        "tol",
        "min-progress",
        "optimizer",
        "lr",
        "history",
        "init",
        "gaussian-sigma2-scale",
        "max-memory",
        "tile",
        "weights",
        "pooling",
        "conv",
        "poly-c",
        "swd-projections",
        "seed",
    ];

    /// The canonical name of an option (`style_weight` -> `style-weight`), if it is one.
    pub fn canonical_name(name: &str) -> Option<&'static str> {
        canonical(Self::NAMES, name)
    }

    /// Sets one option from text, as a manifest cell or a keyword argument gives it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let Some(option) = Self::canonical_name(name) else {
            return Err(Error::option(format!("unknown option '{name}'")));
        };
        let v = value.trim();
        match option {
            "style-loss" => self.style_loss = v.into(),
            "style-weight" => self.style_weight = float(option, v)?,
            "tv-weight" => self.tv_weight = float(option, v)?,
            "content-weight" => self.content_weight = float(option, v)?,
            "beta-prime" => self.beta_prime = Some(v.into()),
            "style-layers" => self.style_layers = v.into(),
            "content-layer" => self.content_layer = v.into(),
            "size" => self.size = whole(option, v)?,
            "style-size" => self.style_size = Some(whole(option, v)?),
            "style-scale" => self.style_scale = Some(float(option, v)?),
            "style-blend" => self.style_blend = Some(v.into()),
            "preserve-colors" => self.preserve_colors = choice(option, v, PreserveColors::CHOICES)?,
            "iterations" => self.iterations = whole(option, v)?,
            "multiscale" => {
                self.multiscale = choice(
                    option,
                    v,
                    &[
                        ("auto", Multiscale::Auto),
                        ("on", Multiscale::On),
                        ("off", Multiscale::Off),
                    ],
                )?
            }
            "start-size" => self.start_size = whole(option, v)?,
            "stage-iterations" => self.stage_iterations = whole(option, v)?,
            "tol" => self.tol = float(option, v)?,
            "min-progress" => self.min_progress = float(option, v)?,
            "optimizer" => {
                self.optimizer = choice(
                    option,
                    v,
                    &[
                        ("lbfgs", OptimizerChoice::Lbfgs),
                        ("adam", OptimizerChoice::Adam),
                    ],
                )?
            }
            "lr" => self.lr = float(option, v)?,
            "history" => self.history = Some(whole(option, v)?),
            "init" => self.init = v.into(),
            "gaussian-sigma2-scale" => self.gaussian_sigma2_scale = float(option, v)?,
            "max-memory" => self.max_memory = Some(float(option, v)?),
            "tile" => (self.tile, self.tile_given) = TileChoice::parse(v)?,
            "weights" => self.weights = Some(PathBuf::from(v)),
            "pooling" => self.pooling = pooling(v)?,
            "conv" => self.conv = Some(conv(v)?),
            "poly-c" => self.poly_c = float(option, v)?,
            "swd-projections" => self.swd_projections = Some(whole(option, v)?),
            "seed" => self.seed = whole(option, v)?,
            _ => unreachable!("every name in NAMES is handled"),
        }
        Ok(())
    }

    /// One optimisation's settings (no images needed); `with_content: false` is style
    /// reconstruction (alpha = 0).
    pub fn style_config(&self, with_content: bool) -> Result<StyleConfig> {
        let optimizer = match self.optimizer {
            OptimizerChoice::Lbfgs => OptimizerKind::Lbfgs {
                history: self.history.unwrap_or(defaults::HISTORY),
            },
            OptimizerChoice::Adam => OptimizerKind::Adam { lr: self.lr },
        };
        let cfg = StyleConfig {
            style: self.style_loss.parse::<StyleSpec>()?,
            style_layers: parse_layer_weights(&self.style_layers)?,
            content_layer: self.content_layer.parse::<Layer>()?,
            content_weight: if with_content {
                self.content_weight
            } else {
                0.0
            },
            style_weight: self.style_weight,
            tv_weight: self.tv_weight,
            beta_prime: self
                .beta_prime
                .as_deref()
                .map(parse_beta_prime)
                .transpose()?
                .unwrap_or_default(),
            loss: LossOptions {
                poly_c: self.poly_c,
                gaussian_sigma2_scale: self.gaussian_sigma2_scale,
                gaussian_exact_sigma2: None,
                swd_projections: self.swd_projections,
                swd_directions: None,
            },
            iterations: self.iterations,
            tol: self.tol,
            min_progress: self.min_progress,
            optimizer,
            seed: self.seed,
            tile: None,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The backend (Winograd unless `conv` says otherwise); refused where the CPU lacks
    /// what it needs.
    pub fn backend(&self) -> Result<Backend> {
        Backend::cpu(self.pooling, self.conv.unwrap_or(ConvAlgorithm::Winograd))
    }

    /// The cheap checks, before any image is decoded: the settings and the backend.
    pub fn check(&self, with_content: bool) -> Result<()> {
        self.style_config(with_content)?;
        self.backend()?;
        Ok(())
    }

    /// `weights`, else `$NSTYLE_WEIGHTS`, else the bundled copy.
    pub fn load_weights(&self) -> Result<Vgg19Weights> {
        Vgg19Weights::resolve(self.weights.as_deref())
    }

    /// What `init` names.
    pub fn init_choice(&self) -> InitChoice<'_> {
        match self.init.as_str() {
            "noise" => InitChoice::Noise,
            "content" => InitChoice::Content,
            path => InitChoice::File(Path::new(path)),
        }
    }

    /// The blend weights of `count` style images, normalised to sum 1: `style-blend`
    /// (one number per image, >= 0, not all 0), else equal.
    pub fn style_weights(&self, count: usize) -> Result<Vec<f64>> {
        let Some(text) = &self.style_blend else {
            return Ok(vec![1.0 / count.max(1) as f64; count]);
        };
        let weights = text
            .split(',')
            .map(|w| {
                w.trim().parse::<f64>().map_err(|_| {
                    Error::invalid(
                        "style-blend",
                        format!("must be numbers separated by commas, got '{text}'"),
                    )
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        if weights.len() != count {
            let plural = |n: usize, word: &str| match n {
                1 => format!("1 {word}"),
                n => format!("{n} {word}s"),
            };
            return Err(Error::invalid(
                "style-blend",
                format!(
                    "gives {} for {} (one per painting)",
                    plural(weights.len(), "weight"),
                    plural(count, "style image")
                ),
            ));
        }
        normalised_weights(&weights)
    }

    /// The whole job for these decoded images (`content: None` is style reconstruction;
    /// several styles blend with [`TransferOptions::style_weights`]); `init` is what
    /// [`TransferOptions::init_choice`] named, decoded where it is a file.
    pub fn job_spec(
        &self,
        content: Option<Rgb32FImage>,
        styles: Vec<Rgb32FImage>,
        init: InitSpec,
    ) -> Result<JobSpec> {
        let config = self.style_config(content.is_some())?;
        let backend = self.backend()?;
        let weights = self.style_weights(styles.len())?;
        let mut styles = styles.into_iter();
        let first = styles
            .next()
            .ok_or_else(|| Error::option("no style image given"))?;
        let mut spec = JobSpec::new(content, first, backend);
        spec.styles[0].weight = weights[0];
        spec.styles.extend(
            styles
                .zip(&weights[1..])
                .map(|(image, &weight)| StyleImage { image, weight }),
        );
        Ok(JobSpec {
            size: self.size,
            style_size: self.style_size,
            style_scale: self.style_scale,
            colours: self.preserve_colors,
            multiscale: self.multiscale,
            start_size: self.start_size,
            stage_iterations: self.stage_iterations,
            init,
            fit_history: self.history.is_none(),
            memory_limit: self.max_memory.map(|g| g * (1u64 << 30) as f64),
            tile: self.tile,
            tile_given: self.tile_given,
            config,
            ..spec
        })
    }
}

/// The options of `nstyle losses` (raw per-layer values), named as on its command line.
#[derive(Clone, Debug)]
pub struct LossesOptions {
    /// Methods to report (names only); `None`: every registered method.
    pub style_loss: Option<String>,
    /// Layer names only (values are raw).
    pub style_layers: String,
    pub content_layer: String,
    /// Long edge the evaluated image is resized to; `None`: its own size.
    pub size: Option<u32>,
    /// The exact quadratic-time Gaussian MMD with this sigma^2.
    pub gaussian_sigma2: Option<f64>,
    /// Fixed sliced-Wasserstein directions (`DIR/relu1_1.npy`, ...).
    pub swd_directions: Option<PathBuf>,
    pub poly_c: f64,
    pub swd_projections: Option<usize>,
    pub seed: u64,
    pub pooling: Pooling,
    /// `None`: im2col, so reference numbers carry no Winograd rounding.
    pub conv: Option<ConvAlgorithm>,
    pub weights: Option<PathBuf>,
    /// Evaluate in tiles with cores of this many px (`None`: the whole image at once).
    pub tile: Option<usize>,
}

impl Default for LossesOptions {
    fn default() -> Self {
        LossesOptions {
            style_loss: None,
            style_layers: defaults::STYLE_LAYER_NAMES.into(),
            content_layer: defaults::CONTENT_LAYER.into(),
            size: None,
            gaussian_sigma2: None,
            swd_directions: None,
            poly_c: defaults::POLY_C,
            swd_projections: None,
            seed: defaults::SEED,
            pooling: Pooling::Average,
            conv: None,
            weights: None,
            tile: None,
        }
    }
}

impl LossesOptions {
    pub const NAMES: &'static [&'static str] = &[
        "style-loss",
        "style-layers",
        "content-layer",
        "size",
        "gaussian-sigma2",
        "swd-directions",
        "poly-c",
        "swd-projections",
        "seed",
        "pooling",
        "conv",
        "weights",
        "tile",
    ];

    pub fn canonical_name(name: &str) -> Option<&'static str> {
        canonical(Self::NAMES, name)
    }

    /// Sets one option from text.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let Some(option) = Self::canonical_name(name) else {
            return Err(Error::option(format!("unknown option '{name}'")));
        };
        let v = value.trim();
        match option {
            "style-loss" => self.style_loss = Some(v.into()),
            "style-layers" => self.style_layers = v.into(),
            "content-layer" => self.content_layer = v.into(),
            "size" => self.size = Some(whole(option, v)?),
            "gaussian-sigma2" => self.gaussian_sigma2 = Some(float(option, v)?),
            "swd-directions" => self.swd_directions = Some(PathBuf::from(v)),
            "poly-c" => self.poly_c = float(option, v)?,
            "swd-projections" => self.swd_projections = Some(whole(option, v)?),
            "seed" => self.seed = whole(option, v)?,
            "pooling" => self.pooling = pooling(v)?,
            "conv" => self.conv = Some(conv(v)?),
            "weights" => self.weights = Some(PathBuf::from(v)),
            "tile" => {
                self.tile = match TileChoice::parse(v)?.0 {
                    TileChoice::Core(core) => Some(core),
                    TileChoice::Auto | TileChoice::Off => None,
                }
            }
            _ => unreachable!("every name in NAMES is handled"),
        }
        Ok(())
    }

    /// The backend (im2col unless `conv` says otherwise).
    pub fn backend(&self) -> Result<Backend> {
        Backend::cpu(self.pooling, self.conv.unwrap_or(ConvAlgorithm::Im2col))
    }

    /// `weights`, else `$NSTYLE_WEIGHTS`, else the bundled copy.
    pub fn load_weights(&self) -> Result<Vgg19Weights> {
        Vgg19Weights::resolve(self.weights.as_deref())
    }
}
