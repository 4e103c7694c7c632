//! The CPU engine against the naive f64 oracles in `nstyle::engine::reference`:
//! forward of each layer type, adjoint/finite-difference checks of every backward, the
//! whole stack, determinism, and the real weights.

mod common;

/// Winograd F(4x4,3x3) vs the f64 direct convolution, max error relative to the largest
/// output. Set from measurement (see the test's output) with a margin; f32 im2col gets 1e-5.
const WINOGRAD_BOUND: f64 = 3e-5;
/// Winograd with bf16 products (inputs and kernels rounded to 8 significant bits, 2^-9
/// relative, then amplified by the output transform). Measured 1.5e-2..5.4e-2 per layer on
/// these random weights; a packing or pairing mistake gives errors of order 1.
const BF16_BOUND: f64 = 0.1;
use common::*;
use nstyle::engine::conv::{conv3x3, ConvAlgorithm, ConvWeights};
use nstyle::engine::epilogue::Epilogue;
use nstyle::engine::pool::{pool_backward, pool_forward, pool_relu_backward};
use nstyle::engine::reference::{self, Map};
use nstyle::tensor::{FeatureMap, Padded};
use nstyle::{CpuVgg19, FeatureNet, Layer, Pooling, Vgg19Weights};

/// Max error of one conv + bias + ReLU against the f64 reference, relative to the largest
/// reference output; also checks the zero-border invariant.
fn conv_case(
    algorithm: ConvAlgorithm,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    seed: u64,
) -> f64 {
    let x = random_vec(cin * h * w, -1.0, 1.0, seed);
    let wt = random_vec(cout * cin * 9, -0.3, 0.3, seed + 1);
    let b = random_vec(cout, -0.2, 0.2, seed + 2);
    let cw = ConvWeights::with_algorithm(cout, cin, &wt, b.clone(), algorithm);
    let input = Padded::from_unpadded(cin, h, w, &x);
    let mut out = Padded::zeros(cout, h, w);
    // Garbage in the output buffer must not survive (buffers are reused between passes).
    let interior_before = out.data.len();
    for i in 0..cout {
        for y in 0..h {
            let s = out.index(i, y, 0);
            out.data[s..s + w].fill(f32::NAN);
        }
    }
    assert_eq!(out.data.len(), interior_before);
    cw.forward_into(&input, &mut out);
    let want = reference::conv3x3(&Map::from_f32(cin, h, w, &x), cout, &wt, Some(&b), true);
    let e = rel_err(&to64(&out.to_unpadded()), &want.data);
    // The border invariant: everything outside the interior is zero.
    let interior: f64 = out.to_unpadded().iter().map(|v| v.abs() as f64).sum();
    let all: f64 = out.data.iter().map(|v| v.abs() as f64).sum();
    assert!(
        (interior - all).abs() <= 1e-6 * all.max(1.0),
        "border not zero"
    );
    e
}

/// (cin, cout, h, w): odd sizes, sizes below one tile, maps large enough for several
/// tiles or blocks on several threads, and rows wide enough for Winograd's 16-tile
/// fast paths (aligned with the row start or not).
const CONV_CASES: [(usize, usize, usize, usize); 9] = [
    (3, 8, 5, 7),
    (5, 6, 1, 1),
    (7, 16, 9, 4),
    (16, 16, 1, 3),
    (64, 32, 33, 47),
    (128, 48, 20, 61),
    (256, 64, 13, 11),
    (32, 32, 9, 128),
    (24, 40, 13, 131),
];

#[test]
fn conv_forward_matches_reference_including_odd_sizes() {
    for (i, &(cin, cout, h, w)) in CONV_CASES.iter().enumerate() {
        let e = conv_case(ConvAlgorithm::Im2col, cin, cout, h, w, i as u64);
        assert!(e <= 1e-5, "im2col conv {cin}->{cout} {h}x{w}: rel err {e}");
    }
}

#[test]
fn winograd_conv_matches_reference_including_odd_sizes() {
    for (i, &(cin, cout, h, w)) in CONV_CASES.iter().enumerate() {
        let e = conv_case(ConvAlgorithm::Winograd, cin, cout, h, w, i as u64);
        eprintln!("winograd conv {cin}->{cout} {h}x{w}: rel err {e:.2e}");
        assert!(
            e <= WINOGRAD_BOUND,
            "winograd conv {cin}->{cout} {h}x{w}: rel err {e}"
        );
    }
}

#[test]
fn conv_backward_is_the_adjoint_of_forward() {
    // The input gradient of a linear map is its adjoint: <conv(x), g> = <x, conv^T(g)>.
    for algorithm in [ConvAlgorithm::Im2col, ConvAlgorithm::Winograd] {
        for &(cin, cout, h, w) in &[(3, 64, 7, 9), (16, 24, 13, 6), (64, 64, 31, 37)] {
            let x = random_vec(cin * h * w, -1.0, 1.0, 10);
            let g = random_vec(cout * h * w, -1.0, 1.0, 11);
            let wt = random_vec(cout * cin * 9, -0.3, 0.3, 12);
            let cw = ConvWeights::with_algorithm(cout, cin, &wt, vec![0.0; cout], algorithm);
            // Forward without the ReLU: the plain linear map.
            let mut y = Padded::zeros(cout, h, w);
            conv3x3(
                &Padded::from_unpadded(cin, h, w, &x),
                &cw.forward,
                &mut y,
                Epilogue::Linear,
            );
            let mut xt = Padded::zeros(cin, h, w);
            cw.backward_into(&Padded::from_unpadded(cout, h, w, &g), &mut xt);
            let lhs: f64 = y
                .to_unpadded()
                .iter()
                .zip(&g)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(xt.to_unpadded())
                .map(|(a, b)| *a as f64 * b as f64)
                .sum();
            assert!(
                (lhs - rhs).abs() <= 1e-5 * lhs.abs().max(rhs.abs()),
                "{algorithm:?}: {lhs} vs {rhs}"
            );
        }
    }
}

#[test]
fn fused_relu_masks_equal_masking_afterwards() {
    // The backward pass folds each ReLU's mask (and a loss gradient given at its output)
    // into the conv or pool step that produces the gradient; that must equal the unfused
    // step followed by the add and the mask, bit for bit.
    let masked = |v: &[f32], act: &Padded| -> Vec<f32> {
        v.iter()
            .zip(&act.data)
            .map(|(v, a)| if *a <= 0.0 { 0.0 } else { *v })
            .collect()
    };
    for algorithm in [ConvAlgorithm::Im2col, ConvAlgorithm::Winograd] {
        // Odd sizes, and a wide one whose rows take the 16-tile fast path.
        for &(cin, cout, h, w) in &[(16, 24, 13, 6), (32, 16, 9, 131), (64, 64, 7, 67)] {
            let g = random_vec(cout * h * w, -1.0, 1.0, 40);
            let wt = random_vec(cout * cin * 9, -0.3, 0.3, 41);
            let cw = ConvWeights::with_algorithm(cout, cin, &wt, vec![0.0; cout], algorithm);
            // A ReLU output: about half the values are zero.
            let act: Vec<f32> = random_vec(cin * h * w, -1.0, 1.0, 42)
                .iter()
                .map(|v| v.max(0.0))
                .collect();
            let act = Padded::from_unpadded(cin, h, w, &act);
            let g = Padded::from_unpadded(cout, h, w, &g);
            let mut plain = Padded::zeros(cin, h, w);
            cw.backward_into(&g, &mut plain);
            let mut fused = Padded::zeros(cin, h, w);
            cw.backward_with(&g, &mut fused, Epilogue::ReluMask(&act.data));
            assert_eq!(
                fused.data,
                masked(&plain.data, &act),
                "{algorithm:?} {h}x{w}"
            );
            // With a loss gradient added at the ReLU's output before its mask.
            let add = random_vec(cin * h * w, -1.0, 1.0, 45);
            let summed: Vec<f32> = plain
                .data
                .iter()
                .zip(&Padded::from_unpadded(cin, h, w, &add).data)
                .map(|(v, a)| v + a)
                .collect();
            cw.backward_with(&g, &mut fused, Epilogue::ReluMaskAdd(&act.data, &add));
            assert_eq!(
                fused.data,
                masked(&summed, &act),
                "{algorithm:?} {h}x{w} with an added gradient"
            );
        }
    }
    for &(c, h, w) in &[(3, 6, 8), (4, 7, 9)] {
        let act: Vec<f32> = random_vec(c * h * w, -1.0, 1.0, 43)
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        let act = Padded::from_unpadded(c, h, w, &act);
        let g = Padded::from_unpadded(
            c,
            h / 2,
            w / 2,
            &random_vec(c * (h / 2) * (w / 2), -1.0, 1.0, 44),
        );
        for kind in [Pooling::Average, Pooling::Max] {
            let (mut plain, mut fused) = (Padded::zeros(c, h, w), Padded::zeros(c, h, w));
            pool_backward(kind, &act, &g, &mut plain);
            pool_relu_backward(kind, &act, &g, &mut fused);
            assert_eq!(fused.data, masked(&plain.data, &act), "{kind} pool");
        }
    }
}

#[test]
fn pooling_forward_matches_reference_and_backward_is_correct() {
    for &(c, h, w) in &[(3, 6, 8), (4, 7, 9), (2, 5, 3), (1, 1, 5)] {
        let x = random_vec(c * h * w, -1.0, 1.0, 20 + h as u64);
        let input = Padded::from_unpadded(c, h, w, &x);
        for kind in [Pooling::Average, Pooling::Max] {
            let mut out = Padded::zeros(c, h / 2, w / 2);
            pool_forward(kind, &input, &mut out);
            let want = reference::pool(&Map::from_f32(c, h, w, &x), kind);
            assert!(rel_err(&to64(&out.to_unpadded()), &want.data) <= 1e-6 || want.data.is_empty());
            // Gradient of <pool(x), g> by central differences (values are distinct, so max is smooth).
            let g = random_vec(c * (h / 2) * (w / 2), -1.0, 1.0, 30);
            let mut gi = Padded::zeros(c, h, w);
            pool_backward(
                kind,
                &input,
                &Padded::from_unpadded(c, h / 2, w / 2, &g),
                &mut gi,
            );
            let gi = gi.to_unpadded();
            let f = |x: &[f32]| -> f64 {
                let m = reference::pool(&Map::from_f32(c, h, w, x), kind);
                m.data.iter().zip(&g).map(|(a, b)| a * *b as f64).sum()
            };
            for i in 0..x.len() {
                let eps = 1e-3;
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[i] += eps;
                xm[i] -= eps;
                let fd = (f(&xp) - f(&xm)) / (2.0 * eps as f64);
                assert!(
                    (fd - gi[i] as f64).abs() <= 1e-3,
                    "{kind} pool grad at {i}: fd {fd} vs {}",
                    gi[i]
                );
            }
        }
    }
}

fn all_layers() -> Vec<Layer> {
    (0..13).map(Layer).collect()
}

#[test]
fn whole_network_forward_matches_reference_on_odd_size() {
    let weights = Vgg19Weights::random(7);
    for (pooling, algorithm) in [
        (Pooling::Average, ConvAlgorithm::Im2col),
        (Pooling::Max, ConvAlgorithm::Im2col),
        (Pooling::Average, ConvAlgorithm::Winograd),
        (Pooling::Max, ConvAlgorithm::Winograd),
        (Pooling::Average, ConvAlgorithm::WinogradBf16),
    ] {
        let (h, w) = (35, 21);
        let img = random_vec(3 * h * w, -120.0, 130.0, 8);
        let mut net = CpuVgg19::with_algorithm(&weights, pooling, algorithm);
        let got = net.forward(&img, h, w, &all_layers()).unwrap();
        let want = reference::vgg_forward(
            &weights,
            pooling,
            &Map::from_f32(3, h, w, &img),
            &all_layers(),
        );
        for (l, (g, r)) in all_layers().iter().zip(got.iter().zip(&want)) {
            assert_eq!(
                (g.channels, g.height, g.width),
                (r.c, r.h, r.w),
                "{l} shape"
            );
            let e = rel_err(&to64(&g.data), &r.data);
            let bound = match algorithm {
                ConvAlgorithm::Im2col => 1e-5,
                ConvAlgorithm::Winograd => WINOGRAD_BOUND,
                ConvAlgorithm::WinogradBf16 => BF16_BOUND,
            };
            eprintln!("{pooling} {algorithm:?} {l}: rel err {e:.2e}");
            assert!(e <= bound, "{pooling} {algorithm:?} {l}: rel err {e}");
        }
    }
}

/// Central-difference check of the whole stack: loss = sum_l <R_l, F_l> at several layers.
fn stack_gradient_check(
    algorithm: ConvAlgorithm,
    pooling: Pooling,
    layers: &[Layer],
    h: usize,
    w: usize,
) {
    let weights = Vgg19Weights::random(3);
    let img = random_vec(3 * h * w, -100.0, 100.0, 4);
    let mut net = CpuVgg19::with_algorithm(&weights, pooling, algorithm);
    let feats = net.forward(&img, h, w, layers).unwrap();
    let proj: Vec<FeatureMap> = feats
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FeatureMap::from_vec(
                f.channels,
                f.height,
                f.width,
                random_vec(f.data.len(), -1.0, 1.0, 50 + i as u64),
            )
            .unwrap()
        })
        .collect();
    let grads: Vec<(Layer, &FeatureMap)> = layers.iter().copied().zip(proj.iter()).collect();
    let g = net.input_gradient(&grads).unwrap();
    let loss = |x: &[f32]| -> f64 {
        let maps = reference::vgg_forward(&weights, pooling, &Map::from_f32(3, h, w, x), layers);
        maps.iter()
            .zip(&proj)
            .map(|(m, p)| {
                m.data
                    .iter()
                    .zip(&p.data)
                    .map(|(a, b)| a * *b as f64)
                    .sum::<f64>()
            })
            .sum()
    };
    let gscale = g.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    let mut r = rng(99);
    for _ in 0..12 {
        use rand::Rng;
        let i = r.gen_range(0..img.len());
        let eps = 1e-2f32;
        let (mut xp, mut xm) = (img.clone(), img.clone());
        xp[i] += eps;
        xm[i] -= eps;
        let fd = (loss(&xp) - loss(&xm)) / (2.0 * eps as f64);
        assert!(
            (fd - g[i] as f64).abs() <= 2e-3 * gscale,
            "{algorithm:?} {pooling} stack grad at {i}: fd {fd} vs engine {} (scale {gscale})",
            g[i]
        );
    }
}

#[test]
fn whole_network_gradient_matches_finite_differences() {
    let layers: Vec<Layer> = ["relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    for algorithm in [ConvAlgorithm::Im2col, ConvAlgorithm::Winograd] {
        stack_gradient_check(algorithm, Pooling::Average, &layers, 17, 19);
        stack_gradient_check(algorithm, Pooling::Max, &layers, 16, 18);
        stack_gradient_check(
            algorithm,
            Pooling::Average,
            &["relu1_2".parse().unwrap()],
            5,
            4,
        );
    }
}

#[test]
fn forward_and_backward_are_deterministic() {
    let weights = Vgg19Weights::random(5);
    let (h, w) = (64, 48);
    let img = random_vec(3 * h * w, -100.0, 100.0, 6);
    let layers = [Layer(0), Layer(4), Layer(9), Layer(12)];
    let run = || {
        let mut net = CpuVgg19::new(&weights, Pooling::Average);
        let f = net.forward(&img, h, w, &layers).unwrap();
        let grads: Vec<(Layer, &FeatureMap)> = layers.iter().copied().zip(f.iter()).collect();
        let g = net.input_gradient(&grads).unwrap();
        (f, g)
    };
    let (f1, g1) = run();
    let (f2, g2) = run();
    assert_eq!(f1, f2);
    assert!(g1.iter().zip(&g2).all(|(a, b)| a.to_bits() == b.to_bits()));
    // The backward pass reuses activation buffers as scratch: a second backward after one
    // forward must re-run the forward and give the same bits; features are refused.
    let mut net = CpuVgg19::new(&weights, Pooling::Max);
    let f = net.forward(&img, h, w, &layers).unwrap();
    let grads: Vec<(Layer, &FeatureMap)> = layers.iter().copied().zip(f.iter()).collect();
    let a = net.input_gradient(&grads).unwrap();
    assert!(net.features(Layer(4)).is_err());
    let b = net.input_gradient(&grads).unwrap();
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert_eq!(net.forward(&img, h, w, &layers).unwrap(), f);
}

#[test]
fn too_small_image_is_a_clear_error() {
    let weights = Vgg19Weights::random(1);
    let mut net = CpuVgg19::new(&weights, Pooling::Average);
    let err = net
        .forward(&vec![0.0; 3 * 8 * 8], 8, 8, &[Layer(12)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("too small") && err.contains("relu5_1"),
        "{err}"
    );
}

/// A real photo at 40x26 in network space.
fn small_photo() -> (Vec<f32>, usize, usize) {
    let img = nstyle::image_io::load_image(&example("content/chelsea.jpg")).unwrap();
    let small = nstyle::image_io::resize(&img.image, 40, 26);
    (nstyle::image_io::to_network(&small), 26, 40)
}

const REAL_LAYERS: [Layer; 5] = [Layer(0), Layer(2), Layer(4), Layer(9), Layer(12)];

#[test]
fn real_weights_features_match_reference() {
    let weights = bundled_weights();
    let (x, h, w) = small_photo();
    let layers = REAL_LAYERS;
    let want = reference::vgg_forward(&weights, Pooling::Max, &Map::from_f32(3, h, w, &x), &layers);
    let mut winograd = CpuVgg19::with_algorithm(&weights, Pooling::Max, ConvAlgorithm::Winograd);
    for (l, (g, r)) in layers.iter().zip(
        winograd
            .forward(&x, h, w, &layers)
            .unwrap()
            .iter()
            .zip(&want),
    ) {
        let e = rel_err(&to64(&g.data), &r.data);
        eprintln!("real weights, winograd, {l}: rel err {e:.2e}");
        assert!(e <= WINOGRAD_BOUND, "winograd {l}: rel err {e}");
    }
    let mut net = CpuVgg19::with_algorithm(&weights, Pooling::Max, ConvAlgorithm::Im2col);
    let got = net.forward(&x, h, w, &layers).unwrap();
    for (l, (g, r)) in layers.iter().zip(got.iter().zip(&want)) {
        let e = rel_err(&to64(&g.data), &r.data);
        assert!(e <= 1e-4, "{l}: rel err {e}");
        assert!(
            g.data.iter().all(|v| v.is_finite() && *v >= 0.0),
            "{l}: NaN or negative after ReLU"
        );
        let active = g.data.iter().filter(|v| **v > 0.0).count() as f64 / g.data.len() as f64;
        assert!(
            active > 0.02 && active < 0.98,
            "{l}: implausible fraction of active units {active}"
        );
    }
}

#[test]
#[cfg_attr(
    not(has_f32_weights),
    ignore = "needs the f32 original in ../shared/models (absent in this checkout)"
)]
fn bundled_f16_weights_give_nearly_the_f32_features() {
    let f32_weights = Vgg19Weights::from_file(&shared_f32_weights()).unwrap();
    let (x, h, w) = small_photo();
    let layers = REAL_LAYERS;
    let mut full = CpuVgg19::with_algorithm(&f32_weights, Pooling::Max, ConvAlgorithm::Im2col);
    let got = full.forward(&x, h, w, &layers).unwrap();
    let mut bundled =
        CpuVgg19::with_algorithm(&bundled_weights(), Pooling::Max, ConvAlgorithm::Im2col);
    let fb = bundled.forward(&x, h, w, &layers).unwrap();
    for (l, (a, b)) in layers.iter().zip(fb.iter().zip(&got)) {
        let e = rel_err(&to64(&a.data), &to64(&b.data));
        eprintln!("bundled f16 vs f32 at {l}: rel err {e:.2e}");
        assert!(e <= 1e-2, "{l}: bundled f16 weights differ from f32 by {e}");
    }
}

#[test]
fn bad_weights_files_are_rejected_with_the_tensor_named() {
    let e = Vgg19Weights::from_bytes(b"not a safetensors file", "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a valid safetensors"), "{e}");
    // A valid file missing tensors.
    let mut header = String::from(
        "{\"conv1_1.weight\":{\"dtype\":\"F32\",\"shape\":[64,3,3,2],\"data_offsets\":[0,4608]}}",
    );
    while (header.len() + 8) % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(0u8, 4608));
    let e = Vgg19Weights::from_bytes(&bytes, "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv1_1.weight") && e.contains("shape"), "{e}");
}
