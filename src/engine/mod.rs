//! The feature engine: VGG-19 forward to any set of ReLU outputs and the gradient with
//! respect to the input image (no weight gradients), on the CPU.
//!
//! [`CpuVgg19`] implements the backend boundary [`crate::backend::FeatureNet`]. Its building blocks ([`conv`], [`pool`]) are checked against the naive f64
//! oracles in [`reference`].

pub mod conv;
pub mod epilogue;
mod parallel;
pub mod pool;
pub mod reference;
pub mod winograd;

use crate::tensor::{FeatureMap, Padded};
use crate::vgg::{Layer, Vgg19Weights, CONVS};
use crate::{Error, Result};
pub use conv::ConvAlgorithm;
use conv::{ConvWeights, LayerAlgorithm};
use epilogue::Epilogue;
pub use pool::Pooling;
use std::collections::HashMap;

/// VGG-19 on the CPU: Winograd (or im2col) + GEMM convolutions on zero-bordered maps.
pub struct CpuVgg19 {
    convs: Vec<ConvWeights>,
    pooling: Pooling,
    algorithm: ConvAlgorithm,
    ws: Workspace,
}

/// Activations of the last forward pass (also the backward pass's gradient buffers).
#[derive(Default)]
struct Workspace {
    height: usize,
    width: usize,
    input: Option<Padded>,
    /// ReLU output of each conv computed so far (also the ReLU masks for backward).
    acts: Vec<Padded>,
    /// Pool output after conv `l` (indexed by `l`), where one follows.
    pooled: HashMap<usize, Padded>,
    /// Deepest conv index the last forward computed.
    depth: Option<usize>,
    /// A backward pass reused the activation buffers as gradient scratch since the last
    /// forward pass (a further backward re-runs the forward first).
    consumed: bool,
}

/// See [`CpuVgg19::memory_estimate`].
#[derive(Clone, Copy, Debug)]
pub struct EngineMemory {
    pub resident: usize,
    pub backward_scratch: usize,
}

/// Smallest input side that still leaves a 1x1 map at `layer`.
pub fn min_side(layer: Layer) -> usize {
    1 << layer.level()
}

impl CpuVgg19 {
    /// The network with the default (fastest) convolution algorithm, Winograd.
    pub fn new(weights: &Vgg19Weights, pooling: Pooling) -> Self {
        Self::with_algorithm(weights, pooling, ConvAlgorithm::Winograd)
    }

    pub fn with_algorithm(
        weights: &Vgg19Weights,
        pooling: Pooling,
        algorithm: ConvAlgorithm,
    ) -> Self {
        use rayon::prelude::*;
        // Layers in parallel: their layout changes and kernel transforms are start-up time.
        let convs = CONVS
            .par_iter()
            .zip(&weights.convs)
            .map(|(s, p)| {
                ConvWeights::with_algorithm(s.cout, s.cin, &p.weight, p.bias.clone(), algorithm)
            })
            .collect();
        CpuVgg19 {
            convs,
            pooling,
            algorithm,
            ws: Workspace::default(),
        }
    }

    pub fn algorithm(&self) -> ConvAlgorithm {
        self.algorithm
    }

    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Bytes a forward + backward pass to `deepest` needs at `h x w`, for up-front
    /// estimates: what stays allocated (weights in every layout the algorithm uses,
    /// activations, pool outputs, per-thread conv buffers) and what only the backward pass
    /// holds (its gradient scratch, freed when it returns).
    pub fn memory_estimate(
        h: usize,
        w: usize,
        deepest: Layer,
        algorithm: ConvAlgorithm,
    ) -> EngineMemory {
        let mut floats = Padded::zeros(0, h, w).data.len() + 3 * (h + 2) * (w + 2);
        for (l, spec) in CONVS.iter().enumerate().take(deepest.0 + 1) {
            let (lh, lw) = Layer(l).spatial(h, w);
            let act = spec.cout * (lh + 2) * (lw + 2);
            floats += act;
            if spec.pool_after && l < deepest.0 {
                floats += spec.cout * (lh / 2 + 2) * (lw / 2 + 2);
            }
        }
        let per_thread = conv::TILE_FLOATS.max(4608 * 512) + winograd::block_floats_max();
        floats += rayon::current_num_threads() * per_thread;
        // Weights: both directions' kernels, plus their Winograd transforms where the layer
        // runs Winograd: 4x per direction in f32; the bf16 products' copies are half that.
        for spec in CONVS.iter() {
            let kernels = spec.cin * spec.cout * 9;
            let transformed = match algorithm.per_layer(spec.cin, spec.cout) {
                LayerAlgorithm::Im2col => 0,
                LayerAlgorithm::WinogradF32 => 8 * kernels,
                LayerAlgorithm::WinogradBf16 => 4 * kernels,
            };
            floats += 2 * kernels + transformed;
        }
        // bf16 kernels are packed from an f32 transform made while loading (layers in
        // parallel), so at start-up one f32 transform per thread of the largest layer is
        // alive beside the packed copies (measured: 0.15 GiB above the steady state).
        if CONVS
            .iter()
            .any(|s| algorithm.per_layer(s.cin, s.cout) == LayerAlgorithm::WinogradBf16)
        {
            let largest = CONVS.iter().map(|s| s.cin * s.cout * 9).max().unwrap_or(0);
            floats += rayon::current_num_threads() * 2 * 4 * largest;
        }
        EngineMemory {
            resident: floats * 4,
            backward_scratch: backward_scratch_floats(h, w, deepest) * 4,
        }
    }

    fn check_size(h: usize, w: usize, deepest: Layer) -> Result<()> {
        let (lh, lw) = deepest.spatial(h, w);
        if lh == 0 || lw == 0 {
            return Err(Error::option(format!(
                "image of {w}x{h} px is too small for layer {deepest}: it needs at least {0}x{0} px",
                min_side(deepest)
            )));
        }
        Ok(())
    }

    fn ensure_workspace(&mut self, h: usize, w: usize) {
        if self.ws.height != h || self.ws.width != w {
            self.ws = Workspace {
                height: h,
                width: w,
                ..Workspace::default()
            };
        }
        if self.ws.input.is_none() {
            self.ws.input = Some(Padded::zeros(3, h, w));
        }
    }

    /// Forward pass to conv index `deepest`, keeping every activation.
    #[allow(clippy::needless_range_loop)] // `l` indexes the table, the weights and the activations
    pub fn run_forward(&mut self, image: &[f32], h: usize, w: usize, deepest: Layer) -> Result<()> {
        if image.len() != 3 * h * w {
            return Err(Error::Shape(format!(
                "image buffer has {} values, expected 3x{h}x{w}",
                image.len()
            )));
        }
        Self::check_size(h, w, deepest)?;
        self.ensure_workspace(h, w);
        let ws = &mut self.ws;
        ws.input.as_mut().unwrap().set_interior(image);
        for l in 0..=deepest.0 {
            let (lh, lw) = Layer(l).spatial(h, w);
            if ws.acts.len() <= l {
                ws.acts.push(Padded::zeros(CONVS[l].cout, lh, lw));
            }
            let (done, rest) = ws.acts.split_at_mut(l);
            let input = if l == 0 {
                ws.input.as_ref().unwrap()
            } else if CONVS[l - 1].pool_after {
                &ws.pooled[&(l - 1)]
            } else {
                &done[l - 1]
            };
            self.convs[l].forward_into(input, &mut rest[0]);
            if CONVS[l].pool_after && l < deepest.0 {
                let (ph, pw) = pool::pooled_size(lh, lw);
                let out = ws
                    .pooled
                    .entry(l)
                    .or_insert_with(|| Padded::zeros(CONVS[l].cout, ph, pw));
                pool::pool_forward(self.pooling, &ws.acts[l], out);
            }
        }
        ws.depth = Some(deepest.0);
        ws.consumed = false;
        Ok(())
    }

    /// The features at `layer` from the last forward pass.
    pub fn features(&self, layer: Layer) -> Result<FeatureMap> {
        match self.ws.depth {
            Some(_) if self.ws.consumed => Err(Error::Shape(
                "features are gone after the backward pass; run the forward pass again".into(),
            )),
            Some(d) if d >= layer.0 => {
                let a = &self.ws.acts[layer.0];
                FeatureMap::from_vec(a.channels, a.height, a.width, a.to_unpadded())
            }
            _ => Err(Error::Shape(format!(
                "layer {layer} was not computed by the last forward pass"
            ))),
        }
    }

    /// Backward pass to the input image; see [`FeatureNet::input_gradient`].
    pub fn run_backward(&mut self, grads: &[(Layer, &FeatureMap)]) -> Result<Vec<f32>> {
        let depth = self
            .ws
            .depth
            .ok_or_else(|| Error::Shape("backward before forward".into()))?;
        let deepest = grads
            .iter()
            .map(|(l, _)| l.0)
            .max()
            .ok_or_else(|| Error::Shape("no gradients given".into()))?;
        if deepest > depth {
            return Err(Error::Shape(format!(
                "gradient given at {} beyond the forward pass",
                Layer(deepest)
            )));
        }
        for (l, g) in grads {
            let a = &self.ws.acts[l.0];
            if (g.channels, g.height, g.width) != a.shape() {
                return Err(Error::Shape(format!(
                    "gradient at {l} is {}x{}x{}, features are {:?}",
                    g.channels,
                    g.height,
                    g.width,
                    a.shape()
                )));
            }
        }
        if self.ws.consumed {
            let image = self.ws.input.as_ref().expect("forward ran").to_unpadded();
            let (h, w) = (self.ws.height, self.ws.width);
            self.run_forward(&image, h, w, Layer(depth))?;
        }
        self.ws.consumed = true;
        let (h, w) = (self.ws.height, self.ws.width);
        let (c0, h0, w0) = self.ws.acts[deepest].shape();
        let mut g = Padded::zeros(c0, h0, w0);
        g.data.fill(0.0);
        // Invariant: `g` is the gradient at the pre-ReLU output of conv l (the mask of ReLU l
        // is fused into the step that produced it: the conv or pool backward above it).
        // `folded`: the entry of `grads` that the conv backward above has already added.
        let mut folded = None;
        for l in (0..=deepest).rev() {
            for (i, (gl, gm)) in grads.iter().enumerate() {
                if gl.0 == l && folded != Some(i) {
                    g.add_interior_masked(&gm.data, &self.ws.acts[l]);
                }
            }
            let c = &self.convs[l];
            let (ih, iw) = if l == 0 {
                (h, w)
            } else {
                Layer(l).spatial(h, w)
            };
            let shape = (c.cin, ih, iw);
            // From here on this pass no longer needs activation l, nor the pool output that
            // fed conv l: their buffers hold the input gradient (all keep zero borders),
            // which halves the scratch memory of the backward pass.
            let pooled_input = l > 0 && CONVS[l - 1].pool_after;
            let (mut d_in, source) = if l > 0 && self.ws.acts[l].shape() == shape {
                let buf = std::mem::replace(&mut self.ws.acts[l], Padded::zeros(0, 0, 0));
                (buf, Scratch::Activation)
            } else if pooled_input && self.ws.pooled[&(l - 1)].shape() == shape {
                let buf = self.ws.pooled.insert(l - 1, Padded::zeros(0, 0, 0));
                (buf.expect("checked above"), Scratch::PoolOutput)
            } else {
                (Padded::zeros(shape.0, shape.1, shape.2), Scratch::Fresh)
            };
            folded = None;
            if l == 0 || pooled_input {
                c.backward_into(&g, &mut d_in);
            } else {
                // Conv l's input is ReLU l-1's output: mask by it in the same pass, and add
                // a loss gradient given there.
                let act = &self.ws.acts[l - 1].data;
                folded = grads.iter().position(|(gl, _)| gl.0 == l - 1);
                let epilogue = match folded {
                    Some(i) => Epilogue::ReluMaskAdd(act, &grads[i].1.data),
                    None => Epilogue::ReluMask(act),
                };
                c.backward_with(&g, &mut d_in, epilogue);
            }
            if let Scratch::Activation = source {
                self.ws.acts[l] = g;
            }
            if l == 0 {
                return Ok(d_in.to_unpadded());
            }
            g = if pooled_input {
                let (pc, ph, pw) = self.ws.acts[l - 1].shape();
                let mut gp = Padded::zeros(pc, ph, pw);
                pool::pool_relu_backward(self.pooling, &self.ws.acts[l - 1], &d_in, &mut gp);
                if let Scratch::PoolOutput = source {
                    self.ws.pooled.insert(l - 1, d_in);
                }
                gp
            } else {
                d_in
            };
        }
        unreachable!("the loop returns at layer 0")
    }
}

/// Floats of the backward pass's own gradient buffers at their peak (see `run_backward`):
/// the gradient at the deepest layer, the largest pool's input gradient (the other
/// gradients reuse activation or pool output buffers) and the image gradient.
fn backward_scratch_floats(h: usize, w: usize, deepest: Layer) -> usize {
    let map = |l: usize| {
        let (lh, lw) = Layer(l).spatial(h, w);
        CONVS[l].cout * (lh + 2) * (lw + 2)
    };
    let largest_pool_input = (0..deepest.0)
        .filter(|&l| CONVS[l].pool_after)
        .map(map)
        .max()
        .unwrap_or(0);
    map(deepest.0) + largest_pool_input + 3 * (h + 2) * (w + 2)
}

/// Where a backward pass took a gradient buffer from. Fresh buffers are dropped as soon as
/// the pass is done with them, so at most one map per level is alive (at 3840x2160 a
/// pool-level map is 1-2 GB; keeping them for reuse cost 4 GB of the peak).
enum Scratch {
    Activation,
    PoolOutput,
    Fresh,
}

impl crate::backend::FeatureNet for CpuVgg19 {
    fn run(&mut self, image: &[f32], height: usize, width: usize, deepest: Layer) -> Result<()> {
        self.run_forward(image, height, width, deepest)
    }

    fn features(&self, layer: Layer) -> Result<FeatureMap> {
        CpuVgg19::features(self, layer)
    }

    fn input_gradient(&mut self, grads: &[(Layer, &FeatureMap)]) -> Result<Vec<f32>> {
        self.run_backward(grads)
    }
}
