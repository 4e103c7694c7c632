//! End to end with the real VGG-19 weights (the bundled f16 copy) and the repository's
//! images: every method transfers a real photo towards a real painting at 96 px.

mod common;
use common::*;
use nstyle::image_io::{fit_long_edge, load_image, resize, to_network};
use nstyle::loss::{GramLoss, LayerLoss, LossOptions, PolyMmd};
use nstyle::objective::inspect_losses;
use nstyle::run::{ignore_events, stylize, Event};
use nstyle::tensor::InputImage;
use nstyle::{CpuVgg19, FeatureNet, Init, Layer, Method, Pooling, StyleConfig, StyleSpec};
use std::ops::ControlFlow;

fn image(rel: &str, long: u32) -> InputImage {
    let img = load_image(&example(rel)).unwrap().image;
    let (w, h) = fit_long_edge(img.width(), img.height(), long);
    let r = resize(&img, w, h);
    InputImage::new(h as usize, w as usize, to_network(&r)).unwrap()
}

fn resized(rel: &str, h: usize, w: usize) -> InputImage {
    let img = load_image(&example(rel)).unwrap().image;
    InputImage::new(h, w, to_network(&resize(&img, w as u32, h as u32))).unwrap()
}

/// (content loss, style loss summed over layers) of `x` for one method, raw.
fn raw(
    net: &mut CpuVgg19,
    c: &InputImage,
    s: &InputImage,
    x: &InputImage,
    m: Method,
) -> (f64, f64) {
    let cfg = StyleConfig {
        style: StyleSpec::single(m),
        loss: LossOptions::default(),
        ..StyleConfig::default()
    };
    let r = inspect_losses(net, Some(c), s, x, &cfg, false).unwrap();
    (r.values.content().unwrap(), r.values.style()[0].1)
}

#[test]
fn every_method_transfers_a_real_painting() {
    // From the photo (the style loss is then that of the photo) with the paper's gamma:
    // the style loss must at least halve while the content loss stays far below that of
    // the painting itself.
    let weights = bundled_weights();
    let content = image("content/chelsea.jpg", 96);
    let style = image("style/starry_night.jpg", 96);
    let style_as_output = resized("style/starry_night.jpg", content.height, content.width);
    let mut net = CpuVgg19::new(&weights, Pooling::Average);
    for &method in nstyle::Method::ALL {
        // The paper's gamma (5) as each method's registry balance sees it: coral and w2
        // (balance 0.05) get the pull they had before that balance existed.
        let cfg = StyleConfig {
            style: StyleSpec::single(method),
            style_weight: 5.0 / method.info().balance,
            iterations: 60,
            seed: 3,
            ..StyleConfig::default()
        };
        let init = Init::Content;
        let out = stylize(
            &mut net,
            Some(&content),
            &style,
            &init,
            &cfg,
            &mut ignore_events,
        )
        .unwrap();
        let init = content.clone();
        let (c0, s0) = raw(&mut net, &content, &style, &init, method);
        let (c1, s1) = raw(&mut net, &content, &style, &out.image, method);
        let (c_style, _) = raw(&mut net, &content, &style, &style_as_output, method);
        eprintln!(
            "{method}: {} iters, style {s0:.3e} -> {s1:.3e}, content {c0:.3e} -> {c1:.3e} (style image: {c_style:.3e})",
            out.summary.iterations
        );
        assert!(
            s1 <= 0.5 * s0,
            "{method}: style loss {s0} -> {s1}, not halved"
        );
        // The paper's five keep the photo at the paper's gamma. The newer alignments
        // stylise harder under the same beta' rule (coral and w2 carry a registry balance
        // of 0.05 for it; sliced Wasserstein none), so for them only a bound that rules out
        // losing the photo entirely.
        let paper = (Method::ALL.iter().position(|&m| m == method).unwrap()) < 5;
        let bound = if paper { 0.5 } else { 0.9 };
        assert!(
            c1 <= bound * c_style,
            "{method}: content loss {c1} not below {bound} x the style image's {c_style}"
        );
        assert!(out.image.data.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn same_seed_same_output_bits() {
    let weights = bundled_weights();
    let content = image("content/chelsea.jpg", 64);
    let style = image("style/the_scream.jpg", 64);
    let cfg = StyleConfig {
        style: "mmd-linear:0.5,mmd-gaussian:0.5".parse().unwrap(),
        iterations: 8,
        seed: 11,
        ..StyleConfig::default()
    };
    let run = || {
        let mut net = CpuVgg19::new(&weights, Pooling::Average);
        stylize(
            &mut net,
            Some(&content),
            &style,
            &Init::Noise,
            &cfg,
            &mut ignore_events,
        )
        .unwrap()
        .image
    };
    let (a, b) = (run(), run());
    assert!(a
        .data
        .iter()
        .zip(&b.data)
        .all(|(x, y)| x.to_bits() == y.to_bits()));
    let other = {
        let mut net = CpuVgg19::new(&weights, Pooling::Average);
        let cfg2 = StyleConfig {
            seed: 12,
            ..cfg.clone()
        };
        stylize(
            &mut net,
            Some(&content),
            &style,
            &Init::Noise,
            &cfg2,
            &mut ignore_events,
        )
        .unwrap()
        .image
    };
    assert_ne!(
        a.data, other.data,
        "a different seed should give a different image"
    );
}

#[test]
fn style_reconstruction_from_noise_lowers_every_style_loss_5x() {
    let weights = bundled_weights();
    let style = image("style/starry_night.jpg", 64);
    let mut net = CpuVgg19::new(&weights, Pooling::Average);
    for &method in Method::ALL {
        let cfg = StyleConfig {
            style: StyleSpec::single(method),
            content_weight: 0.0,
            iterations: 30,
            tol: 0.0,
            ..StyleConfig::default()
        };
        let mut first = None;
        let mut observe = |e: &Event, _: Option<&InputImage>| {
            if let Event::Iteration(it) = e {
                first.get_or_insert(it.losses.style()[0].1);
            }
            ControlFlow::Continue(())
        };
        let out = stylize(&mut net, None, &style, &Init::Noise, &cfg, &mut observe).unwrap();
        assert_eq!(
            (out.image.height, out.image.width),
            (style.height, style.width)
        );
        assert!(out.summary.losses.content().is_none());
        let last = out.summary.losses.style()[0].1;
        let first = first.unwrap();
        eprintln!("{method}: {first:.4e} -> {last:.4e}");
        assert!(last < 0.2 * first, "{method}: {first} -> {last}");
    }
}

#[test]
fn gram_equals_poly_over_4n2_on_real_features() {
    let weights = bundled_weights();
    let (a, b) = (image("content/coffee.jpg", 80), image("style/wave.jpg", 72));
    let mut net = CpuVgg19::new(&weights, Pooling::Max);
    for layer in Layer::default_style() {
        let f = net
            .forward(&a.data, a.height, a.width, &[layer])
            .unwrap()
            .remove(0);
        let s = net
            .forward(&b.data, b.height, b.width, &[layer])
            .unwrap()
            .remove(0);
        let g = GramLoss::new(&s).loss_and_grad(&f).unwrap().0;
        let p = PolyMmd::new(&s, 0.0).loss_and_grad(&f).unwrap().0;
        let n = f.channels as f64;
        assert!(
            (g - p / (4.0 * n * n)).abs() <= 1e-6 * g.abs(),
            "{layer}: {g} vs {}",
            p / (4.0 * n * n)
        );
    }
}
