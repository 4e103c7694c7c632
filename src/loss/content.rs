//! Content loss, Eq. 4: `L_content = 1/2 * sum_ij (F_ij - P_ij)^2`.

use super::tiled::{ContentSums, TileSums};
use super::LayerLoss;
use crate::tensor::FeatureMap;
use crate::{Error, Result};
use std::sync::Arc;

/// Squared error to the content image's features `P` at one layer.
pub struct ContentLoss {
    target: Arc<FeatureMap>,
}

impl ContentLoss {
    pub fn new(target: FeatureMap) -> Self {
        ContentLoss {
            target: Arc::new(target),
        }
    }
}

impl LayerLoss for ContentLoss {
    fn loss_and_grad(&self, f: &FeatureMap) -> Result<(f64, FeatureMap)> {
        let p = &self.target;
        if (f.channels, f.height, f.width) != (p.channels, p.height, p.width) {
            return Err(Error::Shape(format!(
                "content loss: generated features {}x{}x{} vs content {}x{}x{}",
                f.channels, f.height, f.width, p.channels, p.height, p.width
            )));
        }
        let mut grad = FeatureMap::zeros(f.channels, f.height, f.width);
        let mut sum = 0.0f64;
        for ((g, &a), &b) in grad.data.iter_mut().zip(&f.data).zip(&p.data) {
            let d = a - b;
            *g = d;
            sum += (d as f64) * (d as f64);
        }
        Ok((0.5 * sum, grad))
    }

    fn tiled(&self) -> Option<Box<dyn TileSums + '_>> {
        Some(Box::new(ContentSums::new(self.target.clone())))
    }
}
