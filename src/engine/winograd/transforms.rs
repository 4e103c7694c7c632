//! The lane-wise input and output transforms of 16 tiles at a time (`Bᵀ d B`, `Aᵀ m A`)
//! and the stride-4 (de)interleaving of side-by-side tiles, plain and AVX-512.

use super::{LANES, XI};

pub(super) type Lanes = [f32; LANES];

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
pub(super) type Six = [Lanes; 6];

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
pub(super) fn input_transform(d: &[Lanes; XI]) -> [Six; 6] {
    let cols: [Six; 6] = array!(6, |c| bt(array!(6, |r| &d[r * 6 + c])));
    input_rows(&array!(6, |k| array!(6, |c| cols[c][k])))
}

/// Columns of the map a row of 16 side-by-side windows covers: 66, held as 5 chunks of 16.
pub(super) const ROW_CHUNKS: usize = 5;

/// [`input_transform`] of 16 side-by-side windows whose top-left corner is `ch[base]`
/// (map rows `row` apart). The column step runs on the map's contiguous rows; the windows'
/// columns (lane l, column c is map column `4l + c`) are then separated by `deinterleave`.
#[inline(always)]
pub(super) fn window_row_transform(
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
pub(super) fn deinterleave_generic(t: &[Lanes; ROW_CHUNKS]) -> Six {
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
pub(super) fn deinterleave_avx512(t: &[Lanes; ROW_CHUNKS]) -> Six {
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
pub(super) fn output_transform<'m>(m: impl Fn(usize) -> &'m Lanes) -> [[Lanes; 4]; 4] {
    let cols: [[Lanes; 4]; 6] = array!(6, |c| at(array!(6, |r| m(r * 6 + c))));
    array!(4, |r| at(array!(6, |c| &cols[c][r])))
}

/// The inverse of the deinterleave for one output row of 16 tiles: value `4l + c` of the
/// 64 (as 4 chunks of 16) is lane l of `y[c]`.
#[inline(always)]
pub(super) fn interleave_generic(y: &[Lanes; 4]) -> [Lanes; 4] {
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
pub(super) fn interleave_avx512(y: &[Lanes; 4]) -> [Lanes; 4] {
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
