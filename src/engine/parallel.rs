//! Sharing an output buffer between the worker threads of the convolutions.

/// The output pointer shared by the worker threads of both convolution paths.
#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub(super) *mut f32);
// SAFETY: the workers write disjoint parts of the output: column ranges in `conv3x3`,
// whole tiles in `conv3x3_winograd`.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// Through a method, so closures capture the wrapper (Send) and not the raw field.
    pub(super) fn get(&self) -> *mut f32 {
        self.0
    }
}
