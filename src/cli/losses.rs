//! `nstyle losses`: the raw per-layer values of an image as JSON, and its gradient
//! (computed by the library's [`nstyle::run::evaluate_losses`], as in Python).

use super::args::{load, LossesArgs};
use anyhow::{bail, Result};
use nstyle::image_io;
use nstyle::run::{evaluate_losses, SizeMismatch};
use nstyle::tensor::InputImage;
use std::process::ExitCode;

pub fn losses(a: LossesArgs) -> Result<ExitCode> {
    let opts = a.options();
    opts.config()?;
    if let (Some(given), Some(core)) = (a.tile.1, opts.tile) {
        eprintln!("note: tile {given} px rounded to {core} px (tiles keep the pooling grid: multiples of 16)");
    }
    if let Some(p) = &a.grad_out {
        if p.extension().and_then(|e| e.to_str()) != Some("npy") {
            bail!("{}: --grad-out must name a .npy file", p.display());
        }
    }
    opts.backend()?;
    let weights = opts.load_weights()?;
    let content = a.content.as_deref().map(load).transpose()?.map(|c| c.image);
    let image = image_to_evaluate(&a, content.as_ref())?;
    let style = load(&a.style)?.image;
    let values = evaluate_losses(
        &opts,
        &weights,
        content.as_ref(),
        &style,
        &image,
        a.grad_out.is_some(),
    )?;
    if let (Some(p), Some(g)) = (&a.grad_out, &values.gradient) {
        image_io::write_npy(p, &[3, image.height, image.width], g)?;
    }
    println!("{}", values.json);
    Ok(ExitCode::SUCCESS)
}

/// The image to evaluate: a `.npy` in network space as is, or an image file (resized to
/// `--size`, or at its own size, which must then be the content's).
fn image_to_evaluate(a: &LossesArgs, content: Option<&image::Rgb32FImage>) -> Result<InputImage> {
    let is_npy = a
        .image
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if is_npy {
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
        return Ok(InputImage::new(shape[1], shape[2], data)?);
    }
    let img = load(&a.image)?.image;
    a.options()
        .evaluation_image(&img, content)
        .or_else(|SizeMismatch { image, content }| {
            bail!(
                "{} is {}x{} but the content image is {}x{}: give --size to resize both",
                a.image.display(),
                image.0,
                image.1,
                content.0,
                content.1
            )
        })
}
