//! Step 2 of a block in f32: the 36 products `M_ξ = U_ξ V_ξ`, by an AVX-512 micro-kernel
//! of our own where the CPU has it, by the `gemm` crate elsewhere.

use super::{LANES, PANEL};
use crate::gemm::gemm_raw;

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
#[cfg(target_arch = "x86_64")]
pub(super) use panel_tiles;

/// `M = U V` for one ξ: `u` is `rows/8` packed panels (`[rows/8][k][8]`), `v` is `k x width`
/// and `m` is `rows x width`, both row-major. On AVX-512 a kernel of our own: 8 rows by 48
/// columns of accumulators, the broadcasts read in order from the packed panel, nothing
/// packed per call (the `gemm` crate re-packed `U_ξ` for every block: 5% of an iteration).
/// Elsewhere the `gemm` crate, one panel at a time. Sums run over k in order, one FMA per
/// term, on either path.
pub(super) fn winograd_gemm(
    u: &[f32],
    v: &[f32],
    m: &mut [f32],
    rows: usize,
    k: usize,
    width: usize,
) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
