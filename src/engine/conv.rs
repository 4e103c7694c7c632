//! 3x3 convolution (stride 1, zero padding 1) as im2col + GEMM on [`Padded`] maps.
//!
//! Output position `q = y*(W+2) + x` (x runs over the padded width; the two extra columns
//! are garbage and are zeroed) reads input `q + dy*(W+2) + dx`, so each im2col row is a
//! plain `memcpy` of a shifted slice. Positions are cut into column tiles small enough to
//! stay in cache; each worker thread owns one tile buffer and handles every
//! `threads`-th tile with a single-threaded GEMM, so results do not depend on scheduling.
//!
//! The same routine computes the input gradient of a convolution: it is a convolution of
//! the output gradient with the kernels flipped in space and transposed in channels.

use super::epilogue::Epilogue;
use super::parallel::SendPtr;
use super::winograd::{
    bf16_supported, conv3x3_winograd, to_bf16_pairs, transform_kernels, WinogradKernels,
};
use crate::gemm::{extent, gemm_raw};
use crate::tensor::Padded;
use crate::{Error, Result};
use rayon::prelude::*;

/// How a 3x3 convolution is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// im2col + GEMM: exact to f32 rounding of the direct sum; any channel count.
    Im2col,
    /// Winograd F(4x4, 3x3) ([`super::winograd`]) where both channel counts are at least
    /// [`WINOGRAD_MIN_CHANNELS`], im2col elsewhere: 4x fewer multiplies.
    Winograd,
    /// [`ConvAlgorithm::Winograd`] with the 36 products on bf16 inputs (`vdpbf16ps`, f32
    /// sums) where the CPU has AVX512-BF16 ([`bf16_supported`]) and the layer's channel
    /// counts are even; plain Winograd elsewhere ([`ConvAlgorithm::per_layer`]).
    WinogradBf16,
}

/// Below this many input or output channels a layer stays on im2col: with 3 channels
/// (conv1_1 forward, its input gradient) the 36 GEMMs are too thin to pay for the transforms.
pub const WINOGRAD_MIN_CHANNELS: usize = 16;

/// The path one convolution layer actually runs (see [`ConvAlgorithm::per_layer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerAlgorithm {
    /// im2col + GEMM ([`conv3x3`]).
    Im2col,
    /// Winograd with f32 products: kernels kept transformed, 4x per direction.
    WinogradF32,
    /// Winograd with bf16 products: transformed kernels in bf16, 2x per direction.
    WinogradBf16,
}

impl ConvAlgorithm {
    /// The path a layer with `cin` inputs and `cout` outputs runs under this algorithm: the
    /// one place the choice is made, for the weights ([`ConvWeights::with_algorithm`]) and the
    /// memory estimate alike. Winograd needs both channel counts at least
    /// [`WINOGRAD_MIN_CHANNELS`]; the bf16 products also need this CPU to have them
    /// ([`bf16_supported`]) and both channel counts even, because they take input channels in
    /// pairs and the backward pass's inputs are the forward pass's outputs. Where a rule fails
    /// the layer falls back (bf16 to f32 Winograd, Winograd to im2col) without an error; see
    /// [`ConvAlgorithm::check_available`] to refuse instead.
    pub fn per_layer(self, cin: usize, cout: usize) -> LayerAlgorithm {
        if self == ConvAlgorithm::Im2col || cin.min(cout) < WINOGRAD_MIN_CHANNELS {
            LayerAlgorithm::Im2col
        } else if self == ConvAlgorithm::WinogradBf16
            && bf16_supported()
            && cin.is_multiple_of(2)
            && cout.is_multiple_of(2)
        {
            LayerAlgorithm::WinogradBf16
        } else {
            LayerAlgorithm::WinogradF32
        }
    }

    /// `self`, or an error where this CPU cannot run it at all (the bf16 products without
    /// AVX512-BF16), for callers that would rather refuse than fall back.
    pub fn check_available(self) -> Result<Self> {
        if self == ConvAlgorithm::WinogradBf16 && !bf16_supported() {
            return Err(Error::invalid(
                "conv",
                "winograd-bf16 needs a CPU with AVX512-BF16; this one has none",
            ));
        }
        Ok(self)
    }
}

/// Weights of one 3x3 convolution in the layouts the forward and backward passes use.
#[derive(Clone, Debug)]
pub struct ConvWeights {
    pub cin: usize,
    pub cout: usize,
    /// Forward kernels, `[cout][cin*9]` (OIHW as stored): element `o*cin*9 + ci*9 + ky*3 + kx`.
    pub forward: Vec<f32>,
    /// Backward kernels, `[cin][cout*9]`: element `ci*cout*9 + o*9 + ky*3 + kx` = W[o][ci][2-ky][2-kx].
    pub backward: Vec<f32>,
    pub bias: Vec<f32>,
    /// Winograd-transformed `forward` / `backward` (when the algorithm and shape use them).
    winograd_forward: Option<WinogradKernels>,
    winograd_backward: Option<WinogradKernels>,
}

impl ConvWeights {
    /// From OIHW weights `[cout][cin][3][3]` and a bias `[cout]`.
    pub fn from_oihw(cout: usize, cin: usize, oihw: &[f32], bias: Vec<f32>) -> Self {
        Self::with_algorithm(cout, cin, oihw, bias, ConvAlgorithm::Im2col)
    }

    /// As [`ConvWeights::from_oihw`], precomputing what `algorithm` needs.
    pub fn with_algorithm(
        cout: usize,
        cin: usize,
        oihw: &[f32],
        bias: Vec<f32>,
        algorithm: ConvAlgorithm,
    ) -> Self {
        assert_eq!(oihw.len(), cout * cin * 9);
        assert_eq!(bias.len(), cout);
        let mut forward = vec![0.0; cin * 9 * cout];
        let mut backward = vec![0.0; cout * 9 * cin];
        for o in 0..cout {
            for ci in 0..cin {
                for k in 0..9 {
                    let v = oihw[(o * cin + ci) * 9 + k];
                    forward[(o * cin + ci) * 9 + k] = v;
                    backward[(ci * cout + o) * 9 + (8 - k)] = v;
                }
            }
        }
        let layer = algorithm.per_layer(cin, cout);
        let winograd = layer != LayerAlgorithm::Im2col;
        let transform = |kernels: &[f32], outs: usize, ins: usize| {
            let u = transform_kernels(kernels, outs, ins);
            if layer == LayerAlgorithm::WinogradBf16 {
                WinogradKernels::Bf16(to_bf16_pairs(&u, outs, ins))
            } else {
                WinogradKernels::F32(u)
            }
        };
        ConvWeights {
            cin,
            cout,
            winograd_forward: winograd.then(|| transform(&forward, cout, cin)),
            winograd_backward: winograd.then(|| transform(&backward, cin, cout)),
            forward,
            backward,
            bias,
        }
    }

    /// `out = relu(conv(input) + bias)`.
    pub fn forward_into(&self, input: &Padded, out: &mut Padded) {
        let epilogue = Epilogue::BiasRelu(&self.bias);
        match &self.winograd_forward {
            Some(u) => conv3x3_winograd(input, u, out, epilogue),
            None => conv3x3(input, &self.forward, out, epilogue),
        }
    }

    /// `d_input = convᵀ(d_out)`: the input gradient of the (pre-ReLU) convolution.
    pub fn backward_into(&self, d_out: &Padded, d_input: &mut Padded) {
        self.backward_with(d_out, d_input, Epilogue::Linear)
    }

    /// `d_input = convᵀ(d_out)` with an epilogue: [`Epilogue::ReluMask`] carries the
    /// gradient on through the ReLU that produced this conv's input, in the same pass.
    pub fn backward_with(&self, d_out: &Padded, d_input: &mut Padded, epilogue: Epilogue) {
        match &self.winograd_backward {
            Some(u) => conv3x3_winograd(d_out, u, d_input, epilogue),
            None => conv3x3(d_out, &self.backward, d_input, epilogue),
        }
    }
}

/// Target bytes of one im2col tile; tiles of deep layers are widened to at least
/// `MIN_TILE` columns so the packed kernels are reused over enough positions.
/// Target floats of one im2col tile (4 MiB); tiles of deep layers are widened to at least
/// `MIN_TILE` columns so each GEMM call amortises its setup. Measured at 512 px: the
/// iteration time is flat (within 3%) for targets 256K..2M floats and minimums 256..1024.
pub const TILE_FLOATS: usize = 1 << 20;
const MIN_TILE: usize = 512;
const MAX_TILE: usize = 4096;

thread_local! {
    /// Each worker's im2col tile, kept between calls (fresh pages cost page faults).
    static COL: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `out = epilogue(conv3x3(input, kernels))`, where `kernels` is `[cout][input.channels*9]`.
///
/// Kernel rows are contiguous along the reduction so that GEMM (which computes the
/// transposed product, output rows being contiguous) reads them in place instead of
/// re-packing the whole kernel matrix for every tile (measured: 9.4 MB per tile at conv4_x).
pub fn conv3x3(input: &Padded, kernels: &[f32], out: &mut Padded, epilogue: Epilogue) {
    let (cin, h, w) = input.shape();
    let cout = out.channels;
    assert_eq!((out.height, out.width), (h, w), "conv3x3: spatial shape");
    let k = cin * 9;
    assert_eq!(kernels.len(), k * cout, "conv3x3: kernel shape");
    epilogue.check(out);
    let row = input.row();
    let plane = input.plane();
    let positions = h * row;
    let threads = rayon::current_num_threads().max(1);
    let target = (TILE_FLOATS / k).clamp(MIN_TILE, MAX_TILE);
    // Tiles are dealt round-robin, so make their count a multiple of the thread count:
    // 9 tiles on 2 threads (conv4_x at 512 px) would leave one core idle 10% of the time.
    let tiles = positions.div_ceil(target).next_multiple_of(threads);
    let tile = positions.div_ceil(tiles).next_multiple_of(16).max(16);
    let tiles = positions.div_ceil(tile);
    let offsets: [usize; 9] = std::array::from_fn(|i| (i / 3) * row + i % 3);
    let dst = SendPtr(out.data.as_mut_ptr());
    let dst_len = out.data.len();
    // Output position q is stored at q + row + 1 (its place in the padded output).
    assert!(extent(row + 1, cout, positions, plane, 1) < dst_len);
    let src = &input.data;

    (0..threads.min(tiles)).into_par_iter().for_each(|worker| {
        COL.with_borrow_mut(|col| {
            if col.len() < k * tile {
                col.resize(k * tile, 0.0);
            }
            for t in (worker..tiles).step_by(threads) {
                let q0 = t * tile;
                let n = tile.min(positions - q0);
                for ci in 0..cin {
                    for (kk, off) in offsets.iter().enumerate() {
                        let s = ci * plane + q0 + off;
                        col[(ci * 9 + kk) * tile..][..n].copy_from_slice(&src[s..s + n]);
                    }
                }
                // SAFETY: the bounds were checked above for the whole output; tile t writes
                // only columns q0..q0+n of every channel, disjoint from every other tile, and
                // `col`/`kernels` are separate allocations from `out`.
                unsafe {
                    let d = dst.get().add(row + 1 + q0);
                    gemm_raw(
                        cout,
                        n,
                        k,
                        d,
                        plane,
                        1,
                        false,
                        kernels.as_ptr(),
                        k,
                        1,
                        col.as_ptr(),
                        tile,
                        1,
                        1.0,
                        1,
                    );
                    for o in 0..cout {
                        let chunk = std::slice::from_raw_parts_mut(d.add(o * plane), n);
                        let start = o * plane + row + 1 + q0;
                        // Where the tile's first interior value sits in an unpadded map.
                        let (y, x) = (q0 / row, q0 % row);
                        let unpadded = (o * h + y) * w + x.min(w);
                        finish_tile(chunk, start, unpadded, x, w, row, epilogue, o);
                    }
                }
            }
        });
    });
}

/// Applies the epilogue to one channel's tile (whose first value sits at `start` of the
/// output, and whose first interior value at `unpadded` of an unpadded map) and zeroes the
/// garbage columns (x >= w).
#[inline]
#[allow(clippy::too_many_arguments)]
fn finish_tile(
    chunk: &mut [f32],
    start: usize,
    mut unpadded: usize,
    mut x: usize,
    w: usize,
    row: usize,
    epilogue: Epilogue,
    o: usize,
) {
    match epilogue {
        Epilogue::BiasRelu(bias) => {
            let b = bias[o];
            for v in chunk.iter_mut() {
                *v = if x < w { (*v + b).max(0.0) } else { 0.0 };
                x += 1;
                if x == row {
                    x = 0;
                }
            }
        }
        Epilogue::Linear => {
            for v in chunk.iter_mut() {
                if x >= w {
                    *v = 0.0;
                }
                x += 1;
                if x == row {
                    x = 0;
                }
            }
        }
        Epilogue::ReluMask(act) => {
            // Garbage columns fall on the mask's zero border, so the mask zeroes them too.
            for (v, a) in chunk.iter_mut().zip(&act[start..]) {
                *v = if *a <= 0.0 { 0.0 } else { *v };
            }
        }
        Epilogue::ReluMaskAdd(act, add) => {
            for (v, a) in chunk.iter_mut().zip(&act[start..]) {
                if x < w {
                    *v = if *a <= 0.0 { 0.0 } else { *v + add[unpadded] };
                    unpadded += 1;
                } else {
                    *v = 0.0;
                }
                x += 1;
                if x == row {
                    x = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_layer_applies_the_channel_rules() {
        use ConvAlgorithm::*;
        for a in [Im2col, Winograd, WinogradBf16] {
            // conv1_1 (3 inputs) and any layer under --conv im2col stay on im2col.
            assert_eq!(a.per_layer(3, 64), LayerAlgorithm::Im2col);
            assert_eq!(a.per_layer(64, 15), LayerAlgorithm::Im2col);
        }
        assert_eq!(Im2col.per_layer(64, 64), LayerAlgorithm::Im2col);
        assert_eq!(Winograd.per_layer(64, 64), LayerAlgorithm::WinogradF32);
        assert_eq!(Winograd.per_layer(16, 16), LayerAlgorithm::WinogradF32);
        let bf16 = if bf16_supported() {
            LayerAlgorithm::WinogradBf16
        } else {
            LayerAlgorithm::WinogradF32
        };
        assert_eq!(WinogradBf16.per_layer(64, 128), bf16);
        // Odd channel counts (either direction's inputs) keep the f32 products.
        assert_eq!(WinogradBf16.per_layer(65, 64), LayerAlgorithm::WinogradF32);
        assert_eq!(WinogradBf16.per_layer(64, 65), LayerAlgorithm::WinogradF32);
    }

    #[test]
    fn check_available_refuses_only_bf16_without_the_instructions() {
        use ConvAlgorithm::*;
        assert_eq!(Im2col.check_available().unwrap(), Im2col);
        assert_eq!(Winograd.check_available().unwrap(), Winograd);
        match WinogradBf16.check_available() {
            Ok(a) => assert!(bf16_supported() && a == WinogradBf16),
            Err(e) => {
                assert!(!bf16_supported());
                assert!(e.to_string().contains("AVX512-BF16"), "{e}");
            }
        }
    }
}
