//! Losses evaluated tile by tile (the objective's `tiled` evaluation): one pass over the
//! generated image's tiles feeds each loss's [`TileSums`] with the tile's own positions at
//! the loss's layer; once every tile is in, the sums give the exact value and a
//! [`TileGrad`], the gradient as a function of one tile's positions, which a second pass
//! applies tile by tile. A loss that offers this is exact under tiling: the moment losses
//! ([`super::moments`]) through their moments, the content loss because it is a sum over
//! positions.

use super::moments::{Affine, MomentLoss, Moments};
use crate::tensor::FeatureMap;
use crate::{Error, Result};
use std::sync::Arc;

/// Where one tile's own positions (its core) lie in a layer's whole map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
    /// The whole map's size at this layer.
    pub full_height: usize,
    pub full_width: usize,
}

impl Window {
    /// The window's positions as indices into the whole map, in the window's row-major
    /// order (a tile's core map's order).
    pub fn positions(self) -> impl Iterator<Item = usize> {
        (0..self.height).flat_map(move |y| {
            let row = (self.top + y) * self.full_width + self.left;
            row..row + self.width
        })
    }
}

/// What one loss accumulates over the tiles of one evaluation.
pub trait TileSums {
    /// Adds one tile's core: its features `core` (N x `at.height` x `at.width`).
    fn add(&mut self, core: &FeatureMap, at: Window) -> Result<()>;
    /// The loss value and the gradient's rule, once every tile is in.
    fn finish(self: Box<Self>) -> Result<(f64, Box<dyn TileGrad>)>;
}

/// The gradient of a finished evaluation at one tile's positions.
pub trait TileGrad: Send + Sync {
    fn grad(&self, core: &FeatureMap, at: Window) -> FeatureMap;
}

impl TileGrad for Affine {
    fn grad(&self, core: &FeatureMap, _at: Window) -> FeatureMap {
        self.apply(core)
    }
}

/// The moments of every tile merged, for a [`MomentLoss`].
pub struct MomentSums<'a> {
    loss: &'a dyn MomentLoss,
    sums: Option<Moments>,
}

impl<'a> MomentSums<'a> {
    pub fn new(loss: &'a dyn MomentLoss) -> Self {
        MomentSums { loss, sums: None }
    }
}

impl TileSums for MomentSums<'_> {
    fn add(&mut self, core: &FeatureMap, _at: Window) -> Result<()> {
        self.loss.check(core.channels)?;
        let m = Moments::of(core, self.loss.needs());
        match &mut self.sums {
            Some(s) => s.merge(&m),
            None => self.sums = Some(m),
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(f64, Box<dyn TileGrad>)> {
        let sums = self
            .sums
            .ok_or_else(|| Error::Shape("no tile was evaluated".into()))?;
        let (value, rule) = self.loss.value_and_rule(&sums)?;
        Ok((value, Box::new(rule)))
    }
}

/// The content loss's sum of squares over the tiles, against its whole target.
pub struct ContentSums {
    target: Arc<FeatureMap>,
    sum: f64,
}

impl ContentSums {
    pub fn new(target: Arc<FeatureMap>) -> Self {
        ContentSums { target, sum: 0.0 }
    }
}

/// `F - P` at the tile's positions.
struct ContentGrad {
    target: Arc<FeatureMap>,
}

fn check_window(target: &FeatureMap, core: &FeatureMap, at: Window) -> Result<()> {
    let fits = at.top + at.height <= target.height && at.left + at.width <= target.width;
    if core.channels != target.channels
        || (core.height, core.width) != (at.height, at.width)
        || (at.full_height, at.full_width) != (target.height, target.width)
        || !fits
    {
        return Err(Error::Shape(format!(
            "content loss: a tile of {}x{}x{} at ({}, {}) of {}x{} does not fit the content's {}x{}x{}",
            core.channels,
            core.height,
            core.width,
            at.top,
            at.left,
            at.full_height,
            at.full_width,
            target.channels,
            target.height,
            target.width
        )));
    }
    Ok(())
}

impl TileSums for ContentSums {
    fn add(&mut self, core: &FeatureMap, at: Window) -> Result<()> {
        check_window(&self.target, core, at)?;
        let p = self.target.crop(at.top, at.left, at.height, at.width);
        self.sum += core
            .data
            .iter()
            .zip(&p.data)
            .map(|(&a, &b)| {
                let d = (a - b) as f64;
                d * d
            })
            .sum::<f64>();
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(f64, Box<dyn TileGrad>)> {
        Ok((
            0.5 * self.sum,
            Box::new(ContentGrad {
                target: self.target,
            }),
        ))
    }
}

impl TileGrad for ContentGrad {
    fn grad(&self, core: &FeatureMap, at: Window) -> FeatureMap {
        let mut g = self.target.crop(at.top, at.left, at.height, at.width);
        g.data
            .iter_mut()
            .zip(&core.data)
            .for_each(|(p, &f)| *p = f - *p);
        g
    }
}
