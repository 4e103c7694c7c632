//! The style groups: one group per style method, each with a term per style layer whose
//! target comes from one style image or from a weighted blend of several
//! ([`crate::loss::blend`]: the mixture of the styles' feature distributions).

use super::{Group, Role, Term};
use crate::backend::FeatureNet;
use crate::config::StyleConfig;
use crate::loss::blend::{normalised_weights, LayerBlend};
use crate::tensor::InputImage;
use crate::{Error, Result};

/// The style groups for `styles` (images with relative blend weights). Styles of weight 0
/// are not even run through the network; when one style is left, its targets are built by
/// the methods' usual constructors, exactly as for a lone style image.
pub(super) fn style_groups(
    net: &mut dyn FeatureNet,
    styles: &[(&InputImage, f64)],
    cfg: &StyleConfig,
) -> Result<Vec<Group>> {
    let weights = normalised_weights(&styles.iter().map(|s| s.1).collect::<Vec<_>>())?;
    let used: Vec<(&InputImage, f64)> = styles
        .iter()
        .zip(weights)
        .filter(|(_, w)| *w > 0.0)
        .map(|(s, w)| (s.0, w))
        .collect();
    let mut groups: Vec<Group> = cfg
        .style
        .terms
        .iter()
        .map(|&(method, blend)| Group {
            role: Role::Style(method),
            weight: blend,
            beta_prime: cfg
                .beta_prime
                .iter()
                .find(|b| b.0 == method)
                .map_or(f64::NAN, |b| b.1),
            terms: Vec::new(),
        })
        .collect();
    match used.as_slice() {
        [(style, _)] => single(net, style, cfg, &mut groups)?,
        _ => blend(net, &used, cfg, &mut groups)?,
    }
    Ok(groups)
}

fn deepest(cfg: &StyleConfig) -> Result<crate::vgg::Layer> {
    cfg.style_layers
        .iter()
        .map(|l| l.0)
        .max()
        .ok_or_else(|| Error::invalid("style-layers", "gives no layers"))
}

/// One style image: built layer by layer so that one feature copy is alive at a time (each
/// loss keeps only its statistics, or its own sample for the sample methods).
fn single(
    net: &mut dyn FeatureNet,
    style: &InputImage,
    cfg: &StyleConfig,
    groups: &mut [Group],
) -> Result<()> {
    net.run(&style.data, style.height, style.width, deepest(cfg)?)?;
    for &(layer, weight) in &cfg.style_layers {
        let s = net.features(layer)?;
        for g in groups.iter_mut() {
            g.terms.push(Term::Layer {
                layer,
                weight,
                loss: style_method(g).build(&s, layer, &cfg.loss)?,
            });
        }
    }
    Ok(())
}

/// Several style images: the network runs once per style, and each layer's features feed
/// that layer's [`LayerBlend`] and are dropped, so besides the accumulators (the mixed
/// moments, one mean per style, the pooled sample) one feature copy is alive at a time.
fn blend(
    net: &mut dyn FeatureNet,
    styles: &[(&InputImage, f64)],
    cfg: &StyleConfig,
    groups: &mut [Group],
) -> Result<()> {
    let methods = cfg.style.methods();
    let weights: Vec<f64> = styles.iter().map(|s| s.1).collect();
    let mut blends = cfg
        .style_layers
        .iter()
        .map(|(layer, _)| {
            let positions: Vec<usize> = styles
                .iter()
                .map(|(s, _)| {
                    let (h, w) = layer.spatial(s.height, s.width);
                    h * w
                })
                .collect();
            LayerBlend::new(&methods, &weights, &positions)
        })
        .collect::<Result<Vec<_>>>()?;
    let deepest = deepest(cfg)?;
    for (i, (style, _)) in styles.iter().enumerate() {
        net.run(&style.data, style.height, style.width, deepest)?;
        for ((layer, _), b) in cfg.style_layers.iter().zip(&mut blends) {
            b.add(i, &net.features(*layer)?)?;
        }
    }
    for (&(layer, weight), b) in cfg.style_layers.iter().zip(blends) {
        let b = b.finish()?;
        for g in groups.iter_mut() {
            g.terms.push(Term::Layer {
                layer,
                weight,
                loss: b.build(style_method(g), layer, &cfg.loss)?,
            });
        }
    }
    Ok(())
}

fn style_method(g: &Group) -> crate::loss::Method {
    let Role::Style(method) = g.role else {
        unreachable!("built as style groups")
    };
    method
}
