//! `nstyle score` on real images with the bundled weights: an image against itself scores
//! zero distances and a grain of 1; a grainy copy scores more grain and larger distances.

mod common;
use common::*;
use image::Rgb32FImage;
use nstyle::image_io::{fit_long_edge, load_image, resize};
use nstyle::score::Scorer;
use std::process::Command;

fn small(rel: &str) -> Rgb32FImage {
    let img = load_image(&example(rel)).unwrap().image;
    let (w, h) = fit_long_edge(img.width(), img.height(), 96);
    resize(&img, w, h)
}

#[test]
fn an_image_scored_against_itself_is_at_distance_zero() {
    let weights = bundled_weights();
    let mut scorer = Scorer::new(&weights).unwrap();
    let painting = small("style/wave.jpg");
    let s = scorer.score(&painting, &painting, &painting).unwrap();
    assert_eq!(s.style, 0.0);
    assert_eq!(s.content, 0.0);
    assert!((s.grain - 1.0).abs() < 1e-12, "{}", s.grain);
}

#[test]
fn grain_and_distances_grow_with_added_noise() {
    let weights = bundled_weights();
    let mut scorer = Scorer::new(&weights).unwrap();
    let photo = small("content/chelsea.jpg");
    let painting = small("style/wave.jpg");
    let mut noisy = photo.clone();
    let noise = random_vec(noisy.len(), -0.15, 0.15, 7);
    noisy
        .iter_mut()
        .zip(&noise)
        .for_each(|(v, n)| *v = (*v + n).clamp(0.0, 1.0));
    let clean = scorer.score(&photo, &photo, &painting).unwrap();
    let grainy = scorer.score(&noisy, &photo, &painting).unwrap();
    assert!(grainy.grain > 2.0 * clean.grain, "{grainy:?} vs {clean:?}");
    assert!(grainy.content > clean.content);
    assert_eq!(clean.content, 0.0);
    assert!(
        clean.style > 0.1,
        "a photo is not in the painting's style: {clean:?}"
    );
}

#[test]
fn the_command_prints_one_json_line_per_result() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.png");
    let img = image::DynamicImage::ImageRgb32F(small("content/chelsea.jpg")).to_rgb8();
    img.save(&a).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nstyle"))
        .env_remove("NSTYLE_WEIGHTS")
        .args(["score", a.to_str().unwrap(), a.to_str().unwrap()])
        .arg("--content")
        .arg(example("content/chelsea.jpg"))
        .arg("--style")
        .arg(example("style/wave.jpg"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        for key in ["grain", "style", "content"] {
            assert!(l[key].as_f64().unwrap().is_finite(), "{l}");
        }
    }
    // The photo at 96 px scored against itself at full size: close, not equal (resampling).
    assert!(lines[0]["content"].as_f64().unwrap() < 0.5, "{}", lines[0]);
}

#[test]
fn a_missing_result_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_nstyle"))
        .args(["score", "/nonexistent/result.png", "--content"])
        .arg(example("content/chelsea.jpg"))
        .arg("--style")
        .arg(example("style/wave.jpg"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("result.png"), "{err}");
}
