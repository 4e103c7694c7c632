//! Exact tiled evaluation (src/objective/tiling.rs): with tiles much smaller than the
//! image, so that halos cross tile borders and the image edge, every value and the image
//! gradient equal the untiled ones up to summation order, for every tileable method, a
//! fusion, several paintings, the content loss and total variation; and a whole tiled run
//! ends where the untiled one does.

mod common;
use common::*;
use nstyle::config::{Init, StyleConfig};
use nstyle::engine::{ConvAlgorithm, CpuVgg19, Pooling};
use nstyle::loss::{Method, StyleSpec};
use nstyle::objective::{inspect_losses, noise_image, Objective};
use nstyle::optim::Problem;
use nstyle::run::{ignore_events, stylize};
use nstyle::tensor::InputImage;

fn net() -> CpuVgg19 {
    CpuVgg19::with_algorithm(
        &bundled_weights(),
        Pooling::Average,
        ConvAlgorithm::Winograd,
    )
}

/// `|a - b| / |b|` (L2).
fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let n: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (d / n).sqrt()
}

/// A 300x200 photo and a 208x160 painting (both tiled at 64 px: 5x4 and 4x3 tiles).
fn images() -> (InputImage, InputImage, InputImage) {
    let content = example_input("content/chelsea.jpg", 300);
    assert_eq!((content.width, content.height), (300, 200));
    let style = example_input("style/starry_night.jpg", 208);
    let x = noise_image(content.height, content.width, 7);
    (content, style, x)
}

fn cfg(methods: &[Method], tile: Option<usize>) -> StyleConfig {
    StyleConfig {
        style: StyleSpec {
            terms: methods
                .iter()
                .map(|&m| (m, 1.0 / methods.len() as f64))
                .collect(),
        },
        tile,
        ..StyleConfig::default()
    }
}

#[test]
fn every_tileable_method_and_the_content_loss_give_the_untiled_values_and_gradient() {
    let (content, style, x) = images();
    let mut net = net();
    let tileable: Vec<Method> = Method::ALL
        .iter()
        .copied()
        .filter(|m| m.info().tiled)
        .collect();
    assert_eq!(
        tileable.len(),
        6,
        "gram, mmd-linear, mmd-poly, bn, coral, w2"
    );
    for methods in tileable
        .iter()
        .map(|m| vec![*m])
        .chain([vec![Method::MmdLinear, Method::Bn]])
    {
        let whole = inspect_losses(
            &mut net,
            Some(&content),
            &style,
            &x,
            &cfg(&methods, None),
            true,
        )
        .unwrap();
        let tiled = inspect_losses(
            &mut net,
            Some(&content),
            &style,
            &x,
            &cfg(&methods, Some(64)),
            true,
        )
        .unwrap();
        for (a, b) in tiled.values.groups.iter().zip(&whole.values.groups) {
            assert_eq!(a.role, b.role);
            for ((ta, va), (tb, vb)) in a.terms.iter().zip(&b.terms) {
                assert_eq!(ta, tb);
                let rel = (va - vb).abs() / vb.abs().max(1e-300);
                assert!(
                    rel < 1e-5,
                    "{methods:?} {} {ta}: {va} vs {vb} ({rel:e})",
                    a.role
                );
            }
        }
        let (ga, gb) = (tiled.gradient.unwrap(), whole.gradient.unwrap());
        let rel = rel_l2(&ga, &gb);
        assert!(
            rel < 1e-4,
            "{methods:?}: gradient differs by {rel:e} (L2, relative)"
        );
    }
}

#[test]
fn the_balanced_objective_with_tv_and_two_paintings_is_the_same_tiled() {
    let (content, style, x) = images();
    let second = example_input("style/the_scream.jpg", 176);
    let styles = [(&style, 0.7), (&second, 0.3)];
    let mut net = net();
    let mut evaluate = |tile| {
        let c = StyleConfig {
            tv_weight: 1.0,
            style_layers: cfg(&[], None).style_layers,
            ..cfg(&[Method::Gram, Method::Coral], tile)
        };
        let (h, w) = (content.height, content.width);
        let mut obj = Objective::blended(&mut net, Some(&content), &styles, h, w, &c).unwrap();
        obj.calibrate(&noise_image(h, w, 3)).unwrap();
        let betas = obj.beta_primes();
        let (v, g) = obj.evaluate(&x.data).unwrap();
        (betas, v, g)
    };
    let (b0, v0, g0) = evaluate(None);
    let (b1, v1, g1) = evaluate(Some(64));
    for ((r0, x0), (r1, x1)) in b0.iter().zip(&b1) {
        assert_eq!(r0, r1);
        assert!(
            (x0 - x1).abs() < 1e-5 * x0.abs(),
            "beta' of {r0}: {x0} vs {x1}"
        );
    }
    assert!((v0 - v1).abs() < 1e-5 * v0.abs(), "objective {v0} vs {v1}");
    let rel = rel_l2(&g1, &g0);
    assert!(rel < 1e-4, "gradient differs by {rel:e}");
}

#[test]
fn a_tiled_run_ends_where_the_untiled_run_does() {
    let content = example_input("content/chelsea.jpg", 128);
    let style = example_input("style/starry_night.jpg", 128);
    let mut net = net();
    let mut run = |tile| {
        let c = StyleConfig {
            iterations: 10,
            tol: 0.0,
            style_weight: 25.0,
            tv_weight: 1.0,
            ..cfg(&[Method::Gram], tile)
        };
        stylize(
            &mut net,
            Some(&content),
            &style,
            &Init::Noise,
            &c,
            &mut ignore_events,
        )
        .unwrap()
        .image
    };
    let (a, b) = (run(None), run(Some(48)));
    let mean_abs: f64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs() as f64)
        .sum::<f64>()
        / a.data.len() as f64;
    assert!(mean_abs < 1.0, "mean |difference| {mean_abs} of 255");
}

#[test]
fn sample_methods_refuse_tiles_with_a_clear_message() {
    let (content, style, _) = images();
    let mut net = net();
    for m in [Method::MmdGaussian, Method::SlicedWasserstein] {
        let c = cfg(&[m], Some(64));
        let e = Objective::new(&mut net, Some(&content), &style, 200, 300, &c)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.starts_with("tile is not available for the"), "{e}");
        assert!(e.contains(m.name()), "{e}");
    }
}
