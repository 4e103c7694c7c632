//! Total variation: a loss on the image itself (not on features) that penalises
//! differences between neighbouring pixels, suppressing the pixel-level grain that feature
//! losses leave free. Every peer has one (jcjohnson's `-tv_weight`, crowsonkb's, the
//! paper's own code); the paper's equations do not.
//!
//! TV(x) = sum_c sum_{i,j} (x[c,i,j+1] - x[c,i,j])^2 + (x[c,i+1,j] - x[c,i,j])^2,
//! the squared-L2 form (jcjohnson's), in pixel units. Its raw scale grows with the pixel
//! count; the objective balances it like a style term (beta' from gradients at the probe),
//! so its weight means the same at every size.

use super::ImageLoss;
use crate::{Error, Result};

/// Squared-L2 total variation over the three channels.
#[derive(Clone, Copy, Debug, Default)]
pub struct TotalVariation;

impl ImageLoss for TotalVariation {
    fn loss_and_grad(&self, x: &[f32], h: usize, w: usize) -> Result<(f64, Vec<f32>)> {
        if x.len() != 3 * h * w || h * w == 0 {
            return Err(Error::Shape(format!(
                "total variation: {} values for a 3x{h}x{w} image",
                x.len()
            )));
        }
        let mut grad = vec![0.0f32; x.len()];
        let mut value = 0.0f64;
        for (plane, g) in x.chunks_exact(h * w).zip(grad.chunks_exact_mut(h * w)) {
            for i in 0..h {
                for j in 0..w {
                    let a = i * w + j;
                    // Right and lower neighbours; each difference d adds d^2.
                    for b in [(j + 1 < w).then_some(a + 1), (i + 1 < h).then_some(a + w)]
                        .into_iter()
                        .flatten()
                    {
                        let d = plane[b] - plane[a];
                        value += (d as f64) * (d as f64);
                        g[b] += 2.0 * d;
                        g[a] -= 2.0 * d;
                    }
                }
            }
        }
        Ok((value, grad))
    }
}
