//! Step 2 of a block on bf16 inputs (`vdpbf16ps`, sums in f32): detection of the
//! instructions, rounding and packing of `U` and `V`, and the products.

use super::{panel_rows, PANEL, XI};
#[cfg(target_arch = "x86_64")]
use super::{products::panel_tiles, LANES};

/// Whether this CPU can run the bf16 products (AVX512-BF16, with AVX512-BW for packing).
/// Detected once: every layer's algorithm choice and every bf16 convolution asks.
pub fn bf16_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
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
    })
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

/// [`winograd_gemm`](super::products::winograd_gemm) on bf16 inputs: `u` is `rows/8` panels
/// of [`to_bf16_pairs`] (`[rows/8][kp][8]`), `vb` is `kp x width` from [`pack_v_bf16`], sums
/// in f32.
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

/// `micro_tile` ([`super::products`]) with `vdpbf16ps`: each step takes two input channels.
/// Returns its width.
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

thread_local! {
    /// Each worker's V_ξ in bf16 pairs (the bf16 products only).
    static BF16_V: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Step 2 with bf16 inputs: each V_ξ is rounded and packed, then multiplied (f32 sums).
pub(super) fn bf16_products(
    u: &[u32],
    v: &[f32],
    m: &mut [f32],
    mrows: usize,
    cin: usize,
    width: usize,
) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
