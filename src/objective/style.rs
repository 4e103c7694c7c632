//! The style groups: one group per style method, each with a term per style layer whose
//! target comes from one style image or from a weighted blend of several
//! ([`crate::loss::blend`]: the mixture of the styles' feature distributions).

use super::tiling::{tiled_features, visit_cores};
use super::{Group, Role, Term};
use crate::backend::FeatureNet;
use crate::config::StyleConfig;
use crate::loss::blend::{normalised_weights, LayerBlend, Needs};
use crate::loss::moments::Moments;
use crate::tensor::InputImage;
use crate::vgg::Layer;
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
    match (cfg.tile, used.as_slice()) {
        (Some(core), _) => tiled(net, &used, cfg, core, &mut groups)?,
        (None, [(style, _)]) => single(net, style, cfg, &mut groups)?,
        (None, _) => blend(net, &used, cfg, &mut groups)?,
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
    let mut blends = layer_blends(styles, cfg)?;
    let deepest = deepest(cfg)?;
    for (i, (style, _)) in styles.iter().enumerate() {
        net.run(&style.data, style.height, style.width, deepest)?;
        for ((layer, _), b) in cfg.style_layers.iter().zip(&mut blends) {
            b.add(i, &net.features(*layer)?)?;
        }
    }
    build_blended(blends, cfg, groups)
}

/// One [`LayerBlend`] per style layer for `styles`.
fn layer_blends(styles: &[(&InputImage, f64)], cfg: &StyleConfig) -> Result<Vec<LayerBlend>> {
    let methods = cfg.style.methods();
    let weights: Vec<f64> = styles.iter().map(|s| s.1).collect();
    cfg.style_layers
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
        .collect()
}

/// Every style group's term per layer from the finished blends.
fn build_blended(blends: Vec<LayerBlend>, cfg: &StyleConfig, groups: &mut [Group]) -> Result<()> {
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

/// The targets computed tile by tile, so that a large painting's activations are never
/// held at once; every style, one or several, goes through [`LayerBlend`] (a single style's
/// mixture is its own moments, and its pooled sample its own map, exactly). Moment methods
/// need only the moments, merged over tiles; the sample methods keep the whole style map
/// (assembled from tiles) as they do untiled.
fn tiled(
    net: &mut dyn FeatureNet,
    styles: &[(&InputImage, f64)],
    cfg: &StyleConfig,
    core: usize,
    groups: &mut [Group],
) -> Result<()> {
    let mut blends = layer_blends(styles, cfg)?;
    let layers: Vec<Layer> = cfg.style_layers.iter().map(|l| l.0).collect();
    let samples = blends.iter().any(LayerBlend::needs_samples);
    for (i, (style, _)) in styles.iter().enumerate() {
        let size = (style.height, style.width);
        if samples {
            let maps = tiled_features(net, &style.data, size, core, &layers)?;
            for (b, f) in blends.iter_mut().zip(&maps) {
                b.add(i, f)?;
            }
            continue;
        }
        let mut sums: Vec<Moments> = layers
            .iter()
            .map(|l| Moments::empty(l.channels()))
            .collect();
        let size = (style.height, style.width);
        visit_cores(
            net,
            &style.data,
            size,
            core,
            &sorted(&layers),
            |layer, f, _| {
                for ((l, b), s) in layers.iter().zip(&blends).zip(&mut sums) {
                    if *l == layer {
                        s.merge(&Moments::of(f, b.needs().unwrap_or(Needs::MEAN)));
                    }
                }
                Ok(())
            },
        )?;
        for (b, s) in blends.iter_mut().zip(&sums) {
            b.add_moments(i, s)?;
        }
    }
    build_blended(blends, cfg, groups)
}

fn sorted(layers: &[Layer]) -> Vec<Layer> {
    let mut v = layers.to_vec();
    v.sort();
    v.dedup();
    v
}

fn style_method(g: &Group) -> crate::loss::Method {
    let Role::Style(method) = g.role else {
        unreachable!("built as style groups")
    };
    method
}
