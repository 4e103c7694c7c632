//! The alignment losses beyond the paper: CORAL, the Gaussian 2-Wasserstein distance and the
//! sliced Wasserstein distance. Gradients against central differences, closed forms they
//! must reduce to, and the invariances of a distribution loss.
//!
//! Finite differences: features are f32 and perturbed in f32 (the step used is the one
//! actually realised). CORAL and W2 compute their statistics in f64, so a small step
//! (1e-3) keeps the truncation error low and the tolerance tight; the sliced loss projects
//! with an f32 GEMM and is only piecewise smooth (the sort), so its check runs at points
//! whose projections are at least 3 steps apart, where the sort cannot change.

mod common;
use common::*;
use nstyle::loss::{CoralLoss, GaussianW2Loss, GramLoss, LayerLoss, SlicedWassersteinLoss};
use nstyle::tensor::FeatureMap;
use rand::seq::SliceRandom;
use rand::Rng;

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

fn value(loss: &dyn LayerLoss, f: &FeatureMap) -> f64 {
    loss.loss_and_grad(f).unwrap().0
}

/// Central differences of every entry against the analytic gradient; returns the largest
/// error relative to the largest gradient entry (asserted <= `tol`).
fn fd_check(name: &str, loss: &dyn LayerLoss, f: &FeatureMap, eps: f32, tol: f64) -> f64 {
    let (_, g) = loss.loss_and_grad(f).unwrap();
    assert_eq!(g.data.len(), f.data.len());
    assert!(
        g.data.iter().all(|v| v.is_finite()),
        "{name}: non-finite gradient"
    );
    let gmax = g.data.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    assert!(gmax > 0.0, "{name}: zero gradient");
    let mut worst = 0.0f64;
    for i in 0..f.data.len() {
        let (mut p, mut m) = (f.clone(), f.clone());
        p.data[i] += eps;
        m.data[i] -= eps;
        let fd = (value(loss, &p) - value(loss, &m)) / ((p.data[i] - m.data[i]) as f64);
        let err = (fd - g.data[i] as f64).abs() / gmax;
        assert!(
            err <= tol,
            "{name}: d/dF[{i}] fd {fd} vs analytic {} (max {gmax}, rel {err:e})",
            g.data[i]
        );
        worst = worst.max(err);
    }
    worst
}

/// Channels, generated h x w, style h x w.
type Shape = (usize, (usize, usize), (usize, usize));

/// Equal and unequal sizes, M > N and M <= N (rank-deficient covariances) on either side.
const SHAPES: [Shape; 8] = [
    (3, (2, 3), (2, 3)),
    (5, (3, 3), (2, 5)),
    (4, (1, 7), (4, 4)),
    (6, (1, 4), (2, 2)),  // both rank 3 < 6
    (8, (2, 2), (3, 5)),  // generated rank 3
    (8, (3, 5), (1, 3)),  // style rank 2
    (7, (1, 3), (1, 5)),  // ranks 2 and 4
    (24, (3, 3), (2, 3)), // ranks 8 and 5 of 24: relu5_1 of a small image, in miniature
];

#[test]
fn coral_gradient_matches_finite_differences() {
    for (t, &(n, (fh, fw), (sh, sw))) in SHAPES.iter().enumerate() {
        let f = random_map(n, fh, fw, 100 + t as u64);
        let s = random_map(n, sh, sw, 200 + t as u64);
        let e = fd_check("coral", &CoralLoss::new(&s), &f, 1e-3, 1e-5);
        eprintln!("coral n={n} F {fh}x{fw} S {sh}x{sw}: worst {e:e}");
    }
}

#[test]
fn w2_gradient_matches_finite_differences_also_when_rank_deficient() {
    for (t, &(n, (fh, fw), (sh, sw))) in SHAPES.iter().enumerate() {
        let f = random_map(n, fh, fw, 300 + t as u64);
        let s = random_map(n, sh, sw, 400 + t as u64);
        let e = fd_check("gaussian-w2", &GaussianW2Loss::new(&s), &f, 1e-3, 1e-5);
        eprintln!("w2 n={n} F {fh}x{fw} S {sh}x{sw}: worst {e:e}");
    }
}

#[test]
fn w2_gradient_is_finite_for_a_deep_layer_of_a_small_image() {
    // relu5_1 of a 64 x 64 image: 512 channels, 4 x 4 positions (rank 15); style 6 x 6.
    let f = random_map(512, 4, 4, 500);
    let s = random_map(512, 6, 6, 501);
    let loss = GaussianW2Loss::new(&s);
    let (l, g) = loss.loss_and_grad(&f).unwrap();
    assert!(l.is_finite() && l > 0.0, "{l}");
    assert!(g.data.iter().all(|v| v.is_finite()));
    // A directional derivative along a random direction, instead of all 8192 entries.
    let mut r = rng(502);
    let v: Vec<f32> = (0..f.data.len()).map(|_| r.gen_range(-1.0..1.0)).collect();
    let eps = 1e-3f32;
    let shifted = |sign: f32| {
        let mut x = f.clone();
        x.data
            .iter_mut()
            .zip(&v)
            .for_each(|(a, b)| *a += sign * eps * b);
        x
    };
    let (p, m) = (shifted(1.0), shifted(-1.0));
    let step: Vec<f64> = p
        .data
        .iter()
        .zip(&m.data)
        .map(|(a, b)| (a - b) as f64)
        .collect();
    let fd = value(&loss, &p) - value(&loss, &m);
    let analytic: f64 = g.data.iter().zip(&step).map(|(a, b)| *a as f64 * b).sum();
    assert!(rel(fd, analytic) <= 1e-4, "fd {fd} vs analytic {analytic}");
}

/// Projections of the columns of `f` on the rows of `d` (K x N) in f64: the smallest gap
/// between two projections on the same direction.
fn min_projection_gap(f: &FeatureMap, d: &[f32]) -> f64 {
    let (n, m) = (f.channels, f.positions());
    d.chunks(n)
        .map(|dk| {
            let mut p: Vec<f64> = (0..m)
                .map(|j| {
                    (0..n)
                        .map(|c| dk[c] as f64 * f.data[c * m + j] as f64)
                        .sum()
                })
                .collect();
            p.sort_by(f64::total_cmp);
            p.windows(2)
                .map(|w| w[1] - w[0])
                .fold(f64::INFINITY, f64::min)
        })
        .fold(f64::INFINITY, f64::min)
}

fn unit_directions(k: usize, n: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    let mut d = Vec::new();
    for _ in 0..k {
        let v: Vec<f64> = (0..n).map(|_| r.gen_range(-1.0..1.0)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        d.extend(v.iter().map(|x| (x / norm) as f32));
    }
    d
}

/// A generated map (seed from `seed` on) whose projections are `> 3 eps` apart.
fn separated_map(n: usize, h: usize, w: usize, d: &[f32], eps: f32, seed: u64) -> FeatureMap {
    (seed..seed + 500)
        .map(|s| random_map(n, h, w, s))
        .find(|f| min_projection_gap(f, d) > 3.0 * eps as f64)
        .expect("no map with separated projections")
}

#[test]
fn sliced_wasserstein_gradient_matches_finite_differences() {
    let eps = 1e-3f32;
    for (t, &(n, (fh, fw), (sh, sw))) in SHAPES[..7].iter().enumerate() {
        let s = random_map(n, sh, sw, 600 + t as u64);
        // Explicit directions, K != N.
        let d = unit_directions(n + 2, n, 700 + t as u64);
        let loss = SlicedWassersteinLoss::with_directions(&s, &d).unwrap();
        let f = separated_map(n, fh, fw, &d, eps, 800 + 1000 * t as u64);
        let e = fd_check("sliced-wasserstein (given)", &loss, &f, eps, 1e-3);
        eprintln!("sw n={n} F {fh}x{fw} S {sh}x{sw}: worst {e:e}");
        // Drawn directions, K = N.
        let mut loss = SlicedWassersteinLoss::new(&s);
        loss.resample(fh * fw, &mut rng(900 + t as u64));
        let f = separated_map(n, fh, fw, loss.directions(), eps, 900 + 1000 * t as u64);
        fd_check("sliced-wasserstein (drawn)", &loss, &f, eps, 1e-3);
    }
}

/// `f` with its positions reordered: column j of the result is column `perm[j]` of `f`.
fn permute_positions(f: &FeatureMap, perm: &[usize]) -> FeatureMap {
    let m = f.positions();
    let mut out = f.clone();
    for c in 0..f.channels {
        for (j, &p) in perm.iter().enumerate() {
            out.data[c * m + j] = f.data[c * m + p];
        }
    }
    out
}

fn random_perm(m: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..m).collect();
    p.shuffle(&mut rng(seed));
    p
}

fn drawn_sw(s: &FeatureMap, seed: u64) -> SlicedWassersteinLoss {
    let mut l = SlicedWassersteinLoss::new(s);
    l.resample(s.positions(), &mut rng(seed));
    l
}

#[test]
fn each_loss_vanishes_when_generated_matches_style() {
    // Full-rank and rank-deficient style covariances.
    for &(n, h, w, seed) in &[
        (5usize, 4usize, 6usize, 10u64),
        (8, 2, 2, 11),
        (24, 3, 3, 12),
    ] {
        let s = random_map(n, h, w, seed);
        let permuted = permute_positions(&s, &random_perm(h * w, seed + 1));
        let other = random_map(n, h, w, seed + 2);
        let arbitrary = {
            // Any directions: K != N, not normalised.
            let mut r = rng(seed + 3);
            (0..3 * n)
                .map(|_| r.gen_range(-2.0..2.0))
                .collect::<Vec<f32>>()
        };
        let losses: Vec<(&str, Box<dyn LayerLoss>)> = vec![
            ("coral", Box::new(CoralLoss::new(&s))),
            ("gaussian-w2", Box::new(GaussianW2Loss::new(&s))),
            ("sliced-wasserstein", Box::new(drawn_sw(&s, seed + 4))),
            (
                "sliced-wasserstein (arbitrary directions)",
                Box::new(SlicedWassersteinLoss::with_directions(&s, &arbitrary).unwrap()),
            ),
        ];
        for (name, loss) in &losses {
            let (far, gfar) = loss.loss_and_grad(&other).unwrap();
            let gscale = gfar.data.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            assert!(far > 1e-6, "{name}: {far} for a different map");
            for (what, f) in [("F = S", &s), ("F = S permuted", &permuted)] {
                let (l, g) = loss.loss_and_grad(f).unwrap();
                let gmax = g.data.iter().fold(0.0f32, |a, v| a.max(v.abs()));
                assert!(
                    l.abs() <= 1e-9 * far,
                    "{name}, {what}, n={n}: {l} (vs {far})"
                );
                assert!(
                    gmax <= 1e-5 * gscale,
                    "{name}, {what}, n={n}: |grad| {gmax}"
                );
            }
        }
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// f64 channel means and population covariance, computed directly.
fn moments(f: &FeatureMap) -> (Vec<f64>, Vec<f64>) {
    let (n, m) = (f.channels, f.positions());
    let mu: Vec<f64> = (0..n).map(|c| mean(&to64(f.channel(c)))).collect();
    let mut cov = vec![0.0; n * n];
    for a in 0..n {
        for b in 0..n {
            cov[a * n + b] = (0..m)
                .map(|j| (f.data[a * m + j] as f64 - mu[a]) * (f.data[b * m + j] as f64 - mu[b]))
                .sum::<f64>()
                / m as f64;
        }
    }
    (mu, cov)
}

/// Rows of the Sylvester-Hadamard matrix of order `m` (a power of 2): +-1, mutually
/// orthogonal, every row but the first sums to 0.
fn hadamard_row(m: usize, row: usize) -> Vec<f32> {
    (0..m)
        .map(|j| {
            if (row & j).count_ones().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            }
        })
        .collect()
}

/// Channel c = b[c] + a[c] * (Hadamard row c + 1): means b, covariance exactly diag(a^2).
fn diagonal_map(a: &[f32], b: &[f32], h: usize, w: usize) -> FeatureMap {
    let m = h * w;
    let data = (0..a.len())
        .flat_map(|c| {
            hadamard_row(m, c + 1)
                .into_iter()
                .map(move |x| b[c] + a[c] * x)
        })
        .collect();
    FeatureMap::from_vec(a.len(), h, w, data).unwrap()
}

#[test]
fn w2_with_diagonal_covariances_is_mean_and_std_distance() {
    // Dyadic values: the maps, means and covariances are exact in binary.
    let (af, bf) = ([0.5, -1.25, 0.0, 2.0, 0.75], [1.0, -0.5, 3.0, 0.25, 0.0]);
    let (as_, bs) = ([1.0, 0.25, 0.5, 2.0, 1.5], [0.5, 0.5, 1.0, 0.25, -2.0]);
    let f = diagonal_map(&af, &bf, 2, 4); // M_F = 8, one zero-variance channel
    let s = diagonal_map(&as_, &bs, 4, 4); // M_S = 16
    let (mf, cf) = moments(&f);
    for i in 0..5 {
        for j in 0..5 {
            let want = if i == j { (af[i] as f64).powi(2) } else { 0.0 };
            assert_eq!(cf[i * 5 + j], want, "covariance of the constructed map");
        }
        assert_eq!(mf[i], bf[i] as f64);
    }
    let want: f64 = (0..5)
        .map(|c| {
            (bf[c] as f64 - bs[c] as f64).powi(2)
                + ((af[c] as f64).abs() - (as_[c] as f64).abs()).powi(2)
        })
        .sum();
    let got = value(&GaussianW2Loss::new(&s), &f);
    assert!(rel(got, want) <= 1e-9, "w2 {got} vs {want}");
    let back = value(&GaussianW2Loss::new(&f), &s);
    assert!(
        rel(back, want) <= 1e-9,
        "w2 style<->generated {back} vs {want}"
    );
}

#[test]
fn w2_matches_the_two_channel_closed_form() {
    // For 2 x 2 SPD M: tr M^{1/2} = sqrt(tr M + 2 sqrt(det M)); with M = C_S^{1/2} C_F C_S^{1/2},
    // tr M = tr(C_S C_F) and det M = det C_S det C_F: no matrix square root needed.
    for &(seed, (fh, fw), (sh, sw)) in &[(20u64, (3, 4), (5, 5)), (21, (1, 9), (2, 3))] {
        let mut f = random_map(2, fh, fw, seed);
        let s = random_map(2, sh, sw, seed + 1);
        // correlate the generated channels
        let m = f.positions();
        for j in 0..m {
            f.data[m + j] += 0.8 * f.data[j];
        }
        let ((mf, cf), (ms, cs)) = (moments(&f), moments(&s));
        let det = |c: &[f64]| c[0] * c[3] - c[1] * c[2];
        let tr_prod = cs[0] * cf[0] + cs[1] * cf[2] + cs[2] * cf[1] + cs[3] * cf[3];
        let cross = (tr_prod + 2.0 * (det(&cs) * det(&cf)).sqrt()).sqrt();
        let want =
            (mf[0] - ms[0]).powi(2) + (mf[1] - ms[1]).powi(2) + cf[0] + cf[3] + cs[0] + cs[3]
                - 2.0 * cross;
        let got = value(&GaussianW2Loss::new(&s), &f);
        assert!(rel(got, want) <= 1e-9, "w2 {got} vs closed form {want}");
    }
}

#[test]
fn w2_is_symmetric_in_generated_and_style() {
    // W2(F, S) uses (C_S^1/2 C_F C_S^1/2)^1/2, W2(S, F) (C_F^1/2 C_S C_F^1/2)^1/2: equal
    // traces by the theory, different computations here.
    for &(n, (fh, fw), (sh, sw), seed) in &[
        (6usize, (4usize, 5usize), (3usize, 3usize), 30u64),
        (16, (2, 3), (5, 5), 31), // generated rank 5
        (16, (3, 3), (2, 2), 32), // both rank-deficient
    ] {
        let f = random_map(n, fh, fw, seed);
        let s = random_map(n, sh, sw, seed + 1);
        let a = value(&GaussianW2Loss::new(&s), &f);
        let b = value(&GaussianW2Loss::new(&f), &s);
        assert!(rel(a, b) <= 1e-9, "n={n}: {a} vs {b}");
    }
}

#[test]
fn coral_ignores_a_shift_of_all_features_where_gram_does_not() {
    let (n, h, w) = (6, 5, 7);
    let f = random_map(n, h, w, 40);
    let s = random_map(n, 4, 6, 41);
    let shift = [0.5f32, 1.0, -2.0, 3.0, 0.25, 4.0];
    let shifted = |x: &FeatureMap| {
        let m = x.positions();
        let mut y = x.clone();
        for (c, &v) in shift.iter().enumerate() {
            y.data[c * m..(c + 1) * m].iter_mut().for_each(|a| *a += v);
        }
        y
    };
    let coral = CoralLoss::new(&s);
    let (l0, g0) = coral.loss_and_grad(&f).unwrap();
    let (l1, g1) = coral.loss_and_grad(&shifted(&f)).unwrap();
    // f32 rounding of the shifted features is all that may differ.
    assert!(rel(l0, l1) <= 1e-5, "coral {l0} vs shifted {l1}");
    assert!(rel_err(&to64(&g1.data), &to64(&g0.data)) <= 1e-5);
    let l2 = value(&CoralLoss::new(&shifted(&s)), &f);
    assert!(rel(l0, l2) <= 1e-5, "coral {l0} vs shifted style {l2}");
    let gram = GramLoss::new(&s);
    let (gr0, gr1) = (value(&gram, &f), value(&gram, &shifted(&f)));
    assert!(rel(gr0, gr1) > 0.5, "Gram {gr0} should change, got {gr1}");
}

#[test]
fn sliced_wasserstein_on_the_standard_basis_is_the_mean_channel_w2() {
    let (n, h, w) = (4, 5, 6);
    let f = random_map(n, h, w, 50);
    let s = random_map(n, h, w, 51);
    let mut basis = vec![0.0f32; n * n];
    (0..n).for_each(|i| basis[i * n + i] = 1.0);
    let sorted = |x: &FeatureMap, c: usize| {
        let mut v = to64(x.channel(c));
        v.sort_by(f64::total_cmp);
        v
    };
    let want = mean(
        &(0..n)
            .map(|c| {
                let (a, b) = (sorted(&f, c), sorted(&s, c));
                mean(
                    &a.iter()
                        .zip(&b)
                        .map(|(x, y)| (x - y).powi(2))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
    );
    let got = value(
        &SlicedWassersteinLoss::with_directions(&s, &basis).unwrap(),
        &f,
    );
    assert!(rel(got, want) <= 1e-6, "{got} vs {want}");
}

#[test]
fn sliced_wasserstein_reads_style_quantiles_by_linear_interpolation() {
    // One channel, style values {0, 1, 2, 3} at quantiles 1/8, 3/8, 5/8, 7/8.
    let s = FeatureMap::from_vec(1, 1, 4, vec![3.0, 0.0, 2.0, 1.0]).unwrap();
    let one = SlicedWassersteinLoss::with_directions(&s, &[1.0]).unwrap();
    // M_F = 2: quantiles 1/4, 3/4 -> 0.5, 2.5.
    let f = FeatureMap::from_vec(1, 1, 2, vec![1.0, 0.0]).unwrap();
    assert!(rel(value(&one, &f), (0.25 + 2.25) / 2.0) <= 1e-12);
    // M_F = 3: quantiles 1/6, 1/2, 5/6 -> 1/6, 1.5, 17/6.
    let f = FeatureMap::from_vec(1, 1, 3, vec![0.0; 3]).unwrap();
    assert!(rel(value(&one, &f), 371.0 / 108.0) <= 1e-7);
    // M_F = 8: quantiles (i + 0.5)/8 -> clamped 0, 0.25, ..., 2.75, clamped 3.
    let f = FeatureMap::from_vec(1, 2, 4, vec![0.0; 8]).unwrap();
    let want = [0.0f64, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]
        .iter()
        .map(|q| q * q)
        .sum::<f64>()
        / 8.0;
    assert!(rel(value(&one, &f), want) <= 1e-12);
    // Directions are used as given: d = 2 scales every projection by 2, the loss by 4.
    let two = SlicedWassersteinLoss::with_directions(&s, &[2.0]).unwrap();
    assert!(rel(value(&two, &f), 4.0 * want) <= 1e-12);
}

#[test]
fn every_loss_is_invariant_to_permuting_positions() {
    let (n, h, w) = (7, 4, 5);
    let f = random_map(n, h, w, 60);
    let s = random_map(n, 3, 6, 61);
    let pf = random_perm(h * w, 62);
    let fp = permute_positions(&f, &pf);
    let sp = permute_positions(&s, &random_perm(18, 63));
    // (name, loss for S, loss for S permuted, tolerance)
    type Case = (&'static str, Box<dyn LayerLoss>, Box<dyn LayerLoss>, f64);
    let pairs: Vec<Case> = vec![
        (
            "coral",
            Box::new(CoralLoss::new(&s)),
            Box::new(CoralLoss::new(&sp)),
            1e-9,
        ),
        (
            "gaussian-w2",
            Box::new(GaussianW2Loss::new(&s)),
            Box::new(GaussianW2Loss::new(&sp)),
            1e-9,
        ),
        (
            "sliced-wasserstein",
            Box::new(drawn_sw(&s, 64)),
            Box::new(drawn_sw(&sp, 64)),
            1e-6,
        ),
    ];
    for (name, loss, loss_sp, tol) in &pairs {
        let (l, g) = loss.loss_and_grad(&f).unwrap();
        let (lp, gp) = loss.loss_and_grad(&fp).unwrap();
        assert!(rel(l, lp) <= *tol, "{name}: {l} vs permuted generated {lp}");
        // The gradient moves with the positions.
        let g_moved = permute_positions(&g, &pf);
        assert!(
            rel_err(&to64(&gp.data), &to64(&g_moved.data)) <= 1e-5,
            "{name}: gradient does not follow the permutation"
        );
        let ls = value(loss_sp.as_ref(), &f);
        assert!(rel(l, ls) <= *tol, "{name}: {l} vs permuted style {ls}");
    }
}

#[test]
fn sliced_wasserstein_draws_new_unit_directions_per_resample() {
    let (n, h, w) = (6, 4, 4);
    let s = random_map(n, h, w, 70);
    let f = random_map(n, h, w, 71);
    let mut loss = SlicedWassersteinLoss::new(&s);
    assert!(loss.is_stochastic());
    assert!(loss.loss_and_grad(&f).is_err(), "evaluated before any draw");
    let mut r = rng(72);
    loss.resample(16, &mut r);
    assert_eq!((loss.count(), loss.directions().len()), (n, n * n));
    for d in loss.directions().chunks(n) {
        let norm: f64 = d.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() <= 1e-6, "norm {norm}");
    }
    let (first_d, first) = (loss.directions().to_vec(), value(&loss, &f));
    loss.resample(16, &mut r);
    assert_ne!(first_d, loss.directions());
    let second = value(&loss, &f);
    assert!(
        rel(first, second) > 1e-6,
        "{first} vs {second}: same value after a new draw"
    );
    // The same seed gives the same directions.
    let mut again = SlicedWassersteinLoss::new(&s);
    again.resample(16, &mut rng(72));
    assert_eq!(again.directions(), &first_d[..]);
    assert_eq!(value(&again, &f), first);
    // K directions on request; given directions stay fixed.
    let mut three = SlicedWassersteinLoss::with_count(&s, 3).unwrap();
    three.resample(16, &mut r);
    assert_eq!(three.directions().len(), 3 * n);
    assert!(SlicedWassersteinLoss::with_count(&s, 0).is_err());
    let mut fixed = SlicedWassersteinLoss::with_directions(&s, &first_d).unwrap();
    assert!(!fixed.is_stochastic());
    fixed.resample(16, &mut r);
    assert_eq!(fixed.directions(), &first_d[..]);
    assert_eq!(value(&fixed, &f), first);
    assert!(SlicedWassersteinLoss::with_directions(&s, &first_d[..n + 1]).is_err());
    assert!(SlicedWassersteinLoss::with_directions(&s, &[]).is_err());
}

#[test]
fn the_losses_refuse_a_channel_mismatch() {
    let s = random_map(4, 3, 3, 80);
    let f = random_map(5, 3, 3, 81);
    assert!(CoralLoss::new(&s).loss_and_grad(&f).is_err());
    assert!(GaussianW2Loss::new(&s).loss_and_grad(&f).is_err());
    assert!(drawn_sw(&s, 82).loss_and_grad(&f).is_err());
}

#[test]
fn w2_gives_nan_not_a_hang_for_non_finite_features() {
    let s = random_map(4, 3, 3, 90);
    let mut f = random_map(4, 3, 3, 91);
    f.data[5] = f32::NAN;
    let (l, g) = GaussianW2Loss::new(&s).loss_and_grad(&f).unwrap();
    assert!(l.is_nan() && g.data.iter().all(|v| v.is_nan()));
    let mut bad = s.clone();
    bad.data[0] = f32::INFINITY;
    assert!(value(&GaussianW2Loss::new(&bad), &random_map(4, 3, 3, 92)).is_nan());
}
