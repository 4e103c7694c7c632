//! The command line: argument definitions (clap), and their translation into the
//! library's descriptions (parse, then derive: nothing here runs anything).

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use nstyle::colour::PreserveColors;
use nstyle::engine::{ConvAlgorithm, Pooling};
use nstyle::image_io::{self, LoadedImage};
use nstyle::loss::Method;
use nstyle::run::options::{defaults, OptimizerChoice};
use nstyle::run::{
    InitChoice, InitSpec, JobSpec, LossesOptions, Multiscale, TileChoice, TransferOptions,
};
use std::path::{Path, PathBuf};

/// `--help`'s closing text; the list of style losses comes from the registry.
pub fn examples() -> String {
    format!(
        "\
Examples:
  nstyle photo.jpg painting.jpg -o out.png
  nstyle photo.jpg painting.jpg -o out.png --style-loss mmd-linear --style-weight 2
  nstyle photo.jpg painting.jpg -o out.png --style-loss mmd-linear:0.5,mmd-gaussian:0.5
  nstyle photo.jpg painting.jpg -o out.png --style-loss bn --size 256 --iterations 200
  nstyle photo.jpg painting.jpg -o out.png --preserve-colors luminance
  nstyle photo.jpg starry.jpg scream.jpg -o out.png --style-blend 0.7,0.3
  nstyle photo.jpg painting.jpg -o out.png --style-scale 0.5
  nstyle --style-only painting.jpg -o texture.png --size 256
  nstyle losses --content photo.jpg --style painting.jpg --image out.png --size 128
  nstyle batch jobs.csv --size 256 --shard 0/4
  nstyle bench --sizes 256,512
  nstyle grid photo.jpg painting.jpg --rows style-loss=mmd-linear,bn --cols style-weight=0.5,1,5 --out sweep
  nstyle figure 2 --out fig2
  nstyle score out.png --content photo.jpg --style painting.jpg

Style losses (--style-loss): {}
or a fusion NAME:W,NAME:W (blend weights are normalised to sum to 1).
Layers: relu1_1 relu1_2 relu2_1 relu2_2 relu3_1..relu3_4 relu4_1..relu4_4 relu5_1.",
        Method::names_sentence()
    )
}

/// Neural style transfer as distribution alignment (Li et al., "Demystifying Neural Style
/// Transfer", 2017): the style of an image is the distribution of its VGG-19 features.
#[derive(Parser, Debug)]
#[command(name = "nstyle", version)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the raw per-layer loss values of an image as JSON (and optionally its gradient).
    Losses(Box<LossesArgs>),
    /// Time one iteration (forward + input gradient, Gram + content losses) per size.
    Bench(BenchArgs),
    /// A local web app: pick a photo and a painting, watch the run, download the result.
    #[cfg(feature = "web")]
    Serve(ServeArgs),
    /// Run many transfers from a manifest (CSV or JSON lines) or two folders; idempotent
    /// and shardable (--shard I/N, Kubernetes Indexed Jobs, Slurm arrays).
    Batch(Box<BatchArgs>),
    /// Sweep transfer options over rows and columns: every cell, a labelled contact sheet, grid.json.
    Grid(super::grid::GridArgs),
    /// Regenerate a figure of the paper (1-4) as a grid (docs/FIGURES.md).
    Figure(super::figure::FigureArgs),
    /// Score results against their photo and painting: grain, style and content distances.
    Score(super::score::ScoreArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerName {
    Lbfgs,
    Adam,
}

impl From<OptimizerName> for OptimizerChoice {
    fn from(o: OptimizerName) -> Self {
        match o {
            OptimizerName::Lbfgs => OptimizerChoice::Lbfgs,
            OptimizerName::Adam => OptimizerChoice::Adam,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PoolingName {
    Avg,
    Max,
}

impl From<PoolingName> for Pooling {
    fn from(p: PoolingName) -> Self {
        match p {
            PoolingName::Avg => Pooling::Average,
            PoolingName::Max => Pooling::Max,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ConvName {
    Winograd,
    Im2col,
    /// Winograd with bf16 products (AVX512-BF16 CPUs only).
    WinogradBf16,
}

impl From<ConvName> for ConvAlgorithm {
    fn from(c: ConvName) -> Self {
        match c {
            ConvName::Winograd => ConvAlgorithm::Winograd,
            ConvName::Im2col => ConvAlgorithm::Im2col,
            ConvName::WinogradBf16 => ConvAlgorithm::WinogradBf16,
        }
    }
}

/// `--preserve-colors` (see `nstyle::colour`).
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum ColoursName {
    /// The transfer's own colours.
    None,
    /// Transfer the luminance only (YIQ), keep the photo's chroma.
    #[value(alias = "lum")]
    Luminance,
    /// Recolour the paintings to the photo's colour mean and covariance first.
    #[value(aliases = ["color-match", "colour-match"])]
    Match,
}

impl From<ColoursName> for PreserveColors {
    fn from(c: ColoursName) -> Self {
        match c {
            ColoursName::None => PreserveColors::None,
            ColoursName::Luminance => PreserveColors::Luminance,
            ColoursName::Match => PreserveColors::Match,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum MultiscaleWhen {
    Auto,
    On,
    Off,
}

impl From<MultiscaleWhen> for Multiscale {
    fn from(m: MultiscaleWhen) -> Self {
        match m {
            MultiscaleWhen::Auto => Multiscale::Auto,
            MultiscaleWhen::On => Multiscale::On,
            MultiscaleWhen::Off => Multiscale::Off,
        }
    }
}

/// Options shared by the commands that run the network.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// VGG-19 weights (safetensors, conv1_1..conv5_1, OIHW). Default: $NSTYLE_WEIGHTS, else the bundled copy.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// 2x2 pooling between blocks: avg (the paper's code, Gatys et al.) or max (original VGG).
    #[arg(long, value_enum, default_value = "avg")]
    pub pooling: PoolingName,
    /// Convolution algorithm: winograd (F(4x4,3x3), about 2x faster, ~1e-5 relative rounding
    /// differences) or im2col (direct sums). Default: winograd for a transfer, im2col for `losses`.
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    pub conv: Option<ConvName>,
    /// c of the polynomial kernel (x^T y + c)^2 for mmd-poly (0 makes it the Gram loss x 4N^2).
    #[arg(long, default_value_t = defaults::POLY_C, value_name = "C")]
    pub poly_c: f64,
    /// Directions per layer for sliced-wasserstein (default: the layer's channel count).
    #[arg(long, value_name = "K")]
    pub swd_projections: Option<usize>,
    /// Seed for the noise image and the Gaussian kernel's random pairing.
    #[arg(long, default_value_t = defaults::SEED)]
    pub seed: u64,
}

/// The layers the losses use (shared by the transfer and `losses`).
#[derive(Args, Debug, Clone)]
pub struct LayerArgs {
    /// Style layers with optional weights w_l, e.g. relu1_1,relu2_1:0.5. Transfer default:
    /// relu1_1:64,relu2_1:16,relu3_1:4,relu4_1:1,relu5_1:1 (w_l = (64/N_l)^2); the paper's
    /// equal weights: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 (`losses`: names only, that list).
    #[arg(long, value_name = "LAYERS")]
    pub style_layers: Option<String>,
    /// Content layer.
    #[arg(long, default_value = defaults::CONTENT_LAYER, value_name = "LAYER")]
    pub content_layer: String,
}

#[derive(Args, Debug)]
pub struct TransferArgs {
    /// CONTENT STYLE [STYLE...] (or only STYLE [STYLE...] with --style-only); several
    /// paintings blend (--style-blend).
    #[arg(value_name = "IMAGES", num_args = 1.., required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output image (.png, .jpg, .tif); written atomically.
    #[arg(short, long, value_name = "FILE", required = true)]
    pub output: Option<PathBuf>,
    /// Style reconstruction / texture synthesis: STYLE images only, no content (alpha = 0);
    /// the output takes the first one's shape.
    #[arg(long)]
    pub style_only: bool,
    #[command(flatten)]
    pub job: JobArgs,
    /// Save the current image every N iterations (OUT_iterN.ext).
    #[arg(long, value_name = "N")]
    pub save_every: Option<usize>,
    /// Continue a stopped run of the same job from its checkpoint (OUT.checkpoint/, written
    /// at every stage end, snapshot and stop; removed when a run completes).
    #[arg(long)]
    pub resume: bool,
    /// Write 16 bits per channel (PNG or TIFF output).
    #[arg(long = "16bit")]
    pub sixteen_bit: bool,
    /// Per-iteration losses as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Print only errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Watch the run in a browser at ADDR (default 127.0.0.1:8080, this computer only);
    /// stopping it there is Ctrl-C.
    #[cfg(feature = "web")]
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    pub web: Option<String>,
    /// Let --web listen on an address other computers can reach.
    #[cfg(feature = "web")]
    #[arg(long, requires = "web")]
    pub allow_remote: bool,
}

/// The options of one transfer (shared by the transfer and `batch`): the library's
/// [`TransferOptions`], with its names and defaults.
#[derive(Args, Debug, Clone)]
pub struct JobArgs {
    /// Style loss: one method or a fusion, e.g. gram, bn, mmd-linear:0.5,mmd-gaussian:0.5.
    #[arg(long, default_value = defaults::STYLE_LOSS, value_name = "SPEC")]
    pub style_loss: String,
    /// gamma, the balance factor (beta = gamma beta'): 0.1 keeps the photo, 200 is mostly painting.
    #[arg(long, default_value_t = defaults::STYLE_WEIGHT, value_name = "GAMMA")]
    pub style_weight: f64,
    /// Weight of total variation (neighbouring-pixel differences, squared), balanced like a
    /// style method (relative to the content gradient at the probe); 0 turns it off.
    #[arg(long, default_value_t = defaults::TV_WEIGHT, value_name = "W")]
    pub tv_weight: f64,
    /// alpha, the content loss weight.
    #[arg(long, default_value_t = defaults::CONTENT_WEIGHT, value_name = "ALPHA")]
    pub content_weight: f64,
    /// beta' by hand per method (METHOD:V,...); by default chosen so that style and content
    /// gradients have the same size at a noise image.
    #[arg(long, value_name = "SPEC")]
    pub beta_prime: Option<String>,
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Long edge of the output in pixels (the content image is resized to it).
    #[arg(long, default_value_t = defaults::SIZE, value_name = "PX")]
    pub size: u32,
    /// Long edge of the style images (default: --size).
    #[arg(long, value_name = "PX")]
    pub style_size: Option<u32>,
    /// Long edge of the style images as a multiple of --size, e.g. 0.5 (instead of
    /// --style-size).
    #[arg(long, value_name = "F")]
    pub style_scale: Option<f64>,
    /// Blend weights of several paintings, one per painting, e.g. 0.7,0.3 (normalised to
    /// sum 1; default: equal). The style target is the weighted mixture of the paintings'
    /// feature distributions.
    #[arg(long, value_name = "W,W,...")]
    pub style_blend: Option<String>,
    /// Keep the photo's colours: luminance (transfer the luminance only and keep the
    /// photo's chroma, YIQ; Gatys et al. 2017) or match (recolour the paintings to the
    /// photo's colour mean and covariance before the transfer).
    #[arg(long, value_enum, default_value = "none", value_name = "MODE")]
    pub preserve_colors: ColoursName,
    /// Maximum number of optimiser iterations (of the first stage when multi-scale).
    #[arg(long, default_value_t = defaults::ITERATIONS, value_name = "N")]
    pub iterations: usize,
    /// Coarse-to-fine: optimise from --start-size up to --size, x1.41 per stage. auto: on
    /// when --size is above 256.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub multiscale: MultiscaleWhen,
    /// Long edge of the first multi-scale stage.
    #[arg(long, default_value_t = defaults::START_SIZE, value_name = "PX")]
    pub start_size: u32,
    /// Maximum iterations of each multi-scale stage after the first.
    #[arg(long, default_value_t = defaults::STAGE_ITERATIONS, value_name = "N")]
    pub stage_iterations: usize,
    /// Stop when |x_t - x_{t-1}| / |x_t| falls below this (the paper's rule: 0.005; default 0, off).
    #[arg(long, default_value_t = defaults::TOL)]
    pub tol: f64,
    /// Stop when the objective fell by less than this fraction over the last 20 iterations
    /// (0 disables).
    #[arg(long, default_value_t = defaults::MIN_PROGRESS, value_name = "F")]
    pub min_progress: f64,
    /// Optimiser.
    #[arg(long, value_enum, default_value = "lbfgs")]
    pub optimizer: OptimizerName,
    /// Adam's learning rate, in pixel units (0..255).
    #[arg(long, default_value_t = defaults::LR)]
    pub lr: f64,
    /// L-BFGS history (correction pairs kept). Default 20, lowered (to 5 at least) when a
    /// large image would not fit in memory otherwise.
    #[arg(long, value_name = "N")]
    pub history: Option<usize>,
    /// Start from: noise (seeded white noise), content, or an image file.
    #[arg(long, default_value = defaults::INIT, value_name = "noise|content|FILE")]
    pub init: String,
    /// Multiplier of the Gaussian kernel's bandwidth sigma^2 (mean squared distance of the sampled pairs).
    #[arg(long, default_value_t = defaults::GAUSSIAN_SIGMA2_SCALE, value_name = "K")]
    pub gaussian_sigma2_scale: f64,
    /// Refuse to start if the estimated memory exceeds this many GiB (default: available memory,
    /// or the container's limit where lower).
    #[arg(long, value_name = "GIB")]
    pub max_memory: Option<f64>,
    /// Evaluate in tiles of PX (a multiple of 16): the same numbers in a fraction of the memory,
    /// about 2x the time. auto: only where a stage would not fit the memory limit.
    #[arg(long, default_value = "auto", value_name = "PX|auto|off", value_parser = parse_tile)]
    pub tile: TileArg,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `--tile` as parsed: the choice, and the edge given where it was rounded.
pub type TileArg = (TileChoice, Option<usize>);

fn parse_tile(v: &str) -> std::result::Result<TileArg, String> {
    TileChoice::parse(v).map_err(|e| e.to_string())
}

/// `nstyle serve`: the web app's address, data and limits.
#[cfg(feature = "web")]
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; loopback (this computer only) unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub addr: String,
    /// Keep results and their settings in DIR (created if missing), so they survive a restart.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Listen on a non-loopback address: anyone who reaches it can run and stop jobs.
    #[arg(long)]
    pub allow_remote: bool,
    /// Largest upload, MiB (images are also limited to 100 megapixels, like files).
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub max_upload_mib: u64,
    /// Jobs that may wait behind the running one.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_queue: usize,
    /// Open connections at most (each open page holds two).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub max_connections: usize,
    /// VGG-19 weights (default: $NSTYLE_WEIGHTS, else the bundled copy).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LossesArgs {
    /// Content image (optional: without it there is no content term).
    #[arg(long, value_name = "FILE")]
    pub content: Option<PathBuf>,
    /// Style image.
    #[arg(long, value_name = "FILE", required = true)]
    pub style: PathBuf,
    /// Image to evaluate: an image file, or a float32 .npy [3,H,W] in network input space.
    #[arg(long, value_name = "FILE", required = true)]
    pub image: PathBuf,
    /// Long edge to resize the image to (default: its own size; it must then match the content).
    #[arg(long, value_name = "PX")]
    pub size: Option<u32>,
    /// Methods to report (names only; default: every method).
    #[arg(long, value_name = "SPEC")]
    pub style_loss: Option<String>,
    /// Fixed sliced-Wasserstein directions: DIR/relu1_1.npy ... (float32 or float64 [K, N],
    /// used as given), so that a value can be reproduced exactly.
    #[arg(long, value_name = "DIR")]
    pub swd_directions: Option<PathBuf>,
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Use the exact quadratic-time Gaussian MMD with this sigma^2 (else the linear-time estimator).
    #[arg(long, value_name = "V")]
    pub gaussian_sigma2: Option<f64>,
    /// Write d(total)/d(image) as float32 .npy [3,H,W], total = L_content + sum of all raw style values.
    #[arg(long, value_name = "FILE")]
    pub grad_out: Option<PathBuf>,
    /// Evaluate in tiles of PX (a multiple of 16; the same values up to summation order).
    #[arg(long, default_value = "off", value_name = "PX|off", value_parser = parse_tile)]
    pub tile: TileArg,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct BatchArgs {
    /// CSV with a header (content, style, output, and columns named like transfer options,
    /// e.g. style_weight) or JSON lines with the same keys; paths relative to its folder.
    #[arg(
        value_name = "MANIFEST",
        required_unless_present = "photos",
        conflicts_with = "photos"
    )]
    pub manifest: Option<PathBuf>,
    /// Instead of a manifest: every image in DIR with every painting in --paintings,
    /// written to --out as PHOTO__PAINTING.png.
    #[arg(long, value_name = "DIR", requires_all = ["paintings", "out"])]
    pub photos: Option<PathBuf>,
    /// Folder of paintings (with --photos).
    #[arg(long, value_name = "DIR", requires = "photos")]
    pub paintings: Option<PathBuf>,
    /// Output folder (with --photos; created if missing).
    #[arg(long, value_name = "DIR", requires = "photos")]
    pub out: Option<PathBuf>,
    /// The run's summary JSON (done, skipped, failed rows). Default: beside the manifest
    /// (NAME.summary.json; NAME.shard-I-of-N.summary.json when sharded), or in --out.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Run only the rows whose index (0-based) mod N is I. Default: $JOB_COMPLETION_INDEX
    /// of N = --shard-count or $NSTYLE_SHARD_COUNT (Kubernetes Indexed Job), or
    /// $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT (Slurm array); else every row.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Number of shards when the index comes from $JOB_COMPLETION_INDEX (default:
    /// $NSTYLE_SHARD_COUNT).
    #[arg(long, value_name = "N")]
    pub shard_count: Option<usize>,
    /// Worker threads (default: one per core), so that several batches can share a machine.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write 16 bits per channel (PNG or TIFF outputs).
    #[arg(long = "16bit")]
    pub sixteen_bit: bool,
    /// Print only errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Options for every row (a manifest column of the same name overrides them).
    #[command(flatten)]
    pub job: JobArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Square image sizes to time.
    #[arg(long, default_value = "256,512,1024", value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// Timed iterations per size (median reported).
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Also run bench/torch_bench.py with this Python if it can import torch.
    #[arg(long, value_name = "PYTHON", default_value = "python3")]
    pub python: String,
    /// Skip the PyTorch comparison.
    #[arg(long)]
    pub no_torch: bool,
    /// Internal: time one size in this process and print JSON.
    #[arg(long, hide = true)]
    pub child: bool,
    #[arg(long, value_enum, default_value = "avg")]
    pub pooling: PoolingName,
    /// Convolution algorithm: winograd (F(4x4,3x3), about 2x faster, ~1e-5 relative rounding
    /// differences) or im2col (direct sums). Default: winograd for a transfer, im2col for `losses`.
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    pub conv: Option<ConvName>,
}

/// A decoded input image; its conversion notes are for the user.
pub fn load(path: &Path) -> Result<LoadedImage> {
    Ok(image_io::load_image(path)?)
}

impl JobArgs {
    /// The library's options, as given on the command line.
    pub fn options(&self) -> TransferOptions {
        TransferOptions {
            style_loss: self.style_loss.clone(),
            style_weight: self.style_weight,
            tv_weight: self.tv_weight,
            content_weight: self.content_weight,
            beta_prime: self.beta_prime.clone(),
            style_layers: self
                .layers
                .style_layers
                .clone()
                .unwrap_or_else(|| defaults::STYLE_LAYERS.into()),
            content_layer: self.layers.content_layer.clone(),
            size: self.size,
            style_size: self.style_size,
            style_scale: self.style_scale,
            style_blend: self.style_blend.clone(),
            preserve_colors: self.preserve_colors.into(),
            iterations: self.iterations,
            multiscale: self.multiscale.into(),
            start_size: self.start_size,
            stage_iterations: self.stage_iterations,
            tol: self.tol,
            min_progress: self.min_progress,
            optimizer: self.optimizer.into(),
            lr: self.lr,
            history: self.history,
            init: self.init.clone(),
            gaussian_sigma2_scale: self.gaussian_sigma2_scale,
            max_memory: self.max_memory,
            tile: self.tile.0,
            tile_given: self.tile.1,
            weights: self.model.weights.clone(),
            pooling: self.model.pooling.into(),
            conv: self.model.conv.map(Into::into),
            poly_c: self.model.poly_c,
            swd_projections: self.model.swd_projections,
            seed: self.model.seed,
        }
    }
}

impl LossesArgs {
    /// The library's options, as given on the command line.
    pub fn options(&self) -> LossesOptions {
        LossesOptions {
            style_loss: self.style_loss.clone(),
            style_layers: self
                .layers
                .style_layers
                .clone()
                .unwrap_or_else(|| defaults::STYLE_LAYER_NAMES.into()),
            content_layer: self.layers.content_layer.clone(),
            size: self.size,
            gaussian_sigma2: self.gaussian_sigma2,
            swd_directions: self.swd_directions.clone(),
            poly_c: self.model.poly_c,
            swd_projections: self.model.swd_projections,
            seed: self.model.seed,
            pooling: self.model.pooling.into(),
            conv: self.model.conv.map(Into::into),
            weights: self.model.weights.clone(),
            tile: match self.tile.0 {
                TileChoice::Core(core) => Some(core),
                TileChoice::Auto | TileChoice::Off => None,
            },
        }
    }
}

impl TransferArgs {
    /// The output path, checked for a writable directory and a known format.
    pub fn output(&self) -> Result<PathBuf> {
        let out = self.output.clone().context("missing --output")?;
        image_io::check_output_path(&out, self.sixteen_bit)?;
        Ok(out)
    }

    /// (content, styles) paths from the positional arguments.
    pub fn input_paths(&self) -> Result<(Option<&Path>, Vec<&Path>)> {
        let paths: Vec<&Path> = self.inputs.iter().map(PathBuf::as_path).collect();
        Ok(match (self.style_only, paths.split_first()) {
            (true, Some(_)) => (None, paths),
            (false, Some((c, styles))) if !styles.is_empty() => (Some(*c), styles.to_vec()),
            _ => bail!("expected CONTENT and STYLE images (or --style-only STYLE)"),
        })
    }

    /// The whole job: options first (cheap checks), then the images, decoded. Returns the
    /// images' conversion notes too, for the user.
    pub fn job_spec(&self) -> Result<(JobSpec, Vec<String>)> {
        let options = self.job.options();
        options.check(!self.style_only)?;
        let (content_path, style_paths) = self.input_paths()?;
        options.style_weights(style_paths.len())?;
        let mut notes = Vec::new();
        let mut decode = |p: &Path| -> Result<_> {
            let l = load(p)?;
            notes.extend(l.notes);
            Ok(l.image)
        };
        let content = content_path.map(&mut decode).transpose()?;
        let styles = style_paths
            .into_iter()
            .map(&mut decode)
            .collect::<Result<Vec<_>>>()?;
        let init = match options.init_choice() {
            InitChoice::Noise => InitSpec::Noise,
            InitChoice::Content => InitSpec::Content,
            InitChoice::File(path) => InitSpec::Image(decode(path)?),
        };
        let spec = JobSpec {
            snapshot_every: self.save_every,
            ..options.job_spec(content, styles, init)?
        };
        Ok((spec, notes))
    }
}
