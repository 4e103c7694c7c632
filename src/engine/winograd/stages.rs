//! Steps 1 and 3 of a block: the input transform of every tile and input channel into
//! `V`, and the output transform, epilogue and scatter of `M` into the output map, each
//! compiled for AVX-512, AVX2 and the baseline and picked at run time.

#[cfg(target_arch = "x86_64")]
use super::transforms::{deinterleave_avx512, interleave_avx512};
use super::transforms::{deinterleave_generic, interleave_generic};
use super::transforms::{
    input_transform, output_transform, window_row_transform, Lanes, Six, ROW_CHUNKS,
};
use super::{Block, LANES, XI};
use crate::engine::epilogue::Epilogue;
use crate::engine::parallel::SendPtr;

/// The transforms are plain lane loops: compiled for the baseline x86-64 they run on 4-wide
/// SSE; these copies compiled with AVX-512 or AVX2 (picked at run time, like the `gemm`
/// crate's kernels) run them 16 or 8 wide, and on AVX-512 the stride-4 (de)interleaving of
/// side-by-side tiles uses permutes. No FMA contraction happens in any of them and the
/// permutes only move values, so every variant gives the same bits.
macro_rules! dispatch {
    ($name:ident, $imp:ident, $generic:ident, $avx512:ident, ($($arg:ident: $ty:ty),*)) => {
        pub(super) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) {
                    $imp($($arg,)* |x| $avx512(x))
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    $imp($($arg,)* $generic)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $imp($($arg,)* $generic)
        }
    };
}

dispatch!(
    stage_inputs,
    stage_inputs_impl,
    deinterleave_generic,
    deinterleave_avx512,
    (b: &Block, src: &[f32], v: &mut [f32])
);
dispatch!(
    stage_outputs,
    stage_outputs_impl,
    interleave_generic,
    interleave_avx512,
    (b: &Block, m: &[f32], dst: SendPtr, epilogue: Epilogue)
);

/// Tile row and column of the first tile of lane group `gi`, and whether the group is 16
/// whole tiles side by side in one tile row whose windows (`span` map rows and columns
/// from the tile's corner) end inside `rows x row`.
#[inline(always)]
fn group_row(b: &Block, gi: usize, span: usize, rows: usize, row: usize) -> (usize, usize, bool) {
    let first = b.t0 + gi * LANES;
    let (ty, tx) = (first / b.tiles_x, first % b.tiles_x);
    let one_row = gi * LANES + LANES <= b.n
        && tx + LANES <= b.tiles_x
        && 4 * ty + span <= rows
        && 4 * (tx + LANES - 1) + span <= row;
    (ty, tx, one_row)
}

/// Step 1 of a block: `V[ξ][ci][t] = (Bᵀ d B)[ξ]` for every tile and input channel.
/// Channel by channel, so that reads of the map and writes of each `V[ξ][ci]` row run
/// sequentially.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // lane `l` indexes 16 tiles at once
fn stage_inputs_impl(
    b: &Block,
    src: &[f32],
    v: &mut [f32],
    deinterleave: impl Fn(&[Lanes; ROW_CHUNKS]) -> Six + Copy,
) {
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
    for ci in 0..cin {
        let ch = &src[ci * plane..][..plane];
        for gi in 0..groups {
            let (ty0, tx0, one_row) = group_row(b, gi, 6, rows, row);
            let t = if one_row {
                window_row_transform(ch, 4 * ty0 * row + 4 * tx0, row, deinterleave)
            } else {
                let mut d = [[0.0f32; LANES]; XI];
                for l in 0..LANES.min(n - gi * LANES) {
                    let tile = t0 + gi * LANES + l;
                    let (y0, x0) = (4 * (tile / tiles_x), 4 * (tile % tiles_x));
                    // Rows and columns past the padded map are outside it: zero.
                    for r in 0..6.min(rows - y0) {
                        for c in 0..6.min(row - x0) {
                            d[r * 6 + c][l] = ch[(y0 + r) * row + x0 + c];
                        }
                    }
                }
                input_transform(&d)
            };
            for (xi, tv) in t.as_flattened().iter().enumerate() {
                v[(xi * cin + ci) * width + gi * LANES..][..LANES].copy_from_slice(tv);
            }
        }
    }
}

/// Step 3 of a block: `Aᵀ m A`, the epilogue, and the scatter into the output interior
/// (each tile is written by the one worker that owns its block). Channel by channel, so
/// that reads of each `M[ξ][o]` row and writes of the map run sequentially.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // lane `l` indexes 16 tiles at once
fn stage_outputs_impl(
    b: &Block,
    m: &[f32],
    dst: SendPtr,
    epilogue: Epilogue,
    interleave: impl Fn(&[Lanes; 4]) -> [Lanes; 4],
) {
    let Block {
        cout,
        mrows,
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
    for o in 0..cout {
        for gi in 0..groups {
            let (ty0, tx0, one_row) = group_row(b, gi, 4, h, w);
            let mut y = output_transform(|xi| {
                m[(xi * mrows + o) * width + gi * LANES..][..LANES]
                    .try_into()
                    .expect("16 lanes")
            });
            if one_row {
                for r in 0..4 {
                    let base = o * plane + (4 * ty0 + r + 1) * row + 4 * tx0 + 1;
                    let mut vals = interleave(&y[r]);
                    let vals = vals.as_flattened_mut();
                    match epilogue {
                        Epilogue::BiasRelu(bias) => {
                            let bo = bias[o];
                            for v in vals.iter_mut() {
                                *v = (*v + bo).max(0.0);
                            }
                        }
                        Epilogue::ReluMask(act) => {
                            for (v, a) in vals.iter_mut().zip(&act[base..][..4 * LANES]) {
                                *v = if *a <= 0.0 { 0.0 } else { *v };
                            }
                        }
                        Epilogue::ReluMaskAdd(act, add) => {
                            let u = (o * h + 4 * ty0 + r) * w + 4 * tx0;
                            for ((v, a), g) in vals
                                .iter_mut()
                                .zip(&act[base..][..4 * LANES])
                                .zip(&add[u..][..4 * LANES])
                            {
                                *v = if *a <= 0.0 { 0.0 } else { *v + *g };
                            }
                        }
                        Epilogue::Linear => {}
                    }
                    // SAFETY: rows 4ty0..4ty0+4 and columns 4tx0..4tx0+64 lie inside the
                    // h x w interior of channel o (checked by `group_row`); each tile is
                    // written by one worker only.
                    let out =
                        unsafe { std::slice::from_raw_parts_mut(dst.get().add(base), 4 * LANES) };
                    out.copy_from_slice(vals);
                }
                continue;
            }
            if let Epilogue::BiasRelu(bias) = epilogue {
                let bo = bias[o];
                for lane in y.as_flattened_mut() {
                    for val in lane.iter_mut() {
                        *val = (*val + bo).max(0.0);
                    }
                }
            }
            for l in 0..LANES.min(n - gi * LANES) {
                let t = t0 + gi * LANES + l;
                let (oy, ox) = (4 * (t / tiles_x), 4 * (t % tiles_x));
                let (ry, rx) = (4.min(h - oy), 4.min(w - ox));
                for r in 0..ry {
                    let base = o * plane + (oy + r + 1) * row + ox + 1;
                    for c in 0..rx {
                        let v = match epilogue {
                            Epilogue::ReluMask(act) | Epilogue::ReluMaskAdd(act, _)
                                if act[base + c] <= 0.0 =>
                            {
                                0.0
                            }
                            Epilogue::ReluMaskAdd(_, add) => {
                                y[r][c][l] + add[(o * h + oy + r) * w + ox + c]
                            }
                            _ => y[r][c][l],
                        };
                        // SAFETY: (oy+r, ox+c) is inside the h x w interior of
                        // channel o < cout; each tile is written by one worker.
                        unsafe { *dst.get().add(base + c) = v };
                    }
                }
            }
        }
    }
}
