//! Helpers shared by the integration tests.
#![allow(dead_code)]

use nstyle::tensor::FeatureMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn random_vec(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n).map(|_| r.gen_range(lo..hi)).collect()
}

pub fn random_map(c: usize, h: usize, w: usize, seed: u64) -> FeatureMap {
    FeatureMap::from_vec(c, h, w, random_vec(c * h * w, 0.0, 2.0, seed)).unwrap()
}

/// max |a - b| / max |b|
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The weights every real-weights test uses: the bundled f16 copy, always present.
pub fn bundled_weights() -> nstyle::Vgg19Weights {
    nstyle::Vgg19Weights::bundled().unwrap()
}

/// The full-precision original in ../shared/models. Tests that need it are marked
/// `#[cfg_attr(not(has_f32_weights), ignore = "...")]` (see build.rs), so they only run
/// where it exists.
pub fn shared_f32_weights() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models/vgg19-conv1_1-conv5_1.f32.safetensors")
}

/// An image shipped in the repository (`images/content/chelsea.jpg`, ...).
/// Options for a transfer that never stops by itself (a signal or the test ends it).
pub const RUN_UNTIL_STOPPED: &[&str] = &[
    "--iterations",
    "100000",
    "--tol",
    "0",
    "--min-progress",
    "0",
];

/// A repository image at this long edge, in network space.
pub fn example_input(rel: &str, long: u32) -> nstyle::tensor::InputImage {
    use nstyle::image_io::{fit_long_edge, load_image, resize, to_input};
    let img = load_image(&example(rel)).unwrap().image;
    let (w, h) = fit_long_edge(img.width(), img.height(), long);
    to_input(&resize(&img, w, h))
}

pub fn example(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("images")
        .join(rel)
}
