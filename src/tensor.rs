//! Plain f32 buffers with the two layouts the crate uses.
//!
//! * [`FeatureMap`]: one layer's features as the paper writes them, an `N x M` matrix
//!   (channels x positions, row-major). The losses see only this.
//! * [`Padded`]: the engine's internal layout, `C x (H+2) x (W+2)` with a zero border,
//!   so that a 3x3 convolution reads every shifted window as a plain offset.

/// One layer's features: `channels` rows of `height * width` positions (the paper's F, N_l x M_l).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMap {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl FeatureMap {
    pub fn zeros(channels: usize, height: usize, width: usize) -> Self {
        FeatureMap {
            channels,
            height,
            width,
            data: vec![0.0; channels * height * width],
        }
    }

    /// Wraps `data` (`channels x height*width`, row-major); an error if the length differs.
    pub fn from_vec(
        channels: usize,
        height: usize,
        width: usize,
        data: Vec<f32>,
    ) -> crate::Result<Self> {
        if data.len() != channels * height * width {
            return Err(crate::Error::Shape(format!(
                "feature map of {channels}x{height}x{width} needs {} values, got {}",
                channels * height * width,
                data.len()
            )));
        }
        Ok(FeatureMap {
            channels,
            height,
            width,
            data,
        })
    }

    /// Number of positions (the paper's M_l).
    pub fn positions(&self) -> usize {
        self.height * self.width
    }

    /// Row `c` (one channel over all positions).
    pub fn channel(&self, c: usize) -> &[f32] {
        let m = self.positions();
        &self.data[c * m..(c + 1) * m]
    }

    /// The `height x width` window at (`top`, `left`), every channel.
    pub fn crop(&self, top: usize, left: usize, height: usize, width: usize) -> FeatureMap {
        assert!(top + height <= self.height && left + width <= self.width);
        let mut out = FeatureMap::zeros(self.channels, height, width);
        for c in 0..self.channels {
            for y in 0..height {
                let src = (c * self.height + top + y) * self.width + left;
                let dst = (c * height + y) * width;
                out.data[dst..dst + width].copy_from_slice(&self.data[src..src + width]);
            }
        }
        out
    }

    /// Writes `src` (same channels) into the window at (`top`, `left`).
    pub fn paste(&mut self, src: &FeatureMap, top: usize, left: usize) {
        assert!(src.channels == self.channels);
        assert!(top + src.height <= self.height && left + src.width <= self.width);
        for c in 0..self.channels {
            for y in 0..src.height {
                let dst = (c * self.height + top + y) * self.width + left;
                let s = (c * src.height + y) * src.width;
                self.data[dst..dst + src.width].copy_from_slice(&src.data[s..s + src.width]);
            }
        }
    }
}

/// A `C x H x W` map stored with a one-pixel zero border and two spare trailing zeros.
///
/// Invariant kept by every engine routine: the border is zero. A 3x3 convolution then reads
/// the window at output index `q = y*(W+2) + x` as `q + dy*(W+2) + dx` without bounds logic;
/// outputs at `x >= W` are garbage the routine overwrites with zeros (they land in the border).
#[derive(Clone, Debug)]
pub struct Padded {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl Padded {
    pub fn zeros(channels: usize, height: usize, width: usize) -> Self {
        let mut p = Padded {
            channels,
            height,
            width,
            data: Vec::new(),
        };
        p.data = vec![0.0; channels * p.plane() + 2];
        p
    }

    /// Row stride of the padded plane.
    #[inline]
    pub fn row(&self) -> usize {
        self.width + 2
    }

    /// Channel stride.
    #[inline]
    pub fn plane(&self) -> usize {
        (self.height + 2) * (self.width + 2)
    }

    #[inline]
    pub fn index(&self, c: usize, y: usize, x: usize) -> usize {
        c * self.plane() + (y + 1) * self.row() + x + 1
    }

    pub fn shape(&self) -> (usize, usize, usize) {
        (self.channels, self.height, self.width)
    }

    /// Copies an unpadded `C x H x W` buffer into the interior.
    pub fn from_unpadded(channels: usize, height: usize, width: usize, src: &[f32]) -> Self {
        assert_eq!(src.len(), channels * height * width);
        let mut p = Padded::zeros(channels, height, width);
        p.set_interior(src);
        p
    }

    pub fn set_interior(&mut self, src: &[f32]) {
        let (c, h, w) = self.shape();
        assert_eq!(src.len(), c * h * w);
        for ci in 0..c {
            for y in 0..h {
                let dst = self.index(ci, y, 0);
                self.data[dst..dst + w].copy_from_slice(&src[(ci * h + y) * w..][..w]);
            }
        }
    }

    /// The interior as an unpadded `C x H x W` vector.
    pub fn to_unpadded(&self) -> Vec<f32> {
        let (c, h, w) = self.shape();
        let mut out = Vec::with_capacity(c * h * w);
        for ci in 0..c {
            for y in 0..h {
                let s = self.index(ci, y, 0);
                out.extend_from_slice(&self.data[s..s + w]);
            }
        }
        out
    }

    /// `self += src` (an unpadded `C x H x W` buffer) where `mask`, a map of the same shape
    /// and padding, is positive: adds a gradient and carries it back through the ReLU whose
    /// output `mask` is.
    pub fn add_interior_masked(&mut self, src: &[f32], mask: &Padded) {
        use rayon::prelude::*;
        let (c, h, w) = self.shape();
        assert_eq!(src.len(), c * h * w);
        assert_eq!(mask.shape(), (c, h, w));
        let (row, plane) = (self.row(), self.plane());
        self.data[..c * plane]
            .par_chunks_mut(plane)
            .zip(mask.data.par_chunks(plane))
            .zip(src.par_chunks(h * w))
            .for_each(|((dst, m), s)| {
                for y in 0..h {
                    let d = (y + 1) * row + 1;
                    for ((a, b), m) in dst[d..d + w]
                        .iter_mut()
                        .zip(&s[y * w..][..w])
                        .zip(&m[d..d + w])
                    {
                        // A select, not a branch, so that it vectorises.
                        *a = if *m <= 0.0 { 0.0 } else { *a + *b };
                    }
                }
            });
    }
}

/// An image in the network's input space: `3 x height x width`, RGB 0..255 minus the means.
#[derive(Clone, Debug, PartialEq)]
pub struct InputImage {
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl InputImage {
    /// Wraps `data` (`3 x height x width`); an error if the length differs.
    pub fn new(height: usize, width: usize, data: Vec<f32>) -> crate::Result<Self> {
        if data.len() != 3 * height * width {
            return Err(crate::Error::Shape(format!(
                "image of 3x{height}x{width} needs {} values, got {}",
                3 * height * width,
                data.len()
            )));
        }
        Ok(InputImage {
            height,
            width,
            data,
        })
    }
}
