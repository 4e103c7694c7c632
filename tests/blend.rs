//! Several style images with blend weights (`loss::blend`): for every method, blending a
//! map with itself or with weight 0 changes nothing; the moment methods' mixture is that
//! of the pooled distribution; the pooled sample takes the documented positions.

mod common;
use common::*;
use nstyle::loss::blend::{pooled_counts, Blended, LayerBlend};
use nstyle::loss::stats::normalized_gram;
use nstyle::loss::{GramLoss, LayerLoss, LossOptions, Method};
use nstyle::tensor::FeatureMap;
use nstyle::Layer;

fn layer() -> Layer {
    "relu1_1".parse().unwrap()
}

/// Every method with its options; the Gaussian MMD twice (linear-time and exact; the maps
/// are small enough for the exact one), mmd-poly with c != 0 so its mean term counts.
fn cases() -> Vec<(Method, LossOptions)> {
    let mut v: Vec<(Method, LossOptions)> = Method::ALL
        .iter()
        .map(|&m| {
            let poly_c = if m == Method::MmdPoly { 0.5 } else { 0.0 };
            let o = LossOptions {
                poly_c,
                ..LossOptions::default()
            };
            (m, o)
        })
        .collect();
    let exact = LossOptions {
        gaussian_exact_sigma2: Some(3.0),
        ..LossOptions::default()
    };
    v.push((Method::MmdGaussian, exact));
    v
}

fn is_sample_method(m: Method) -> bool {
    matches!(m, Method::MmdGaussian | Method::SlicedWasserstein)
}

fn blended(method: Method, maps: &[&FeatureMap], weights: &[f64]) -> Blended {
    let positions: Vec<usize> = maps.iter().map(|m| m.positions()).collect();
    let mut b = LayerBlend::new(&[method], weights, &positions).unwrap();
    for (i, m) in maps.iter().enumerate() {
        b.add(i, m).unwrap();
    }
    b.finish().unwrap()
}

/// Value and gradient at `f`, after the same seeded draw for stochastic losses.
fn evaluate(mut loss: Box<dyn LayerLoss>, f: &FeatureMap) -> (f64, Vec<f64>) {
    loss.resample(f.positions(), &mut rng(11));
    let (v, g) = loss.loss_and_grad(f).unwrap();
    (v, to64(&g.data))
}

fn single(c: &(Method, LossOptions), style: &FeatureMap, f: &FeatureMap) -> (f64, Vec<f64>) {
    evaluate(c.0.build(style, layer(), &c.1).unwrap(), f)
}

fn blend(
    c: &(Method, LossOptions),
    maps: &[&FeatureMap],
    w: &[f64],
    f: &FeatureMap,
) -> (f64, Vec<f64>) {
    let b = blended(c.0, maps, w);
    evaluate(b.build(c.0, layer(), &c.1).unwrap(), f)
}

fn label(c: &(Method, LossOptions)) -> String {
    match c.1.gaussian_exact_sigma2 {
        Some(_) => format!("{} (exact)", c.0),
        None => c.0.to_string(),
    }
}

fn assert_close(what: &str, a: (f64, Vec<f64>), b: (f64, Vec<f64>), tol: f64) {
    let rv = (a.0 - b.0).abs() / b.0.abs().max(1e-300);
    assert!(rv <= tol, "{what}: value {} vs {} (rel {rv:e})", a.0, b.0);
    let rg = rel_err(&a.1, &b.1);
    assert!(rg <= tol, "{what}: gradient rel {rg:e}");
}

#[test]
fn a_style_blended_with_itself_is_the_style_alone() {
    // Moment methods: (0.5, 0.5) of one map is that map's moments. Sample methods pool
    // a resampled copy, so they are checked with weights (1, 0) below instead.
    let (s, f) = (random_map(6, 5, 4, 1), random_map(6, 4, 4, 2));
    for c in cases().iter().filter(|c| !is_sample_method(c.0)) {
        let a = blend(c, &[&s, &s], &[0.5, 0.5], &f);
        assert_close(&label(c), a, single(c, &s, &f), 1e-6);
    }
}

#[test]
fn weights_one_and_zero_are_the_first_style_alone() {
    // The second map is larger: a zero weight must not even change the pooled size.
    let (s, t, f) = (
        random_map(6, 5, 4, 3),
        random_map(6, 7, 6, 4),
        random_map(6, 4, 4, 5),
    );
    for c in &cases() {
        let a = blend(c, &[&s, &t], &[1.0, 0.0], &f);
        assert_close(&label(c), a, single(c, &s, &f), 0.0);
        // The other way round, with a weight that is not 1 before normalisation.
        let a = blend(c, &[&t, &s], &[0.0, 2.5], &f);
        assert_close(&label(c), a, single(c, &s, &f), 0.0);
    }
}

/// The positions of `a` then `b` as one map: its empirical distribution is the mixture
/// with weights proportional to the numbers of positions.
fn concatenated(a: &FeatureMap, b: &FeatureMap) -> FeatureMap {
    let n = a.channels;
    let (ma, mb) = (a.positions(), b.positions());
    let mut data = Vec::with_capacity(n * (ma + mb));
    for c in 0..n {
        data.extend_from_slice(a.channel(c));
        data.extend_from_slice(b.channel(c));
    }
    FeatureMap::from_vec(n, 1, ma + mb, data).unwrap()
}

#[test]
fn moment_blends_are_the_moments_of_the_pooled_distribution() {
    // Different means, so the between-style terms of the variance and covariance matter.
    let a = random_map(5, 4, 5, 6);
    let mut b = random_map(5, 3, 4, 7);
    b.data
        .iter_mut()
        .enumerate()
        .for_each(|(k, v)| *v += (k / 12) as f32 * 0.7);
    let f = random_map(5, 4, 4, 8);
    let (ma, mb) = (a.positions() as f64, b.positions() as f64);
    let w = [ma / (ma + mb), mb / (ma + mb)];
    let pooled = concatenated(&a, &b);
    for c in cases().iter().filter(|c| !is_sample_method(c.0)) {
        let x = blend(c, &[&a, &b], &w, &f);
        assert_close(&label(c), x, single(c, &pooled, &f), 1e-5);
    }
}

#[test]
fn the_gram_target_is_the_weighted_sum_of_grams() {
    let (a, b) = (random_map(4, 3, 5, 9), random_map(4, 6, 2, 10));
    let b2 = blended(Method::Gram, &[&a, &b], &[0.7, 0.3]);
    let (ga, gb) = (normalized_gram(&a), normalized_gram(&b));
    let want: Vec<f64> = ga.iter().zip(&gb).map(|(x, y)| 0.7 * x + 0.3 * y).collect();
    let mix = b2.mixture().unwrap();
    assert!(rel_err(&mix.gram, &want) < 1e-12);
    // Unnormalised weights mean the same blend.
    let b3 = blended(Method::Gram, &[&a, &b], &[7.0, 3.0]);
    assert!(rel_err(&b3.mixture().unwrap().gram, &want) < 1e-12);
    // And the loss built from it holds exactly that target.
    let g = GramLoss::from_target(mix.gram.clone(), 4).unwrap();
    assert_eq!(g.target(), mix.gram.as_slice());
}

#[test]
fn the_pooled_sample_takes_evenly_spaced_positions() {
    // One channel holding each position's index (+100 for the second map).
    let index_map = |m: usize, base: f32| {
        FeatureMap::from_vec(1, 1, m, (0..m).map(|j| base + j as f32).collect()).unwrap()
    };
    let (a, b) = (index_map(10, 0.0), index_map(6, 100.0));
    // M_pool = 10: 5 from each; a at floor(j 10/5), b at floor(j 6/5).
    let p = blended(Method::SlicedWasserstein, &[&a, &b], &[0.5, 0.5]);
    let got = &p.pooled().unwrap().data;
    assert_eq!(got, &[0., 2., 4., 6., 8., 100., 101., 102., 103., 104.]);
    // 0.25 / 0.75 of 10: round(2.5) = 3 (half away from zero) and round(7.5) = 8, so
    // b's 6 positions repeat: floor(j 6/8) = 0 0 1 2 3 3 4 5.
    let p = blended(Method::MmdGaussian, &[&a, &b], &[0.25, 0.75]);
    let got = &p.pooled().unwrap().data;
    let want = [0., 3., 6., 100., 100., 101., 102., 103., 103., 104., 105.];
    assert_eq!(got, &want);
    assert_eq!(pooled_counts(&[0.25, 0.75], &[10, 6]), vec![3, 8]);
    // Tiny maps where every count rounds to 0: the heaviest style gives one position.
    assert_eq!(pooled_counts(&[0.3, 0.3, 0.4], &[1, 1, 1]), vec![0, 0, 1]);
    assert_eq!(pooled_counts(&[0.0, 1.0], &[50, 1]), vec![0, 1]);
}

#[test]
fn bad_weights_are_refused() {
    let a = random_map(2, 2, 2, 12);
    for w in [
        [0.0, 0.0],
        [-1.0, 2.0],
        [f64::NAN, 1.0],
        [f64::INFINITY, 1.0],
    ] {
        let e = LayerBlend::new(&[Method::Gram], &w, &[4, 4]).err().unwrap();
        assert!(e.to_string().starts_with("style-blend "), "{e}");
    }
    // A map of another size than planned is an error, not a silent misread.
    let mut b = LayerBlend::new(&[Method::SlicedWasserstein], &[1.0, 1.0], &[4, 9]).unwrap();
    b.add(0, &a).unwrap();
    assert!(b.add(1, &a).is_err());
}

#[test]
fn the_objective_blends_real_paintings() {
    use nstyle::objective::{noise_image, Objective};
    use nstyle::optim::Problem;
    use nstyle::tensor::InputImage;
    use nstyle::{CpuVgg19, Pooling, StyleConfig, StyleSpec};
    let weights = bundled_weights();
    let mut net = CpuVgg19::new(&weights, Pooling::Average);
    let content = example_input("content/chelsea.jpg", 32);
    let (s, t) = (
        example_input("style/starry_night.jpg", 32),
        example_input("style/wave.jpg", 40),
    );
    let (h, w) = (content.height, content.width);
    let (probe, x) = (noise_image(h, w, 0), noise_image(h, w, 7));
    // Every method at once: a fusion, so one objective evaluates them all.
    let fusion = |sample: bool| StyleSpec {
        terms: Method::ALL
            .iter()
            .filter(|m| sample || !is_sample_method(**m))
            .map(|&m| (m, 1.0))
            .collect(),
    };
    let mut run = |styles: &[(&InputImage, f64)], style: StyleSpec| {
        let cfg = StyleConfig {
            style,
            seed: 1,
            ..StyleConfig::default()
        };
        let mut obj = Objective::blended(&mut net, Some(&content), styles, h, w, &cfg).unwrap();
        obj.calibrate(&probe).unwrap();
        let (v, g) = obj.evaluate(&x.data).unwrap();
        let per_group: Vec<f64> = obj.last.groups.iter().map(|g| g.value).collect();
        (v, g, per_group)
    };
    // Moment methods: a painting blended with itself is that painting.
    let one = run(&[(&s, 1.0)], fusion(false));
    assert_eq!(run(&[(&s, 0.5), (&s, 0.5)], fusion(false)), one);
    // Every method: weight 0 leaves the other painting out entirely.
    let one = run(&[(&s, 1.0)], fusion(true));
    assert_eq!(run(&[(&s, 1.0), (&t, 0.0)], fusion(true)), one);
    // A real blend is something else, and finite.
    let mixed = run(&[(&s, 0.6), (&t, 0.4)], fusion(true));
    assert!(mixed.2.iter().all(|v| v.is_finite()));
    for (k, (a, b)) in mixed.2.iter().zip(&one.2).enumerate().skip(1) {
        assert!(a != b, "group {k}: the blend changed nothing");
    }
}
