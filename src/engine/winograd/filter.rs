//! The kernel transform `U = G g Gᵀ` of F(4x4, 3x3), computed once per layer and packed
//! for the products.

use super::{panel_rows, PANEL, XI};
use crate::engine::parallel::SendPtr;
use rayon::prelude::*;

/// `G` of F(4x4, 3x3): kernel transform, 6x3.
const G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// Transforms kernels laid out `[out][in*9]` (either direction's layout in
/// [`ConvWeights`](crate::engine::conv::ConvWeights)) into `U = G g Gᵀ`, packed for
/// [`winograd_gemm`](super::products::winograd_gemm) as `[36][out/8][in][8]` (panels of 8
/// output channels, padded with zero rows) so that the 8 values each step of the product
/// broadcasts are adjacent. Computed in f64, rounded once.
pub fn transform_kernels(kernels: &[f32], outs: usize, ins: usize) -> Vec<f32> {
    assert_eq!(kernels.len(), outs * ins * 9, "transform_kernels: shape");
    let panels = panel_rows(outs) / PANEL;
    let mut u = vec![0.0f32; XI * panels * PANEL * ins];
    let dst = SendPtr(u.as_mut_ptr());
    // Panels in parallel, each written straight into its 36 places (a separate scatter
    // pass cost ~0.3 s of start-up on one core).
    (0..panels).into_par_iter().for_each(|panel| {
        let mut part = vec![0.0f32; XI * ins * PANEL];
        // One output channel at a time, all input channels together (loops over `ci`
        // vectorise; per-kernel 3x3 arithmetic did not).
        let mut taps = vec![0.0f64; 9 * ins];
        let mut t = vec![0.0f64; 18 * ins];
        for i in 0..PANEL.min(outs - panel * PANEL) {
            let o = panel * PANEL + i;
            for (ci, g) in kernels[o * ins * 9..][..ins * 9]
                .chunks_exact(9)
                .enumerate()
            {
                for (k, &v) in g.iter().enumerate() {
                    taps[k * ins + ci] = v as f64;
                }
            }
            // t = G g (6x3): t[r][c] = Σ_k G[r][k] g[k][c].
            for (r, gr) in G.iter().enumerate() {
                for c in 0..3 {
                    let tr = &mut t[(r * 3 + c) * ins..][..ins];
                    let (g0, g1, g2) = (
                        &taps[c * ins..][..ins],
                        &taps[(3 + c) * ins..][..ins],
                        &taps[(6 + c) * ins..][..ins],
                    );
                    for ci in 0..ins {
                        tr[ci] = gr[0] * g0[ci] + gr[1] * g1[ci] + gr[2] * g2[ci];
                    }
                }
            }
            // U = t Gᵀ (6x6): U[r][c] = Σ_k t[r][k] G[c][k].
            for r in 0..6 {
                let (t0, t1, t2) = (
                    &t[(r * 3) * ins..][..ins],
                    &t[(r * 3 + 1) * ins..][..ins],
                    &t[(r * 3 + 2) * ins..][..ins],
                );
                for (c, gc) in G.iter().enumerate() {
                    let dst = &mut part[(r * 6 + c) * ins * PANEL..][..ins * PANEL];
                    for ci in 0..ins {
                        dst[ci * PANEL + i] =
                            (t0[ci] * gc[0] + t1[ci] * gc[1] + t2[ci] * gc[2]) as f32;
                    }
                }
            }
        }
        for xi in 0..XI {
            // SAFETY: panel `panel` of U_ξ is written by this task only, and lies inside
            // `u` (xi < 36, panel < panels).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    part.as_ptr().add(xi * ins * PANEL),
                    dst.get().add((xi * panels + panel) * ins * PANEL),
                    ins * PANEL,
                );
            }
        }
    });
    u
}
