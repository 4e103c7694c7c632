//! `nstyle score`: grain, style distance and content distance of results against their
//! photo and painting ([`nstyle::score`]), one JSON line per result.

use super::args::load;
use anyhow::Result;
use clap::Args;
use nstyle::score::Scorer;
use nstyle::Vgg19Weights;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Results to score (any size; the photo and painting are resized to each).
    #[arg(value_name = "RESULT", required = true)]
    pub results: Vec<PathBuf>,
    /// The photo the results were made from.
    #[arg(long, value_name = "FILE")]
    pub content: PathBuf,
    /// The painting.
    #[arg(long, value_name = "FILE")]
    pub style: PathBuf,
    /// VGG-19 weights (.safetensors; default: $NSTYLE_WEIGHTS, then the bundled copy).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
}

pub fn score(a: ScoreArgs) -> Result<ExitCode> {
    let photo = load(&a.content)?.image;
    let painting = load(&a.style)?.image;
    let weights = Vgg19Weights::resolve(a.weights.as_deref())?;
    let mut scorer = Scorer::new(&weights)?;
    for path in &a.results {
        let result = load(path)?.image;
        let s = scorer.score(&result, &photo, &painting)?;
        let mut line = serde_json::to_value(&s)?;
        line["image"] = path.display().to_string().into();
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
