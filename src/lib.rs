//! # nstyle — neural style transfer as distribution alignment
//!
//! Li, Wang, Liu & Hou, *Demystifying Neural Style Transfer* (2017) show that Gatys et al.'s
//! Gram-matrix style loss is the squared Maximum Mean Discrepancy between the feature
//! distributions of two images with the kernel `k(x,y) = (x^T y)^2` (Eq. 9). Any distribution
//! alignment is then a style loss: MMD with other kernels, or matching per-channel mean and
//! standard deviation (BN statistics). Equation numbers in this crate refer to that paper.
//!
//! Map of the crate:
//! * [`vgg`]: the VGG-19 layer table, input convention and weights loading.
//! * [`engine`]: forward pass to any ReLU outputs and the gradient to the input image.
//! * [`gemm`]: the one wrapper over the `gemm` crate (engine and losses).
//! * [`loss`]: content loss (Eq. 4) and the style losses (Eq. 6-12).
//! * [`optim`]: L-BFGS and Adam on the image.
//! * [`stylize`]: the objective with its balance (Eq. 3, beta = gamma * beta') and the loop.
//! * [`image_io`]: decoding, resizing, atomic writing, `.npy`.

pub mod bench;
pub mod engine;
pub mod error;
pub mod gemm;
pub mod image_io;
pub mod loss;
pub mod multiscale;
pub mod optim;
pub mod stylize;
pub mod tensor;
pub mod vgg;

pub use engine::{ConvAlgorithm, CpuVgg19, FeatureNet, Pooling};
pub use error::{Error, Result};
pub use loss::{Method, StyleSpec};
pub use stylize::{Iterate, StopReason, StyleConfig, Stylized};
pub use tensor::FeatureMap;
pub use vgg::{Layer, Vgg19Weights};
