//! Resumable runs: a multi-scale run stopped by SIGTERM continues with `--resume` without
//! redoing its finished stages, reaches the same size and a comparable loss.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn nstyle(out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nstyle"));
    c.arg(example("content/chelsea.jpg"))
        .arg(example("style/starry_night.jpg"))
        .arg("-o")
        .arg(out)
        .args(["--size", "64", "--multiscale", "on", "--start-size", "32"])
        .args([
            "--stage-iterations",
            "6",
            "--tol",
            "0",
            "--min-progress",
            "0",
            "--quiet",
            "--seed",
            "4",
        ])
        .args(extra);
    c
}

fn events(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stages_started(ev: &[Value]) -> Vec<u64> {
    ev.iter()
        .filter(|e| e["event"] == "stage_started")
        .map(|e| e["stage"].as_u64().unwrap())
        .collect()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[cfg(unix)]
#[test]
fn a_stopped_multiscale_run_resumes_without_redoing_finished_stages() {
    let d = tempfile::tempdir().unwrap();
    // The uninterrupted run, for comparison.
    let reference = d.path().join("reference.png");
    let ref_log = d.path().join("reference.jsonl");
    ok(&nstyle(&reference, &["--iterations", "20", "--log"])
        .arg(&ref_log)
        .output()
        .unwrap());
    let ref_total = events(&ref_log).last().unwrap()["losses"]["total"]
        .as_f64()
        .unwrap();
    assert!(!d.path().join("reference.checkpoint").exists());

    // A run whose first stage would go on for ever, stopped by SIGTERM once its snapshots
    // (a checkpoint each) show a few iterations done.
    let out = d.path().join("out.png");
    let checkpoint = d.path().join("out.checkpoint");
    let child = nstyle(&out, &["--iterations", "100000", "--save-every", "1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let iterations_done = || -> u64 {
        std::fs::read(checkpoint.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["iterations"].as_u64())
            .unwrap_or(0)
    };
    while iterations_done() < 3 {
        assert!(started.elapsed().as_secs() < 120, "no checkpoint written");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
    assert!(checkpoint.join("state.json").is_file());

    // Other options: refused, the checkpoint kept.
    let o = nstyle(
        &out,
        &["--iterations", "20", "--resume", "--style-weight", "2"],
    )
    .output()
    .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--resume") && err.contains("other images or options"),
        "{err}"
    );
    assert!(checkpoint.is_dir());

    // Resumed with a first-stage cap the checkpoint has reached: stage 1 is done, so only
    // stages 2 and 3 run.
    let state: Value =
        serde_json::from_slice(&std::fs::read(checkpoint.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["stage"], 1);
    let done = state["iterations"].as_u64().unwrap().min(20).to_string();
    let log = d.path().join("resumed.jsonl");
    ok(&nstyle(&out, &["--iterations", &done, "--resume", "--log"])
        .arg(&log)
        .output()
        .unwrap());
    let ev = events(&log);
    assert_eq!(stages_started(&ev), vec![2, 3]);
    let last = ev.last().unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(
        (last["width"].as_u64(), last["height"].as_u64()),
        (Some(64), Some(43))
    );
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (64, 43));
    let total = last["losses"]["total"].as_f64().unwrap();
    assert!(
        total <= 2.0 * ref_total,
        "resumed total {total} not comparable to the uninterrupted {ref_total}"
    );
    assert!(!checkpoint.exists(), "a finished run leaves no checkpoint");
}
