//! The backend seam: what style transfer needs from a network — features at some layers,
//! the gradient to the image, and the memory that takes — and the one place that chooses
//! the implementation. The CPU engine ([`crate::engine`]) is the only backend today; a GPU
//! or another runtime is one more [`Backend`] variant and one more [`FeatureNet`].

use crate::engine::{ConvAlgorithm, CpuVgg19, EngineMemory, Pooling};
use crate::tensor::FeatureMap;
use crate::vgg::{Layer, Vgg19Weights};
use crate::{Error, Result};

/// A network that computes features and input gradients. The objective talks only to this.
pub trait FeatureNet {
    /// Runs the network on `image` (`3 x height x width`, network input space) up to
    /// `deepest`, keeping what the backward pass needs.
    fn run(&mut self, image: &[f32], height: usize, width: usize, deepest: Layer) -> Result<()>;
    /// Features at `layer` from the last [`FeatureNet::run`] (a copy, `N x M`).
    fn features(&self, layer: Layer) -> Result<FeatureMap>;
    /// Gradient with respect to the image of the last [`FeatureNet::run`], given
    /// gradients at some of its layers (summed where several contribute).
    fn input_gradient(&mut self, grads: &[(Layer, &FeatureMap)]) -> Result<Vec<f32>>;

    /// Runs to the deepest of `layers` and returns their features in the order asked.
    fn forward(
        &mut self,
        image: &[f32],
        height: usize,
        width: usize,
        layers: &[Layer],
    ) -> Result<Vec<FeatureMap>> {
        let deepest = *layers
            .iter()
            .max()
            .ok_or_else(|| Error::option("no layers requested"))?;
        self.run(image, height, width, deepest)?;
        layers.iter().map(|&l| self.features(l)).collect()
    }
}

/// Which network implementation runs a job, with its settings: decided once, before any
/// work, so that the memory estimate and the run agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// [`CpuVgg19`] with this pooling and convolution algorithm.
    Cpu {
        pooling: Pooling,
        conv: ConvAlgorithm,
    },
}

impl Backend {
    /// The CPU engine; an error if `conv` needs instructions this CPU lacks.
    pub fn cpu(pooling: Pooling, conv: ConvAlgorithm) -> Result<Self> {
        Ok(Backend::Cpu {
            pooling,
            conv: conv.check_available()?,
        })
    }

    /// Bytes a forward + backward pass to `deepest` at `h x w` needs.
    pub fn memory(&self, h: usize, w: usize, deepest: Layer) -> EngineMemory {
        match *self {
            Backend::Cpu { conv, .. } => CpuVgg19::memory_estimate(h, w, deepest, conv),
        }
    }

    /// The network with `weights` loaded (kernel transforms are done here, once).
    pub fn build(&self, weights: &Vgg19Weights) -> Box<dyn FeatureNet> {
        match *self {
            Backend::Cpu { pooling, conv } => {
                Box::new(CpuVgg19::with_algorithm(weights, pooling, conv))
            }
        }
    }

    /// `cpu, avg pooling, winograd`: for the run's first line.
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu { pooling, conv } => {
                let conv = match conv {
                    ConvAlgorithm::Im2col => "im2col",
                    ConvAlgorithm::Winograd => "winograd",
                    ConvAlgorithm::WinogradBf16 => "winograd-bf16",
                };
                format!("cpu, {pooling} pooling, {conv}")
            }
        }
    }
}
