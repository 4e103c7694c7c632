//! The real `nstyle` binary: a short transfer, determinism, every bad input's one-line
//! error, `--help`, Ctrl-C, and the `losses` inspection command.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nstyle() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nstyle"));
    c.env_remove("NSTYLE_WEIGHTS");
    c
}

fn run(args: &[&str]) -> Output {
    nstyle().args(args).output().expect("run nstyle")
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn content() -> PathBuf {
    example("content/chelsea.jpg")
}
fn style() -> PathBuf {
    example("style/starry_night.jpg")
}

/// A failed run: non-zero exit, one line on stderr starting with "error:", no panic.
fn assert_clean_error(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error:"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "expected '{needle}' in: {err}"
    );
}

fn transfer_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        s(&content()).into(),
        s(&style()).into(),
        "-o".into(),
        out.into(),
    ];
    v.extend(["--size", "64", "--quiet"].iter().map(|x| x.to_string()));
    v.extend(extra.iter().map(|x| x.to_string()));
    v
}

#[test]
fn short_transfer_writes_a_valid_image_and_is_deterministic() {
    let d = tmpdir();
    let a = d.path().join("a.png");
    let b = d.path().join("b.png");
    let log = d.path().join("log.jsonl");
    let o = nstyle()
        .args(transfer_args(
            s(&a),
            &["--iterations", "4", "--seed", "5", "--log", s(&log)],
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&a).unwrap();
    #[cfg(unix)]
    {
        // The output gets the usual permissions (0666 less the umask), not the private
        // 0600 of the temporary file it was written through.
        use std::os::unix::fs::PermissionsExt;
        // SAFETY: umask only reads and sets this process's file-mode mask; restored at once.
        let umask = unsafe {
            let m = libc::umask(0o022);
            libc::umask(m);
            m
        };
        let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !(umask as u32), "output mode {mode:o}");
    }
    // chelsea.jpg is 451 x 300: long edge 64 -> 64 x 43.
    assert_eq!((img.width(), img.height()), (64, 43));
    let o = nstyle()
        .args(transfer_args(s(&b), &["--iterations", "4", "--seed", "5"]))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same seed, different bytes"
    );
    // The log is the job's events, one per line: planned first, finished last.
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"planned"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "iteration").count(), 4);
    let first = events.iter().find(|e| e["event"] == "iteration").unwrap();
    assert_eq!(first["iteration"], 1);
    assert!(first["style"]["gram"].as_f64().unwrap() > 0.0);
    assert!(first["terms"]["gram"]["relu3_1"].as_f64().unwrap() > 0.0);
    assert!(first["content"].as_f64().unwrap() > 0.0);
    let last = events.last().unwrap();
    assert_eq!(last["iterations"], 4);
    assert_eq!(last["stop"], "max_iterations");
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")),
        "{names:?}"
    );
}

#[test]
fn multiscale_runs_every_stage_and_writes_the_requested_size() {
    let d = tmpdir();
    let out = d.path().join("ms.png");
    let log = d.path().join("ms.jsonl");
    let o = nstyle()
        .args(transfer_args(
            s(&out),
            &[
                "--multiscale",
                "on",
                "--start-size",
                "32",
                "--iterations",
                "3",
                "--stage-iterations",
                "2",
                "--log",
                s(&log),
            ],
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (64, 43));
    // Stages 32 -> 45 -> 64 px, each logged with its size; later stages capped at 2 steps.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "iteration")
        .collect();
    let widths: Vec<u64> = lines.iter().map(|v| v["width"].as_u64().unwrap()).collect();
    let mut stages: Vec<u64> = lines.iter().map(|v| v["stage"].as_u64().unwrap()).collect();
    stages.dedup();
    assert_eq!(stages, vec![1, 2, 3], "{widths:?}");
    assert_eq!(widths.first(), Some(&32));
    assert_eq!(widths.last(), Some(&64));
    assert!(lines
        .iter()
        .all(|v| v["stage"] == 1 || v["iteration"].as_u64().unwrap() <= 2));
    // A start size above the output size is one plain stage.
    let o = nstyle()
        .args(transfer_args(
            s(&out),
            &[
                "--multiscale",
                "on",
                "--start-size",
                "256",
                "--iterations",
                "1",
            ],
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn style_only_16bit_tiff_and_fusion() {
    let d = tmpdir();
    let out = d.path().join("tex.tif");
    let o = run(&[
        "--style-only",
        s(&style()),
        "-o",
        s(&out),
        "--size",
        "48",
        "--iterations",
        "3",
        "--16bit",
        "--quiet",
        "--style-loss",
        "mmd-linear:0.5,mmd-gaussian:0.5",
        "--save-every",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&out).unwrap();
    assert_eq!(img.color(), image::ColorType::Rgb16);
    assert_eq!(img.width(), 48);
    assert!(d.path().join("tex_iter2.tif").is_file());
}

#[test]
fn bad_inputs_give_one_line_errors_and_no_output() {
    let d = tmpdir();
    let out = d.path().join("out.png");
    let o_s = s(&out).to_string();
    let corrupt = d.path().join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nthis is not really a png").unwrap();
    let truncated = d.path().join("truncated.jpg");
    let bytes = std::fs::read(style()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let png = d.path().join("ok.png");
    image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 5) as u8, ((x * y) % 251) as u8])
    })
    .save(&png)
    .unwrap();
    let png_bytes = std::fs::read(&png).unwrap();
    let truncated_png = d.path().join("truncated.png");
    std::fs::write(&truncated_png, &png_bytes[..png_bytes.len() / 2]).unwrap();
    let huge = d.path().join("huge.png");
    std::fs::write(&huge, png_header(200_000, 200_000)).unwrap();
    let empty = d.path().join("empty.png");
    std::fs::write(&empty, png_header(0, 10)).unwrap();
    // PhotometricInterpretation stored as 3.9 GB of text (from the image fuzz target): the
    // `tiff` crate would print a debugging line of its own before the error.
    let text_tag = d.path().join("text_tag.tiff");
    let mut tiff = b"II*\0\x08\0\0\0\x03\0".to_vec();
    for (tag, kind, count, value) in [
        (256u16, 3u16, 1u32, 8u32),
        (257, 3, 1, 8),
        (262, 2, 0xE7E7_E7E7, 0),
    ] {
        for field in [
            &tag.to_le_bytes()[..],
            &kind.to_le_bytes(),
            &count.to_le_bytes(),
            &value.to_le_bytes(),
        ] {
            tiff.extend_from_slice(field);
        }
    }
    tiff.extend([0; 4]);
    std::fs::write(&text_tag, tiff).unwrap();
    let text = d.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let weights = d.path().join("w.safetensors");
    std::fs::write(&weights, vec![7u8; 1000]).unwrap();

    let c = s(&content()).to_string();
    let st = s(&style()).to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![&c, "/nonexistent/x.jpg", "-o", &o_s], "no such file"),
        (vec![&c, s(&corrupt), "-o", &o_s], "corrupt.png"),
        (vec![s(&truncated), &st, "-o", &o_s], "truncated.jpg"),
        (vec![s(&truncated_png), &st, "-o", &o_s], "truncated.png"),
        (vec![s(&huge), &st, "-o", &o_s], "above the limit"),
        (vec![s(&empty), &st, "-o", &o_s], "empty.png"),
        (vec![s(&text), &st, "-o", &o_s], "notes.txt"),
        (vec![s(&text_tag), &st, "-o", &o_s], "stored as text"),
        (
            vec![&c, &st, "-o", &o_s, "--style-loss", "fancy"],
            "unknown style loss 'fancy'",
        ),
        (
            vec![&c, &st, "-o", &o_s, "--style-layers", "relu1_1,relu7_1"],
            "unknown layer 'relu7_1'",
        ),
        (
            vec![&c, &st, "-o", &o_s, "--content-layer", "conv4_2"],
            "unknown layer 'conv4_2'",
        ),
        (
            vec![&c, &st, "-o", &o_s, "--weights", s(&weights)],
            "not a valid safetensors",
        ),
        (
            vec![&c, &st, "-o", &o_s, "--size", "100000"],
            "above the limit",
        ),
        (vec![&c, &st, "-o", &o_s, "--size", "8"], "at least 16"),
        (
            vec![&c, &st, "-o", &o_s, "--style-weight=-1"],
            "--style-weight",
        ),
        (
            vec![&c, &st, "-o", &o_s, "--iterations", "0"],
            "--iterations",
        ),
        (
            vec![&c, &st, "-o", "out.gif"],
            "unsupported output extension",
        ),
        (
            vec![&c, &st, "-o", "/nonexistent/dir/out.png"],
            "does not exist",
        ),
        (vec![&c, &st, "-o", &o_s, "--max-memory", "0.001"], "memory"),
        (vec![&st, "-o", &o_s], "CONTENT and STYLE"),
    ];
    for (args, needle) in cases {
        let o = run(&args);
        assert_clean_error(&o, needle);
        assert!(!out.exists(), "output written despite error for {args:?}");
    }
    // The cause is said once, not repeated by the error chain.
    let o = run(&[&c, "/nonexistent/x.jpg", "-o", &o_s]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    // A usage error from the parser also exits non-zero without a panic.
    let o = run(&[&c, &st, "-o", &o_s, "--size", "big"]);
    assert!(!o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("panicked"));
    // NSTYLE_WEIGHTS pointing to a bad file is reported too.
    let o = nstyle()
        .env("NSTYLE_WEIGHTS", s(&weights))
        .args([&c, &st, "-o", &o_s])
        .output()
        .unwrap();
    assert_clean_error(&o, "w.safetensors");
}

/// A PNG signature, an IHDR chunk claiming the given size and a token IDAT chunk (valid
/// CRCs): a decompression bomb's header, with none of the bomb.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    for chunk in [ihdr, b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01".to_vec()] {
        v.extend_from_slice(&((chunk.len() - 4) as u32).to_be_bytes());
        v.extend_from_slice(&chunk);
        v.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn help_documents_every_option() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--output",
        "--style-only",
        "--style-loss",
        "--style-weight",
        "--content-weight",
        "--beta-prime",
        "--style-layers",
        "--content-layer",
        "--size",
        "--style-size",
        "--style-scale",
        "--style-blend",
        "--preserve-colors",
        "--iterations",
        "--tol",
        "--optimizer",
        "--lr",
        "--history",
        "--init",
        "--seed",
        "--pooling",
        "--weights",
        "--poly-c",
        "--gaussian-sigma2-scale",
        "--save-every",
        "--16bit",
        "--log",
        "--quiet",
        "--max-memory",
        "Examples:",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
    let o = run(&["losses", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--content",
        "--style",
        "--image",
        "--size",
        "--grad-out",
        "--gaussian-sigma2",
        "--poly-c",
        "--pooling",
    ] {
        assert!(help.contains(flag), "losses --help does not mention {flag}");
    }
}

/// Starts a long run writing `out` at `size` px, waits until it has saved a snapshot (so
/// it is iterating and its handlers are installed), then sends `signals` 20 ms apart.
#[cfg(unix)]
fn interrupted_run(out: &Path, size: &str, signals: &[i32]) -> Output {
    let mut child = nstyle()
        .args([
            s(&content()),
            s(&style()),
            "-o",
            s(out),
            "--size",
            size,
            "--quiet",
        ])
        .args(RUN_UNTIL_STOPPED)
        .args(["--save-every", "1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first_snapshot = out.with_file_name("out_iter1.png");
    let started = std::time::Instant::now();
    while !first_snapshot.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before iterating"
        );
        assert!(
            started.elapsed().as_secs() < 120,
            "the run never started iterating"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for &sig in signals {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
#[test]
fn ctrl_c_sigterm_and_sighup_stop_cleanly_and_write_the_current_image() {
    for (sig, name) in [
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
    ] {
        let d = tmpdir();
        let out = d.path().join("out.png");
        let o = interrupted_run(&out, "64", &[sig]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(130), "{name}: {err}");
        assert!(image::open(&out).is_ok(), "{name}: no image written");
        assert!(
            err.contains("interrupted") && err.contains(s(&out)),
            "{name}: {err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_second_signal_quits_at_once_without_a_partial_output() {
    let d = tmpdir();
    let out = d.path().join("out.png");
    // At 256 px a step takes far longer than the 20 ms between the signals.
    let o = interrupted_run(&out, "256", &[libc::SIGINT, libc::SIGINT]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("second signal"), "{err}");
    assert!(
        !out.exists(),
        "the output must not exist after an immediate quit"
    );
}

#[test]
fn losses_prints_raw_values_and_a_gradient_that_matches_finite_differences() {
    let d = tmpdir();
    // JSON for an image file with the default methods.
    let o = run(&[
        "losses",
        "--content",
        s(&content()),
        "--style",
        s(&style()),
        "--image",
        s(&content()),
        "--size",
        "48",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["content"]["relu4_2"].as_f64(),
        Some(0.0),
        "content loss of the content image itself"
    );
    for m in ["gram", "mmd-linear", "mmd-poly", "mmd-gaussian", "bn"] {
        for l in ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"] {
            assert!(v["style"][m][l].as_f64().is_some(), "missing {m}/{l}: {v}");
        }
    }
    // Gradient check on a float32 .npy input, to full precision.
    let (h, w) = (36, 44);
    let x = random_vec(3 * h * w, -100.0, 100.0, 3);
    let xp = d.path().join("x.npy");
    nstyle::image_io::write_npy(&xp, &[3, h, w], &x).unwrap();
    let gp = d.path().join("g.npy");
    let (cp, sp) = (content(), style());
    let total = |p: &Path, grad: Option<&Path>| -> f64 {
        let mut args = vec![
            "losses",
            "--content",
            s(&cp),
            "--style",
            s(&sp),
            "--image",
            s(p),
            "--style-loss",
            "gram,mmd-linear,mmd-gaussian,bn",
            "--gaussian-sigma2",
            "5e4",
        ];
        if let Some(g) = grad {
            args.extend(["--grad-out", s(g)]);
        }
        let o = run(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut t = v["content"]["relu4_2"].as_f64().unwrap();
        for (_, layers) in v["style"].as_object().unwrap() {
            t += layers
                .as_object()
                .unwrap()
                .values()
                .map(|x| x.as_f64().unwrap())
                .sum::<f64>();
        }
        t
    };
    total(&xp, Some(&gp));
    let (shape, g) = nstyle::image_io::read_npy(&gp).unwrap();
    assert_eq!(shape, vec![3, h, w]);
    let gmax = g.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    for &i in &[5usize, 777, 1400] {
        let eps = 0.05f32;
        let (mut a, mut b) = (x.clone(), x.clone());
        a[i] += eps;
        b[i] -= eps;
        let (pa, pb) = (d.path().join("a.npy"), d.path().join("b.npy"));
        nstyle::image_io::write_npy(&pa, &[3, h, w], &a).unwrap();
        nstyle::image_io::write_npy(&pb, &[3, h, w], &b).unwrap();
        let fd = (total(&pa, None) - total(&pb, None)) / (2.0 * eps as f64);
        assert!(
            (fd - g[i] as f64).abs() <= 1e-2 * gmax,
            "grad[{i}]: fd {fd} vs {} (max {gmax})",
            g[i]
        );
    }
    // Errors of the inspection command are one line too.
    assert_clean_error(
        &run(&[
            "losses",
            "--style",
            s(&style()),
            "--image",
            s(&xp),
            "--size",
            "32",
        ]),
        "--size",
    );
    assert_clean_error(
        &run(&[
            "losses",
            "--style",
            s(&style()),
            "--image",
            s(&content()),
            "--gaussian-sigma2",
            "1",
            "--style-loss",
            "mmd-gaussian",
        ]),
        "quadratic",
    );
}

#[test]
fn grayscale_and_alpha_inputs_are_converted_and_said_once() {
    let d = tmpdir();
    let gray = d.path().join("gray.png");
    image::GrayImage::from_fn(40, 30, |x, y| image::Luma([((x * 5 + y * 3) % 256) as u8]))
        .save(&gray)
        .unwrap();
    let rgba = d.path().join("rgba.png");
    image::RgbaImage::from_fn(30, 40, |x, y| {
        image::Rgba([(x * 7) as u8, (y * 5) as u8, 90, 128])
    })
    .save(&rgba)
    .unwrap();
    let out = d.path().join("o.jpg");
    let o = run(&[
        s(&gray),
        s(&rgba),
        "-o",
        s(&out),
        "--size",
        "32",
        "--iterations",
        "2",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        err.matches("grayscale image, converted to RGB").count(),
        1,
        "{err}"
    );
    assert_eq!(err.matches("alpha channel ignored").count(), 1, "{err}");
    assert_eq!(image::open(&out).unwrap().width(), 32);
}

#[test]
fn resizing_to_the_current_size_is_the_identity() {
    let img = nstyle::image_io::load_image(&content()).unwrap().image;
    let (w, h) = img.dimensions();
    assert_eq!(nstyle::image_io::resize(&img, w, h), img);
    // So `losses --size <its own long edge>` reports the same as without --size.
    let (c, st) = (content(), style());
    let base = [
        "losses",
        "--content",
        s(&c),
        "--style",
        s(&st),
        "--image",
        s(&c),
    ];
    let a = run(&base);
    let long = w.max(h).to_string();
    let mut with_size = base.to_vec();
    with_size.extend(["--size", long.as_str()]);
    let b = run(&with_size);
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn bf16_products_run_where_the_cpu_has_them_and_are_refused_elsewhere() {
    let d = tmpdir();
    let out = d.path().join("bf16.png");
    let o = nstyle()
        .args(transfer_args(
            s(&out),
            &["--iterations", "3", "--conv", "winograd-bf16"],
        ))
        .output()
        .unwrap();
    if nstyle::engine::winograd::bf16_supported() {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let img = image::open(&out).unwrap();
        assert_eq!((img.width(), img.height()), (64, 43));
    } else {
        assert_clean_error(&o, "needs a CPU with AVX512-BF16");
        assert!(!out.exists());
    }
}
