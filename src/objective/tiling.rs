//! Exact tiled evaluation: the objective and its gradient computed tile by tile, so that
//! the network holds one tile's activations instead of the whole image's.
//!
//! The image is cut into *cores* (on a grid of multiples of 16 px, so every tile keeps the
//! pooling grid of the whole image down to relu5_x). Each tile is its core plus a *halo*
//! as wide as the deepest tapped layer reaches ([`halo`]), clipped at the image border,
//! where the network's zero padding is then the whole image's own. A core position's
//! features depend only on pixels inside its tile, so they are exactly the untiled ones.
//!
//! 1. **Statistics pass** (forward only): every tile's core features at every tapped layer
//!    feed each loss's [`TileSums`] (moments, or the content loss's sum of squares).
//! 2. **Gradient pass**: once the sums give the value and a gradient rule per loss
//!    ([`TileGrad`], local given the global moments), each tile runs forward again, gets
//!    the rules' gradient on its core positions only (zero on its halo), runs backward,
//!    and adds its input gradient, halo included, into one image-sized buffer. Every
//!    path from a core position back to the image stays inside the tile, so the sum over
//!    tiles is the untiled gradient.
//!
//! Both equal the untiled numbers up to f32/f64 summation order (tests/tiled.rs).

use crate::backend::FeatureNet;
use crate::loss::tiled::{TileGrad, TileSums, Window};
use crate::tensor::FeatureMap;
use crate::vgg::{Layer, CONVS};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// Tile cores and halos are multiples of this (2^4: the pools before relu5_x).
pub const TILE_ALIGN: usize = 16;

/// A rectangle of image pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

/// One tile: its core (the positions it owns) and its input (core plus halo, clipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub core: Rect,
    pub input: Rect,
}

/// How far, in image pixels, the features at `deepest` reach from their position (to
/// either side), rounded up to [`TILE_ALIGN`]: each 3x3 convolution adds one position of
/// its level on both sides, each 2x2 pool one position on one side.
pub fn halo(deepest: Layer) -> usize {
    let mut stride = 1;
    let (mut left, mut right) = (0usize, 0usize);
    for (l, spec) in CONVS.iter().enumerate().take(deepest.0 + 1) {
        left += stride;
        right += stride;
        if spec.pool_after && l < deepest.0 {
            right += stride;
            stride *= 2;
        }
    }
    left.max(right).next_multiple_of(TILE_ALIGN)
}

/// Boundaries of about `core`-px pieces of `[0, len)`: the fewest pieces of at most
/// `core` px (but one more when rounding to [`TILE_ALIGN`] needs it), evenly spread,
/// inner boundaries on multiples of [`TILE_ALIGN`].
fn cuts(len: usize, core: usize) -> Vec<usize> {
    let pieces = len.div_ceil(core).max(1);
    let mut out = vec![0];
    for i in 1..pieces {
        let b = (i * len / pieces) / TILE_ALIGN * TILE_ALIGN;
        if b > *out.last().unwrap() && b < len {
            out.push(b);
        }
    }
    out.push(len);
    out
}

/// The tiles of an `h x w` image with cores of about `core` px (a multiple of
/// [`TILE_ALIGN`]) and halos of `halo` px, row by row.
pub fn tiles(h: usize, w: usize, core: usize, halo: usize) -> Vec<Tile> {
    let (rows, cols) = (cuts(h, core), cuts(w, core));
    let mut out = Vec::new();
    for r in rows.windows(2) {
        for c in cols.windows(2) {
            let (top, bottom) = (r[0], r[1]);
            let (left, right) = (c[0], c[1]);
            let (it, il) = (top.saturating_sub(halo), left.saturating_sub(halo));
            let (ib, ir) = ((bottom + halo).min(h), (right + halo).min(w));
            out.push(Tile {
                core: Rect {
                    top,
                    left,
                    height: bottom - top,
                    width: right - left,
                },
                input: Rect {
                    top: it,
                    left: il,
                    height: ib - it,
                    width: ir - il,
                },
            });
        }
    }
    out
}

impl Tile {
    /// The core's window in `layer`'s whole map (of an `h x w` image), and where that
    /// window starts inside this tile's own map at the layer.
    pub fn window(&self, layer: Layer, h: usize, w: usize) -> (Window, (usize, usize)) {
        let k = layer.level();
        let (lh, lw) = layer.spatial(h, w);
        let end = |start: usize, len: usize, full: usize, image: usize| {
            if start + len == image {
                full
            } else {
                (start + len) >> k
            }
        };
        let (c, i) = (self.core, self.input);
        let (top, left) = (c.top >> k, c.left >> k);
        let bottom = end(c.top, c.height, lh, h).max(top);
        let right = end(c.left, c.width, lw, w).max(left);
        let window = Window {
            top,
            left,
            height: bottom - top,
            width: right - left,
            full_height: lh,
            full_width: lw,
        };
        (window, (top - (i.top >> k), left - (i.left >> k)))
    }
}

/// The tile's input pixels out of the `3 x h x w` image `x`.
fn crop_image(x: &[f32], h: usize, w: usize, r: Rect) -> Vec<f32> {
    let mut out = Vec::with_capacity(3 * r.height * r.width);
    for c in 0..3 {
        for y in r.top..r.top + r.height {
            let s = (c * h + y) * w + r.left;
            out.extend_from_slice(&x[s..s + r.width]);
        }
    }
    out
}

/// `sum[r] += g` for a tile's input gradient `g` (`3 x r.height x r.width`).
fn add_image(sum: &mut [f32], h: usize, w: usize, r: Rect, g: &[f32]) {
    for c in 0..3 {
        for y in 0..r.height {
            let d = (c * h + r.top + y) * w + r.left;
            let s = (c * r.height + y) * r.width;
            sum[d..d + r.width]
                .iter_mut()
                .zip(&g[s..s + r.width])
                .for_each(|(a, b)| *a += b);
        }
    }
}

/// Tiles of `core` px for an `h x w` image read up to `deepest`; an error for a core that
/// is not a positive multiple of [`TILE_ALIGN`].
pub fn plan_tiles(h: usize, w: usize, core: usize, deepest: Layer) -> Result<Vec<Tile>> {
    if core == 0 || !core.is_multiple_of(TILE_ALIGN) {
        return Err(Error::invalid(
            "tile",
            format!("must be a positive multiple of {TILE_ALIGN} px, got {core}"),
        ));
    }
    Ok(tiles(h, w, core, halo(deepest)))
}

/// Runs the network tile by tile over the `3 x h x w` image `x` and hands every tile's core
/// features at each of `layers` (ascending) to `visit`, with the core's window.
pub fn visit_cores(
    net: &mut dyn FeatureNet,
    x: &[f32],
    (h, w): (usize, usize),
    core: usize,
    layers: &[Layer],
    mut visit: impl FnMut(Layer, &FeatureMap, Window) -> Result<()>,
) -> Result<()> {
    let Some(&deepest) = layers.iter().max() else {
        return Ok(());
    };
    for tile in plan_tiles(h, w, core, deepest)? {
        let r = tile.input;
        net.run(&crop_image(x, h, w, r), r.height, r.width, deepest)?;
        for &layer in layers {
            let (win, (oy, ox)) = tile.window(layer, h, w);
            if win.height == 0 || win.width == 0 {
                continue;
            }
            let f = net.features(layer)?;
            visit(layer, &f.crop(oy, ox, win.height, win.width), win)?;
        }
    }
    Ok(())
}

/// The whole map at each of `layers`, assembled from tile cores (one layer's map at a time
/// is what the untiled network would copy out too).
pub fn tiled_features(
    net: &mut dyn FeatureNet,
    x: &[f32],
    (h, w): (usize, usize),
    core: usize,
    layers: &[Layer],
) -> Result<Vec<FeatureMap>> {
    let mut maps: Vec<FeatureMap> = layers
        .iter()
        .map(|l| {
            let (lh, lw) = l.spatial(h, w);
            FeatureMap::zeros(l.channels(), lh, lw)
        })
        .collect();
    visit_cores(net, x, (h, w), core, layers, |layer, f, win| {
        let i = layers.iter().position(|&l| l == layer).expect("asked for");
        maps[i].paste(f, win.top, win.left);
        Ok(())
    })?;
    Ok(maps)
}

/// The statistics pass: every term's sums over the tiles (`sums[i]` reads `layers_of[i]`).
pub fn accumulate(
    net: &mut dyn FeatureNet,
    x: &[f32],
    size: (usize, usize),
    core: usize,
    sums: &mut [(Layer, Box<dyn TileSums + '_>)],
) -> Result<()> {
    let mut layers: Vec<Layer> = sums.iter().map(|s| s.0).collect();
    layers.sort();
    layers.dedup();
    visit_cores(net, x, size, core, &layers, |layer, f, win| {
        for (l, s) in sums.iter_mut() {
            if *l == layer {
                s.add(f, win)?;
            }
        }
        Ok(())
    })
}

/// The gradient pass: `sum_i k_i dL_i/dx` for rules `(layer, k, rule)`, tile by tile.
pub fn gradient(
    net: &mut dyn FeatureNet,
    x: &[f32],
    (h, w): (usize, usize),
    core: usize,
    rules: &[(Layer, f32, &dyn TileGrad)],
) -> Result<Vec<f32>> {
    let mut grad = vec![0.0f32; 3 * h * w];
    let Some(deepest) = rules.iter().map(|r| r.0).max() else {
        return Ok(grad);
    };
    for tile in plan_tiles(h, w, core, deepest)? {
        let r = tile.input;
        net.run(&crop_image(x, h, w, r), r.height, r.width, deepest)?;
        let mut per_layer: BTreeMap<Layer, FeatureMap> = BTreeMap::new();
        for &(layer, k, rule) in rules {
            let (win, (oy, ox)) = tile.window(layer, h, w);
            if win.height == 0 || win.width == 0 {
                continue;
            }
            let f = net.features(layer)?;
            let mut g = rule.grad(&f.crop(oy, ox, win.height, win.width), win);
            g.data.iter_mut().for_each(|v| *v *= k);
            let sum = per_layer
                .entry(layer)
                .or_insert_with(|| FeatureMap::zeros(f.channels, f.height, f.width));
            let mut current = sum.crop(oy, ox, win.height, win.width);
            current
                .data
                .iter_mut()
                .zip(&g.data)
                .for_each(|(a, b)| *a += b);
            sum.paste(&current, oy, ox);
        }
        if per_layer.is_empty() {
            continue;
        }
        let grads: Vec<(Layer, &FeatureMap)> = per_layer.iter().map(|(l, g)| (*l, g)).collect();
        let g = net.input_gradient(&grads)?;
        add_image(&mut grad, h, w, r, &g);
    }
    Ok(grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halos_cover_the_receptive_field() {
        let l = |n: &str| n.parse::<Layer>().unwrap();
        // relu1_1: one 3x3 conv reaches 1 px; relu4_2: 38 px left, 45 px right;
        // relu5_1: 70 px left, 85 px right (a field of 156 px).
        assert_eq!(halo(l("relu1_1")), 16);
        assert_eq!(halo(l("relu4_2")), 48);
        assert_eq!(halo(l("relu5_1")), 96);
    }

    #[test]
    fn tiles_cover_the_image_once_on_the_pooling_grid() {
        for (h, w, core) in [(200, 300, 64), (17, 1000, 256), (64, 64, 64), (300, 33, 16)] {
            let ts = tiles(h, w, core, 96);
            let mut owned = vec![0u8; h * w];
            for t in &ts {
                let c = t.core;
                assert!(c.top % 16 == 0 && c.left % 16 == 0, "{t:?}");
                assert!(t.input.top % 16 == 0 && t.input.left % 16 == 0);
                assert!(c.height <= core + 16 && c.width <= core + 16);
                for y in c.top..c.top + c.height {
                    for x in c.left..c.left + c.width {
                        owned[y * w + x] += 1;
                    }
                }
            }
            assert!(owned.iter().all(|&o| o == 1), "{h}x{w} core {core}");
        }
    }

    #[test]
    fn core_windows_partition_every_layer() {
        let (h, w) = (200, 300);
        for name in ["relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"] {
            let layer: Layer = name.parse().unwrap();
            let (lh, lw) = layer.spatial(h, w);
            let mut owned = vec![0u8; lh * lw];
            for t in tiles(h, w, 64, 96) {
                let (win, _) = t.window(layer, h, w);
                for y in win.top..win.top + win.height {
                    for x in win.left..win.left + win.width {
                        owned[y * lw + x] += 1;
                    }
                }
            }
            assert!(owned.iter().all(|&o| o == 1), "{name}");
        }
    }

    #[test]
    fn a_core_that_is_not_a_multiple_of_16_is_refused() {
        let l: Layer = "relu5_1".parse().unwrap();
        for bad in [0, 8, 100] {
            let e = plan_tiles(64, 64, bad, l).unwrap_err().to_string();
            assert!(
                e.starts_with("tile must be a positive multiple of 16"),
                "{e}"
            );
        }
    }
}
