//! `nstyle figure N`: the paper's four figures as grid presets (Li et al. 2017, section 4
//! and the captions; docs/FIGURES.md). Each is exactly an `nstyle grid` command, printed
//! when it starts. The photos and paintings are public-domain or CC0 copies built into the
//! binary and written to DIR/inputs/, so the command works from any directory and after
//! `cargo install`.

use super::grid::{self, GridArgs};
use super::grid_spec;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Regenerate one of the paper's figures (1-4) as a grid: sheet, cells and grid.json in DIR.
#[derive(Args, Debug)]
pub struct FigureArgs {
    /// 1: style reconstructions by layer; 2: the balance factor gamma; 3: the four methods on
    /// six photo-painting pairs; 4: fusions of two methods.
    #[arg(value_parser = clap::value_parser!(u8).range(1..=4), value_name = "N")]
    pub number: u8,
    /// Directory for sheet.png, cells/, grid.json and inputs/ (the same DIR resumes).
    #[arg(long, value_name = "DIR", required = true)]
    pub out: PathBuf,
    /// Long edge of every cell (default: 256; about 15 minutes per figure on 2 cores).
    #[arg(long, value_name = "PX")]
    pub size: Option<u32>,
    /// Iteration cap of every cell (default: per figure, see docs/FIGURES.md).
    #[arg(long, value_name = "N")]
    pub iterations: Option<usize>,
    /// Print only errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// More transfer options for every cell (e.g. --seed 1, --conv im2col); not the ones the
    /// figure varies.
    #[arg(
        value_name = "TRANSFER OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub extra: Vec<String>,
}

/// The images the presets use, built in (credited in NOTICE).
const IMAGES: &[(&str, &[u8])] = &[
    (
        "chelsea.jpg",
        include_bytes!("../../images/content/chelsea.jpg"),
    ),
    (
        "coffee.jpg",
        include_bytes!("../../images/content/coffee.jpg"),
    ),
    (
        "astronaut.jpg",
        include_bytes!("../../images/content/astronaut.jpg"),
    ),
    (
        "starry_night.jpg",
        include_bytes!("../../images/style/starry_night.jpg"),
    ),
    (
        "the_scream.jpg",
        include_bytes!("../../images/style/the_scream.jpg"),
    ),
    ("wave.jpg", include_bytes!("../../images/style/wave.jpg")),
    (
        "composition_vii.jpg",
        include_bytes!("../../images/style/composition_vii.jpg"),
    ),
    (
        "shipwreck.jpg",
        include_bytes!("../../images/style/shipwreck.jpg"),
    ),
    ("udnie.jpg", include_bytes!("../../images/style/udnie.jpg")),
];

/// Default size and iteration cap per figure: each should finish in under 15 minutes on 2
/// cores (the estimate is in docs/FIGURES.md). Cells of the deterministic methods usually
/// stop earlier by the paper's rule (relative change below 0.5%); the Gaussian MMD's
/// pairs are redrawn every step, so its cells run to the cap (at two evaluations a step).
pub const DEFAULT_SIZE: u32 = 256;
pub fn default_iterations(figure: u8) -> usize {
    match figure {
        // Style only: columns with fewer layers cost a fraction of a full pass.
        1 => 150,
        2 => 100,
        // 24 cells, or half of them with the Gaussian term.
        _ => 80,
    }
}

const METHODS: &str = "style-loss=mmd-linear,mmd-poly,mmd-gaussian,bn";
const METHOD_LABELS: &str = "linear,poly,Gaussian,BN";

pub fn figure(a: FigureArgs) -> Result<ExitCode> {
    let inputs = a.out.join("inputs");
    let size = a.size.unwrap_or(DEFAULT_SIZE);
    let iterations = a.iterations.unwrap_or(default_iterations(a.number));
    let mut g = preset(a.number, &inputs, &a.out, size, iterations, a.quiet);
    // Extra options join (or replace) the preset's own, but may not touch what it varies.
    let cmd = grid_spec::transfer_command();
    let extra = grid_spec::split_base(&cmd, &a.extra)?;
    if let Some(p) = extra.positionals.first() {
        bail!(
            "figure {} chooses its own images; '{p}' is not an option",
            a.number
        );
    }
    let varied: Vec<&str> = g
        .rows
        .iter()
        .chain(&g.cols)
        .filter_map(|spec| spec.split_once('=').map(|(n, _)| n))
        .collect();
    for (name, _) in &extra.options {
        if varied.contains(&name.as_str()) {
            bail!("figure {} varies --{name} itself", a.number);
        }
    }
    let own = grid_spec::split_base(&cmd, &g.transfer)?;
    g.transfer = own.positionals;
    for (name, tokens) in &own.options {
        if !extra.has(name) {
            g.transfer.extend(tokens.iter().cloned());
        }
    }
    g.transfer
        .extend(extra.options.into_iter().flat_map(|(_, t)| t));

    std::fs::create_dir_all(&inputs)
        .with_context(|| format!("cannot create {}", inputs.display()))?;
    for (name, bytes) in IMAGES {
        let path = inputs.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(*bytes) {
            nstyle::image_io::write_atomically(&path, |w| w.write_all(bytes))?;
        }
    }
    if !a.quiet {
        eprintln!("figure {}: {}", a.number, shell_line(&g));
    }
    grid::grid(g)
}

fn s(v: &str) -> String {
    v.to_string()
}

/// Figure `n` as a grid. Settings not named are the defaults (the paper's: VGG-19,
/// relu4_2 content, relu1_1..relu5_1 style with w_l = 1, noise init, L-BFGS, stop at a
/// relative change of 0.5%, gamma 5).
fn preset(n: u8, inputs: &Path, out: &Path, size: u32, iterations: usize, quiet: bool) -> GridArgs {
    let img = |name: &str| inputs.join(name).to_string_lossy().into_owned();
    // The paper's settings, not the product's defaults: equal layer weights, gamma 5, no
    // total variation, its stopping rule, one scale.
    let mut transfer = vec![
        s("--size"),
        size.to_string(),
        s("--iterations"),
        iterations.to_string(),
        s("--style-layers"),
        s(nstyle::run::options::defaults::STYLE_LAYER_NAMES),
        s("--style-weight"),
        s("5"),
        s("--tv-weight"),
        s("0"),
        s("--tol"),
        s("0.005"),
        s("--min-progress"),
        s("0"),
        s("--multiscale"),
        s("off"),
    ];
    if quiet {
        transfer.push(s("--quiet"));
    }
    let methods = || (vec![s(METHODS)], Some(s(METHOD_LABELS)), Some(s("method")));
    let mut g = GridArgs {
        out: Some(out.to_path_buf()),
        ..Default::default()
    };
    match n {
        1 => {
            transfer.splice(0..0, [s("--style-only"), img("starry_night.jpg")]);
            (g.rows, g.row_labels, g.row_title) = methods();
            g.cols = vec![s(
                "style-layers=relu1_1;relu1_1,relu2_1;relu1_1,relu2_1,relu3_1;\
                relu1_1,relu2_1,relu3_1,relu4_1;relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
            )];
            g.col_labels = Some(s("relu1_1,+relu2_1,+relu3_1,+relu4_1,+relu5_1"));
            g.col_title = Some(s("style layers (each column adds one; w_l = 1)"));
            g.title = Some(s(
                "Figure 1. Style reconstructions of The Starry Night (style loss only, α = 0)",
            ));
        }
        2 => {
            transfer.splice(0..0, [img("chelsea.jpg"), img("starry_night.jpg")]);
            (g.rows, g.row_labels, g.row_title) = methods();
            g.cols = vec![s("style-weight=0.1,0.5,1,5,10")];
            g.col_title = Some(s("balance factor γ (--style-weight)"));
            g.title = Some(s(
                "Figure 2. The four methods with balance factors γ from 0.1 to 10",
            ));
        }
        3 => {
            g.rows = vec![
                s("content=")
                    + &[
                        "chelsea.jpg",
                        "coffee.jpg",
                        "astronaut.jpg",
                        "chelsea.jpg",
                        "coffee.jpg",
                        "astronaut.jpg",
                    ]
                    .map(img)
                    .join(","),
                s("style=")
                    + &[
                        "the_scream.jpg",
                        "wave.jpg",
                        "composition_vii.jpg",
                        "shipwreck.jpg",
                        "udnie.jpg",
                        "starry_night.jpg",
                    ]
                    .map(img)
                    .join(","),
                s("style-weight=2,2,2,5,5,5"),
            ];
            g.row_labels = Some(s("γ = 2,γ = 2,γ = 2,γ = 5,γ = 5,γ = 5"));
            g.row_title = Some(String::new());
            g.cols = vec![s(METHODS)];
            g.col_labels = Some(s(METHOD_LABELS));
            g.col_title = Some(s("method"));
            g.title = Some(s(
                "Figure 3. The four methods on six photo and painting pairs",
            ));
        }
        _ => {
            g.rows = vec![
                s("style-loss=bn:{a},mmd-poly:{b};bn:{a},mmd-poly:{b};\
                   mmd-linear:{a},mmd-gaussian:{b};mmd-linear:{a},mmd-gaussian:{b}"),
                s("content=")
                    + &["chelsea.jpg", "coffee.jpg", "chelsea.jpg", "coffee.jpg"]
                        .map(img)
                        .join(","),
                s("style=")
                    + &[
                        "starry_night.jpg",
                        "the_scream.jpg",
                        "starry_night.jpg",
                        "the_scream.jpg",
                    ]
                    .map(img)
                    .join(","),
            ];
            g.row_labels = Some(s("BN + poly,BN + poly,linear + Gaussian,linear + Gaussian"));
            g.row_title = Some(s("fusion"));
            g.cols = vec![s("@a=0.9,0.7,0.5,0.3,0.1"), s("@b=0.1,0.3,0.5,0.7,0.9")];
            g.col_labels = Some(s("0.9 : 0.1,0.7 : 0.3,0.5 : 0.5,0.3 : 0.7,0.1 : 0.9"));
            g.col_title = Some(s("blend weights (first method : second)"));
            g.title = Some(s("Figure 4. Fusions of two methods (γ = 5)"));
        }
    }
    g.transfer = transfer;
    g
}

/// The grid as one shell command line.
fn shell_line(g: &GridArgs) -> String {
    let mut words = vec![s("nstyle"), s("grid")];
    words.extend(g.transfer.iter().cloned());
    let mut opt = |flag: &str, v: &str| words.extend([s(flag), s(v)]);
    for r in &g.rows {
        opt("--rows", r);
    }
    for c in &g.cols {
        opt("--cols", c);
    }
    let named = [
        ("--row-labels", &g.row_labels),
        ("--col-labels", &g.col_labels),
        ("--row-title", &g.row_title),
        ("--col-title", &g.col_title),
        ("--title", &g.title),
    ];
    for (flag, v) in named {
        if let Some(v) = v {
            opt(flag, v);
        }
    }
    if let Some(o) = &g.out {
        opt("--out", &o.to_string_lossy());
    }
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// A word for a POSIX shell: as is when plain, else in single quotes.
fn quote(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}
