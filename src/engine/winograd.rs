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

use super::conv::{Epilogue, SendPtr};
use super::gemm::gemm_raw;
use crate::tensor::Padded;
use rayon::prelude::*;

/// Number of transformed values per tile (6x6).
const XI: usize = 36;
/// Tiles transformed together (one SIMD lane each).
const LANES: usize = 16;
/// Target floats of one block's transformed input and output (`36 x (cin+cout) x tiles`).
pub const BLOCK_FLOATS: usize = 1 << 20;
const MIN_BLOCK: usize = 64;
const MAX_BLOCK: usize = 1024;

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
/// [`super::conv::ConvWeights`]) into `U = G g Gᵀ`, laid out `[36][out][in]` so that each of
/// the 36 GEMMs reads its left operand in place. Computed in f64, rounded once.
pub fn transform_kernels(kernels: &[f32], outs: usize, ins: usize) -> Vec<f32> {
    assert_eq!(kernels.len(), outs * ins * 9, "transform_kernels: shape");
    // Each output channel's 36 x ins values in parallel (this is ~1 s of start-up on one
    // core for the whole network), then scattered into the GEMM layout.
    let per_out: Vec<Vec<f32>> = (0..outs)
        .into_par_iter()
        .map(|o| {
            let mut u = vec![0.0f32; XI * ins];
            for i in 0..ins {
                let g = &kernels[(o * ins + i) * 9..][..9];
                // t = G g (6x3), then U = t Gᵀ (6x6).
                let mut t = [[0.0f64; 3]; 6];
                for (r, gr) in G.iter().enumerate() {
                    for c in 0..3 {
                        t[r][c] = (0..3).map(|k| gr[k] * g[k * 3 + c] as f64).sum();
                    }
                }
                for (r, tr) in t.iter().enumerate() {
                    for (c, gc) in G.iter().enumerate() {
                        let v: f64 = (0..3).map(|k| tr[k] * gc[k]).sum();
                        u[(r * 6 + c) * ins + i] = v as f32;
                    }
                }
            }
            u
        })
        .collect();
    let mut u = vec![0.0f32; XI * outs * ins];
    for (o, uo) in per_out.iter().enumerate() {
        for xi in 0..XI {
            u[(xi * outs + o) * ins..][..ins].copy_from_slice(&uo[xi * ins..][..ins]);
        }
    }
    u
}

type Lanes = [f32; LANES];

/// `Bᵀ x` for one column of six lane vectors (the input transform's 1-D step).
#[inline(always)]
fn bt(x: [&Lanes; 6]) -> [Lanes; 6] {
    let mut y = [[0.0; LANES]; 6];
    for l in 0..LANES {
        let (d0, d1, d2, d3, d4, d5) = (x[0][l], x[1][l], x[2][l], x[3][l], x[4][l], x[5][l]);
        y[0][l] = 4.0 * d0 - 5.0 * d2 + d4;
        y[1][l] = -4.0 * (d1 + d2) + (d3 + d4);
        y[2][l] = 4.0 * (d1 - d2) + (d4 - d3);
        y[3][l] = 2.0 * (d3 - d1) + (d4 - d2);
        y[4][l] = 2.0 * (d1 - d3) + (d4 - d2);
        y[5][l] = 4.0 * d1 - 5.0 * d3 + d5;
    }
    y
}

/// `Aᵀ x` for one column of six lane vectors (the output transform's 1-D step).
#[inline(always)]
fn at(x: [&Lanes; 6]) -> [Lanes; 4] {
    let mut y = [[0.0; LANES]; 4];
    for l in 0..LANES {
        let (m0, m1, m2, m3, m4, m5) = (x[0][l], x[1][l], x[2][l], x[3][l], x[4][l], x[5][l]);
        let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
        y[0][l] = m0 + s12 + s34;
        y[1][l] = d12 + 2.0 * d34;
        y[2][l] = s12 + 4.0 * s34;
        y[3][l] = d12 + 8.0 * d34 + m5;
    }
    y
}

/// `Bᵀ d B` for 16 tiles at once; `d[r*6+c]` holds element (r, c) of each tile's window.
#[inline(always)]
fn input_transform(d: &[Lanes; XI]) -> [Lanes; XI] {
    // Columns first: t[r][c'] = Σ_c d[r][c] B[c][c'] (Bᵀ applied to each row).
    let mut t = [[0.0; LANES]; XI];
    for r in 0..6 {
        let y = bt(std::array::from_fn(|c| &d[r * 6 + c]));
        for c in 0..6 {
            t[r * 6 + c] = y[c];
        }
    }
    let mut v = [[0.0; LANES]; XI];
    for c in 0..6 {
        let y = bt(std::array::from_fn(|r| &t[r * 6 + c]));
        for r in 0..6 {
            v[r * 6 + c] = y[r];
        }
    }
    v
}

/// `Aᵀ m A` for 16 tiles at once: 4x4 outputs per lane, `y[r*4+c]`.
#[inline(always)]
fn output_transform(m: &[Lanes; XI]) -> [Lanes; 16] {
    let mut t = [[0.0; LANES]; 24]; // 6 rows x 4 columns
    for r in 0..6 {
        let y = at(std::array::from_fn(|c| &m[r * 6 + c]));
        for c in 0..4 {
            t[r * 4 + c] = y[c];
        }
    }
    let mut out = [[0.0; LANES]; 16];
    for c in 0..4 {
        let y = at(std::array::from_fn(|r| &t[r * 4 + c]));
        for r in 0..4 {
            out[r * 4 + c] = y[r];
        }
    }
    out
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
pub fn conv3x3_winograd(input: &Padded, u: &[f32], out: &mut Padded, epilogue: Epilogue) {
    let (cin, h, w) = input.shape();
    let cout = out.channels;
    assert_eq!((out.height, out.width), (h, w), "winograd: spatial shape");
    assert_eq!(u.len(), XI * cout * cin, "winograd: kernel shape");
    if let Epilogue::BiasRelu(b) = epilogue {
        assert_eq!(b.len(), cout);
    }
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
            if m.len() < XI * cout * bt {
                m.resize(XI * cout * bt, 0.0);
            }
            for b in (worker..blocks).step_by(threads) {
                let t0 = b * bt;
                let n = bt.min(total - t0);
                let groups = n.div_ceil(LANES);
                let width = groups * LANES; // GEMM columns (lanes past `n` are zeros)

                let block = Block {
                    cin,
                    cout,
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
                for xi in 0..XI {
                    // SAFETY: U_ξ is cout x cin inside `u` (length checked above), V_ξ is
                    // cin x width and M_ξ cout x width inside buffers sized above; the
                    // buffers are this thread's own.
                    unsafe {
                        gemm_raw(
                            cout,
                            width,
                            cin,
                            m.as_mut_ptr().add(xi * cout * width),
                            width,
                            1,
                            false,
                            u.as_ptr().add(xi * cout * cin),
                            cin,
                            1,
                            v.as_ptr().add(xi * cin * width),
                            width,
                            1,
                            1.0,
                            1,
                        );
                    }
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

/// The transforms are plain lane loops: compiled for the baseline x86-64 they run on 4-wide
/// SSE; these copies compiled with AVX-512 or AVX2 (picked at run time, like the `gemm`
/// crate's kernels) run them 16 or 8 wide. No FMA contraction happens in either, so every
/// variant gives the same bits.
macro_rules! dispatch {
    ($name:ident, $generic:ident, $avx512:ident, $avx2:ident, ($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        unsafe fn $avx512($($arg: $ty),*) {
            $generic($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn $avx2($($arg: $ty),*) {
            $generic($($arg),*)
        }
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { $avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { $avx2($($arg),*) };
                }
            }
            $generic($($arg),*)
        }
    };
}

dispatch!(
    stage_inputs,
    stage_inputs_generic,
    stage_inputs_avx512,
    stage_inputs_avx2,
    (b: &Block, src: &[f32], v: &mut [f32])
);
dispatch!(
    stage_outputs,
    stage_outputs_generic,
    stage_outputs_avx512,
    stage_outputs_avx2,
    (b: &Block, m: &[f32], dst: SendPtr, epilogue: Epilogue)
);

/// Step 1 of a block: `V[ξ][ci][t] = (Bᵀ d B)[ξ]` for every tile and input channel.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // lane `l` indexes 16 tiles at once
fn stage_inputs_generic(b: &Block, src: &[f32], v: &mut [f32]) {
    let Block {
        cin,
        row,
        plane,
        rows,
        tiles_x,
        t0,
        n,
        groups,
        width,
        ..
    } = *b;
    for gi in 0..groups {
        let lanes: [(usize, usize, bool); LANES] = std::array::from_fn(|l| {
            let t = t0 + gi * LANES + l;
            (t / tiles_x, t % tiles_x, gi * LANES + l < n)
        });
        // Common case: 16 whole windows side by side in one tile row. Lane l's
        // column c is `4l + c` of the same padded rows, a stride-4 pattern the
        // compiler turns into wide loads and shuffles.
        let (ty0, tx0, _) = lanes[0];
        let one_row = lanes[LANES - 1] == (ty0, tx0 + LANES - 1, true)
            && 4 * ty0 + 6 <= rows
            && 4 * (tx0 + LANES - 1) + 6 <= row;
        for ci in 0..cin {
            let ch = &src[ci * plane..][..plane];
            let mut d = [[0.0f32; LANES]; XI];
            if one_row {
                for r in 0..6 {
                    let s = &ch[(4 * ty0 + r) * row + 4 * tx0..][..4 * LANES + 2];
                    for c in 0..6 {
                        for l in 0..LANES {
                            d[r * 6 + c][l] = s[4 * l + c];
                        }
                    }
                }
            }
            for (l, &(ty, tx, live)) in lanes.iter().enumerate() {
                if !live || one_row {
                    continue;
                }
                if !live {
                    continue;
                }
                let (y0, x0) = (4 * ty, 4 * tx);
                if y0 + 6 <= rows && x0 + 6 <= row {
                    for r in 0..6 {
                        let s = &ch[(y0 + r) * row + x0..][..6];
                        for c in 0..6 {
                            d[r * 6 + c][l] = s[c];
                        }
                    }
                } else {
                    // Window past the padded map: outside is zero.
                    for r in 0..6.min(rows - y0) {
                        for c in 0..6.min(row - x0) {
                            d[r * 6 + c][l] = ch[(y0 + r) * row + x0 + c];
                        }
                    }
                }
            }
            let t = input_transform(&d);
            for (xi, tv) in t.iter().enumerate() {
                v[(xi * cin + ci) * width + gi * LANES..][..LANES].copy_from_slice(tv);
            }
        }
    }
}

/// Step 3 of a block: `Aᵀ m A`, the epilogue, and the scatter into the output interior
/// (each tile is written by the one worker that owns its block).
#[inline(always)]
#[allow(clippy::needless_range_loop)] // lane `l` indexes 16 tiles at once
fn stage_outputs_generic(b: &Block, m: &[f32], dst: SendPtr, epilogue: Epilogue) {
    let Block {
        cout,
        h,
        w,
        row,
        plane,
        tiles_x,
        t0,
        n,
        groups,
        width,
        ..
    } = *b;
    for gi in 0..groups {
        // Common case: 16 whole output tiles side by side in one tile row.
        let first = t0 + gi * LANES;
        let (oy0, ox0) = (4 * (first / tiles_x), 4 * (first % tiles_x));
        let one_row = gi * LANES + LANES <= n
            && (first + LANES - 1) / tiles_x == first / tiles_x
            && oy0 + 4 <= h
            && ox0 + 4 * LANES <= w;
        for o in 0..cout {
            let mut mm = [[0.0f32; LANES]; XI];
            for (xi, mv) in mm.iter_mut().enumerate() {
                mv.copy_from_slice(&m[(xi * cout + o) * width + gi * LANES..][..LANES]);
            }
            let mut y = output_transform(&mm);
            if let Epilogue::BiasRelu(bias) = epilogue {
                let bo = bias[o];
                for lane in y.iter_mut() {
                    for val in lane.iter_mut() {
                        *val = (*val + bo).max(0.0);
                    }
                }
            }
            if one_row {
                for r in 0..4 {
                    let base = o * plane + (oy0 + r + 1) * row + ox0 + 1;
                    // SAFETY: rows oy0..oy0+4 and columns ox0..ox0+64 lie inside
                    // the h x w interior of channel o (checked above); each tile
                    // is written by one worker only.
                    let out =
                        unsafe { std::slice::from_raw_parts_mut(dst.get().add(base), 4 * LANES) };
                    for c in 0..4 {
                        for l in 0..LANES {
                            out[4 * l + c] = y[r * 4 + c][l];
                        }
                    }
                }
                continue;
            }
            for l in 0..LANES.min(n - gi * LANES) {
                let t = t0 + gi * LANES + l;
                let (oy, ox) = (4 * (t / tiles_x), 4 * (t % tiles_x));
                let (ry, rx) = (4.min(h - oy), 4.min(w - ox));
                for r in 0..ry {
                    let base = o * plane + (oy + r + 1) * row + ox + 1;
                    for c in 0..rx {
                        // SAFETY: (oy+r, ox+c) is inside the h x w interior of
                        // channel o < cout; each tile is written by one worker.
                        unsafe { *dst.get().add(base + c) = y[r * 4 + c][l] };
                    }
                }
            }
        }
    }
}
