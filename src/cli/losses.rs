//! `nstyle losses`: the raw per-layer values of an image as JSON, and its gradient.

use super::args::{load, LossesArgs};
use anyhow::{bail, Result};
use nstyle::engine::ConvAlgorithm;
use nstyle::image_io;
use nstyle::loss::{parse_layer_weights, LossOptions, Method, StyleSpec};
use nstyle::objective::{inspect_losses, Role};
use nstyle::run::plan::check_edge;
use nstyle::tensor::InputImage;
use nstyle::{Layer, StyleConfig};
use serde_json::{json, Map, Value};
use std::process::ExitCode;

pub fn losses(a: LossesArgs) -> Result<ExitCode> {
    let style = match &a.style_loss {
        Some(spec) => spec.parse::<StyleSpec>()?,
        None => StyleSpec {
            terms: Method::ALL.iter().map(|&m| (m, 1.0)).collect(),
        },
    };
    let content_layer: Layer = a.layers.content_layer.parse()?;
    let style_layers = parse_layer_weights(&a.layers.style_layers)?;
    if style_layers.iter().any(|(_, w)| *w != 1.0) {
        bail!("losses reports raw per-layer values: give layer names without weights");
    }
    if let Some(s) = a.size {
        check_edge(s, "size")?;
    }
    if let Some(p) = &a.grad_out {
        if p.extension().and_then(|e| e.to_str()) != Some("npy") {
            bail!("{}: --grad-out must name a .npy file", p.display());
        }
    }
    // Reference numbers: the direct convolution unless asked otherwise.
    let backend = a.model.backend(ConvAlgorithm::Im2col)?;
    let weights = a.model.weights()?;
    let content_img = a.content.as_deref().map(load).transpose()?;
    let image = image_to_evaluate(&a, content_img.as_ref().map(|c| &c.image))?;
    let (h, w) = (image.height as u32, image.width as u32);
    let content = content_img.map(|c| image_io::to_input(&image_io::resize(&c.image, w, h)));
    let style_img = image_io::to_input(&image_io::resize(&load(&a.style)?.image, w, h));
    let cfg = StyleConfig {
        style,
        style_layers,
        content_layer,
        loss: LossOptions {
            poly_c: a.model.poly_c,
            gaussian_sigma2_scale: 1.0,
            gaussian_exact_sigma2: a.gaussian_sigma2,
            swd_projections: a.model.swd_projections,
            swd_directions: a.swd_directions.clone(),
        },
        seed: a.model.seed,
        ..StyleConfig::default()
    };
    let mut net = backend.build(&weights);
    let report = inspect_losses(
        net.as_mut(),
        content.as_ref(),
        &style_img,
        &image,
        &cfg,
        a.grad_out.is_some(),
    )?;
    let mut out = Map::new();
    let mut style_obj = Map::new();
    for g in &report.values.groups {
        let per_layer: Map<String, Value> = g
            .terms
            .iter()
            .map(|(tap, v)| (tap.to_string(), json!(v)))
            .collect();
        match g.role {
            Role::Content => {
                out.insert("content".into(), Value::Object(per_layer));
            }
            role => {
                style_obj.insert(role.to_string(), Value::Object(per_layer));
            }
        }
    }
    out.insert("style".into(), Value::Object(style_obj));
    if let (Some(p), Some(g)) = (&a.grad_out, &report.gradient) {
        image_io::write_npy(p, &[3, image.height, image.width], g)?;
    }
    println!("{}", Value::Object(out));
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
    if let Some(s) = a.size {
        let (w, h) = image_io::fit_long_edge(img.width(), img.height(), s);
        return Ok(image_io::to_input(&image_io::resize(&img, w, h)));
    }
    if let Some(c) = content {
        if c.dimensions() != img.dimensions() {
            bail!(
                "{} is {}x{} but the content image is {}x{}: give --size to resize both",
                a.image.display(),
                img.width(),
                img.height(),
                c.width(),
                c.height()
            );
        }
    }
    Ok(image_io::to_input(&img))
}
