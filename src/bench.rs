//! The per-iteration benchmark: one forward pass to relu5_1 plus the input gradient with a
//! Gram style loss on relu1_1..relu5_1 and the content loss at relu4_2 — exactly one
//! evaluation of the default objective. Reported by `nstyle bench`.

use crate::backend::FeatureNet;
use crate::config::StyleConfig;
use crate::engine::{ConvAlgorithm, CpuVgg19, Pooling};
use crate::objective::Objective;
use crate::optim::Problem;
use crate::tensor::InputImage;
use crate::vgg::{Layer, Vgg19Weights, CONVS};
use crate::Result;
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// Convolution FLOPs of one forward + input-gradient pass at `h x w` up to relu5_1
/// (2 per multiply-add; the backward of conv1_1 to the image included).
pub fn conv_flops(h: usize, w: usize) -> f64 {
    CONVS
        .iter()
        .enumerate()
        .map(|(l, c)| {
            let (lh, lw) = Layer(l).spatial(h, w);
            2.0 * 2.0 * (c.cin * 9 * c.cout * lh * lw) as f64
        })
        .sum()
}

/// Timing of one size.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub size: usize,
    pub seconds_per_iteration: f64,
    pub all_seconds: Vec<f64>,
    pub gflops: f64,
}

/// Median seconds per evaluation over `iters` timed evaluations after one warm-up.
pub fn bench_size(
    weights: &Vgg19Weights,
    size: usize,
    iters: usize,
    pooling: Pooling,
    algorithm: ConvAlgorithm,
) -> Result<BenchResult> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut img = || InputImage {
        height: size,
        width: size,
        data: (0..3 * size * size)
            .map(|_| rng.gen_range(-110.0..130.0))
            .collect(),
    };
    let (content, style, x) = (img(), img(), img());
    let mut net = CpuVgg19::with_algorithm(weights, pooling, algorithm);
    let cfg = StyleConfig::default();
    let net_dyn: &mut dyn FeatureNet = &mut net;
    let mut obj = Objective::new(net_dyn, Some(&content), &style, size, size, &cfg)?;
    obj.calibrate(&x)?;
    obj.evaluate(&x.data)?;
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters.max(1) {
        let t = Instant::now();
        obj.evaluate(&x.data)?;
        times.push(t.elapsed().as_secs_f64());
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = sorted[sorted.len() / 2];
    Ok(BenchResult {
        size,
        seconds_per_iteration: median,
        all_seconds: times,
        gflops: conv_flops(size, size) / median / 1e9,
    })
}

/// Peak resident memory of this process so far (VmHWM), in bytes, where the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
