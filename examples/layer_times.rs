//! Per-layer convolution timings (forward and input gradient) at one size, for profiling:
//! `cargo run --release --example layer_times -- 512 [im2col|winograd]` (or `512x341`);
//! each time is the best of five runs.
use nstyle::engine::conv::{ConvAlgorithm, ConvWeights};
use nstyle::tensor::Padded;
use nstyle::vgg::{Layer, CONVS};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let size = args.next().unwrap_or_else(|| "512".into());
    let (sw, sh) = match size.split_once('x') {
        Some((w, h)) => (w.parse().unwrap(), h.parse().unwrap()),
        None => (size.parse().unwrap(), size.parse().unwrap()),
    };
    let algorithm = match args.next().as_deref() {
        Some("im2col") => ConvAlgorithm::Im2col,
        _ => ConvAlgorithm::Winograd,
    };
    let mut tot = 0.0;
    for (l, c) in CONVS.iter().enumerate() {
        let (h, w) = Layer(l).spatial(sh, sw);
        let weights: Vec<f32> = (0..c.cout * c.cin * 9)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-5 - 0.005)
            .collect();
        let cw = ConvWeights::with_algorithm(c.cout, c.cin, &weights, vec![0.0; c.cout], algorithm);
        let x = Padded::zeros(c.cin, h, w);
        let mut y = Padded::zeros(c.cout, h, w);
        let g = Padded::zeros(c.cout, h, w);
        let mut dx = Padded::zeros(c.cin, h, w);
        cw.forward_into(&x, &mut y);
        cw.backward_into(&g, &mut dx);
        let (mut tf, mut tb) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..5 {
            let t = Instant::now();
            cw.forward_into(&x, &mut y);
            tf = tf.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            cw.backward_into(&g, &mut dx);
            tb = tb.min(t.elapsed().as_secs_f64());
        }
        let fl = 2.0 * (c.cin * 9 * c.cout * h * w) as f64;
        tot += tf + tb;
        println!(
            "{} fwd {:.4}s {:.0} GF/s  bwd {:.4}s {:.0} GF/s (direct-conv FLOPs)",
            c.name,
            tf,
            fl / tf / 1e9,
            tb,
            fl / tb / 1e9
        );
    }
    println!("total conv {tot:.3}");
}
