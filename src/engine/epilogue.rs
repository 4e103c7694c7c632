//! What a convolution does to each output value after the product, shared by both
//! convolution paths (im2col in [`super::conv`], Winograd in [`super::winograd`]).

use crate::tensor::Padded;

/// What happens to each output value after the product.
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    /// Add the per-channel bias, then ReLU (forward pass).
    BiasRelu(&'a [f32]),
    /// Nothing (input gradient).
    Linear,
    /// Zero where the given ReLU output (same shape and padding as the output) is not
    /// positive: the backward pass through that ReLU, fused to save a pass over memory.
    ReluMask(&'a [f32]),
    /// [`Epilogue::ReluMask`] of the value plus a gradient that a loss puts on that ReLU's
    /// output (unpadded, `cout x h x w`): saves the backward pass another pass over the map.
    ReluMaskAdd(&'a [f32], &'a [f32]),
}

impl Epilogue<'_> {
    /// Checks the epilogue's operands against the padded `cout x h x w` output `out`.
    pub(super) fn check(&self, out: &Padded) {
        let (cout, h, w) = out.shape();
        match self {
            Epilogue::BiasRelu(b) => assert_eq!(b.len(), cout, "epilogue: bias length"),
            Epilogue::ReluMask(act) => {
                assert_eq!(act.len(), out.data.len(), "epilogue: mask shape")
            }
            Epilogue::ReluMaskAdd(act, add) => {
                assert_eq!(act.len(), out.data.len(), "epilogue: mask shape");
                assert_eq!(add.len(), cout * h * w, "epilogue: added gradient shape");
            }
            Epilogue::Linear => {}
        }
    }
}
