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

/// Which tile's activations the network holds, read up to which layer, for which image
/// ([`fingerprint`]): the statistics pass ends on a tile that the gradient pass then starts
/// with instead of running it again (one forward of a tile saved per evaluation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    input: Rect,
    deepest: Layer,
    image: u64,
}

/// A hash of the image's bits (FNV-1a), to tell that a [`Held`] tile is of this image.
pub fn fingerprint(x: &[f32]) -> u64 {
    x.iter().fold(0xcbf2_9ce4_8422_2325, |h, v| {
        (h ^ u64::from(v.to_bits())).wrapping_mul(0x0000_0100_0000_01b3)
    })
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

/// Boundaries of `pieces` about equal pieces of `[0, len)`, inner boundaries on multiples
/// of [`TILE_ALIGN`] (fewer pieces where `len` is too short for that many).
fn cuts(len: usize, pieces: usize) -> Vec<usize> {
    let mut out = vec![0];
    for i in 1..pieces.max(1) {
        let b = (i * len / pieces) / TILE_ALIGN * TILE_ALIGN;
        if b > *out.last().unwrap() && b < len {
            out.push(b);
        }
    }
    out.push(len);
    out
}

/// One way of cutting an edge into tiles' pieces (see [`cuttings`]).
struct Cutting {
    cuts: Vec<usize>,
    piece: usize,
    input: usize,
    input_sum: usize,
}

/// For each way of cutting `[0, len)` into pieces: the cuts, the largest piece, the
/// largest piece's input extent (piece plus `halo` on both sides, clipped) and the sum of
/// the input extents.
fn cuttings(len: usize, halo: usize) -> Vec<Cutting> {
    let mut out: Vec<Cutting> = Vec::new();
    for pieces in 1..=len.div_ceil(TILE_ALIGN) {
        let c = cuts(len, pieces);
        if out.last().is_some_and(|last| last.cuts.len() == c.len()) {
            continue;
        }
        let piece = c.windows(2).map(|p| p[1] - p[0]).max().unwrap_or(0);
        let inputs = c
            .windows(2)
            .map(|p| (p[1] + halo).min(len) - p[0].saturating_sub(halo));
        let (input, input_sum) = inputs.fold((0, 0), |(m, s), e| (m.max(e), s + e));
        out.push(Cutting {
            cuts: c,
            piece,
            input,
            input_sum,
        });
    }
    out
}

/// The rows and columns of tiles for an `h x w` image: of the grids whose cores are no
/// larger than `core` x `core` px and whose tile inputs are no larger than that square with
/// its halo (the network's memory follows a tile's area, not its shape), the one with the
/// least input in all (the halos are computed twice), and of those the fewest tiles. At
/// 2048x1152 with 1024 px cores that is three 683x1152 cores (1.19x the image's pixels to
/// compute) rather than four 1024x576 ones (1.28x).
fn grid(h: usize, w: usize, core: usize, halo: usize) -> (Vec<usize>, Vec<usize>) {
    let input_budget = (core + 2 * halo).pow(2);
    let (rows, cols) = (cuttings(h, halo), cuttings(w, halo));
    let mut best: Option<((usize, usize), &Cutting, &Cutting)> = None;
    for r in &rows {
        for c in &cols {
            if r.piece * c.piece > core * core || r.input * c.input > input_budget {
                continue;
            }
            let tiles = (r.cuts.len() - 1) * (c.cuts.len() - 1);
            let key = (r.input_sum * c.input_sum, tiles);
            if best.as_ref().is_none_or(|(k, _, _)| key < *k) {
                best = Some((key, r, c));
            }
        }
    }
    let (r, c) = match best {
        Some((_, r, c)) => (r, c),
        // Not even 16 px cores fit: the smallest ones.
        None => (rows.last().unwrap(), cols.last().unwrap()),
    };
    (r.cuts.clone(), c.cuts.clone())
}

/// The tiles of an `h x w` image with cores of about `core` x `core` px (see [`grid`];
/// boundaries on multiples of [`TILE_ALIGN`]) and halos of `halo` px, row by row.
pub fn tiles(h: usize, w: usize, core: usize, halo: usize) -> Vec<Tile> {
    let (rows, cols) = grid(h, w, core, halo);
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
/// features at each of `layers` (ascending) to `visit`, with the core's window; returns the
/// tile the network then holds.
pub fn visit_cores(
    net: &mut dyn FeatureNet,
    x: &[f32],
    (h, w): (usize, usize),
    core: usize,
    layers: &[Layer],
    mut visit: impl FnMut(Layer, &FeatureMap, Window) -> Result<()>,
) -> Result<Option<Held>> {
    let Some(&deepest) = layers.iter().max() else {
        return Ok(None);
    };
    let mut held = None;
    for tile in plan_tiles(h, w, core, deepest)? {
        let r = tile.input;
        net.run(&crop_image(x, h, w, r), r.height, r.width, deepest)?;
        held = Some(r);
        for &layer in layers {
            let (win, (oy, ox)) = tile.window(layer, h, w);
            if win.height == 0 || win.width == 0 {
                continue;
            }
            let f = net.features(layer)?;
            visit(layer, &f.crop(oy, ox, win.height, win.width), win)?;
        }
    }
    Ok(held.map(|input| Held {
        input,
        deepest,
        image: fingerprint(x),
    }))
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
) -> Result<Option<Held>> {
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

/// The gradient pass: `sum_i k_i dL_i/dx` for rules `(layer, k, rule)`, tile by tile,
/// starting with the `held` tile where the network still holds it for this image (it is not
/// run again). The backward pass consumes the activations: the network holds no tile after.
pub fn gradient(
    net: &mut dyn FeatureNet,
    x: &[f32],
    (h, w): (usize, usize),
    core: usize,
    rules: &[(Layer, f32, &dyn TileGrad)],
    held: Option<Held>,
) -> Result<Vec<f32>> {
    let mut grad = vec![0.0f32; 3 * h * w];
    let Some(deepest) = rules.iter().map(|r| r.0).max() else {
        return Ok(grad);
    };
    let tiles = plan_tiles(h, w, core, deepest)?;
    let image = fingerprint(x);
    let warm = held
        .filter(|held| held.deepest == deepest && held.image == image)
        .and_then(|held| tiles.iter().position(|t| t.input == held.input));
    let rest = (0..tiles.len()).filter(|&i| Some(i) != warm);
    for i in warm.into_iter().chain(rest) {
        let (tile, r) = (tiles[i], tiles[i].input);
        if Some(i) != warm {
            net.run(&crop_image(x, h, w, r), r.height, r.width, deepest)?;
        }
        let per_layer = tile_gradients(&mut *net, &tile, (h, w), rules)?;
        if per_layer.is_empty() {
            continue;
        }
        let grads: Vec<(Layer, &FeatureMap)> = per_layer.iter().map(|(l, g)| (*l, g)).collect();
        let g = net.input_gradient(&grads)?;
        add_image(&mut grad, h, w, r, &g);
    }
    Ok(grad)
}

/// The rules' gradients on `tile`'s core positions (zero on its halo), summed per layer,
/// from the features the network holds for the tile.
fn tile_gradients(
    net: &mut dyn FeatureNet,
    tile: &Tile,
    (h, w): (usize, usize),
    rules: &[(Layer, f32, &dyn TileGrad)],
) -> Result<BTreeMap<Layer, FeatureMap>> {
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
    Ok(per_layer)
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
                // Within the area asked for (one alignment step more where an edge is
                // too short to be cut on the grid: 33 px into 16 + 17).
                assert!(c.height * c.width <= (core + 16).pow(2), "{t:?}");
                let budget = (core + 16 + 192).pow(2);
                assert!(t.input.height * t.input.width <= budget, "{t:?}");
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
    fn the_grid_computes_the_fewest_halo_pixels_within_the_tile_area() {
        // 2048x1152, 1024 px cores, 96 px halos: three 683x1152 cores beat four 1024x576.
        let ts = tiles(1152, 2048, 1024, 96);
        assert_eq!(ts.len(), 3, "{ts:?}");
        assert!(ts.iter().all(|t| t.core.height == 1152), "{ts:?}");
        // An image within one core is one tile; a square one is cut both ways.
        assert_eq!(tiles(1000, 1000, 1024, 96).len(), 1);
        let square = tiles(2048, 2048, 512, 96);
        assert!(
            square.iter().all(|t| t.core.height == t.core.width),
            "{square:?}"
        );
        // The choice is the least total input of all grids within the budget.
        let total =
            |ts: &[Tile]| -> usize { ts.iter().map(|t| t.input.height * t.input.width).sum() };
        let chosen = total(&tiles(2160, 3840, 512, 96));
        for rows in 1..=20 {
            for cols in 1..=20 {
                let (r, c) = (cuts(2160, rows), cuts(3840, cols));
                let grid: Vec<(usize, usize)> = r
                    .windows(2)
                    .flat_map(|a| {
                        c.windows(2).map(move |b| {
                            let hh = (a[1] + 96).min(2160) - a[0].saturating_sub(96);
                            let ww = (b[1] + 96).min(3840) - b[0].saturating_sub(96);
                            (hh, ww)
                        })
                    })
                    .collect();
                let cores = r
                    .windows(2)
                    .flat_map(|a| c.windows(2).map(move |b| (a[1] - a[0]) * (b[1] - b[0])));
                if cores.max().unwrap() <= 512 * 512
                    && grid.iter().all(|&(hh, ww)| hh * ww <= 704 * 704)
                {
                    let sum: usize = grid.iter().map(|&(hh, ww)| hh * ww).sum();
                    assert!(chosen <= sum, "{rows}x{cols}: {sum} < {chosen}");
                }
            }
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
