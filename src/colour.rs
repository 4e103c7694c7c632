//! Colour preservation (Gatys, Ecker, Bethge, Hertzmann & Shechtman 2017, "Controlling
//! Perceptual Factors in Neural Style Transfer", Sec. 5): transfer the painting's style
//! while keeping the photo's colours. Two ways, as there:
//!
//! * **match** (colour histogram matching, before the transfer): every painting's RGB
//!   values are mapped linearly, `x' = A (x - mu_s) + mu_c` with `A = C_c^1/2 C_s^-1/2`
//!   (symmetric square roots by eigendecomposition), so that the painting's per-pixel
//!   mean and 3x3 covariance become the photo's. A direction in which the painting has
//!   (almost) no colour variance is not blown up: [`MATCH_EPSILON`] is added to `C_s`'s
//!   eigenvalues. [`match_colours`] returns the mapped image unclamped (the job clamps it
//!   to 0..1 before use, as every input is).
//! * **luminance** (luminance-only transfer): the colour space is **YIQ** (NTSC, as Gatys
//!   et al.), `Y = 0.299 R + 0.587 G + 0.114 B` and the chroma `I`, `Q` ([`YIQ`]). The
//!   transfer runs on luminance images (`Y` in all three channels): the photo's, and each
//!   painting's with its mean and standard deviation shifted to the photo's (then clamped
//!   to 0..1). At the end the output's `Y` is combined with the photo's `I` and `Q`, the
//!   photo resized to the output size ([`recombine`]); the result is not clamped, so its
//!   chroma is the photo's to rounding (writers clamp to 0..1 when they quantise).
//!
//! Statistics are over all pixels of the images as given (before any resizing), in f64.

use crate::tensor::InputImage;
use crate::vgg::MEAN_RGB;
use crate::{Error, Result};
use image::Rgb32FImage;
use nalgebra::{Matrix3, SymmetricEigen, Vector3};

/// Whose colours the output has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PreserveColors {
    /// The transfer's own (the painting's, mostly).
    #[default]
    None,
    /// Luminance-only transfer: the output's luminance, the photo's chroma (YIQ).
    Luminance,
    /// The paintings recoloured to the photo's colour mean and covariance first.
    Match,
}

impl PreserveColors {
    /// Names as options spell them, with the aliases the peers use.
    pub const CHOICES: &'static [(&'static str, PreserveColors)] = &[
        ("none", PreserveColors::None),
        ("luminance", PreserveColors::Luminance),
        ("lum", PreserveColors::Luminance),
        ("match", PreserveColors::Match),
        ("color-match", PreserveColors::Match),
        ("colour-match", PreserveColors::Match),
    ];

    pub fn name(self) -> &'static str {
        match self {
            PreserveColors::None => "none",
            PreserveColors::Luminance => "luminance",
            PreserveColors::Match => "match",
        }
    }
}

impl serde::Serialize for PreserveColors {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// RGB -> YIQ (NTSC, FCC): each row of the chroma sums to 0, so greys have no chroma.
pub const YIQ: [[f64; 3]; 3] = [
    [0.299, 0.587, 0.114],
    [0.5959, -0.2746, -0.3213],
    [0.2115, -0.5227, 0.3112],
];

/// Added to the painting's colour-covariance eigenvalues before `C_s^-1/2` (RGB in 0..1):
/// a standard deviation of 1e-4, 1/40 of an 8-bit level.
pub const MATCH_EPSILON: f64 = 1e-8;

fn yiq_matrix() -> Matrix3<f64> {
    Matrix3::from_fn(|r, c| YIQ[r][c])
}

/// `[Y, I, Q]` of an RGB pixel (0..1), in f64.
pub fn yiq(rgb: [f32; 3]) -> [f64; 3] {
    let v = yiq_matrix() * Vector3::new(rgb[0] as f64, rgb[1] as f64, rgb[2] as f64);
    [v[0], v[1], v[2]]
}

/// RGB (0..1, unclamped) of a YIQ triple: the exact inverse of [`YIQ`], in f64.
pub fn rgb_of_yiq(yiq: [f64; 3]) -> [f64; 3] {
    let v = yiq_inverse() * Vector3::new(yiq[0], yiq[1], yiq[2]);
    [v[0], v[1], v[2]]
}

fn yiq_inverse() -> Matrix3<f64> {
    yiq_matrix()
        .try_inverse()
        .expect("the YIQ matrix is invertible")
}

/// Per-pixel mean and population covariance of an image's RGB values, in f64.
pub fn colour_moments(img: &Rgb32FImage) -> (Vector3<f64>, Matrix3<f64>) {
    let n = (img.width() as f64 * img.height() as f64).max(1.0);
    let px = |p: &image::Rgb<f32>| Vector3::new(p.0[0] as f64, p.0[1] as f64, p.0[2] as f64);
    let mean = img.pixels().map(px).sum::<Vector3<f64>>() / n;
    let cov = img
        .pixels()
        .map(|p| {
            let d = px(p) - mean;
            d * d.transpose()
        })
        .sum::<Matrix3<f64>>()
        / n;
    (mean, cov)
}

/// `f(C)` for a symmetric 3x3 `C` through its eigenvalues.
fn sym_fn(c: &Matrix3<f64>, f: impl Fn(f64) -> f64) -> Result<Matrix3<f64>> {
    if !c.iter().all(|v| v.is_finite()) {
        return Err(Error::option(
            "preserve-colors: an image has non-finite values",
        ));
    }
    let e = SymmetricEigen::new(*c);
    let d = Matrix3::from_diagonal(&e.eigenvalues.map(f));
    Ok(e.eigenvectors * d * e.eigenvectors.transpose())
}

/// The painting recoloured so that its mean and colour covariance are the photo's (see
/// the module docs): `A (x - mu_s) + mu_c`, not clamped.
pub fn match_colours(style: &Rgb32FImage, content: &Rgb32FImage) -> Result<Rgb32FImage> {
    let (mu_s, c_s) = colour_moments(style);
    let (mu_c, c_c) = colour_moments(content);
    let a = sym_fn(&c_c, |l| l.max(0.0).sqrt())?
        * sym_fn(&c_s, |l| 1.0 / (l.max(0.0) + MATCH_EPSILON).sqrt())?;
    let mut out = style.clone();
    for p in out.pixels_mut() {
        let x = Vector3::new(p.0[0] as f64, p.0[1] as f64, p.0[2] as f64);
        let y = a * (x - mu_s) + mu_c;
        p.0 = [y[0] as f32, y[1] as f32, y[2] as f32];
    }
    Ok(out)
}

/// Mean and population standard deviation of an image's luminance `Y`.
fn luminance_moments(img: &Rgb32FImage) -> (f64, f64) {
    let n = (img.width() as f64 * img.height() as f64).max(1.0);
    let mean = img.pixels().map(|p| yiq(p.0)[0]).sum::<f64>() / n;
    let var = img
        .pixels()
        .map(|p| (yiq(p.0)[0] - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// The image's luminance in all three channels: a grey image the network can read.
pub fn luminance_image(img: &Rgb32FImage) -> Rgb32FImage {
    grey(img, |y| y)
}

/// A painting's luminance with its mean and standard deviation shifted to the photo's
/// (Gatys et al.'s luminance matching), clamped to 0..1, in all three channels.
pub fn matched_luminance(style: &Rgb32FImage, content: &Rgb32FImage) -> Rgb32FImage {
    let (ms, ss) = luminance_moments(style);
    let (mc, sc) = luminance_moments(content);
    // A flat painting keeps its (shifted) flatness.
    let k = if ss > 0.0 { sc / ss } else { 1.0 };
    grey(style, |y| ((y - ms) * k + mc).clamp(0.0, 1.0))
}

fn grey(img: &Rgb32FImage, f: impl Fn(f64) -> f64) -> Rgb32FImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        let y = f(yiq(p.0)[0]) as f32;
        p.0 = [y, y, y];
    }
    out
}

/// The output's luminance with the photo's chroma: `image` (network space) gives `Y`,
/// `photo` (RGB, at the same size) gives `I` and `Q`; the result is in network space and
/// not clamped.
pub fn recombine(image: &InputImage, photo: &Rgb32FImage) -> Result<InputImage> {
    let (h, w) = (image.height, image.width);
    if photo.dimensions() != (w as u32, h as u32) {
        return Err(Error::Shape(format!(
            "preserve-colors: the photo is {}x{}, the output {w}x{h}",
            photo.width(),
            photo.height()
        )));
    }
    let n = h * w;
    let (to_yiq, to_rgb) = (yiq_matrix(), yiq_inverse());
    let mut data = vec![0.0f32; 3 * n];
    for (i, p) in photo.pixels().enumerate() {
        let out_rgb =
            Vector3::from_fn(|c, _| ((image.data[c * n + i] + MEAN_RGB[c]) / 255.0) as f64);
        let photo_rgb = Vector3::from_fn(|c, _| p.0[c] as f64);
        let mut v = to_yiq * photo_rgb;
        v[0] = (to_yiq * out_rgb)[0];
        let rgb = to_rgb * v;
        for c in 0..3 {
            data[c * n + i] = (rgb[c] * 255.0 - MEAN_RGB[c] as f64) as f32;
        }
    }
    Ok(InputImage {
        height: h,
        width: w,
        data,
    })
}
