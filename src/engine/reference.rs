//! Obviously-correct f64 implementations (plain loops, no layout tricks) that the fast
//! engine is tested against. Slow: for small inputs only.

use super::pool::Pooling;
use crate::vgg::{Layer, Vgg19Weights, CONVS};

/// `c x h x w` map in f64, row-major, unpadded.
#[derive(Clone, Debug)]
pub struct Map {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f64>,
}

impl Map {
    pub fn from_f32(c: usize, h: usize, w: usize, v: &[f32]) -> Self {
        Map {
            c,
            h,
            w,
            data: v.iter().map(|&x| x as f64).collect(),
        }
    }
    fn at(&self, c: usize, y: isize, x: isize) -> f64 {
        if y < 0 || x < 0 || y >= self.h as isize || x >= self.w as isize {
            0.0
        } else {
            self.data[(c * self.h + y as usize) * self.w + x as usize]
        }
    }
}

/// 3x3 convolution, zero padding 1, OIHW weights, optional bias and ReLU.
pub fn conv3x3(input: &Map, cout: usize, weight: &[f32], bias: Option<&[f32]>, relu: bool) -> Map {
    let (cin, h, w) = (input.c, input.h, input.w);
    let mut data = vec![0.0; cout * h * w];
    for o in 0..cout {
        for y in 0..h {
            for x in 0..w {
                let mut s = bias.map_or(0.0, |b| b[o] as f64);
                for ci in 0..cin {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let wv = weight[((o * cin + ci) * 3 + ky) * 3 + kx] as f64;
                            s += wv
                                * input.at(
                                    ci,
                                    y as isize + ky as isize - 1,
                                    x as isize + kx as isize - 1,
                                );
                        }
                    }
                }
                data[(o * h + y) * w + x] = if relu { s.max(0.0) } else { s };
            }
        }
    }
    Map {
        c: cout,
        h,
        w,
        data,
    }
}

/// 2x2/2 pooling, flooring odd sizes.
pub fn pool(input: &Map, kind: Pooling) -> Map {
    let (c, oh, ow) = (input.c, input.h / 2, input.w / 2);
    let mut data = vec![0.0; c * oh * ow];
    for ci in 0..c {
        for y in 0..oh {
            for x in 0..ow {
                let v = [
                    input.at(ci, 2 * y as isize, 2 * x as isize),
                    input.at(ci, 2 * y as isize, 2 * x as isize + 1),
                    input.at(ci, 2 * y as isize + 1, 2 * x as isize),
                    input.at(ci, 2 * y as isize + 1, 2 * x as isize + 1),
                ];
                data[(ci * oh + y) * ow + x] = match kind {
                    Pooling::Average => v.iter().sum::<f64>() / 4.0,
                    Pooling::Max => v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                };
            }
        }
    }
    Map {
        c,
        h: oh,
        w: ow,
        data,
    }
}

/// VGG-19 forward to the deepest of `layers`, returning those layers' ReLU outputs.
pub fn vgg_forward(
    weights: &Vgg19Weights,
    pooling: Pooling,
    image: &Map,
    layers: &[Layer],
) -> Vec<Map> {
    let deepest = layers.iter().map(|l| l.0).max().unwrap_or(0);
    let mut x = image.clone();
    let mut outs = vec![None; CONVS.len()];
    for l in 0..=deepest {
        let p = &weights.convs[l];
        x = conv3x3(&x, CONVS[l].cout, &p.weight, Some(&p.bias), true);
        outs[l] = Some(x.clone());
        if CONVS[l].pool_after && l < deepest {
            x = pool(&x, pooling);
        }
    }
    layers.iter().map(|l| outs[l.0].clone().unwrap()).collect()
}
