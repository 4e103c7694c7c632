//! `nstyle bench`: one evaluation of the default objective timed per size, in a child
//! process per size (so peak RSS is per size), beside PyTorch when it is importable.

use super::args::BenchArgs;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use nstyle::backend::Backend;
use nstyle::engine::{ConvAlgorithm, Pooling};
use nstyle::Vgg19Weights;
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

pub fn bench(a: BenchArgs) -> Result<ExitCode> {
    let weights = Vgg19Weights::bundled()?;
    if a.child {
        let [size] = a.sizes.as_slice() else {
            bail!("--child takes one size")
        };
        let Backend::Cpu { pooling, conv } = Backend::cpu(
            a.pooling.into(),
            a.conv.map_or(ConvAlgorithm::Winograd, Into::into),
        )?;
        let r = nstyle::bench::bench_size(&weights, *size, a.iters, pooling, conv)?;
        let rss = nstyle::bench::peak_rss_bytes();
        println!(
            "{}",
            json!({"size": r.size, "seconds_per_iteration": r.seconds_per_iteration, "all_seconds": r.all_seconds,
                   "gflops": r.gflops, "peak_rss_bytes": rss})
        );
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().context("cannot find the nstyle executable")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/torch_bench.py");
    let torch_ok = !a.no_torch
        && script.is_file()
        && std::process::Command::new(&a.python)
            .args(["-c", "import torch"])
            .output()
            .is_ok_and(|o| o.status.success());
    println!(
        "nstyle bench: {} threads, {} timed iterations per size (median), pooling {:?}{}",
        rayon::current_num_threads(),
        a.iters,
        a.pooling,
        if torch_ok {
            ", with PyTorch"
        } else {
            " (PyTorch not importable: nstyle only)"
        }
    );
    println!("| size | nstyle s/iter | GFLOP/s | peak RSS | PyTorch fp32 s/iter | PyTorch channels-last s/iter | PyTorch peak RSS | ratio nstyle/PyTorch-CL |");
    println!("|---|---|---|---|---|---|---|---|");
    // The same pooling for both programs (`avg` / `max`, as both command lines spell it).
    let pooling = Pooling::from(a.pooling).to_string();
    for &size in &a.sizes {
        let child = std::process::Command::new(&exe)
            .args([
                "bench",
                "--child",
                "--no-torch",
                "--sizes",
                &size.to_string(),
                "--iters",
                &a.iters.to_string(),
            ])
            .args(["--pooling", &pooling])
            .args(a.conv.map(|c| {
                format!(
                    "--conv={}",
                    c.to_possible_value().expect("a value").get_name()
                )
            }))
            .output()
            .context("running the benchmark child")?;
        if !child.status.success() {
            bail!(
                "benchmark at {size} failed: {}",
                String::from_utf8_lossy(&child.stderr).trim()
            );
        }
        let r: Value = serde_json::from_slice(&child.stdout).context("benchmark child output")?;
        let ns = r["seconds_per_iteration"].as_f64().unwrap_or(f64::NAN);
        let rss = r["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN);
        let (mut t_plain, mut t_cl, mut t_rss) = (f64::NAN, f64::NAN, f64::NAN);
        if torch_ok {
            let o = std::process::Command::new(&a.python)
                .arg(&script)
                .args(["--size", &size.to_string(), "--iters", &a.iters.to_string()])
                .args(["--threads", &rayon::current_num_threads().to_string()])
                .args(["--pooling", &pooling])
                .output()
                .context("running bench/torch_bench.py")?;
            if o.status.success() {
                let t: Value =
                    serde_json::from_slice(&o.stdout).context("torch_bench.py output")?;
                t_plain = t["fp32"].as_f64().unwrap_or(f64::NAN);
                t_cl = t["fp32_channels_last"].as_f64().unwrap_or(f64::NAN);
                t_rss = t["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN);
            } else {
                eprintln!(
                    "torch_bench.py failed at {size}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
            }
        }
        let mib = |b: f64| {
            if b.is_finite() {
                format!("{:.0} MiB", b / 1048576.0)
            } else {
                "-".into()
            }
        };
        let fmt = |v: f64, d: usize| {
            if v.is_finite() {
                format!("{v:.d$}")
            } else {
                "-".into()
            }
        };
        println!(
            "| {size} | {} | {} | {} | {} | {} | {} | {} |",
            fmt(ns, 3),
            fmt(r["gflops"].as_f64().unwrap_or(f64::NAN), 0),
            mib(rss),
            fmt(t_plain, 3),
            fmt(t_cl, 3),
            mib(t_rss),
            fmt(ns / t_cl, 2)
        );
    }
    Ok(ExitCode::SUCCESS)
}
