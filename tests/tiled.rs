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
fn every_method_and_the_content_loss_give_the_untiled_values_and_gradient() {
    // All methods in one evaluation (each term's value compared on its own), and a fusion.
    let (content, style, x) = images();
    let mut net = net();
    for methods in [Method::ALL.to_vec(), vec![Method::MmdLinear, Method::Bn]] {
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
        assert_eq!(tiled.values.groups.len(), methods.len() + 1);
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

/// Each loss's own tile interface on a random map cut into windows: the same value and
/// gradient as the whole map, method by method (the network-level test above sees the
/// gradient of a sum, where the largest term dominates).
#[test]
fn every_loss_sums_over_windows_to_its_whole_map_value_and_gradient() {
    use nstyle::loss::tiled::Window;
    use nstyle::loss::{ContentLoss, LayerLoss, LossOptions};
    use nstyle::tensor::FeatureMap;
    let (n, h, w) = (6, 19, 23);
    let f = random_map(n, h, w, 5);
    let s = random_map(n, 17, 13, 6);
    let layer = "relu2_1".parse().unwrap();
    let mut losses: Vec<(String, Box<dyn LayerLoss>)> = Method::ALL
        .iter()
        .map(|m| {
            (
                m.name().to_string(),
                m.build(&s, layer, &LossOptions::default()).unwrap(),
            )
        })
        .collect();
    losses.push((
        "content".into(),
        Box::new(ContentLoss::new(random_map(n, h, w, 7))),
    ));
    // Windows of 5 x 7 positions (ragged at the ends).
    let windows: Vec<Window> = (0..h)
        .step_by(5)
        .flat_map(|top| {
            (0..w).step_by(7).map(move |left| Window {
                top,
                left,
                height: 5.min(h - top),
                width: 7.min(w - left),
                full_height: h,
                full_width: w,
            })
        })
        .collect();
    for (name, loss) in &mut losses {
        loss.resample(h * w, &mut rng(9));
        let (v, g) = loss.loss_and_grad(&f).unwrap();
        let mut sums = loss.tiled().expect("every method tiles");
        for win in &windows {
            sums.add(&f.crop(win.top, win.left, win.height, win.width), *win)
                .unwrap();
        }
        let (tv, rule) = sums.finish().unwrap();
        // Gram-type moments are f32 products summed in f64: blocks of other lengths round
        // differently at f32 precision.
        assert!(
            (tv - v).abs() <= 1e-6 * v.abs().max(1e-12),
            "{name}: {tv} vs {v}"
        );
        let mut tg = FeatureMap::zeros(n, h, w);
        for win in &windows {
            let core = f.crop(win.top, win.left, win.height, win.width);
            tg.paste(&rule.grad(&core, *win), win.top, win.left);
        }
        let rel = rel_l2(&tg.data, &g.data);
        assert!(rel < 1e-5, "{name}: gradient differs by {rel:e}");
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
fn the_quadratic_time_gaussian_refuses_tiles_with_a_clear_message() {
    let (content, style, x) = images();
    let small = |i: &InputImage| example_input_like(i, 48);
    let (content, style, x) = (small(&content), small(&style), small(&x));
    let mut c = cfg(&[Method::MmdGaussian], Some(16));
    c.loss.gaussian_exact_sigma2 = Some(1e4);
    let e = inspect_losses(&mut net(), Some(&content), &style, &x, &c, false)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.starts_with("tile is not available for the exact"), "{e}");
}

/// The top-left `edge x edge` corner of an image.
fn example_input_like(i: &InputImage, edge: usize) -> InputImage {
    let n = i.height * i.width;
    let mut data = Vec::with_capacity(3 * edge * edge);
    for c in 0..3 {
        for y in 0..edge {
            let row = c * n + y * i.width;
            data.extend_from_slice(&i.data[row..row + edge]);
        }
    }
    InputImage::new(edge, edge, data).unwrap()
}

fn nstyle(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nstyle"))
        .env_remove("NSTYLE_WEIGHTS")
        .args(args)
        .output()
        .expect("run nstyle")
}

/// Every `style`/`content` value of two `losses` JSON outputs, by method and layer.
fn values(v: &serde_json::Value) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for part in ["content", "style"] {
        let mut stack = vec![(part.to_string(), &v[part])];
        while let Some((name, x)) = stack.pop() {
            match x {
                serde_json::Value::Object(m) => {
                    stack.extend(m.iter().map(|(k, x)| (format!("{name}/{k}"), x)))
                }
                x => out.push((name, x.as_f64().expect("a number"))),
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn the_losses_command_gives_the_same_values_and_gradient_with_tiles() {
    let d = tempfile::tempdir().unwrap();
    let (c, s) = (
        example("content/chelsea.jpg"),
        example("style/starry_night.jpg"),
    );
    let x = noise_image(133, 200, 11);
    let xp = d.path().join("x.npy");
    nstyle::image_io::write_npy(&xp, &[3, 133, 200], &x.data).unwrap();
    let run = |tile: Option<&str>, grad: &std::path::Path| {
        let mut args = vec![
            "losses",
            "--content",
            c.to_str().unwrap(),
            "--style",
            s.to_str().unwrap(),
            "--image",
            xp.to_str().unwrap(),
            "--grad-out",
            grad.to_str().unwrap(),
        ];
        if let Some(t) = tile {
            args.extend(["--tile", t]);
        }
        let o = nstyle(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let (_, g) = nstyle::image_io::read_npy(grad).unwrap();
        (
            values(&v),
            g,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (whole, g0, _) = run(None, &d.path().join("g0.npy"));
    let (tiled, g1, said) = run(Some("70"), &d.path().join("g1.npy"));
    assert!(said.contains("tile 70 px rounded to 64 px"), "{said}");
    assert_eq!(whole.len(), tiled.len());
    assert!(
        whole.len() > 8 * 5,
        "every method at every layer: {whole:?}"
    );
    for ((n0, v0), (n1, v1)) in whole.iter().zip(&tiled) {
        assert_eq!(n0, n1);
        assert!((v0 - v1).abs() <= 1e-5 * v0.abs(), "{n0}: {v0} vs {v1}");
    }
    let rel = rel_l2(&g1, &g0);
    assert!(rel < 1e-4, "gradient differs by {rel:e}");
}

#[test]
fn a_bad_tile_size_is_a_one_line_error() {
    let (c, s) = (
        example("content/chelsea.jpg"),
        example("style/starry_night.jpg"),
    );
    for bad in ["0", "-64", "big", "1.5"] {
        let arg = format!("--tile={bad}");
        let o = nstyle(&[
            c.to_str().unwrap(),
            s.to_str().unwrap(),
            "-o",
            "/nonexistent/x.png",
            &arg,
        ]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:")
                && first.contains("tile must be auto, off or a tile edge in px"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
