//! `nstyle grid` and `nstyle figure`: every figure at a tiny size writes its sheet, cells
//! and grid.json; a rerun recomputes nothing; bad specifications fail before any work.

mod common;
use common::*;
use serde_json::Value;
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The sheet, cells and grid.json of a finished grid agree: every cell's image exists, has
/// the given long edge, and is copied pixel for pixel where grid.json says on the sheet.
fn check_grid(dir: &Path, rows: usize, cols: usize, long_edge: u32) -> Value {
    let g = read_json(&dir.join("grid.json"));
    let cells = g["cells"].as_array().unwrap();
    assert_eq!(cells.len(), rows * cols);
    assert_eq!(g["rows"]["items"].as_array().unwrap().len(), rows);
    assert_eq!(g["cols"]["items"].as_array().unwrap().len(), cols);
    let sheet = image::open(dir.join("sheet.png")).unwrap().to_rgb8();
    assert_eq!(
        (sheet.width() as u64, sheet.height() as u64),
        (
            g["sheet"]["width"].as_u64().unwrap(),
            g["sheet"]["height"].as_u64().unwrap()
        )
    );
    assert!(
        sheet.width() > cols as u32 * long_edge && sheet.height() > rows as u32 * long_edge / 2
    );
    for c in cells {
        let (i, j) = (c["row"].as_u64().unwrap(), c["col"].as_u64().unwrap());
        let file = dir.join("cells").join(format!("r{i}_c{j}.png"));
        assert_eq!(c["image"], format!("cells/r{i}_c{j}.png"));
        let img = image::open(&file).unwrap().to_rgb8();
        assert_eq!(img.width().max(img.height()), long_edge, "{file:?}");
        let p = &c["placed"];
        let (x, y) = (
            p["x"].as_u64().unwrap() as u32,
            p["y"].as_u64().unwrap() as u32,
        );
        let crop = image::imageops::crop_imm(&sheet, x, y, img.width(), img.height()).to_image();
        assert_eq!(crop, img, "cell r{i}_c{j} on the sheet");
        assert!(c["iterations"].as_u64().unwrap() >= 1);
        assert!(c["stop"].is_string() && c["elapsed_s"].is_number());
        assert!(c["losses"]["total"].is_number() && c["losses"]["style"].is_object());
        assert!(c["args"].as_array().unwrap().len() > 2);
    }
    g
}

fn figure(n: u8, rows: usize, cols: usize) -> (tempfile::TempDir, Value) {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("fig");
    let o = run(&[
        "figure",
        &n.to_string(),
        "--out",
        s(&out),
        "--size",
        "32",
        "--iterations",
        "1",
        "--quiet",
        // im2col: at 32 px building Winograd's kernels costs more than the iteration.
        "--conv",
        "im2col",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "--quiet: {}", stderr(&o));
    let g = check_grid(&out, rows, cols, 32);
    (d, g)
}

/// The arguments of cell `k` of a grid record, as one string.
fn args(g: &Value, k: usize) -> String {
    let a: Vec<&str> = g["cells"][k]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    a.join(" ")
}

#[test]
fn figure_1_style_reconstructions_by_method_and_layers() {
    let (_d, g) = figure(1, 4, 5);
    assert!(args(&g, 0).contains("--style-only"));
    assert!(args(&g, 0).contains("--style-loss=mmd-linear --style-layers=relu1_1"));
    assert!(args(&g, 19)
        .contains("--style-loss=bn --style-layers=relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"));
    assert!(g["cells"][0]["losses"]["content"].is_null(), "alpha = 0");
}

#[test]
fn figure_2_methods_by_gamma() {
    let (_d, g) = figure(2, 4, 5);
    assert!(args(&g, 0).contains("--style-weight=0.1"));
    assert!(args(&g, 19).contains("--style-loss=bn --style-weight=10"));
}

#[test]
fn figure_3_pairs_by_method_with_gamma_per_row() {
    let (_d, g) = figure(3, 6, 4);
    for (row, gamma) in [(0, "2"), (2, "2"), (3, "5"), (5, "5")] {
        assert!(
            args(&g, row * 4).contains(&format!("--style-weight={gamma}")),
            "row {row}"
        );
    }
    assert!(args(&g, 0).contains("chelsea.jpg") && args(&g, 0).contains("the_scream.jpg"));
    assert!(args(&g, 23).contains("astronaut.jpg") && args(&g, 23).contains("starry_night.jpg"));
}

#[test]
fn figure_4_fusions_by_blend_weights() {
    let (_d, g) = figure(4, 4, 5);
    assert!(args(&g, 0).contains("--style-loss=bn:0.9,mmd-poly:0.1"));
    assert!(args(&g, 19).contains("--style-loss=mmd-linear:0.1,mmd-gaussian:0.9"));
    assert!(args(&g, 0).contains("--style-weight 5"));
}

fn grid_args(out: &Path, rows: &str, cols: &str) -> Vec<String> {
    let c = example("content/chelsea.jpg");
    let st = example("style/starry_night.jpg");
    [
        "grid",
        s(&c),
        s(&st),
        "--size",
        "32",
        "--iterations",
        "2",
        "--conv",
        "im2col",
        "--rows",
        rows,
        "--cols",
        cols,
        "--out",
        s(out),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect()
}

fn finished_at(g: &Value) -> Vec<(String, f64)> {
    g["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["args"].to_string(), c["finished_at"].as_f64().unwrap()))
        .collect()
}

fn mtime(p: PathBuf) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn a_rerun_recomputes_nothing_and_an_extended_sweep_only_the_new_cells() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("sweep");
    let first = nstyle()
        .args(grid_args(&out, "style-weight=1,5", "seed=0,1"))
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(stderr(&first).matches("iterations,").count(), 4);
    let g1 = check_grid(&out, 2, 2, 32);
    let t1 = mtime(out.join("cells/r1_c1.png"));

    let again = nstyle()
        .args(grid_args(&out, "style-weight=1,5", "seed=0,1"))
        .output()
        .unwrap();
    let err = stderr(&again);
    assert!(again.status.success(), "{err}");
    assert_eq!(err.matches("skipped").count(), 4, "{err}");
    assert!(!err.contains("iterations,"), "{err}");
    let g2 = check_grid(&out, 2, 2, 32);
    assert_eq!(finished_at(&g1), finished_at(&g2));
    assert_eq!(t1, mtime(out.join("cells/r1_c1.png")));

    // A value added in front: the four done cells move down a row, two are new.
    let more = nstyle()
        .args(grid_args(&out, "style-weight=0.5,1,5", "seed=0,1"))
        .output()
        .unwrap();
    let err = stderr(&more);
    assert!(more.status.success(), "{err}");
    assert_eq!(err.matches("skipped").count(), 4, "{err}");
    assert_eq!(err.matches("iterations,").count(), 2, "{err}");
    let g3 = check_grid(&out, 3, 2, 32);
    let old = &g1["cells"][0];
    let moved = g3["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["args"] == old["args"])
        .unwrap();
    assert_eq!(moved["name"], "r1_c0");
    assert_eq!(moved["finished_at"], old["finished_at"]);
}

/// A failed command: non-zero exit, one line on stderr starting with "error:".
fn assert_one_line_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(
        lines[0].starts_with("error:") && !err.contains("panicked"),
        "{err}"
    );
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

#[test]
fn bad_specifications_are_one_line_errors_before_any_work() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("never");
    let cases: Vec<(&str, &str, &str)> = vec![
        ("fancy=1,2", "seed=0,1", "unknown transfer option 'fancy'"),
        ("style-weight=", "seed=0,1", "style-weight= has no values"),
        ("quiet=0,1", "seed=0,1", "--quiet takes no value"),
        ("style-only=0,1", "seed=0,1", "--style-only takes no value"),
        ("style-weight=1,5", "seed", "must be OPTION=V1,V2"),
        (
            "style-weight=1,5",
            "style-weight=2",
            "both vary style-weight",
        ),
        ("output=a.png,b.png", "seed=0,1", "--output is the grid's"),
        // Found by the parser or the planner in the last cell: still nothing is run.
        (
            "style-weight=1,x",
            "seed=0,1",
            "cell r1_c0 (style-weight=x, seed=0): invalid value 'x'",
        ),
        (
            "style-weight=1,5",
            "size=32,8",
            "cell r0_c1 (style-weight=1, size=8): --size must be at least 16",
        ),
        (
            "style-weight=1,5",
            "style-loss=bn,fancy",
            "unknown style loss 'fancy'",
        ),
        ("style-weight=1,5", "@w=1,2", "no argument uses {w}"),
    ];
    for (rows, cols, needle) in cases {
        let o = nstyle().args(grid_args(&out, rows, cols)).output().unwrap();
        assert_one_line_error(&o, needle);
        assert!(
            !out.exists(),
            "{rows} {cols}: the output directory was created"
        );
    }
    // Nothing to vary, and -o among the transfer arguments.
    let c = example("content/chelsea.jpg");
    let st = example("style/starry_night.jpg");
    let o = run(&["grid", s(&c), s(&st), "--out", s(&out)]);
    assert_one_line_error(&o, "nothing varies");
    let o = run(&[
        "grid",
        s(&c),
        s(&st),
        "-o",
        "x.png",
        "--cols",
        "seed=0,1",
        "--out",
        s(&out),
    ]);
    assert_one_line_error(&o, "--output is the grid's");
    // A figure's extra options may not touch what it varies.
    let o = run(&["figure", "2", "--out", s(&out), "--style-weight", "3"]);
    assert_one_line_error(&o, "figure 2 varies --style-weight itself");
    assert!(!out.exists());
}
