//! Scoring a result against its photo and painting (issue #12): three numbers that no style
//! loss optimises, so that defaults are chosen by measurement and compared with the peers.
//!
//! * **grain** ([`noise`]): mean absolute Laplacian of the result's luminance over the
//!   painting's at the same long edge. 1 means "as busy as the painting"; pixel-level
//!   "screen-door" noise pushes it far above.
//! * **style distance** ([`style_distance`]): sliced Wasserstein distance between VGG-19
//!   features of the result and of the painting (relu1_1..relu5_1), with **max** pooling
//!   (the transfer uses average pooling) and **fixed** seeded directions (the
//!   sliced-Wasserstein loss redraws them), relative to the painting's spread.
//! * **content distance**: `||F(result) - F(photo)|| / ||F(photo)||` at relu4_2 (max
//!   pooling), the photo resized to the result's size.
//!
//! Lower is better for all three; an image scored against itself gets 0 distances.

pub mod noise;
pub mod style_distance;

use crate::backend::{Backend, FeatureNet};
use crate::engine::{ConvAlgorithm, Pooling};
use crate::image_io::{fit_long_edge, resize, to_input};
use crate::vgg::{Layer, Vgg19Weights};
use crate::Result;
use image::Rgb32FImage;
use serde::Serialize;

/// The three measures of one result.
#[derive(Clone, Debug, Serialize)]
pub struct Score {
    /// Result's grain over the painting's ([`noise::grain`]).
    pub grain: f64,
    /// Mean over relu1_1..relu5_1 of the relative sliced Wasserstein distance.
    pub style: f64,
    /// Per-layer style distances, relu1_1..relu5_1.
    pub style_layers: Vec<f64>,
    /// Relative relu4_2 distance to the photo.
    pub content: f64,
}

/// A scorer: the max-pooling VGG-19 it measures with.
pub struct Scorer {
    net: Box<dyn FeatureNet>,
}

impl Scorer {
    pub fn new(weights: &Vgg19Weights) -> Result<Self> {
        // im2col: the exact f32 convolution, so scores do not depend on the transfer's choice.
        let backend = Backend::cpu(Pooling::Max, ConvAlgorithm::Im2col)?;
        Ok(Scorer {
            net: backend.build(weights),
        })
    }

    /// Scores `result` against `photo` (resized to the result's size) and `painting` (long
    /// edge resized to the result's).
    pub fn score(
        &mut self,
        result: &Rgb32FImage,
        photo: &Rgb32FImage,
        painting: &Rgb32FImage,
    ) -> Result<Score> {
        let (w, h) = result.dimensions();
        let photo = resize(photo, w, h);
        let (pw, ph) = fit_long_edge(painting.width(), painting.height(), w.max(h));
        let painting = resize(painting, pw, ph);
        let grain = noise::grain(result) / noise::grain(&painting).max(1e-12);
        let layers = Layer::default_style();
        let mut deep = layers.clone();
        deep.push(Layer::default_content());
        let r = self.features(result, &deep)?;
        let s = self.features(&painting, &layers)?;
        let p = self.features(&photo, &[Layer::default_content()])?;
        let style_layers: Vec<f64> = layers
            .iter()
            .enumerate()
            .map(|(i, _)| style_distance::relative_swd(&r[i], &s[i], i as u64))
            .collect();
        let style = style_layers.iter().sum::<f64>() / style_layers.len() as f64;
        let content = relative_distance(&r[layers.len()].data, &p[0].data);
        Ok(Score {
            grain,
            style,
            style_layers,
            content,
        })
    }

    fn features(&mut self, img: &Rgb32FImage, layers: &[Layer]) -> Result<Vec<crate::FeatureMap>> {
        let x = to_input(img);
        self.net.forward(&x.data, x.height, x.width, layers)
    }
}

/// `||a - b|| / ||b||` in f64.
pub fn relative_distance(a: &[f32], b: &[f32]) -> f64 {
    let (mut d, mut n) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        d += ((x - y) as f64).powi(2);
        n += (y as f64).powi(2);
    }
    if n > 0.0 {
        (d / n).sqrt()
    } else {
        d.sqrt()
    }
}
