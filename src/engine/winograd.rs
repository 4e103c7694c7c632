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

use super::epilogue::Epilogue;
use super::parallel::SendPtr;
use crate::gemm::gemm_raw;
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

/// Output channels of one GEMM micro-tile: `U` is packed in panels of this many rows.
const PANEL: usize = 8;

/// Rows of the transformed kernels (and of each `M_ξ`): `outs` rounded up to whole panels.
fn panel_rows(outs: usize) -> usize {
    outs.next_multiple_of(PANEL)
}

/// Transforms kernels laid out `[out][in*9]` (either direction's layout in
/// [`super::conv::ConvWeights`]) into `U = G g Gᵀ`, packed for [`winograd_gemm`] as
/// `[36][out/8][in][8]` (panels of 8 output channels, padded with zero rows) so that the
/// 8 values each step of the product broadcasts are adjacent. Computed in f64, rounded once.
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

/// The walk of both AVX-512 GEMMs over `M = U V`: panel by panel (8 rows), 48 columns at a
/// time, then one 32- or 16-column tile; `$tile::<Z>` computes one tile and returns its
/// width. A macro because the tile functions are const-generic (a closure cannot be).
#[cfg(target_arch = "x86_64")]
macro_rules! panel_tiles {
    ($tile:ident, $u:expr, $v:expr, $m:expr, $rows:expr, $k:expr, $width:expr) => {{
        let (vp, mp, width) = ($v.as_ptr(), $m.as_mut_ptr(), $width);
        for panel in 0..$rows / PANEL {
            let up = $u.as_ptr().add(panel * PANEL * $k);
            let mut col = 0;
            while col < width {
                let (vp, mp) = (vp.add(col), mp.add(panel * PANEL * width + col));
                col += match (width - col) / LANES {
                    1 => $tile::<1>(up, vp, mp, $k, width),
                    2 => $tile::<2>(up, vp, mp, $k, width),
                    _ => $tile::<3>(up, vp, mp, $k, width),
                };
            }
        }
    }};
}

/// One direction's Winograd-domain kernels: f32 ([`transform_kernels`]), or the same
/// rounded to bf16 for the `vdpbf16ps` products ([`to_bf16_pairs`]).
#[derive(Clone, Debug)]
pub enum WinogradKernels {
    F32(Vec<f32>),
    Bf16(Vec<u32>),
}

/// Whether this CPU can run the bf16 products (AVX512-BF16, with AVX512-BW for packing).
pub fn bf16_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The bf16 bits of a finite `x`, rounded to nearest even (as `vcvtne2ps2bf16`).
pub fn bf16_bits(x: f32) -> u32 {
    let b = x.to_bits();
    b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16
}

/// [`transform_kernels`]'s `[36][outs/8][ins][8]` rounded to bf16, two input channels per
/// u32 (`[36][outs/8][ins/2][8]`, channel 2c in the low half): one broadcast feeds a
/// `vdpbf16ps`, which sums the two products of each pair.
pub fn to_bf16_pairs(u: &[f32], outs: usize, ins: usize) -> Vec<u32> {
    assert!(
        ins.is_multiple_of(2),
        "bf16 kernels need an even input channel count"
    );
    let panels = panel_rows(outs) / PANEL;
    assert_eq!(u.len(), XI * panels * ins * PANEL, "to_bf16_pairs: shape");
    let mut out = vec![0u32; u.len() / 2];
    for (src, dst) in u
        .chunks_exact(ins * PANEL)
        .zip(out.chunks_exact_mut(ins / 2 * PANEL))
    {
        for c in 0..ins / 2 {
            for i in 0..PANEL {
                dst[c * PANEL + i] = bf16_bits(src[2 * c * PANEL + i])
                    | (bf16_bits(src[(2 * c + 1) * PANEL + i]) << 16);
            }
        }
    }
    out
}

/// V (`k x width`, f32) rounded to bf16 and packed like the kernels: `vb` is `k/2 x width`,
/// rows 2c and 2c+1 interleaved in one u32 per column.
///
/// # Safety
/// The CPU must have [`bf16_supported`]; `v` holds `k * width` and `vb` `k/2 * width`
/// values, `width` a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_v_bf16(v: &[f32], vb: &mut [u32], k: usize, width: usize) {
    use std::arch::x86_64::*;
    // Word 2j takes word j (row 2c), word 2j+1 word 16+j (row 2c+1).
    const PAIRS: [u16; 32] = {
        let mut t = [0u16; 32];
        let mut j = 0;
        while j < 16 {
            t[2 * j] = j as u16;
            t[2 * j + 1] = 16 + j as u16;
            j += 1;
        }
        t
    };
    debug_assert!(v.len() >= k * width && vb.len() >= k / 2 * width);
    let idx = _mm512_loadu_si512(PAIRS.as_ptr() as *const _);
    for c in 0..k / 2 {
        for j in (0..width).step_by(LANES) {
            let a = _mm512_loadu_ps(v.as_ptr().add(2 * c * width + j));
            let b = _mm512_loadu_ps(v.as_ptr().add((2 * c + 1) * width + j));
            // Words 0..16 are `a`, 16..32 are `b`.
            let x: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(b, a));
            let y = _mm512_permutexvar_epi16(idx, x);
            _mm512_storeu_si512(vb.as_mut_ptr().add(c * width + j) as *mut _, y);
        }
    }
}

/// [`winograd_gemm`] on bf16 inputs: `u` is `rows/8` panels of [`to_bf16_pairs`]
/// (`[rows/8][kp][8]`), `vb` is `kp x width` from [`pack_v_bf16`], sums in f32.
///
/// # Safety
/// The CPU must have [`bf16_supported`]; the slices hold the stated sizes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn winograd_gemm_bf16(
    u: &[u32],
    vb: &[u32],
    m: &mut [f32],
    rows: usize,
    kp: usize,
    width: usize,
) {
    assert!(rows.is_multiple_of(PANEL) && width.is_multiple_of(LANES));
    assert!(u.len() >= rows * kp && vb.len() >= kp * width && m.len() >= rows * width);
    panel_tiles!(micro_tile_bf16, u, vb, m, rows, kp, width);
}

/// [`micro_tile`] with `vdpbf16ps`: each step takes two input channels. Returns its width.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
#[allow(clippy::needless_range_loop)] // plain index loops, fully unrolled: the accumulators stay in registers
unsafe fn micro_tile_bf16<const Z: usize>(
    up: *const u32,
    vp: *const u32,
    mp: *mut f32,
    kp: usize,
    width: usize,
) -> usize {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); Z]; PANEL];
    for c in 0..kp {
        let mut x = [_mm512_setzero_si512(); Z];
        for z in 0..Z {
            x[z] = _mm512_loadu_si512(vp.add(c * width + z * LANES) as *const _);
        }
        for i in 0..PANEL {
            let b: __m512bh = std::mem::transmute(_mm512_set1_epi32(*up.add(c * PANEL + i) as i32));
            for z in 0..Z {
                acc[i][z] =
                    _mm512_dpbf16_ps(acc[i][z], b, std::mem::transmute::<__m512i, __m512bh>(x[z]));
            }
        }
    }
    for i in 0..PANEL {
        for z in 0..Z {
            _mm512_storeu_ps(mp.add(i * width + z * LANES), acc[i][z]);
        }
    }
    Z * LANES
}

/// `M = U V` for one ξ: `u` is `rows/8` packed panels (`[rows/8][k][8]`), `v` is `k x width`
/// and `m` is `rows x width`, both row-major. On AVX-512 a kernel of our own: 8 rows by 48
/// columns of accumulators, the broadcasts read in order from the packed panel, nothing
/// packed per call (the `gemm` crate re-packed `U_ξ` for every block: 5% of an iteration).
/// Elsewhere the `gemm` crate, one panel at a time. Sums run over k in order, one FMA per
/// term, on either path.
fn winograd_gemm(u: &[f32], v: &[f32], m: &mut [f32], rows: usize, k: usize, width: usize) {
    assert!(rows.is_multiple_of(PANEL) && width.is_multiple_of(LANES));
    assert!(u.len() >= rows * k && v.len() >= k * width && m.len() >= rows * width);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; the lengths are checked above.
        unsafe { winograd_gemm_avx512(u, v, m, rows, k, width) };
        return;
    }
    winograd_gemm_portable(u, v, m, rows, k, width);
}

/// [`winograd_gemm`] through the `gemm` crate.
fn winograd_gemm_portable(
    u: &[f32],
    v: &[f32],
    m: &mut [f32],
    rows: usize,
    k: usize,
    width: usize,
) {
    for panel in 0..rows / PANEL {
        // SAFETY: panel `panel` is the 8 x k column-major matrix at `u[panel*8k..]`, V is
        // k x width, and its rows of M are 8 x width, all inside the slices (checked by
        // the caller).
        unsafe {
            gemm_raw(
                PANEL,
                width,
                k,
                m.as_mut_ptr().add(panel * PANEL * width),
                width,
                1,
                false,
                u.as_ptr().add(panel * PANEL * k),
                1,
                PANEL,
                v.as_ptr(),
                width,
                1,
                1.0,
                1,
            );
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn winograd_gemm_avx512(
    u: &[f32],
    v: &[f32],
    m: &mut [f32],
    rows: usize,
    k: usize,
    width: usize,
) {
    panel_tiles!(micro_tile, u, v, m, rows, k, width);
}

/// 8 rows x `16 Z` columns of `M = U V`: `up` is the packed panel (`[k][8]`), `vp` the top
/// of the columns in V and `mp` in M (row stride `width` in both). Returns its width.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::needless_range_loop)] // plain index loops, fully unrolled: the accumulators stay in registers
unsafe fn micro_tile<const Z: usize>(
    up: *const f32,
    vp: *const f32,
    mp: *mut f32,
    k: usize,
    width: usize,
) -> usize {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); Z]; PANEL];
    for kk in 0..k {
        let mut x = [_mm512_setzero_ps(); Z];
        for z in 0..Z {
            x[z] = _mm512_loadu_ps(vp.add(kk * width + z * LANES));
        }
        for i in 0..PANEL {
            let b = _mm512_set1_ps(*up.add(kk * PANEL + i));
            for z in 0..Z {
                acc[i][z] = _mm512_fmadd_ps(b, x[z], acc[i][z]);
            }
        }
    }
    for i in 0..PANEL {
        for z in 0..Z {
            _mm512_storeu_ps(mp.add(i * width + z * LANES), acc[i][z]);
        }
    }
    Z * LANES
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

/// Six lane vectors, one per row (or column) of a transform's half-step.
type Six = [Lanes; 6];

/// `[f(0), …, f(n-1)]` written out. The transform helpers build their arrays this way:
/// zeroing and then filling them kept a `memset` call per array (4% of an iteration), and
/// `std::array::from_fn` was not always inlined into the ISA-specific copies (a call per
/// element).
macro_rules! array {
    (4, |$i:ident| $e:expr) => {
        array!(@ $i, $e; 0, 1, 2, 3)
    };
    (5, |$i:ident| $e:expr) => {
        array!(@ $i, $e; 0, 1, 2, 3, 4)
    };
    (6, |$i:ident| $e:expr) => {
        array!(@ $i, $e; 0, 1, 2, 3, 4, 5)
    };
    (@ $i:ident, $e:expr; $($n:literal),*) => {
        [$({
            let $i = $n;
            $e
        }),*]
    };
}

/// Horizontal half of the input transform: `v[k][j] = Σ_c t[k][c] B[c][j]`.
#[inline(always)]
fn input_rows(t: &[Six; 6]) -> [Six; 6] {
    array!(6, |k| bt(array!(6, |c| &t[k][c])))
}

/// `Bᵀ d B` for 16 tiles at once; `d[r*6+c]` holds element (r, c) of each tile's window;
/// the result's `[k][j]` is transformed value `ξ = 6k + j`. Down the columns first, then
/// along the rows: the order of the one-row fast path ([`window_row_transform`]), so a
/// tile's values do not depend on the path taken.
#[inline(always)]
fn input_transform(d: &[Lanes; XI]) -> [Six; 6] {
    let cols: [Six; 6] = array!(6, |c| bt(array!(6, |r| &d[r * 6 + c])));
    input_rows(&array!(6, |k| array!(6, |c| cols[c][k])))
}

/// Columns of the map a row of 16 side-by-side windows covers: 66, held as 5 chunks of 16.
const ROW_CHUNKS: usize = 5;

/// [`input_transform`] of 16 side-by-side windows whose top-left corner is `ch[base]`
/// (map rows `row` apart). The column step runs on the map's contiguous rows; the windows'
/// columns (lane l, column c is map column `4l + c`) are then separated by `deinterleave`.
#[inline(always)]
fn window_row_transform(
    ch: &[f32],
    base: usize,
    row: usize,
    deinterleave: impl Fn(&[Lanes; ROW_CHUNKS]) -> Six,
) -> [Six; 6] {
    // cols[j][k]: chunk j of row k of the column step; the last chunk holds 2 columns.
    let cols: [Six; ROW_CHUNKS] = array!(5, |j| {
        let rows: Six = array!(6, |r| {
            let s = &ch[base + r * row + j * LANES..];
            if j + 1 < ROW_CHUNKS {
                s[..LANES].try_into().expect("16 lanes")
            } else {
                let mut tail = [0.0; LANES];
                tail[..2].copy_from_slice(&s[..2]);
                tail
            }
        });
        bt(array!(6, |r| &rows[r]))
    });
    let d: [Six; 6] = array!(6, |k| deinterleave(&array!(5, |j| cols[j][k])));
    input_rows(&d)
}

/// Lane l of output c is value `4l + c` of the 66 in `t` (plain code; any target).
#[inline(always)]
fn deinterleave_generic(t: &[Lanes; ROW_CHUNKS]) -> Six {
    std::array::from_fn(|c| {
        std::array::from_fn(|l| {
            let x = 4 * l + c;
            t[x / LANES][x % LANES]
        })
    })
}

/// Permute indices of [`deinterleave_avx512`]: for column c, lane l takes value
/// `4(l mod 8) + c` of a pair of chunks.
const DEINTERLEAVE: [[i32; LANES]; 4] = {
    let mut t = [[0; LANES]; 4];
    let mut c = 0;
    while c < 4 {
        let mut l = 0;
        while l < LANES {
            t[c][l] = (4 * (l % 8) + c) as i32;
            l += 1;
        }
        c += 1;
    }
    t
};

/// Permute indices of [`interleave_avx512`]: lane `4m + c` of chunk j takes lane `4j + m`
/// of column c, from the first (c even) or second (c odd) source.
const INTERLEAVE: [[i32; LANES]; 4] = {
    let mut t = [[0; LANES]; 4];
    let mut j = 0;
    while j < 4 {
        let mut i = 0;
        while i < LANES {
            t[j][i] = ((i % 4) % 2 * 16 + 4 * j + i / 4) as i32;
            i += 1;
        }
        j += 1;
    }
    t
};

/// [`deinterleave_generic`] with AVX-512 two-source permutes (the compiler turns the plain
/// version into 96 scalar moves).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn deinterleave_avx512(t: &[Lanes; ROW_CHUNKS]) -> Six {
    use std::arch::x86_64::*;
    // SAFETY (all loads and stores here): 16-float arrays, unaligned accesses.
    let a: [__m512; ROW_CHUNKS] =
        std::array::from_fn(|j| unsafe { _mm512_loadu_ps(t[j].as_ptr()) });
    let mut p = [[0.0; LANES]; 6];
    let mut phase = [_mm512_setzero_ps(); 4];
    for (c, ph) in phase.iter_mut().enumerate() {
        // Lane l takes value 4(l mod 8) + c of a pair of chunks: lanes 0-7 from chunks
        // 0-1 (values 0..32), lanes 8-15 from chunks 2-3 (values 32..64).
        let idx = unsafe { _mm512_loadu_si512(DEINTERLEAVE[c].as_ptr().cast()) };
        let lo = _mm512_permutex2var_ps(a[0], idx, a[1]);
        let hi = _mm512_permutex2var_ps(a[2], idx, a[3]);
        *ph = _mm512_mask_blend_ps(0xFF00, lo, hi);
    }
    // Columns 4 and 5 are columns 0 and 1 one lane on, ending in values 64 and 65.
    let tail = _mm512_castps_si512(a[4]);
    let tail1 = _mm512_alignr_epi32::<1>(tail, tail);
    let p4 = _mm512_alignr_epi32::<1>(tail, _mm512_castps_si512(phase[0]));
    let p5 = _mm512_alignr_epi32::<1>(tail1, _mm512_castps_si512(phase[1]));
    for c in 0..4 {
        unsafe { _mm512_storeu_ps(p[c].as_mut_ptr(), phase[c]) };
    }
    unsafe {
        _mm512_storeu_ps(p[4].as_mut_ptr(), _mm512_castsi512_ps(p4));
        _mm512_storeu_ps(p[5].as_mut_ptr(), _mm512_castsi512_ps(p5));
    }
    p
}

/// `Aᵀ m A` for 16 tiles at once: output row r, column c of each tile is `y[r][c]`.
/// Down the columns first, then along the rows (whose results the one-row path
/// interleaves).
#[inline(always)]
fn output_transform<'m>(m: impl Fn(usize) -> &'m Lanes) -> [[Lanes; 4]; 4] {
    let cols: [[Lanes; 4]; 6] = array!(6, |c| at(array!(6, |r| m(r * 6 + c))));
    array!(4, |r| at(array!(6, |c| &cols[c][r])))
}

/// The inverse of the deinterleave for one output row of 16 tiles: value `4l + c` of the
/// 64 (as 4 chunks of 16) is lane l of `y[c]`.
#[inline(always)]
fn interleave_generic(y: &[Lanes; 4]) -> [Lanes; 4] {
    let mut o = [[0.0; LANES]; 4];
    for (c, yc) in y.iter().enumerate() {
        for (l, v) in yc.iter().enumerate() {
            let x = 4 * l + c;
            o[x / LANES][x % LANES] = *v;
        }
    }
    o
}

/// [`interleave_generic`] with AVX-512 two-source permutes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn interleave_avx512(y: &[Lanes; 4]) -> [Lanes; 4] {
    use std::arch::x86_64::*;
    // SAFETY (all loads and stores here): 16-float arrays, unaligned accesses.
    let a: [__m512; 4] = std::array::from_fn(|c| unsafe { _mm512_loadu_ps(y[c].as_ptr()) });
    let mut o = [[0.0; LANES]; 4];
    for (j, oj) in o.iter_mut().enumerate() {
        // Lane 4m + c of chunk j is lane 4j + m of y[c]: columns 0-1 from the first pair,
        // 2-3 from the second.
        let idx = unsafe { _mm512_loadu_si512(INTERLEAVE[j].as_ptr().cast()) };
        let lo = _mm512_permutex2var_ps(a[0], idx, a[1]);
        let hi = _mm512_permutex2var_ps(a[2], idx, a[3]);
        let v = _mm512_mask_blend_ps(0xCCCC, lo, hi);
        unsafe { _mm512_storeu_ps(oj.as_mut_ptr(), v) };
    }
    o
}

thread_local! {
    /// Each worker's transformed input and GEMM output for one block, kept between calls.
    static BUFS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
    /// Each worker's V_ξ in bf16 pairs (the bf16 products only).
    static BF16_V: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
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

/// Step 2 with bf16 inputs: each V_ξ is rounded and packed, then multiplied (f32 sums).
fn bf16_products(u: &[u32], v: &[f32], m: &mut [f32], mrows: usize, cin: usize, width: usize) {
    #[cfg(target_arch = "x86_64")]
    BF16_V.with_borrow_mut(|vb| {
        let kp = cin / 2;
        if vb.len() < kp * width {
            vb.resize(kp * width, 0);
        }
        for xi in 0..XI {
            // SAFETY: `conv3x3_winograd` checked `bf16_supported()` and the kernel shape;
            // V_ξ is cin x width, M_ξ mrows x width, `vb` holds kp x width.
            unsafe {
                pack_v_bf16(&v[xi * cin * width..][..cin * width], vb, cin, width);
                winograd_gemm_bf16(
                    &u[xi * mrows * kp..][..mrows * kp],
                    vb,
                    &mut m[xi * mrows * width..][..mrows * width],
                    mrows,
                    kp,
                    width,
                );
            }
        }
    });
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (u, v, m, mrows, cin, width);
        unreachable!("bf16 kernels are only built where bf16_supported() is true");
    }
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

/// The transforms are plain lane loops: compiled for the baseline x86-64 they run on 4-wide
/// SSE; these copies compiled with AVX-512 or AVX2 (picked at run time, like the `gemm`
/// crate's kernels) run them 16 or 8 wide, and on AVX-512 the stride-4 (de)interleaving of
/// side-by-side tiles uses permutes. No FMA contraction happens in any of them and the
/// permutes only move values, so every variant gives the same bits.
macro_rules! dispatch {
    ($name:ident, $imp:ident, $generic:ident, $avx512:ident, ($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks<const N: usize>(seed: f32) -> [Lanes; N] {
        std::array::from_fn(|j| std::array::from_fn(|l| seed + (j * LANES + l) as f32))
    }

    #[test]
    fn generic_deinterleave_picks_stride_four_columns() {
        let t = chunks::<ROW_CHUNKS>(0.0);
        let p = deinterleave_generic(&t);
        for (c, pc) in p.iter().enumerate() {
            for (l, v) in pc.iter().enumerate() {
                assert_eq!(*v, (4 * l + c) as f32);
            }
        }
        // Interleaving the first four columns back gives the 64 values in order.
        let o = interleave_generic(&[p[0], p[1], p[2], p[3]]);
        assert_eq!(o, chunks::<4>(0.0));
    }

    #[test]
    fn gemm_paths_match_a_plain_product() {
        // Widths 16..112 cover every column remainder of the AVX-512 kernel.
        let (rows, k) = (16, 37);
        for width in [16, 32, 48, 64, 80, 112] {
            let mut seed = 1u32;
            let mut next = || {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            };
            let u: Vec<f32> = (0..rows * k).map(|_| next()).collect();
            let v: Vec<f32> = (0..k * width).map(|_| next()).collect();
            // Packed panels: row r = 8p + i, column kk at u[(p*k + kk)*8 + i].
            let want: Vec<f64> = (0..rows * width)
                .map(|idx| {
                    let (r, c) = (idx / width, idx % width);
                    (0..k)
                        .map(|kk| {
                            let ur = u[((r / PANEL) * k + kk) * PANEL + r % PANEL] as f64;
                            ur * v[kk * width + c] as f64
                        })
                        .sum()
                })
                .collect();
            let mut fast = vec![f32::NAN; rows * width];
            winograd_gemm(&u, &v, &mut fast, rows, k, width);
            let mut portable = vec![f32::NAN; rows * width];
            winograd_gemm_portable(&u, &v, &mut portable, rows, k, width);
            for (i, w) in want.iter().enumerate() {
                assert!((fast[i] as f64 - w).abs() < 1e-5, "width {width} at {i}");
                assert!(
                    (portable[i] as f64 - w).abs() < 1e-5,
                    "width {width} at {i}"
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn bf16_products_equal_a_plain_product_of_the_rounded_values() {
        if !bf16_supported() {
            eprintln!("no AVX512-BF16: skipped");
            return;
        }
        let round = |x: f32| f32::from_bits(bf16_bits(x) << 16) as f64;
        let (rows, k) = (16, 38);
        for width in [16, 32, 48, 64, 80, 112] {
            let mut seed = 7u32;
            let mut next = || {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            };
            // One xi's worth of packed f32 panels, as `transform_kernels` lays them out.
            let u: Vec<f32> = (0..rows * k).map(|_| next()).collect();
            let v: Vec<f32> = (0..k * width).map(|_| next()).collect();
            let mut u36 = u.clone();
            u36.resize(XI * rows * k, 0.0);
            let ub = to_bf16_pairs(&u36, rows, k);
            let mut vb = vec![0u32; k / 2 * width];
            let mut got = vec![f32::NAN; rows * width];
            // SAFETY: bf16_supported() was checked; the sizes are as documented.
            unsafe {
                pack_v_bf16(&v, &mut vb, k, width);
                winograd_gemm_bf16(&ub, &vb, &mut got, rows, k / 2, width);
            }
            for (idx, g) in got.iter().enumerate() {
                let (r, c) = (idx / width, idx % width);
                let want: f64 = (0..k)
                    .map(|kk| {
                        round(u[((r / PANEL) * k + kk) * PANEL + r % PANEL])
                            * round(v[kk * width + c])
                    })
                    .sum();
                assert!((*g as f64 - want).abs() < 1e-5, "width {width} at {idx}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_shuffles_match_the_plain_ones() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("no AVX-512F: skipped");
            return;
        }
        let t = chunks::<ROW_CHUNKS>(0.5);
        let y = chunks::<4>(-3.25);
        // SAFETY: the CPU has AVX-512F (checked above).
        let (p, o) = unsafe { (deinterleave_avx512(&t), interleave_avx512(&y)) };
        assert_eq!(p, deinterleave_generic(&t));
        assert_eq!(o, interleave_generic(&y));
    }
}
