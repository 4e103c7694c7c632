//! No lost work when the output cannot be written: refused before the run when the disk
//! is full or read-only, rescued to a fallback location when writing fails at the end.
//! Uses tiny tmpfs mounts, so it needs root (see build.rs); elsewhere it is ignored.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tmpfs of `size` mounted at `dir` (with extra options), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str, extra: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let opts = format!("size={size}{extra}");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs at {} failed", dir.display());
        Tmpfs(dir.to_path_buf())
    }

    fn remount_read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount read-only failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn transfer(out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nstyle"));
    c.arg(example("content/chelsea.jpg"))
        .arg(example("style/starry_night.jpg"))
        .arg("-o")
        .arg(out)
        .args(["--size", "64", "--quiet"])
        .args(extra);
    c
}

fn one_line_error(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "expected failure: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line: {err}");
    assert!(
        lines[0].starts_with("error:") && !err.contains("panicked"),
        "{err}"
    );
    err
}

#[test]
#[cfg_attr(not(can_mount), ignore = "needs root to mount a tmpfs")]
fn a_full_or_read_only_disk_is_refused_before_the_run() {
    let d = tempfile::tempdir().unwrap();
    let full = Tmpfs::mount(&d.path().join("full"), "64k", "");
    // Fill it: the image plus its margin cannot fit any more.
    let _ = std::fs::write(full.0.join("filler"), vec![0u8; 60 << 10]);
    let out = full.0.join("out.png");
    let start = std::time::Instant::now();
    let o = transfer(&out, &["--iterations", "50"]).output().unwrap();
    let err = one_line_error(&o);
    assert!(err.contains("not enough space"), "{err}");
    assert!(start.elapsed().as_secs_f64() < 10.0, "refused late");
    assert!(!out.exists());

    let ro = Tmpfs::mount(&d.path().join("ro"), "4m", ",ro");
    let out = ro.0.join("out.png");
    let o = transfer(&out, &["--iterations", "50"]).output().unwrap();
    let err = one_line_error(&o);
    assert!(err.contains("cannot write in"), "{err}");
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
#[cfg_attr(not(can_mount), ignore = "needs root to mount a tmpfs")]
fn a_result_that_cannot_be_written_is_rescued_and_the_error_says_where() {
    let d = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&d.path().join("out"), "4m", "");
    let rescue_dir = d.path().join("rescue");
    std::fs::create_dir(&rescue_dir).unwrap();
    let out = fs.0.join("out.png");
    let child = transfer(&out, RUN_UNTIL_STOPPED)
        .env("TMPDIR", &rescue_dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // The run passed its checks; now the output's file system goes read-only.
    fs.remount_read_only();
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(!out.exists());
    let rescued: Vec<PathBuf> = std::fs::read_dir(&rescue_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rescued.len(), 1, "{rescued:?} {err}");
    assert!(
        image::open(&rescued[0]).is_ok(),
        "rescued file is not an image"
    );
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
    assert!(
        line.contains("saved to") && line.contains(&*rescued[0].to_string_lossy()),
        "{err}"
    );
}
