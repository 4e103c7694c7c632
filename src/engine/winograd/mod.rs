//! 3x3 convolution (stride 1, zero padding 1) by Winograd's minimal filtering F(4x4, 3x3)
//! (Lavin & Gray 2016), on [`Padded`] maps.
//!
//! Each 4x4 block of outputs comes from a 6x6 window `d` of the input as
//! `Y = Aᵀ [ Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B) ] A`: the 36 element-wise products summed over input
//! channels are 36 independent GEMMs `[cout x cin] x [cin x tiles]`. That is 36 multiplies
//! per 16 outputs instead of 144, so the GEMM work is 4x smaller than im2col's; the transforms
//! cost O(channels x tiles) and are vectorised over 16 tiles at a time.
//!
//! Accuracy: the interpolation points are the standard 0, ±1, ±2 and ∞. The transforms'
//! coefficients (up to 8 and 1/24) amplify f32 rounding by a bounded factor, so outputs differ
//! from the direct convolution by a small multiple of the layer's rounding error; the bound
//! is measured and checked layer by layer in `tests/engine.rs`, odd sizes included.
//!
//! Tiles are cut into blocks; each worker thread owns one block buffer and handles every
//! `threads`-th block with single-threaded GEMMs, so results do not depend on scheduling.
//!
//! Files: this one drives a convolution (blocks of tiles over the worker threads);
//! `filter.rs` transforms the kernels once per layer, `transforms.rs` holds the lane-wise
//! input and output transforms, `stages.rs` applies them to a block (steps 1 and 3),
//! `products.rs` computes the 36 f32 products (step 2) and `bf16.rs` the same on bf16 inputs.

mod bf16;
mod filter;
mod products;
mod stages;
mod transforms;

use super::epilogue::Epilogue;
use super::parallel::SendPtr;
use crate::tensor::Padded;
use bf16::bf16_products;
pub use bf16::{bf16_bits, bf16_supported, to_bf16_pairs};
pub use filter::transform_kernels;
use products::winograd_gemm;
use rayon::prelude::*;
use stages::{stage_inputs, stage_outputs};

/// Number of transformed values per tile (6x6).
const XI: usize = 36;
/// Tiles transformed together (one SIMD lane each).
const LANES: usize = 16;
/// Target floats of one block's transformed input and output (`36 x (cin+cout) x tiles`).
pub const BLOCK_FLOATS: usize = 1 << 20;
const MIN_BLOCK: usize = 64;
const MAX_BLOCK: usize = 1024;

/// Output channels of one GEMM micro-tile: `U` is packed in panels of this many rows.
const PANEL: usize = 8;

/// Rows of the transformed kernels (and of each `M_ξ`): `outs` rounded up to whole panels.
fn panel_rows(outs: usize) -> usize {
    outs.next_multiple_of(PANEL)
}

/// One direction's Winograd-domain kernels: f32 ([`transform_kernels`]), or the same
/// rounded to bf16 for the `vdpbf16ps` products ([`to_bf16_pairs`]).
#[derive(Clone, Debug)]
pub enum WinogradKernels {
    F32(Vec<f32>),
    Bf16(Vec<u32>),
}

thread_local! {
    /// Each worker's transformed input and GEMM output for one block, kept between calls.
    static BUFS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Tiles per block for a layer with `cin` inputs and `cout` outputs.
fn block_tiles(cin: usize, cout: usize, total: usize, threads: usize) -> usize {
    let target = (BLOCK_FLOATS / (XI * (cin + cout))).clamp(MIN_BLOCK, MAX_BLOCK);
    // Blocks are dealt round-robin: make their count a multiple of the thread count.
    let blocks = total.div_ceil(target).next_multiple_of(threads);
    total.div_ceil(blocks).next_multiple_of(LANES)
}

/// Floats of one worker's block buffers at most (for memory estimates).
pub fn block_floats_max() -> usize {
    // Blocks hold `36 x (cin+cout)` floats per tile, rounded up by at most one lane group.
    (BLOCK_FLOATS + XI * 1024 * LANES).max(XI * 1024 * (MIN_BLOCK + LANES))
}

/// `out = epilogue(conv3x3(input, g))`, where `u` is [`transform_kernels`] of the kernels
/// `g` (`[cout][input.channels*9]`). Same result as [`super::conv::conv3x3`] up to rounding.
#[allow(clippy::needless_range_loop)] // lane `l` indexes the 16 transformed outputs of a group
pub fn conv3x3_winograd(input: &Padded, u: &WinogradKernels, out: &mut Padded, epilogue: Epilogue) {
    let (cin, h, w) = input.shape();
    let cout = out.channels;
    assert_eq!((out.height, out.width), (h, w), "winograd: spatial shape");
    let mrows = panel_rows(cout);
    match u {
        WinogradKernels::F32(u) => assert_eq!(u.len(), XI * mrows * cin, "winograd: kernel shape"),
        WinogradKernels::Bf16(u) => {
            assert!(
                cin.is_multiple_of(2) && bf16_supported(),
                "winograd: bf16 products"
            );
            assert_eq!(u.len(), XI * mrows * cin / 2, "winograd: kernel shape");
        }
    }
    epilogue.check(out);
    let (tiles_y, tiles_x) = (h.div_ceil(4), w.div_ceil(4));
    let total = tiles_y * tiles_x;
    if total == 0 {
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let bt = block_tiles(cin, cout, total, threads);
    let blocks = total.div_ceil(bt);
    let (row, plane, rows) = (input.row(), input.plane(), h + 2);
    assert!(out.data.len() >= cout * plane, "winograd: output buffer");
    let dst = SendPtr(out.data.as_mut_ptr());
    let src = &input.data;

    (0..threads.min(blocks)).into_par_iter().for_each(|worker| {
        BUFS.with_borrow_mut(|(v, m)| {
            if v.len() < XI * cin * bt {
                v.resize(XI * cin * bt, 0.0);
            }
            if m.len() < XI * mrows * bt {
                m.resize(XI * mrows * bt, 0.0);
            }
            for b in (worker..blocks).step_by(threads) {
                let t0 = b * bt;
                let n = bt.min(total - t0);
                let groups = n.div_ceil(LANES);
                let width = groups * LANES; // GEMM columns (lanes past `n` are zeros)

                let block = Block {
                    cin,
                    cout,
                    mrows,
                    h,
                    w,
                    row,
                    plane,
                    rows,
                    tiles_x,
                    t0,
                    n,
                    groups,
                    width,
                };
                // 1. Input transform: V[ξ][ci][t] = (Bᵀ d B)[ξ] of tile t, channel ci.
                stage_inputs(&block, src, v);

                // 2. The 36 products M_ξ = U_ξ V_ξ.
                match u {
                    WinogradKernels::F32(u) => {
                        for xi in 0..XI {
                            winograd_gemm(
                                &u[xi * mrows * cin..][..mrows * cin],
                                &v[xi * cin * width..][..cin * width],
                                &mut m[xi * mrows * width..][..mrows * width],
                                mrows,
                                cin,
                                width,
                            );
                        }
                    }
                    WinogradKernels::Bf16(u) => bf16_products(u, v, m, mrows, cin, width),
                }

                // 3. Output transform, epilogue, and scatter into the padded output interior.
                stage_outputs(&block, m, dst, epilogue);
            }
        });
    });
}

/// Where one block of tiles lies, for the transform stages.
#[derive(Clone, Copy)]
struct Block {
    cin: usize,
    cout: usize,
    /// Rows of each `M_ξ` (`cout` rounded up to whole panels).
    mrows: usize,
    h: usize,
    w: usize,
    row: usize,
    plane: usize,
    rows: usize,
    tiles_x: usize,
    t0: usize,
    n: usize,
    groups: usize,
    width: usize,
}
