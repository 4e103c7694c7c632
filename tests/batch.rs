//! `nstyle batch`: sharded runs add up to one unsharded run byte for byte, reruns skip
//! what is done, a bad row fails alone, shards come from the schedulers' variables.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCHEDULER_VARS: [&str; 5] = [
    "JOB_COMPLETION_INDEX",
    "NSTYLE_SHARD_COUNT",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
];

fn nstyle() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nstyle"));
    c.env_remove("NSTYLE_WEIGHTS");
    for v in SCHEDULER_VARS {
        c.env_remove(v);
    }
    c
}

fn image(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("images")
        .join(rel);
    p.to_str().unwrap().to_string()
}

/// `nstyle batch MANIFEST --size 64 --iterations 2 --quiet EXTRA...`
fn batch(manifest: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    nstyle()
        .arg("batch")
        .arg(manifest)
        .args(["--size", "64", "--iterations", "2", "--quiet"])
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn summary(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The `row` numbers of one list in a summary.
fn rows(s: &Value, list: &str) -> Vec<u64> {
    s[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_u64().unwrap())
        .collect()
}

/// Four tiny jobs; the second overrides --style-weight and --iterations by column.
fn four_jobs(dir: &Path) -> PathBuf {
    let m = dir.join("jobs.csv");
    let lines = [
        "content,style,output,style-weight,iterations".to_string(),
        format!(
            "{},{},out/a.png,,",
            image("content/chelsea.jpg"),
            image("style/starry_night.jpg")
        ),
        format!(
            "{},{},out/b.png,2,3",
            image("content/coffee.jpg"),
            image("style/wave.jpg")
        ),
        format!(
            "{},{},out/c.png,,",
            image("content/astronaut.jpg"),
            image("style/the_scream.jpg")
        ),
        format!(
            "{},{},out/d.png,,",
            image("content/chelsea.jpg"),
            image("style/composition_vii.jpg")
        ),
    ];
    std::fs::write(&m, lines.join("\n") + "\n").unwrap();
    m
}

fn outputs(dir: &Path) -> Vec<Vec<u8>> {
    ["a", "b", "c", "d"]
        .iter()
        .map(|n| std::fs::read(dir.join(format!("out/{n}.png"))).unwrap())
        .collect()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn two_shards_give_the_bytes_of_one_run_and_a_rerun_skips_everything() {
    let whole = tempfile::tempdir().unwrap();
    let sharded = tempfile::tempdir().unwrap();
    let m1 = four_jobs(whole.path());
    let m2 = four_jobs(sharded.path());

    ok(&batch(&m1, &[], &[]));
    let s = summary(&whole.path().join("jobs.summary.json"));
    assert_eq!(rows(&s, "done"), [0, 1, 2, 3]);
    assert_eq!(s["done"][1]["iterations"], 3, "the row's column overrides");
    assert_eq!(s["done"][0]["iterations"], 2);

    ok(&batch(&m2, &["--shard", "0/2"], &[]));
    ok(&batch(&m2, &["--shard", "1/2"], &[]));
    let s0 = summary(&sharded.path().join("jobs.shard-0-of-2.summary.json"));
    let s1 = summary(&sharded.path().join("jobs.shard-1-of-2.summary.json"));
    assert_eq!(rows(&s0, "done"), [0, 2]);
    assert_eq!(rows(&s1, "done"), [1, 3]);
    assert!(
        outputs(whole.path()) == outputs(sharded.path()),
        "sharded bytes differ"
    );

    // A rerun finds every output complete.
    ok(&batch(&m1, &[], &[]));
    let s = summary(&whole.path().join("jobs.summary.json"));
    assert_eq!(rows(&s, "skipped"), [0, 1, 2, 3]);
    assert_eq!(s["counts"]["done"], 0);

    // The shard index from a Kubernetes Indexed Job or a Slurm array (outputs exist, so
    // these runs only select rows).
    let summary_file = whole.path().join("env.json");
    let sum = summary_file.to_str().unwrap();
    for env in [
        vec![("JOB_COMPLETION_INDEX", "1"), ("NSTYLE_SHARD_COUNT", "2")],
        vec![
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ],
        vec![
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ],
    ] {
        ok(&batch(&m1, &["--summary", sum], &env));
        assert_eq!(rows(&summary(&summary_file), "skipped"), [1, 3], "{env:?}");
    }
    ok(&batch(
        &m1,
        &["--summary", sum, "--shard-count", "4"],
        &[("JOB_COMPLETION_INDEX", "2")],
    ));
    assert_eq!(rows(&summary(&summary_file), "skipped"), [2]);
    let o = batch(&m1, &[], &[("JOB_COMPLETION_INDEX", "0")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("NSTYLE_SHARD_COUNT"));
}

#[test]
fn a_corrupt_input_fails_only_its_row() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("corrupt.png"), b"\x89PNG\r\n\x1a\nnot a png").unwrap();
    let m = d.path().join("jobs.jsonl");
    let rows_text = [
        format!(
            r#"{{"content": "{}", "style": "{}", "output": "out/good.png", "style_weight": 1}}"#,
            image("content/chelsea.jpg"),
            image("style/wave.jpg")
        ),
        format!(
            r#"{{"content": "corrupt.png", "style": "{}", "output": "out/bad.png"}}"#,
            image("style/wave.jpg")
        ),
        format!(
            r#"{{"content": "{}", "style": ["{}", "{}"], "output": "out/two.png", "style_blend": "1,2,3"}}"#,
            image("content/chelsea.jpg"),
            image("style/wave.jpg"),
            image("style/the_scream.jpg")
        ),
        // Several paintings in a row blend.
        format!(
            r#"{{"content": "{}", "style": ["{}", "{}"], "output": "out/blend.png", "style_blend": "2,1"}}"#,
            image("content/chelsea.jpg"),
            image("style/wave.jpg"),
            image("style/the_scream.jpg")
        ),
    ];
    std::fs::write(&m, rows_text.join("\n") + "\n").unwrap();
    let o = batch(&m, &[], &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed row makes the exit non-zero"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(d.path().join("out/good.png").is_file());
    assert!(d.path().join("out/blend.png").is_file());
    assert!(!d.path().join("out/bad.png").exists());
    let s = summary(&d.path().join("jobs.summary.json"));
    assert_eq!(rows(&s, "done"), [0, 3]);
    assert_eq!(rows(&s, "failed"), [1, 2]);
    let e1 = s["failed"][0]["error"].as_str().unwrap();
    assert!(e1.contains("corrupt.png") && !e1.contains('\n'), "{e1}");
    let e2 = s["failed"][1]["error"].as_str().unwrap();
    assert!(
        e2.contains("--style-blend gives 3 weights for 2 style images"),
        "{e2}"
    );
}

#[test]
fn photos_times_paintings_and_manifest_errors() {
    let d = tempfile::tempdir().unwrap();
    let (photos, paintings, out) = (d.path().join("p"), d.path().join("s"), d.path().join("o"));
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::create_dir_all(&paintings).unwrap();
    std::fs::copy(image("content/chelsea.jpg"), photos.join("cat.jpg")).unwrap();
    std::fs::copy(image("style/wave.jpg"), paintings.join("wave.jpg")).unwrap();
    std::fs::copy(image("style/the_scream.jpg"), paintings.join("scream.jpg")).unwrap();
    let o = nstyle()
        .args(["batch", "--photos"])
        .arg(&photos)
        .arg("--paintings")
        .arg(&paintings)
        .arg("--out")
        .arg(&out)
        .args([
            "--size",
            "32",
            "--iterations",
            "1",
            "--style-layers",
            "relu1_1,relu2_1",
        ])
        .args(["--content-layer", "relu2_2", "--quiet"])
        .output()
        .unwrap();
    ok(&o);
    assert!(out.join("cat__scream.png").is_file());
    assert!(out.join("cat__wave.png").is_file());
    assert_eq!(
        summary(&out.join("batch.summary.json"))["counts"]["done"],
        2
    );

    // Manifest-wide mistakes stop before any row, with one line.
    let m = d.path().join("bad.csv");
    for (text, needle) in [
        ("content,style,output,style_wieght\n", "style_wieght"),
        ("content,style\n", "'output'"),
    ] {
        std::fs::write(&m, text).unwrap();
        let o = batch(&m, &[], &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(needle), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
