//! # nstyle — neural style transfer as distribution alignment
//!
//! Li, Wang, Liu & Hou, *Demystifying Neural Style Transfer* (2017) show that Gatys et al.'s
//! Gram-matrix style loss is the squared Maximum Mean Discrepancy between the feature
//! distributions of two images with the kernel `k(x,y) = (x^T y)^2` (Eq. 9). Any distribution
//! alignment is then a style loss: MMD with other kernels, or matching per-channel mean and
//! standard deviation (BN statistics). Equation numbers in this crate refer to that paper.
//!
//! Map of the crate (docs/DESIGN.md has the file-level table):
//! * [`vgg`]: the VGG-19 layer table, input convention and weights loading.
//! * [`backend`]: the seam between the transfer and a network ([`backend::FeatureNet`]).
//! * [`engine`]: the CPU backend: forward pass to any ReLU outputs, gradient to the image.
//! * [`gemm`]: the one wrapper over the `gemm` crate (engine and losses).
//! * [`loss`]: content loss (Eq. 4), the style losses (Eq. 6-12) and their registry, total
//!   variation.
//! * [`objective`]: Eq. 3 as groups of terms, with its balance (beta = gamma * beta').
//! * [`optim`]: L-BFGS and Adam on the image.
//! * [`config`]: one optimisation's settings; [`run`]: a whole job — plan, stages, events.
//! * [`image_io`]: decoding, resizing, atomic writing, `.npy`; [`output`]: checking the
//!   output before a run and rescuing the result when it cannot be written.
//! * [`http_request`]: parsing a request head for the web front end (fuzzed).
//! * [`score`]: grain, style and content distances of a result, for choosing defaults.
//! * [`sheet`]: a contact sheet (a labelled grid of images) for sweeps and the paper's figures.
//!
//! The library never prints: front ends (the `nstyle` command) observe a job's events.

pub mod backend;
pub mod bench;
pub mod colour;
pub mod config;
pub mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod gemm;
pub mod http_request;
pub mod image_io;
pub mod loss;
pub mod objective;
pub mod optim;
pub mod output;
pub mod run;
pub mod score;
pub mod sheet;
pub mod tensor;
pub mod vgg;

pub use backend::{Backend, FeatureNet};
pub use config::{Init, StyleConfig};
pub use engine::{ConvAlgorithm, CpuVgg19, Pooling};
pub use error::{Error, Result};
pub use loss::{Method, StyleSpec};
pub use run::{Event, Job, JobSpec, Observer, Outcome, StopReason, Summary};
pub use tensor::FeatureMap;
pub use vgg::{Layer, Vgg19Weights};
