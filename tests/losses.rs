//! The paper's losses: gradients against central differences, the closed-form identities
//! (Eq. 9), invariants of distribution alignment, and the unbiasedness of the linear-time
//! Gaussian estimator.
//!
//! Finite differences: features are f32, losses are summed in f64. With values O(1) and
//! eps = 1e-2 the truncation error is O(eps^2 * L''') and the rounding error of the f64 sums
//! is ~1e-12, so 1e-3 of the largest gradient entry is a meaningful yet safe bound.

mod common;
use common::*;
use nstyle::loss::mmd::{
    exact_gaussian_value, linear_gaussian_value_fixed_sigma, EXACT_GAUSSIAN_MAX_POSITIONS,
};
use nstyle::loss::{
    BnLoss, ContentLoss, GaussianMmd, GaussianMmdExact, GramLoss, LayerLoss, LinearMmd,
    LossOptions, Method, PolyMmd,
};
use nstyle::tensor::FeatureMap;
use rand::seq::SliceRandom;

fn fd_check(name: &str, loss: &dyn LayerLoss, f: &FeatureMap) {
    let (_, g) = loss.loss_and_grad(f).unwrap();
    assert_eq!(g.data.len(), f.data.len());
    let gmax = g.data.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    assert!(gmax > 0.0, "{name}: zero gradient");
    let eps = 1e-2f32;
    for i in 0..f.data.len() {
        let (mut p, mut m) = (f.clone(), f.clone());
        p.data[i] += eps;
        m.data[i] -= eps;
        let fd = (loss.loss_and_grad(&p).unwrap().0 - loss.loss_and_grad(&m).unwrap().0)
            / ((p.data[i] - m.data[i]) as f64);
        assert!(
            (fd - g.data[i] as f64).abs() <= 1e-3 * gmax,
            "{name}: d/dF[{i}] fd {fd} vs analytic {} (max {gmax})",
            g.data[i]
        );
    }
}

#[test]
fn every_loss_gradient_matches_finite_differences() {
    // (channels, generated h x w, style h x w): equal and unequal sizes.
    for &(n, (fh, fw), (sh, sw), seed) in &[
        (3, (2, 3), (2, 3), 1u64),
        (5, (3, 3), (2, 5), 2),
        (4, (1, 7), (4, 4), 3),
    ] {
        let f = random_map(n, fh, fw, seed);
        let s = random_map(n, sh, sw, seed + 10);
        fd_check("gram", &GramLoss::new(&s), &f);
        fd_check("mmd-linear", &LinearMmd::new(&s), &f);
        fd_check("mmd-poly c=0", &PolyMmd::new(&s, 0.0), &f);
        fd_check("mmd-poly c=1.5", &PolyMmd::new(&s, 1.5), &f);
        fd_check("bn", &BnLoss::new(&s), &f);
        fd_check(
            "mmd-gaussian exact",
            &GaussianMmdExact::new(&s, Some(2.0)).unwrap(),
            &f,
        );
        let mut lin = GaussianMmd::with_fixed_sigma2(&s, 1.5);
        lin.resample(f.positions(), &mut rng(seed));
        fd_check("mmd-gaussian linear-time", &lin, &f);
        if (fh, fw) == (sh, sw) {
            fd_check("content", &ContentLoss::new(s.clone()), &f);
        }
    }
}

#[test]
fn bn_gradient_is_finite_for_constant_channels() {
    let mut f = random_map(3, 4, 4, 5);
    f.data[..16].fill(1.5); // channel 0 constant
    let s = random_map(3, 4, 4, 6);
    let (l, g) = BnLoss::new(&s).loss_and_grad(&f).unwrap();
    assert!(l.is_finite() && g.data.iter().all(|v| v.is_finite()));
    fd_check(
        "bn (constant channel)",
        &BnLoss::new(&s),
        &random_map(3, 4, 4, 7),
    );
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn gram_equals_poly_mmd_over_4n2_eq9() {
    for &(n, h, w, sh, sw) in &[(8, 5, 6, 5, 6), (64, 20, 30, 17, 23), (3, 1, 1, 2, 2)] {
        let f = random_map(n, h, w, 40);
        let s = random_map(n, sh, sw, 41);
        let gram = GramLoss::new(&s).loss_and_grad(&f).unwrap().0;
        let poly = PolyMmd::new(&s, 0.0).loss_and_grad(&f).unwrap().0;
        assert!(
            rel(gram, poly / (4.0 * (n * n) as f64)) <= 1e-6,
            "{gram} vs {poly}/4N^2"
        );
    }
}

#[test]
fn gram_matches_the_papers_eq6_with_equal_sizes() {
    // Eq. 6 literally: 1/(4 N^2 M^2) sum_ij (G_ij - A_ij)^2 with unnormalised Gram matrices.
    let (n, h, w) = (6, 4, 5);
    let (f, s) = (random_map(n, h, w, 50), random_map(n, h, w, 51));
    let m = h * w;
    let gram = |x: &FeatureMap, i: usize, j: usize| -> f64 {
        (0..m)
            .map(|k| x.data[i * m + k] as f64 * x.data[j * m + k] as f64)
            .sum()
    };
    let mut eq6 = 0.0;
    for i in 0..n {
        for j in 0..n {
            eq6 += (gram(&f, i, j) - gram(&s, i, j)).powi(2);
        }
    }
    eq6 /= 4.0 * (n * n * m * m) as f64;
    let ours = GramLoss::new(&s).loss_and_grad(&f).unwrap().0;
    assert!(rel(ours, eq6) <= 1e-6, "{ours} vs Eq. 6 {eq6}");
    // and the biased MMD^2 with (x^T y + c)^2 computed over all M x M pairs (Eq. 2).
    let c = 0.7;
    let k = |a: &FeatureMap, i: usize, b: &FeatureMap, j: usize| -> f64 {
        let d: f64 = (0..n)
            .map(|ch| a.data[ch * m + i] as f64 * b.data[ch * m + j] as f64)
            .sum();
        (d + c).powi(2)
    };
    let mut mmd = 0.0;
    for i in 0..m {
        for j in 0..m {
            mmd += k(&f, i, &f, j) + k(&s, i, &s, j) - 2.0 * k(&f, i, &s, j);
        }
    }
    mmd /= (m * m) as f64;
    let poly = PolyMmd::new(&s, c).loss_and_grad(&f).unwrap().0;
    assert!(
        rel(poly, mmd) <= 1e-6,
        "N x N form {poly} vs M x M sum {mmd}"
    );
}

#[test]
fn v_statistic_losses_vanish_for_the_same_distribution() {
    // The same samples in another order: the style losses see distributions, not positions.
    let s = random_map(5, 6, 7, 60);
    let m = s.positions();
    let mut perm: Vec<usize> = (0..m).collect();
    perm.shuffle(&mut rng(61));
    let mut f = s.clone();
    for c in 0..5 {
        for (j, &p) in perm.iter().enumerate() {
            f.data[c * m + j] = s.data[c * m + p];
        }
    }
    for method in [Method::Gram, Method::MmdLinear, Method::MmdPoly, Method::Bn] {
        let l = method
            .build(&s, "relu3_1".parse().unwrap(), &LossOptions::default())
            .unwrap();
        let (same, _) = l.loss_and_grad(&s).unwrap();
        let (permuted, _) = l.loss_and_grad(&f).unwrap();
        let scale = l.loss_and_grad(&random_map(5, 6, 7, 62)).unwrap().0;
        assert!(
            same.abs() <= 1e-9 * scale.max(1.0),
            "{method}: {same} at F = S"
        );
        assert!(
            permuted.abs() <= 1e-6 * scale,
            "{method}: {permuted} for permuted positions (scale {scale})"
        );
    }
    assert_eq!(
        ContentLoss::new(s.clone()).loss_and_grad(&s).unwrap().0,
        0.0
    );
    // The unbiased Gaussian U-statistic is not exactly 0 at F = S: it is
    // K (2/(m(m-1)) - 2/m^2) - 2/m with K = sum_{i != j} k_ij, which is O(1/m).
    let sigma2 = 3.0;
    let u = exact_gaussian_value(&s, &s, sigma2).unwrap();
    assert!(u.abs() <= 2.0 / m as f64, "U-statistic at F = S: {u}");
}

#[test]
fn bn_loss_is_zero_for_equal_means_and_stds_and_linear_depends_only_on_means() {
    let s = random_map(4, 5, 5, 70);
    let m = s.positions();
    // Shuffle each channel's positions independently: every channel keeps its mean and
    // std (its marginal), but the joint distribution, hence the Gram matrix, changes.
    let mut f = s.clone();
    let mut r = rng(72);
    for c in 0..4 {
        f.data[c * m..(c + 1) * m].shuffle(&mut r);
    }
    let bn = BnLoss::new(&s).loss_and_grad(&f).unwrap().0;
    assert!(bn.abs() <= 1e-10, "bn = {bn}");
    let gram = GramLoss::new(&s).loss_and_grad(&f).unwrap().0;
    assert!(gram > 1e-6, "Gram should see the difference, got {gram}");
    // Linear MMD: adding any zero-mean pattern to a channel changes nothing.
    let g = random_map(4, 5, 5, 71);
    let lin = LinearMmd::new(&s);
    let before = lin.loss_and_grad(&g).unwrap().0;
    let mut g2 = g.clone();
    for c in 0..4 {
        g2.data[c * m] += 0.3 * (c + 1) as f32;
        g2.data[c * m + 1] -= 0.3 * (c + 1) as f32;
    }
    let after = lin.loss_and_grad(&g2).unwrap().0;
    assert!(rel(before, after) <= 1e-5, "{before} vs {after}");
    let mean_diff: f64 = (0..4)
        .map(|c| {
            let a: f64 = g.channel(c).iter().map(|&v| v as f64).sum::<f64>() / m as f64;
            let b: f64 = s.channel(c).iter().map(|&v| v as f64).sum::<f64>() / m as f64;
            (a - b).powi(2)
        })
        .sum();
    assert!(rel(before, mean_diff) <= 1e-9);
}

#[test]
fn linear_time_gaussian_estimator_is_unbiased() {
    // E over random pairings of the linear-time estimate = the exact U-statistic (same
    // sigma^2). Tolerance: 4 standard errors of the sample mean (false alarm ~6e-5).
    for &(n, fh, fw, sh, sw) in &[(4, 6, 6, 6, 6), (3, 5, 8, 7, 4)] {
        let f = random_map(n, fh, fw, 80);
        let s = FeatureMap::from_vec(n, sh, sw, random_vec(n * sh * sw, 0.5, 2.5, 81)).unwrap();
        let sigma2 = 2.0;
        let exact = exact_gaussian_value(&f, &s, sigma2).unwrap();
        let mut r = rng(82);
        let k = 4000;
        let v: Vec<f64> = (0..k)
            .map(|_| linear_gaussian_value_fixed_sigma(&f, &s, sigma2, None, &mut r).unwrap())
            .collect();
        let mean = v.iter().sum::<f64>() / k as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1) as f64).sqrt();
        let se = sd / (k as f64).sqrt();
        assert!(
            (mean - exact).abs() <= 4.0 * se,
            "mean {mean} vs exact {exact} (se {se})"
        );
        assert!(
            exact.abs() > 4.0 * se,
            "test has no power: exact {exact}, se {se}"
        );
    }
}

#[test]
fn averaging_shuffles_divides_the_linear_time_variance() {
    // Each shuffle's estimate is independent and identically distributed, so the mean of
    // the default number of shuffles has 1/that of one shuffle's variance. Bounds: about
    // 4 standard deviations of a ratio of two sample variances from 3000 draws each.
    let (f, s, sigma2) = (random_map(4, 6, 6, 90), random_map(4, 6, 6, 91), 2.0);
    let shuffles = nstyle::loss::mmd::pairings(18);
    assert_eq!(shuffles, nstyle::loss::mmd::MAX_PAIRINGS);
    let variance = |k: Option<usize>, seed| {
        let mut r = rng(seed);
        let v: Vec<f64> = (0..3000)
            .map(|_| linear_gaussian_value_fixed_sigma(&f, &s, sigma2, k, &mut r).unwrap())
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64
    };
    let ratio = variance(Some(1), 92) / variance(None, 93);
    let k = shuffles as f64;
    assert!(
        ratio > k * 0.8 && ratio < k * 1.25,
        "variance ratio {ratio}, expected about {k}"
    );
}

#[test]
fn exact_gaussian_refuses_large_maps() {
    let side = (EXACT_GAUSSIAN_MAX_POSITIONS as f64).sqrt() as usize + 1;
    let s = FeatureMap::zeros(1, side, side);
    let e = GaussianMmdExact::new(&s, Some(1.0))
        .err()
        .expect("should refuse")
        .to_string();
    assert!(
        e.contains("quadratic") && e.contains(&EXACT_GAUSSIAN_MAX_POSITIONS.to_string()),
        "{e}"
    );
}

#[test]
fn style_spec_and_layer_parsing() {
    use nstyle::loss::{parse_layer_weights, StyleSpec};
    let s: StyleSpec = "mmd-linear:1,mmd-gaussian:3".parse().unwrap();
    assert_eq!(
        s.terms,
        vec![(Method::MmdLinear, 0.25), (Method::MmdGaussian, 0.75)]
    );
    assert!("gram,wat"
        .parse::<StyleSpec>()
        .unwrap_err()
        .to_string()
        .contains("unknown style loss 'wat'"));
    assert!("gram:x".parse::<StyleSpec>().is_err());
    assert!("gram:0".parse::<StyleSpec>().is_err());
    let l = parse_layer_weights("relu1_1,relu3_1:0.5").unwrap();
    assert_eq!(l[1].1, 0.5);
    assert!(parse_layer_weights("relu9_9")
        .unwrap_err()
        .to_string()
        .contains("unknown layer 'relu9_9'"));
}

#[test]
fn total_variation_matches_finite_differences_and_vanishes_on_constant_images() {
    use nstyle::loss::{ImageLoss, TotalVariation};
    let (h, w) = (5, 7);
    let x = random_vec(3 * h * w, -50.0, 50.0, 91);
    let (v, g) = TotalVariation.loss_and_grad(&x, h, w).unwrap();
    // The value by its definition, in f64.
    let mut want = 0.0f64;
    for c in 0..3 {
        let at = |i: usize, j: usize| x[c * h * w + i * w + j] as f64;
        for i in 0..h {
            for j in 0..w {
                if j + 1 < w {
                    want += (at(i, j + 1) - at(i, j)).powi(2);
                }
                if i + 1 < h {
                    want += (at(i + 1, j) - at(i, j)).powi(2);
                }
            }
        }
    }
    // Differences are taken in f32 (the image's precision), squared and summed in f64.
    assert!((v - want).abs() <= 1e-6 * want, "{v} vs {want}");
    // Central differences (TV is quadratic, so they are exact up to rounding).
    for k in [0, 8, 34, 3 * h * w - 1] {
        let step = 0.5f32;
        let mut xp = x.clone();
        xp[k] += step;
        let mut xm = x.clone();
        xm[k] -= step;
        let fp = TotalVariation.loss_and_grad(&xp, h, w).unwrap().0;
        let fm = TotalVariation.loss_and_grad(&xm, h, w).unwrap().0;
        let fd = (fp - fm) / (2.0 * step as f64);
        assert!(
            (fd - g[k] as f64).abs() <= 1e-3 * fd.abs().max(1.0),
            "pixel {k}: finite difference {fd}, gradient {}",
            g[k]
        );
    }
    let flat = vec![42.0f32; 3 * h * w];
    let (v0, g0) = TotalVariation.loss_and_grad(&flat, h, w).unwrap();
    assert_eq!(v0, 0.0);
    assert!(g0.iter().all(|&v| v == 0.0));
    assert!(TotalVariation.loss_and_grad(&flat, h, w + 1).is_err());
}
