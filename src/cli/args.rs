//! Command-line arguments and the three commands: transfer (default), `losses`, `bench`.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nstyle::engine::{ConvAlgorithm, CpuVgg19, FeatureNet, Pooling};
use nstyle::image_io::{self, LoadedImage};
use nstyle::loss::{parse_layer_weights, LossOptions, Method, StyleSpec};
use nstyle::multiscale::{self, StageInfo};
use nstyle::optim::OptimizerKind;
use nstyle::stylize::{self, Init, Iterate, StyleConfig};
use nstyle::tensor::InputImage;
use nstyle::{Layer, Vgg19Weights};
use serde_json::{json, Map, Value};
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  nstyle photo.jpg painting.jpg -o out.png
  nstyle photo.jpg painting.jpg -o out.png --style-loss mmd-linear --style-weight 2
  nstyle photo.jpg painting.jpg -o out.png --style-loss mmd-linear:0.5,mmd-gaussian:0.5
  nstyle photo.jpg painting.jpg -o out.png --style-loss bn --size 256 --iterations 200
  nstyle --style-only painting.jpg -o texture.png --size 256
  nstyle losses --content photo.jpg --style painting.jpg --image out.png --size 128
  nstyle bench --sizes 256,512

Style losses (--style-loss): gram (Gatys), mmd-linear, mmd-poly, mmd-gaussian, bn,
or a fusion NAME:W,NAME:W (blend weights are normalised to sum to 1).
Layers: relu1_1 relu1_2 relu2_1 relu2_2 relu3_1..relu3_4 relu4_1..relu4_4 relu5_1.";

/// Neural style transfer as distribution alignment (Li et al., "Demystifying Neural Style
/// Transfer", 2017): the style of an image is the distribution of its VGG-19 features.
#[derive(Parser, Debug)]
#[command(name = "nstyle", version, after_help = EXAMPLES)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    transfer: TransferArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the raw per-layer loss values of an image as JSON (and optionally its gradient).
    Losses(LossesArgs),
    /// Time one iteration (forward + input gradient, Gram + content losses) per size.
    Bench(BenchArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptimizerName {
    Lbfgs,
    Adam,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PoolingName {
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
enum ConvName {
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

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum MultiscaleWhen {
    Auto,
    On,
    Off,
}

const DEFAULT_HISTORY: usize = 20;
/// The smallest L-BFGS history chosen automatically to fit a large image in memory.
const MIN_AUTO_HISTORY: usize = 5;

/// `--multiscale auto` turns coarse-to-fine on above this long edge (see docs/DESIGN.md).
const MULTISCALE_AUTO_ABOVE: u32 = 512;

/// Options shared by the commands that run the network.
#[derive(Args, Debug, Clone)]
struct ModelArgs {
    /// VGG-19 weights (safetensors, conv1_1..conv5_1, OIHW). Default: $NSTYLE_WEIGHTS, else the bundled copy.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// 2x2 pooling between blocks: avg (the paper's code, Gatys et al.) or max (original VGG).
    #[arg(long, value_enum, default_value = "avg")]
    pooling: PoolingName,
    /// Convolution algorithm: winograd (F(4x4,3x3), about 2x faster, ~1e-5 relative rounding
    /// differences) or im2col (direct sums). Default: winograd for a transfer, im2col for `losses`.
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    conv: Option<ConvName>,
    /// c of the polynomial kernel (x^T y + c)^2 for mmd-poly (0 makes it the Gram loss x 4N^2).
    #[arg(long, default_value_t = 0.0, value_name = "C")]
    poly_c: f64,
    /// Seed for the noise image and the Gaussian kernel's random pairing.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The layers the losses use (shared by the transfer and `losses`).
#[derive(Args, Debug, Clone)]
struct LayerArgs {
    /// Style layers with optional weights w_l, e.g. relu1_1,relu2_1:0.5 (`losses`: names only).
    #[arg(
        long,
        default_value = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
        value_name = "LAYERS"
    )]
    style_layers: String,
    /// Content layer.
    #[arg(long, default_value = "relu4_2", value_name = "LAYER")]
    content_layer: String,
}

#[derive(Args, Debug)]
struct TransferArgs {
    /// CONTENT STYLE (or only STYLE with --style-only).
    #[arg(value_name = "IMAGES", num_args = 1..=2, required = true)]
    inputs: Vec<PathBuf>,
    /// Output image (.png, .jpg, .tif); written atomically.
    #[arg(short, long, value_name = "FILE", required = true)]
    output: Option<PathBuf>,
    /// Style reconstruction / texture synthesis: one STYLE image, no content (alpha = 0).
    #[arg(long)]
    style_only: bool,
    /// Style loss: one method or a fusion, e.g. gram, bn, mmd-linear:0.5,mmd-gaussian:0.5.
    #[arg(long, default_value = "gram", value_name = "SPEC")]
    style_loss: String,
    /// gamma, the balance factor: 0.1 keeps the content, 10 is mostly style.
    #[arg(long, default_value_t = 5.0, value_name = "GAMMA")]
    style_weight: f64,
    /// alpha, the content loss weight.
    #[arg(long, default_value_t = 1.0, value_name = "ALPHA")]
    content_weight: f64,
    /// beta' by hand per method (METHOD:V,...); by default chosen so that style and content
    /// gradients have the same size at a noise image.
    #[arg(long, value_name = "SPEC")]
    beta_prime: Option<String>,
    #[command(flatten)]
    layers: LayerArgs,
    /// Long edge of the output in pixels (the content image is resized to it).
    #[arg(long, default_value_t = 512, value_name = "PX")]
    size: u32,
    /// Long edge of the style image (default: --size).
    #[arg(long, value_name = "PX")]
    style_size: Option<u32>,
    /// Maximum number of optimiser iterations (of the first stage when multi-scale).
    #[arg(long, default_value_t = 500, value_name = "N")]
    iterations: usize,
    /// Coarse-to-fine: optimise from --start-size up to --size, x1.41 per stage. auto: on
    /// when --size is above 512.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    multiscale: MultiscaleWhen,
    /// Long edge of the first multi-scale stage.
    #[arg(long, default_value_t = 256, value_name = "PX")]
    start_size: u32,
    /// Maximum iterations of each multi-scale stage after the first.
    #[arg(long, default_value_t = 100, value_name = "N")]
    stage_iterations: usize,
    /// Stop when |x_t - x_{t-1}| / |x_t| falls below this (the paper's 0.005; 0 disables).
    #[arg(long, default_value_t = 0.005)]
    tol: f64,
    /// Optimiser.
    #[arg(long, value_enum, default_value = "lbfgs")]
    optimizer: OptimizerName,
    /// Adam's learning rate, in pixel units (0..255).
    #[arg(long, default_value_t = 5.0)]
    lr: f64,
    /// L-BFGS history (correction pairs kept). Default 20, lowered (to 5 at least) when a
    /// large image would not fit in memory otherwise.
    #[arg(long, value_name = "N")]
    history: Option<usize>,
    /// Start from: noise (seeded white noise), content, or an image file.
    #[arg(long, default_value = "noise", value_name = "noise|content|FILE")]
    init: String,
    /// Multiplier of the Gaussian kernel's bandwidth sigma^2 (mean squared distance of the sampled pairs).
    #[arg(long, default_value_t = 1.0, value_name = "K")]
    gaussian_sigma2_scale: f64,
    /// Save the current image every N iterations (OUT_iterN.ext).
    #[arg(long, value_name = "N")]
    save_every: Option<usize>,
    /// Write 16 bits per channel (PNG or TIFF output).
    #[arg(long = "16bit")]
    sixteen_bit: bool,
    /// Per-iteration losses as JSON lines.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Print only errors.
    #[arg(short, long)]
    quiet: bool,
    /// Refuse to start if the estimated memory exceeds this many GiB (default: available memory).
    #[arg(long, value_name = "GIB")]
    max_memory: Option<f64>,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Args, Debug)]
struct LossesArgs {
    /// Content image (optional: without it there is no content term).
    #[arg(long, value_name = "FILE")]
    content: Option<PathBuf>,
    /// Style image.
    #[arg(long, value_name = "FILE", required = true)]
    style: PathBuf,
    /// Image to evaluate: an image file, or a float32 .npy [3,H,W] in network input space.
    #[arg(long, value_name = "FILE", required = true)]
    image: PathBuf,
    /// Long edge to resize the image to (default: its own size; it must then match the content).
    #[arg(long, value_name = "PX")]
    size: Option<u32>,
    /// Methods to report (names only; default all five).
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "gram,mmd-linear,mmd-poly,mmd-gaussian,bn"
    )]
    style_loss: String,
    #[command(flatten)]
    layers: LayerArgs,
    /// Use the exact quadratic-time Gaussian MMD with this sigma^2 (else the linear-time estimator).
    #[arg(long, value_name = "V")]
    gaussian_sigma2: Option<f64>,
    /// Write d(total)/d(image) as float32 .npy [3,H,W], total = L_content + sum of all raw style values.
    #[arg(long, value_name = "FILE")]
    grad_out: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Square image sizes to time.
    #[arg(long, default_value = "256,512,1024", value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Timed iterations per size (median reported).
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Also run bench/torch_bench.py with this Python if it can import torch.
    #[arg(long, value_name = "PYTHON", default_value = "python3")]
    python: String,
    /// Skip the PyTorch comparison.
    #[arg(long)]
    no_torch: bool,
    /// Internal: time one size in this process and print JSON.
    #[arg(long, hide = true)]
    child: bool,
    #[arg(long, value_enum, default_value = "avg")]
    pooling: PoolingName,
    /// Convolution algorithm: winograd (F(4x4,3x3), about 2x faster, ~1e-5 relative rounding
    /// differences) or im2col (direct sums). Default: winograd for a transfer, im2col for `losses`.
    #[arg(long, value_enum, value_name = "ALGORITHM")]
    conv: Option<ConvName>,
}

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Losses(a)) => losses(a),
        Some(Command::Bench(a)) => bench(a),
        None => transfer(cli.transfer),
    }
}

/// `--conv`, or `default`; bf16 products only where the CPU has them.
fn conv_algorithm(conv: Option<ConvName>, default: ConvAlgorithm) -> Result<ConvAlgorithm> {
    let conv = conv.map_or(default, Into::into);
    if conv == ConvAlgorithm::WinogradBf16 && !nstyle::engine::winograd::bf16_supported() {
        bail!("--conv winograd-bf16 needs a CPU with AVX512-BF16; this one has none");
    }
    Ok(conv)
}

fn load_weights(m: &ModelArgs) -> Result<Vgg19Weights> {
    Ok(Vgg19Weights::resolve(m.weights.as_deref())?)
}

fn load(path: &Path, quiet: bool) -> Result<LoadedImage> {
    let img = image_io::load_image(path)?;
    if !quiet {
        for n in &img.notes {
            eprintln!("note: {n}");
        }
    }
    Ok(img)
}

fn check_size(px: u32, what: &str) -> Result<()> {
    if px < 16 {
        bail!("{what} must be at least 16 px (the network pools four times), got {px}");
    }
    if px > 16384 {
        bail!("{what} of {px} px is above the limit of 16384 px");
    }
    Ok(())
}

fn parse_beta_prime(s: &str) -> Result<Vec<(Method, f64)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (m, v) = p
                .split_once(':')
                .with_context(|| format!("--beta-prime entry '{p}' must be METHOD:VALUE"))?;
            let v: f64 = v
                .trim()
                .parse()
                .with_context(|| format!("--beta-prime value '{v}' is not a number"))?;
            Ok((m.parse::<Method>()?, v))
        })
        .collect()
}

fn available_memory() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

fn gib(b: f64) -> String {
    format!("{:.2} GiB", b / (1u64 << 30) as f64)
}

/// `gram 1.2345e6, bn 3.2100e2`: one value per method, for progress and summary lines.
fn per_method(values: &[(Method, f64)], sep: &str) -> String {
    let parts: Vec<String> = values.iter().map(|(m, v)| format!("{m} {v:.4e}")).collect();
    parts.join(sep)
}

fn sibling_path(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("out");
    let ext = out.extension().and_then(|s| s.to_str()).unwrap_or("png");
    out.with_file_name(format!("{stem}{suffix}.{ext}"))
}

fn transfer(a: TransferArgs) -> Result<ExitCode> {
    let out = a.output.clone().context("missing --output")?;
    image_io::check_output_path(&out, a.sixteen_bit)?;
    check_size(a.size, "--size")?;
    if let Some(s) = a.style_size {
        check_size(s, "--style-size")?;
    }
    let (content_path, style_path) = match (a.style_only, a.inputs.as_slice()) {
        (false, [c, s]) => (Some(c.clone()), s.clone()),
        (true, [s]) => (None, s.clone()),
        (false, [_]) => bail!("expected CONTENT and STYLE images (or --style-only STYLE)"),
        (true, _) => bail!("--style-only takes exactly one image (the style)"),
        _ => bail!("expected CONTENT and STYLE images"),
    };
    let spec: StyleSpec = a.style_loss.parse()?;
    let cfg_layers = parse_layer_weights(&a.layers.style_layers)?;
    let content_layer: Layer = a.layers.content_layer.parse()?;
    let optimizer = match a.optimizer {
        OptimizerName::Lbfgs => {
            let history = a.history.unwrap_or(DEFAULT_HISTORY);
            if history == 0 {
                bail!("--history must be at least 1");
            }
            OptimizerKind::Lbfgs { history }
        }
        OptimizerName::Adam => OptimizerKind::Adam { lr: a.lr },
    };
    let mut cfg = StyleConfig {
        style: spec,
        style_layers: cfg_layers,
        content_layer,
        content_weight: if a.style_only { 0.0 } else { a.content_weight },
        style_weight: a.style_weight,
        beta_prime: a
            .beta_prime
            .as_deref()
            .map(parse_beta_prime)
            .transpose()?
            .unwrap_or_default(),
        loss: LossOptions {
            poly_c: a.model.poly_c,
            gaussian_sigma2_scale: a.gaussian_sigma2_scale,
            gaussian_exact_sigma2: None,
        },
        iterations: a.iterations,
        tol: a.tol,
        optimizer,
        init: Init::Noise,
        seed: a.model.seed,
    };
    stylize::validate(&cfg)?;
    if a.save_every == Some(0) {
        bail!("--save-every must be at least 1");
    }
    let weights = load_weights(&a.model)?;

    let content_img = content_path
        .as_ref()
        .map(|p| load(p, a.quiet).map(|l| l.image))
        .transpose()?;
    let style_img = load(&style_path, a.quiet)?.image;
    // Output size: the content image's aspect at --size; style reconstruction takes the
    // style image's aspect at --style-size (or --size).
    let final_edge = match content_img {
        Some(_) => a.size,
        None => a.style_size.unwrap_or(a.size),
    };
    let reference = content_img.as_ref().unwrap_or(&style_img);
    let (w, h) = image_io::fit_long_edge(reference.width(), reference.height(), final_edge);
    let (w, h) = (w as usize, h as usize);
    let style_px = a.style_size.unwrap_or(a.size);
    let (sw, sh) = match content_img {
        Some(_) => image_io::fit_long_edge(style_img.width(), style_img.height(), style_px),
        None => (w as u32, h as u32),
    };
    let multiscale = match a.multiscale {
        MultiscaleWhen::On => true,
        MultiscaleWhen::Off => false,
        MultiscaleWhen::Auto => final_edge > MULTISCALE_AUTO_ABOVE,
    };
    if multiscale {
        check_size(a.start_size, "--start-size")?;
        if a.stage_iterations == 0 {
            bail!("--stage-iterations must be at least 1");
        }
    }
    let plan = multiscale::Plan {
        sizes: if multiscale {
            multiscale::stage_sizes(final_edge, a.start_size)
        } else {
            vec![final_edge]
        },
        first_iterations: a.iterations,
        later_iterations: a.stage_iterations,
        style_ratio: style_px as f64 / a.size as f64,
    };
    // The smallest stage and the style image must leave every style layer a map.
    let (fw0, fh0) = image_io::fit_long_edge(reference.width(), reference.height(), plan.sizes[0]);
    for (l, _) in &cfg.style_layers {
        for (what, hh, ww) in [
            ("output", h, w),
            ("first multi-scale stage", fh0 as usize, fw0 as usize),
            ("style image", sh as usize, sw as usize),
        ] {
            let (lh, lw) = l.spatial(hh, ww);
            if lh == 0 || lw == 0 {
                bail!("the {what} ({ww}x{hh} px) is too small for style layer {l}");
            }
        }
    }
    cfg.init = match a.init.as_str() {
        "noise" => Init::Noise,
        "content" => {
            if content_img.is_none() {
                bail!("--init content needs a content image");
            }
            Init::Content
        }
        path => {
            let img = load(Path::new(path), a.quiet)?.image;
            Init::Image(image_io::to_input(&image_io::resize(
                &img, w as u32, h as u32,
            )))
        }
    };

    let mut estimate = stylize::estimate_memory(h, w, sh as usize, sw as usize, &cfg) as f64;
    let limit = a
        .max_memory
        .map(|g| g * (1u64 << 30) as f64)
        // Keep a tenth of the available memory for the allocator and everything else.
        .or(available_memory().map(|b| 0.9 * b as f64));
    if let Some(limit) = limit {
        // Each L-BFGS correction pair costs two image-sized vectors: give some up before
        // refusing a large image, unless the user chose the history.
        if let (OptimizerKind::Lbfgs { history: chosen }, None) = (cfg.optimizer, a.history) {
            let mut history = chosen;
            while estimate > limit && history > MIN_AUTO_HISTORY {
                history -= 1;
                cfg.optimizer = OptimizerKind::Lbfgs { history };
                estimate = stylize::estimate_memory(h, w, sh as usize, sw as usize, &cfg) as f64;
            }
            if history != chosen && estimate <= limit && !a.quiet {
                eprintln!(
                    "note: L-BFGS history lowered from {chosen} to {history} to fit in {} (set --history to choose)",
                    gib(limit)
                );
            }
        }
        if estimate > limit {
            bail!(
                "a {w}x{h} run needs about {} of memory but only {} is available (use a smaller --size or --max-memory)",
                gib(estimate),
                gib(limit)
            );
        }
    }

    if !a.quiet {
        eprintln!(
            "nstyle: {}x{} px, style {}x{} px, {} ({}), estimated memory {}",
            w,
            h,
            sw,
            sh,
            cfg.style,
            weights.origin,
            gib(estimate)
        );
        if plan.sizes.len() > 1 {
            let sizes: Vec<String> = plan.sizes.iter().map(|s| s.to_string()).collect();
            eprintln!(
                "multi-scale: {} stages, long edge {} px (at most {} iterations at the first, {} at the others)",
                plan.sizes.len(),
                sizes.join(" -> "),
                plan.first_iterations,
                plan.later_iterations
            );
        }
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // Failing to install the handler only loses the clean Ctrl-C; the run still works.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let mut log = match &a.log {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p)
                .with_context(|| format!("{}: cannot create log file", p.display()))?,
        )),
        None => None,
    };
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(cfg.iterations as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{prefix}{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let conv = conv_algorithm(a.model.conv, ConvAlgorithm::Winograd)?;
    let mut net = CpuVgg19::with_algorithm(&weights, a.model.pooling.into(), conv);
    let mut save_error: Option<anyhow::Error> = None;
    let multi = plan.sizes.len() > 1;
    let mut stage_seen = 0;
    let mut callback = |info: StageInfo, it: &Iterate, x: &InputImage| -> ControlFlow<()> {
        if info.stage != stage_seen {
            stage_seen = info.stage;
            if let Some(b) = &bar {
                b.set_length(it.max_iterations as u64);
                b.set_prefix(format!("{}/{} ", info.stage, info.stages));
            }
            if multi && !a.quiet {
                let line = format!(
                    "stage {}/{}: {}x{} px",
                    info.stage, info.stages, info.width, info.height
                );
                match &bar {
                    Some(b) => b.println(line),
                    None => eprintln!("{line}"),
                }
            }
        }
        let msg = format!(
            "loss {:.4e}{} | {} | change {:.4}",
            it.objective,
            it.losses
                .content
                .map(|c| format!(" | content {c:.4e}"))
                .unwrap_or_default(),
            per_method(&it.losses.style, " "),
            it.relative_change
        );
        if let Some(b) = &bar {
            b.set_position(it.iteration as u64);
            b.set_message(msg.clone());
        } else if !a.quiet
            && (it.iteration.is_multiple_of((it.max_iterations / 20).max(1)) || it.iteration == 1)
        {
            eprintln!(
                "iter {}/{} ({:.1}s): {msg}",
                it.iteration,
                it.max_iterations,
                it.elapsed.as_secs_f64()
            );
        }
        if let Some(note) = &it.note {
            if !a.quiet {
                eprintln!("note: iteration {}: {note}", it.iteration);
            }
        }
        if let Some(l) = &mut log {
            let style: Map<String, Value> = it
                .losses
                .style
                .iter()
                .map(|(m, v)| (m.to_string(), json!(v)))
                .collect();
            let line = json!({
                "stage": info.stage, "width": info.width, "height": info.height,
                "iteration": it.iteration, "evaluations": it.evaluations, "objective": it.objective,
                "content": it.losses.content, "style": style, "total": it.losses.total,
                "relative_change": it.relative_change, "elapsed_s": it.elapsed.as_secs_f64(),
            });
            let _ = writeln!(l, "{line}");
        }
        if let Some(n) = a.save_every {
            if it.iteration.is_multiple_of(n) {
                let suffix = if multi {
                    format!("_stage{}_iter{}", info.stage, it.iteration)
                } else {
                    format!("_iter{}", it.iteration)
                };
                let p = sibling_path(&out, &suffix);
                if let Err(e) = image_io::save_image(
                    &p,
                    &image_io::from_network(&x.data, x.height, x.width),
                    a.sixteen_bit,
                ) {
                    save_error = Some(e.into());
                    return ControlFlow::Break(());
                }
            }
        }
        if interrupted.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let result = multiscale::stylize_multiscale(
        &mut net,
        content_img.as_ref(),
        &style_img,
        &plan,
        &cfg,
        &mut callback,
    )?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(e) = save_error {
        return Err(e);
    }
    if let Some(l) = &mut log {
        l.flush().context("writing the log")?;
    }
    let img = &result.image;
    image_io::save_image(
        &out,
        &image_io::from_network(&img.data, img.height, img.width),
        a.sixteen_bit,
    )?;
    if !a.quiet {
        eprintln!(
            "{}: {} iterations ({} evaluations) in {:.1}s, {}; loss: content {}, style {}; beta' {}; wrote {}",
            if result.stop == stylize::StopReason::Interrupted { "interrupted" } else { "done" },
            result.iterations,
            result.evaluations,
            result.elapsed.as_secs_f64(),
            result.stop,
            result.losses.content.map_or("-".into(), |c| format!("{c:.4e}")),
            per_method(&result.losses.style, ", "),
            per_method(&result.beta_primes, ", "),
            out.display()
        );
    }
    Ok(if result.stop == stylize::StopReason::Interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn losses(a: LossesArgs) -> Result<ExitCode> {
    let methods = a.style_loss.parse::<StyleSpec>()?.methods();
    let content_layer: Layer = a.layers.content_layer.parse()?;
    let layers = parse_layer_weights(&a.layers.style_layers)?;
    if layers.iter().any(|(_, w)| *w != 1.0) {
        bail!("losses reports raw per-layer values: give layer names without weights");
    }
    let style_layers: Vec<Layer> = layers.iter().map(|l| l.0).collect();
    if let Some(s) = a.size {
        check_size(s, "--size")?;
    }
    if let Some(p) = &a.grad_out {
        if p.extension().and_then(|e| e.to_str()) != Some("npy") {
            bail!("{}: --grad-out must name a .npy file", p.display());
        }
    }
    let weights = load_weights(&a.model)?;
    let is_npy = a
        .image
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let content_img = a.content.as_deref().map(|p| load(p, true)).transpose()?;
    let image = if is_npy {
        if a.size.is_some() {
            bail!("--size cannot be used with a .npy image (it is used as is)");
        }
        let (shape, data) = image_io::read_npy(&a.image)?;
        if shape.len() != 3 || shape[0] != 3 || shape[1] == 0 || shape[2] == 0 {
            bail!(
                "{}: .npy image must have shape [3, H, W], found {shape:?}",
                a.image.display()
            );
        }
        InputImage::new(shape[1], shape[2], data)
    } else {
        let img = load(&a.image, true)?.image;
        match a.size {
            Some(s) => {
                let (w, h) = image_io::fit_long_edge(img.width(), img.height(), s);
                image_io::to_input(&image_io::resize(&img, w, h))
            }
            None => {
                if let Some(c) = &content_img {
                    if c.image.dimensions() != img.dimensions() {
                        bail!(
                            "{} is {}x{} but the content image is {}x{}: give --size to resize both",
                            a.image.display(),
                            img.width(),
                            img.height(),
                            c.image.width(),
                            c.image.height()
                        );
                    }
                }
                image_io::to_input(&img)
            }
        }
    };
    let (h, w) = (image.height as u32, image.width as u32);
    let content = content_img.map(|c| image_io::to_input(&image_io::resize(&c.image, w, h)));
    let style = image_io::to_input(&image_io::resize(&load(&a.style, true)?.image, w, h));
    let opts = LossOptions {
        poly_c: a.model.poly_c,
        gaussian_sigma2_scale: 1.0,
        gaussian_exact_sigma2: a.gaussian_sigma2,
    };
    // Reference numbers: the direct convolution unless asked otherwise.
    let conv = conv_algorithm(a.model.conv, ConvAlgorithm::Im2col)?;
    let mut net = CpuVgg19::with_algorithm(&weights, a.model.pooling.into(), conv);
    let net: &mut dyn FeatureNet = &mut net;
    let report = stylize::inspect_losses(
        net,
        content.as_ref(),
        &style,
        &image,
        &methods,
        content_layer,
        &style_layers,
        &opts,
        a.model.seed,
        a.grad_out.is_some(),
    )?;
    let mut out = Map::new();
    if let Some((l, v)) = report.content {
        out.insert("content".into(), json!({ l.name(): v }));
    }
    let mut style_obj = Map::new();
    for (m, vals) in &report.style {
        let layer_map: Map<String, Value> = vals
            .iter()
            .map(|(l, v)| (l.name().to_string(), json!(v)))
            .collect();
        style_obj.insert(m.to_string(), Value::Object(layer_map));
    }
    out.insert("style".into(), Value::Object(style_obj));
    if let (Some(p), Some(g)) = (&a.grad_out, &report.gradient) {
        image_io::write_npy(p, &[3, image.height, image.width], g)?;
    }
    println!("{}", Value::Object(out));
    Ok(ExitCode::SUCCESS)
}

fn bench(a: BenchArgs) -> Result<ExitCode> {
    let weights = Vgg19Weights::bundled()?;
    if a.child {
        let [size] = a.sizes.as_slice() else {
            bail!("--child takes one size")
        };
        let conv = conv_algorithm(a.conv, ConvAlgorithm::Winograd)?;
        let r = nstyle::bench::bench_size(&weights, *size, a.iters, a.pooling.into(), conv)?;
        let rss = nstyle::bench::peak_rss_bytes();
        println!(
            "{}",
            json!({"size": r.size, "seconds_per_iteration": r.seconds_per_iteration, "all_seconds": r.all_seconds,
                   "gflops": r.gflops, "peak_rss_bytes": rss})
        );
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().context("cannot find the nstyle executable")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/torch_bench.py");
    let torch_ok = !a.no_torch
        && script.is_file()
        && std::process::Command::new(&a.python)
            .args(["-c", "import torch"])
            .output()
            .is_ok_and(|o| o.status.success());
    println!(
        "nstyle bench: {} threads, {} timed iterations per size (median), pooling {:?}{}",
        rayon::current_num_threads(),
        a.iters,
        a.pooling,
        if torch_ok {
            ", with PyTorch"
        } else {
            " (PyTorch not importable: nstyle only)"
        }
    );
    println!("| size | nstyle s/iter | GFLOP/s | peak RSS | PyTorch fp32 s/iter | PyTorch channels-last s/iter | PyTorch peak RSS | ratio nstyle/PyTorch-CL |");
    println!("|---|---|---|---|---|---|---|---|");
    // The same pooling for both programs (`avg` / `max`, as both command lines spell it).
    let pooling = Pooling::from(a.pooling).to_string();
    for &size in &a.sizes {
        let child = std::process::Command::new(&exe)
            .args([
                "bench",
                "--child",
                "--no-torch",
                "--sizes",
                &size.to_string(),
                "--iters",
                &a.iters.to_string(),
            ])
            .args(["--pooling", &pooling])
            .args(a.conv.map(|c| {
                format!(
                    "--conv={}",
                    c.to_possible_value().expect("a value").get_name()
                )
            }))
            .output()
            .context("running the benchmark child")?;
        if !child.status.success() {
            bail!(
                "benchmark at {size} failed: {}",
                String::from_utf8_lossy(&child.stderr).trim()
            );
        }
        let r: Value = serde_json::from_slice(&child.stdout).context("benchmark child output")?;
        let ns = r["seconds_per_iteration"].as_f64().unwrap_or(f64::NAN);
        let rss = r["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN);
        let (mut t_plain, mut t_cl, mut t_rss) = (f64::NAN, f64::NAN, f64::NAN);
        if torch_ok {
            let o = std::process::Command::new(&a.python)
                .arg(&script)
                .args(["--size", &size.to_string(), "--iters", &a.iters.to_string()])
                .args(["--threads", &rayon::current_num_threads().to_string()])
                .args(["--pooling", &pooling])
                .output()
                .context("running bench/torch_bench.py")?;
            if o.status.success() {
                let t: Value =
                    serde_json::from_slice(&o.stdout).context("torch_bench.py output")?;
                t_plain = t["fp32"].as_f64().unwrap_or(f64::NAN);
                t_cl = t["fp32_channels_last"].as_f64().unwrap_or(f64::NAN);
                t_rss = t["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN);
            } else {
                eprintln!(
                    "torch_bench.py failed at {size}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
            }
        }
        let mib = |b: f64| {
            if b.is_finite() {
                format!("{:.0} MiB", b / 1048576.0)
            } else {
                "-".into()
            }
        };
        let fmt = |v: f64, d: usize| {
            if v.is_finite() {
                format!("{v:.d$}")
            } else {
                "-".into()
            }
        };
        println!(
            "| {size} | {} | {} | {} | {} | {} | {} | {} |",
            fmt(ns, 3),
            fmt(r["gflops"].as_f64().unwrap_or(f64::NAN), 0),
            mib(rss),
            fmt(t_plain, 3),
            fmt(t_cl, 3),
            mib(t_rss),
            fmt(ns / t_cl, 2)
        );
    }
    Ok(ExitCode::SUCCESS)
}
