//! VGG-19 (Simonyan & Zisserman, 2015), convolutions conv1_1 .. conv5_1: the layer table,
//! the input convention, and loading the pretrained weights from safetensors.
//!
//! Input convention (see `NOTICE` and the weights' README): RGB, values 0..255 with the
//! ImageNet channel means subtracted, no division by a standard deviation.

use crate::{Error, Result};
use std::path::Path;

/// Per-channel means subtracted from 0..255 RGB values before the network.
pub const MEAN_RGB: [f32; 3] = [123.68, 116.779, 103.939];

/// One convolution of the table: name, input channels, output channels, and whether a
/// 2x2 pooling follows its ReLU.
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    pub name: &'static str,
    pub relu: &'static str,
    pub cin: usize,
    pub cout: usize,
    pub pool_after: bool,
}

const fn conv(
    name: &'static str,
    relu: &'static str,
    cin: usize,
    cout: usize,
    pool_after: bool,
) -> ConvSpec {
    ConvSpec {
        name,
        relu,
        cin,
        cout,
        pool_after,
    }
}

/// The 13 convolutions up to conv5_1, in order. Index = [`Layer`] index.
pub const CONVS: [ConvSpec; 13] = [
    conv("conv1_1", "relu1_1", 3, 64, false),
    conv("conv1_2", "relu1_2", 64, 64, true),
    conv("conv2_1", "relu2_1", 64, 128, false),
    conv("conv2_2", "relu2_2", 128, 128, true),
    conv("conv3_1", "relu3_1", 128, 256, false),
    conv("conv3_2", "relu3_2", 256, 256, false),
    conv("conv3_3", "relu3_3", 256, 256, false),
    conv("conv3_4", "relu3_4", 256, 256, true),
    conv("conv4_1", "relu4_1", 256, 512, false),
    conv("conv4_2", "relu4_2", 512, 512, false),
    conv("conv4_3", "relu4_3", 512, 512, false),
    conv("conv4_4", "relu4_4", 512, 512, true),
    conv("conv5_1", "relu5_1", 512, 512, false),
];

/// A ReLU output of the network (`relu1_1` .. `relu5_1`), by its index in [`CONVS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Layer(pub usize);

impl Layer {
    /// The ReLU's name (`relu4_2`), which is how users name layers.
    #[allow(clippy::misnamed_getters)]
    pub fn name(self) -> &'static str {
        CONVS[self.0].relu
    }
    pub fn channels(self) -> usize {
        CONVS[self.0].cout
    }
    /// How many poolings precede this layer (its feature map is the input floored-halved that often).
    pub fn level(self) -> usize {
        CONVS[..self.0].iter().filter(|c| c.pool_after).count()
    }
    /// Spatial size of this layer's feature map for an `h x w` input.
    pub fn spatial(self, h: usize, w: usize) -> (usize, usize) {
        (0..self.level()).fold((h, w), |(h, w), _| (h / 2, w / 2))
    }
    /// The paper's default style layers: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
    pub fn default_style() -> Vec<Layer> {
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect()
    }
    /// The paper's default content layer.
    pub fn default_content() -> Layer {
        "relu4_2".parse().unwrap()
    }
}

impl std::str::FromStr for Layer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        CONVS
            .iter()
            .position(|c| c.relu == s)
            .map(Layer)
            .ok_or_else(|| {
                let names: Vec<_> = CONVS.iter().map(|c| c.relu).collect();
                Error::option(format!(
                    "unknown layer '{s}' (expected one of {})",
                    names.join(", ")
                ))
            })
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One convolution's weights as stored: OIHW `[cout][cin][3][3]` and bias `[cout]`.
#[derive(Clone, Debug)]
pub struct ConvParams {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// All 13 convolutions' weights, validated.
#[derive(Clone, Debug)]
pub struct Vgg19Weights {
    pub convs: Vec<ConvParams>,
    /// Where they came from, for messages.
    pub origin: String,
}

/// The weights shipped inside the binary (f16 storage, upcast on load; CC BY 4.0, see NOTICE).
static BUNDLED: &[u8] = include_bytes!("../assets/vgg19-conv1_1-conv5_1.f16.safetensors");

/// Environment variable naming a weights file to use instead of the bundled one.
pub const WEIGHTS_ENV: &str = "NSTYLE_WEIGHTS";

impl Vgg19Weights {
    /// The bundled weights.
    pub fn bundled() -> Result<Self> {
        Self::from_bytes(BUNDLED, "bundled")
    }

    /// `path` if given, else `$NSTYLE_WEIGHTS` if set, else the bundled weights.
    pub fn resolve(path: Option<&Path>) -> Result<Self> {
        if let Some(p) = path {
            return Self::from_file(p);
        }
        match std::env::var_os(WEIGHTS_ENV) {
            Some(p) if !p.is_empty() => Self::from_file(Path::new(&p)),
            _ => Self::bundled(),
        }
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses safetensors bytes; every tensor's presence, dtype (F32, F16 or BF16) and
    /// shape is checked, and errors name the tensor.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let werr = |msg: String| Error::Weights {
            origin: origin.to_string(),
            msg,
        };
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| werr(format!("not a valid safetensors file ({e})")))?;
        let mut convs = Vec::with_capacity(CONVS.len());
        for spec in &CONVS {
            let get = |suffix: &str, shape: &[usize]| -> Result<Vec<f32>> {
                let name = format!("{}.{suffix}", spec.name);
                let t = st
                    .tensor(&name)
                    .map_err(|_| werr(format!("tensor '{name}' is missing")))?;
                if t.shape() != shape {
                    return Err(werr(format!(
                        "tensor '{name}' has shape {:?}, expected {:?}",
                        t.shape(),
                        shape
                    )));
                }
                let v = decode(t.dtype(), t.data()).ok_or_else(|| {
                    werr(format!(
                        "tensor '{name}' has dtype {:?}, expected F32, F16 or BF16",
                        t.dtype()
                    ))
                })?;
                if v.len() != shape.iter().product::<usize>() {
                    return Err(werr(format!("tensor '{name}' is truncated")));
                }
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(werr(format!("tensor '{name}' contains non-finite values")));
                }
                Ok(v)
            };
            convs.push(ConvParams {
                weight: get("weight", &[spec.cout, spec.cin, 3, 3])?,
                bias: get("bias", &[spec.cout])?,
            });
        }
        Ok(Vgg19Weights {
            convs,
            origin: origin.to_string(),
        })
    }

    /// Seeded random weights of the right shapes (He-style scale), for tests and benchmarks
    /// that must not depend on the real file.
    pub fn random(seed: u64) -> Self {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let convs = CONVS
            .iter()
            .map(|s| {
                let scale = (2.0 / (9.0 * s.cin as f32)).sqrt() * 1.7;
                ConvParams {
                    weight: (0..s.cout * s.cin * 9)
                        .map(|_| rng.gen_range(-scale..scale))
                        .collect(),
                    bias: (0..s.cout).map(|_| rng.gen_range(-0.05..0.1)).collect(),
                }
            })
            .collect();
        Vgg19Weights {
            convs,
            origin: format!("random(seed={seed})"),
        }
    }
}

fn decode(dtype: safetensors::Dtype, data: &[u8]) -> Option<Vec<f32>> {
    use safetensors::Dtype;
    match dtype {
        Dtype::F32 => Some(
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        Dtype::F16 => Some(
            data.chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        Dtype::BF16 => Some(
            data.chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        _ => None,
    }
}
