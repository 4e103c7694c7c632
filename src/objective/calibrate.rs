//! The balance: beta' per balanced group and the optimiser's scale.
//!
//! **beta' rule** (the paper picks beta' by hand "such that the gradients on x* from the
//! style loss are of the same order of magnitudes as those from the content loss"): at a
//! probe image — seeded white noise, whatever the initialisation, so that neither gradient
//! vanishes — `beta'_g = |grad L_content| / |grad sum_t w_t L_t|` for every style method
//! and regulariser g. Without a content term, `beta'_g = 1 / |grad sum_t w_t L_t|`. A style
//! method's value is then multiplied by its registry `balance` (1 but where measured, so
//! that one gamma means about the same picture for every method). Values given by the user
//! replace the rule.
//!
//! **Scale**: the optimiser sees `total * s` with `s` chosen so that the gradient at the
//! probe has an RMS of 1 per pixel value; reported losses are the raw, unscaled values.

use super::{Objective, Parts, Role};
use crate::optim::norm;
use crate::tensor::InputImage;
use crate::Result;

impl Objective<'_> {
    /// Sets beta' (where not given) and the scale from gradients at the probe image.
    pub fn calibrate(&mut self, probe: &InputImage) -> Result<()> {
        let mut parts = self.parts(&probe.data)?;
        let n = self.groups.len();
        let mut total_grad = vec![0.0f32; probe.data.len()];
        let mut content_norm = None;
        // The content group comes first, so its norm is known when the others need it.
        for g in 0..n {
            let mut only = vec![0.0; n];
            only[g] = 1.0;
            // Each group's gradients move to its own backward pass: lending them would
            // copy them, and the copy of the style gradients was the run's peak (about 4
            // bytes per channel and position of every style layer more than the estimate).
            let group_only = Parts(
                (0..n)
                    .map(|i| {
                        if i == g {
                            std::mem::take(&mut parts.0[g])
                        } else {
                            Vec::new()
                        }
                    })
                    .collect(),
            );
            let grad = self.backward(&probe.data, group_only, &only)?;
            let gn = norm(&grad);
            let group = &mut self.groups[g];
            if !group.is_balanced() {
                content_norm = Some(gn);
            } else if group.beta_prime.is_nan() {
                let reference = content_norm.filter(|c| *c > 0.0).unwrap_or(1.0);
                let balance = match group.role {
                    Role::Style(m) => m.info().balance,
                    _ => 1.0,
                };
                group.beta_prime = balance
                    * if gn > 0.0 && gn.is_finite() {
                        reference / gn
                    } else {
                        1.0
                    };
            }
            let k = group.coefficient(self.gamma) as f32;
            total_grad
                .iter_mut()
                .zip(&grad)
                .for_each(|(t, v)| *t += k * v);
        }
        let tn = norm(&total_grad);
        self.scale = if tn > 0.0 && tn.is_finite() {
            (total_grad.len() as f64).sqrt() / tn
        } else {
            1.0
        };
        Ok(())
    }
}
