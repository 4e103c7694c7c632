//! 2x2 pooling with stride 2 (average or max), forward and backward.
//!
//! Odd sizes floor like the reference networks: the last row/column of an odd map is not
//! pooled and gets zero gradient.

use crate::tensor::Padded;
use rayon::prelude::*;

/// Which 2x2 pooling sits between VGG's blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pooling {
    /// The paper's code (and Gatys et al.) replace max by average pooling: smoother gradients.
    #[default]
    Average,
    /// The original VGG-19.
    Max,
}

impl std::str::FromStr for Pooling {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "avg" | "average" => Ok(Pooling::Average),
            "max" => Ok(Pooling::Max),
            _ => Err(crate::Error::option(format!(
                "unknown pooling '{s}' (expected avg or max)"
            ))),
        }
    }
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pooling::Average => "avg",
            Pooling::Max => "max",
        })
    }
}

/// Output size of a 2x2/2 pooling.
pub fn pooled_size(h: usize, w: usize) -> (usize, usize) {
    (h / 2, w / 2)
}

/// `out = pool(input)`; `out` has shape `(c, h/2, w/2)`.
pub fn pool_forward(kind: Pooling, input: &Padded, out: &mut Padded) {
    let (c, h, w) = input.shape();
    let (oh, ow) = pooled_size(h, w);
    assert_eq!(out.shape(), (c, oh, ow), "pool_forward: shape");
    let (irow, iplane) = (input.row(), input.plane());
    let (orow, oplane) = (out.row(), out.plane());
    out.data[..c * oplane]
        .par_chunks_mut(oplane)
        .enumerate()
        .for_each(|(ci, oplane_buf)| {
            let ip = &input.data[ci * iplane..(ci + 1) * iplane];
            for y in 0..oh {
                let r0 = (2 * y + 1) * irow + 1;
                let r1 = r0 + irow;
                let o = &mut oplane_buf[(y + 1) * orow + 1..][..ow];
                for (x, v) in o.iter_mut().enumerate() {
                    let (a, b, cc, d) = (
                        ip[r0 + 2 * x],
                        ip[r0 + 2 * x + 1],
                        ip[r1 + 2 * x],
                        ip[r1 + 2 * x + 1],
                    );
                    *v = match kind {
                        Pooling::Average => 0.25 * (a + b + cc + d),
                        Pooling::Max => a.max(b).max(cc).max(d),
                    };
                }
            }
        });
}

/// Writes the gradient with respect to the pooling input into `grad_in` (every interior
/// value is overwritten), given the pooling input and the gradient at its output.
pub fn pool_backward(kind: Pooling, input: &Padded, grad_out: &Padded, grad_in: &mut Padded) {
    pool_backward_impl::<false>(kind, input, grad_out, grad_in)
}

/// [`pool_backward`] and then back through the ReLU whose output `input` is: zero where
/// `input` is not positive. One pass instead of two over the largest maps.
pub fn pool_relu_backward(kind: Pooling, input: &Padded, grad_out: &Padded, grad_in: &mut Padded) {
    pool_backward_impl::<true>(kind, input, grad_out, grad_in)
}

fn pool_backward_impl<const RELU: bool>(
    kind: Pooling,
    input: &Padded,
    grad_out: &Padded,
    grad_in: &mut Padded,
) {
    let (c, h, w) = input.shape();
    let (oh, ow) = pooled_size(h, w);
    assert_eq!(
        grad_out.shape(),
        (c, oh, ow),
        "pool_backward: grad_out shape"
    );
    assert_eq!(grad_in.shape(), (c, h, w), "pool_backward: grad_in shape");
    let (irow, iplane) = (input.row(), input.plane());
    let (orow, oplane) = (grad_out.row(), grad_out.plane());
    grad_in.data[..c * iplane]
        .par_chunks_mut(iplane)
        .enumerate()
        .for_each(|(ci, gi)| {
            let ip = &input.data[ci * iplane..(ci + 1) * iplane];
            let go = &grad_out.data[ci * oplane..(ci + 1) * oplane];
            for y in 0..h {
                gi[(y + 1) * irow + 1..][..w].fill(0.0);
            }
            for y in 0..oh {
                let r0 = (2 * y + 1) * irow + 1;
                let r1 = r0 + irow;
                for x in 0..ow {
                    let g = go[(y + 1) * orow + 1 + x];
                    let idx = [r0 + 2 * x, r0 + 2 * x + 1, r1 + 2 * x, r1 + 2 * x + 1];
                    match kind {
                        Pooling::Average => {
                            for i in idx {
                                gi[i] = if RELU && ip[i] <= 0.0 { 0.0 } else { 0.25 * g };
                            }
                        }
                        Pooling::Max => {
                            // First maximum in scan order takes the gradient (deterministic ties).
                            let mut best = idx[0];
                            for &i in &idx[1..] {
                                if ip[i] > ip[best] {
                                    best = i;
                                }
                            }
                            gi[best] = if RELU && ip[best] <= 0.0 { 0.0 } else { g };
                        }
                    }
                }
            }
        });
}
