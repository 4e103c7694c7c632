//! Raw loss values of an image, without balance or weights: the `losses` command, and the
//! numbers researchers compare against other implementations.

use super::{Breakdown, Objective};
use crate::backend::FeatureNet;
use crate::config::StyleConfig;
use crate::loss::StyleSpec;
use crate::tensor::InputImage;
use crate::Result;

/// Raw per-term values and, if asked, the input gradient of their plain sum.
pub struct LossReport {
    /// Every group's terms with their raw values (`GroupValue::terms`).
    pub values: Breakdown,
    /// d(L_content + sum_m sum_l L_m^l)/d(image), `3 x H x W`.
    pub gradient: Option<Vec<f32>>,
}

/// Evaluates the content term and every method of `cfg.style` at `image` (all at one
/// size). Blend weights, layer weights and beta' are ignored: every value is raw, and the
/// gradient is that of their plain sum.
pub fn inspect_losses(
    net: &mut dyn FeatureNet,
    content: Option<&InputImage>,
    style: &InputImage,
    image: &InputImage,
    cfg: &StyleConfig,
    want_gradient: bool,
) -> Result<LossReport> {
    let methods = cfg.style.methods();
    let cfg = StyleConfig {
        style: StyleSpec {
            terms: methods.iter().map(|&m| (m, 1.0)).collect(),
        },
        style_layers: cfg.style_layers.iter().map(|&(l, _)| (l, 1.0)).collect(),
        beta_prime: methods.iter().map(|&m| (m, 1.0)).collect(),
        content_weight: 1.0,
        tv_weight: 0.0,
        ..cfg.clone()
    };
    let mut obj = Objective::new(net, content, style, image.height, image.width, &cfg)?;
    let parts = obj.parts(&image.data)?;
    let values = obj.breakdown(&parts);
    let gradient = if want_gradient {
        let ones = vec![1.0; obj.groups.len()];
        Some(obj.backward(&image.data, parts, &ones)?)
    } else {
        None
    };
    Ok(LossReport { values, gradient })
}
