//! Raw per-layer loss values of an image as JSON, and their gradient: the core of
//! `nstyle losses` and of the Python package's `losses()`, so both give the same numbers.

use super::options::LossesOptions;
use super::plan::check_edge;
use crate::image_io::{fit_long_edge, resize, to_input};
use crate::loss::{parse_layer_weights, LossOptions, Method, StyleSpec};
use crate::objective::{inspect_losses, Role};
use crate::tensor::InputImage;
use crate::vgg::{Layer, Vgg19Weights};
use crate::{Error, Result, StyleConfig};
use image::Rgb32FImage;
use serde_json::{json, Map, Value};

/// What [`evaluate_losses`] reports.
pub struct LossValues {
    /// `{"content": {"relu4_2": v}, "style": {"gram": {"relu1_1": v, ...}, ...}}`
    pub json: Value,
    /// d(L_content + sum of all raw style values)/d(image), `3 x H x W`, network space.
    pub gradient: Option<Vec<f32>>,
}

/// The evaluated image and the content image differ in size and no `size` was given to
/// resize both; each front end words it with its own option syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeMismatch {
    pub image: (u32, u32),
    pub content: (u32, u32),
}

impl LossesOptions {
    /// The settings the values are computed with; checks every option before any image
    /// is decoded.
    pub fn config(&self) -> Result<StyleConfig> {
        let style = match &self.style_loss {
            Some(spec) => spec.parse::<StyleSpec>()?,
            None => StyleSpec {
                terms: Method::ALL.iter().map(|&m| (m, 1.0)).collect(),
            },
        };
        let content_layer: Layer = self.content_layer.parse()?;
        let style_layers = parse_layer_weights(&self.style_layers)?;
        if style_layers.iter().any(|(_, w)| *w != 1.0) {
            return Err(Error::option(
                "losses reports raw per-layer values: give layer names without weights",
            ));
        }
        if let Some(s) = self.size {
            check_edge(s, "size")?;
        }
        Ok(StyleConfig {
            style,
            style_layers,
            content_layer,
            loss: LossOptions {
                poly_c: self.poly_c,
                gaussian_sigma2_scale: 1.0,
                gaussian_exact_sigma2: self.gaussian_sigma2,
                swd_projections: self.swd_projections,
                swd_directions: self.swd_directions.clone(),
            },
            seed: self.seed,
            tile: self.tile,
            ..StyleConfig::default()
        })
    }

    /// The image to evaluate from a decoded one: resized to `size`, or at its own size,
    /// which must then be the content's.
    pub fn evaluation_image(
        &self,
        img: &Rgb32FImage,
        content: Option<&Rgb32FImage>,
    ) -> std::result::Result<InputImage, SizeMismatch> {
        if let Some(s) = self.size {
            let (w, h) = fit_long_edge(img.width(), img.height(), s);
            return Ok(to_input(&resize(img, w, h)));
        }
        if let Some(c) = content {
            if c.dimensions() != img.dimensions() {
                return Err(SizeMismatch {
                    image: img.dimensions(),
                    content: c.dimensions(),
                });
            }
        }
        Ok(to_input(img))
    }
}

/// The raw values of the content term and every requested method at `image` (network
/// space); content and style are resized to its size. Blend weights, layer weights and
/// beta' play no part.
pub fn evaluate_losses(
    opts: &LossesOptions,
    weights: &Vgg19Weights,
    content: Option<&Rgb32FImage>,
    style: &Rgb32FImage,
    image: &InputImage,
    want_gradient: bool,
) -> Result<LossValues> {
    let cfg = opts.config()?;
    let backend = opts.backend()?;
    let (h, w) = (image.height as u32, image.width as u32);
    let content = content.map(|c| to_input(&resize(c, w, h)));
    let style = to_input(&resize(style, w, h));
    let mut net = backend.build(weights);
    let report = inspect_losses(
        net.as_mut(),
        content.as_ref(),
        &style,
        image,
        &cfg,
        want_gradient,
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
    Ok(LossValues {
        json: Value::Object(out),
        gradient: report.gradient,
    })
}
