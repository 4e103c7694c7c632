use nstyle::engine::conv::{conv3x3, ConvWeights, Epilogue};
use nstyle::tensor::Padded;
use nstyle::vgg::{Layer, CONVS};
use std::time::Instant;
fn main() {
    let s: usize = std::env::args()
        .nth(1)
        .map(|v| v.parse().unwrap())
        .unwrap_or(512);
    let mut tot = 0.0;
    for (l, c) in CONVS.iter().enumerate() {
        let (h, w) = Layer(l).spatial(s, s);
        let cw = ConvWeights::from_oihw(
            c.cout,
            c.cin,
            &vec![0.01; c.cout * c.cin * 9],
            vec![0.0; c.cout],
        );
        let x = Padded::zeros(c.cin, h, w);
        let mut y = Padded::zeros(c.cout, h, w);
        let g = Padded::zeros(c.cout, h, w);
        let mut dx = Padded::zeros(c.cin, h, w);
        conv3x3(&x, &cw.forward, &mut y, Epilogue::BiasRelu(&cw.bias));
        let t = Instant::now();
        conv3x3(&x, &cw.forward, &mut y, Epilogue::BiasRelu(&cw.bias));
        let tf = t.elapsed().as_secs_f64();
        let t = Instant::now();
        conv3x3(&g, &cw.backward, &mut dx, Epilogue::Linear);
        let tb = t.elapsed().as_secs_f64();
        let fl = 2.0 * (c.cin * 9 * c.cout * h * w) as f64;
        tot += tf + tb;
        println!(
            "{} fwd {:.4}s {:.0} GF/s  bwd {:.4}s {:.0} GF/s",
            c.name,
            tf,
            fl / tf / 1e9,
            tb,
            fl / tb / 1e9
        );
    }
    println!("total conv {tot:.3}");
}
