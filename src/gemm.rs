//! The one place that calls the `gemm` crate.
//!
//! `gemm::gemm` computes `dst := alpha*dst + beta*lhs*rhs` (note: **beta** scales the product).
//! Everything here uses element strides: `rs` between rows, `cs` between columns.
//! The crate picks AVX-512 / AVX2+FMA / scalar kernels at run time (feature `x86-v4`
//! enables the AVX-512 ones), so one binary runs everywhere at the speed the CPU allows.

use gemm::Parallelism;

/// A strided matrix inside a slice.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    pub data: &'a [T],
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A dense row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            offset: 0,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose, as a view (no copy).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// Highest element index touched by a `rows x cols` matrix at `offset` with strides (rs, cs).
pub(crate) fn extent(offset: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        offset
    } else {
        offset + (rows - 1) * rs + (cols - 1) * cs
    }
}

fn par(threads: usize) -> Parallelism {
    if threads <= 1 {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    }
}

/// `dst[off + i*rs + j*cs] (+)= scale * (lhs * rhs)[i][j]`, bounds-checked.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: 'static + Copy + num_one::One>(
    dst: &mut [T],
    dst_off: usize,
    dst_rs: usize,
    dst_cs: usize,
    accumulate: bool,
    lhs: MatRef<T>,
    rhs: MatRef<T>,
    scale: T,
    threads: usize,
) {
    assert_eq!(lhs.cols, rhs.rows, "matmul: inner dimensions");
    let (m, n, k) = (lhs.rows, rhs.cols, lhs.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        extent(dst_off, m, n, dst_rs, dst_cs) < dst.len(),
        "matmul: dst bounds"
    );
    if k > 0 {
        assert!(
            extent(lhs.offset, m, k, lhs.rs, lhs.cs) < lhs.data.len(),
            "matmul: lhs bounds"
        );
        assert!(
            extent(rhs.offset, k, n, rhs.rs, rhs.cs) < rhs.data.len(),
            "matmul: rhs bounds"
        );
    }
    // SAFETY: every index the product touches was bounds-checked above; `dst` is borrowed
    // mutably, so it cannot alias `lhs` or `rhs`.
    unsafe {
        gemm_raw(
            m,
            n,
            k,
            dst.as_mut_ptr().add(dst_off),
            dst_rs,
            dst_cs,
            accumulate,
            lhs.data.as_ptr().add(lhs.offset),
            lhs.rs,
            lhs.cs,
            rhs.data.as_ptr().add(rhs.offset),
            rhs.rs,
            rhs.cs,
            scale,
            threads,
        )
    }
}

/// Raw strided product `dst (+)= scale * lhs * rhs`.
///
/// # Safety
/// All pointers must be valid for every index `(rows-1)*rs + (cols-1)*cs` of their matrix,
/// `dst` must not overlap `lhs`/`rhs`, and no other thread may touch the elements of `dst`
/// written here while the call runs.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw<T: 'static + Copy + num_one::One>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: usize,
    dst_cs: usize,
    accumulate: bool,
    lhs: *const T,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const T,
    rhs_rs: usize,
    rhs_cs: usize,
    scale: T,
    threads: usize,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs as isize,
        dst_rs as isize,
        accumulate,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        T::one(),
        scale,
        false,
        false,
        false,
        par(threads),
    )
}

/// The multiplicative identity, for the `alpha` of an accumulating product.
pub mod num_one {
    pub trait One {
        fn one() -> Self;
    }
    impl One for f32 {
        fn one() -> Self {
            1.0
        }
    }
    impl One for f64 {
        fn one() -> Self {
            1.0
        }
    }
}
